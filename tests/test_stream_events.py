"""``StreamChatService.stream_events``: the typed events ``stream_chat``'s dicts come from;
parallel tool calls paired by ``tool_call_id``; ``-v``'s one line per reply and per tool call."""

from __future__ import annotations

import asyncio
import logging

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.events import (
    StreamChunk,
    StreamEnd,
    StreamStart,
    ToolEnd,
    ToolStart,
)
from langchain_core.tools import tool

from tests.fakes.dashscope import ToolCall, tool_then_answer
from tests.helpers import PROVIDERS, make_settings

ALL = ("map_action", "tool_start", "tool_end")


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


def _ids_out(events: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("message_id", "session_id")} for e in events]


async def test_stream_chat_is_the_typed_stream_as_dicts(fake_dashscope):
    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"{city}：晴"

    fake_dashscope.responder = tool_then_answer([ToolCall("get_weather", {"city": "北京"},
                                                          id="call_w1")])
    service = StreamChatService(make_settings(fake_dashscope, "openai"), tools=[get_weather])
    typed = [e async for e in service.stream_events("北京天气", events=ALL)]
    dicts = [e async for e in service.stream_chat("北京天气", events=ALL)]

    assert [type(e) for e in typed] == [StreamStart, ToolStart, ToolEnd] + [StreamChunk] * (
        len(typed) - 4) + [StreamEnd]
    assert _ids_out([e.to_dict() for e in typed]) == _ids_out(dicts)
    assert dicts[1] == {"type": "tool_start", "message_id": dicts[0]["message_id"],
                        "session_id": dicts[0]["session_id"], "tool": "get_weather",
                        "arguments": {"city": "北京"}, "tool_call_id": "call_w1"}
    assert (dicts[2]["tool_call_id"], dicts[2]["result"]) == ("call_w1", "北京：晴")


async def test_bad_input_is_one_typed_error(fake_dashscope):
    service = StreamChatService(make_settings(fake_dashscope, "openai"), tools=[])
    [error] = [e async for e in service.stream_events("")]
    assert error.to_dict()["type"] == "error" and error.error.startswith("消息不能为空")
    assert fake_dashscope.requests == []


async def test_parallel_tool_calls_pair_up_by_id(fake_dashscope, provider):
    second_done = asyncio.Event()

    @tool
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        if city == "北京":  # the first call finishes only after the second: out of order
            await second_done.wait()
        else:
            second_done.set()
        return f"{city}：晴"

    fake_dashscope.responder = tool_then_answer([
        ToolCall("get_weather", {"city": "北京"}, id="call_bj"),
        ToolCall("get_weather", {"city": "上海"}, id="call_sh"),
    ])
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[get_weather])
    events = [e async for e in service.stream_events("比较北京和上海", events=ALL)]

    tools = [e for e in events if isinstance(e, ToolStart | ToolEnd)]
    assert [(type(e).__name__, e.tool_call_id) for e in tools] == [
        ("ToolStart", "call_bj"), ("ToolStart", "call_sh"),
        ("ToolEnd", "call_sh"), ("ToolEnd", "call_bj")]
    started = {e.tool_call_id: e.arguments for e in tools if isinstance(e, ToolStart)}
    ended = {e.tool_call_id: e.result for e in tools if isinstance(e, ToolEnd)}
    assert started == {"call_bj": {"city": "北京"}, "call_sh": {"city": "上海"}}
    assert ended == {"call_bj": "北京：晴", "call_sh": "上海：晴"}
    assert isinstance(events[-1], StreamEnd)


async def test_verbose_logs_one_line_per_reply_and_per_tool_call(fake_dashscope, caplog):
    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"{city}：晴"

    @tool
    def broken(city: str) -> str:
        """Always fails."""
        raise RuntimeError("boom")

    fake_dashscope.responder = tool_then_answer([
        ToolCall("get_weather", {"city": "北京"}, id="call_ok"),
        ToolCall("broken", {"city": "北京"}, id="call_bad"),
    ])
    caplog.set_level(logging.INFO, logger="bailian_geo_agent")
    service = StreamChatService(make_settings(fake_dashscope, "openai"),
                                tools=[get_weather, broken])
    events = [e async for e in service.stream_events("北京")]  # no optional events asked
    mid = events[0].message_id

    lines = [r.getMessage() for r in caplog.records
             if r.name.startswith("bailian_geo_agent") and mid in r.getMessage()]
    assert len(lines) == 3, lines
    tool_lines = sorted(lines[:2])
    assert tool_lines[0].startswith(f"reply {mid}: tool broken (call_bad) error ")
    assert tool_lines[1].startswith(f"reply {mid}: tool get_weather (call_ok) ok in ")
    # The tool's exception ended the reply: its line says so.
    assert lines[2].startswith(
        f"reply {mid} in session {events[0].session_id}: error RuntimeError in ")
    assert all(line.endswith(" s") for line in lines)
