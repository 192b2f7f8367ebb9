"""The history sent to the model always pairs tool calls with results."""

from __future__ import annotations

import uuid

from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.sessions.history import cancelled_tool_result, repair_tool_calls
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from tests.fakes.dashscope import Reply
from tests.fakes.pytest_plugin import FAKE_API_KEY


def call(call_id: str, name: str = "get_weather") -> dict:
    return {"id": call_id, "name": name, "args": {"city": "北京"}, "type": "tool_call"}


def test_unanswered_tool_calls_get_a_placeholder_result():
    history = [
        HumanMessage("q"),
        AIMessage("", tool_calls=[call("c1"), call("c2")]),
        ToolMessage("晴", tool_call_id="c1"),
        HumanMessage("again"),
    ]
    repaired = repair_tool_calls(history)
    assert [type(m).__name__ for m in repaired] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "HumanMessage",
    ]
    assert repaired[2].tool_call_id == "c2" and repaired[2].content == cancelled_tool_result()
    assert repaired[3].tool_call_id == "c1" and repaired[3].content == "晴"


def test_stray_tool_results_are_dropped_and_consistent_history_is_kept():
    history = [HumanMessage("q"), ToolMessage("orphan", tool_call_id="zz"), AIMessage("a")]
    assert repair_tool_calls(history) == [history[0], history[2]]
    good = [
        HumanMessage("q"),
        AIMessage("", tool_calls=[call("c1")]),
        ToolMessage("x", tool_call_id="c1"),
    ]
    assert repair_tool_calls(good) == good


async def test_session_interrupted_mid_tool_still_answers_next_message(fake_dashscope):
    from langchain_core.tools import tool

    @tool
    async def slow_lookup(city: str) -> str:
        """Never finishes in time."""
        import asyncio

        await asyncio.sleep(30)
        return "never"

    settings = Settings(
        api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url, max_retries=0
    )
    service = StreamChatService(settings, tools=[slow_lookup], events={"tool_start"})
    from tests.fakes.dashscope import ToolCall

    fake_dashscope.script(Reply(tool_calls=[ToolCall("slow_lookup", {"city": "北京"})]))
    session_id = str(uuid.uuid4())
    stream = service.stream_chat("北京", session_id)
    async for event in stream:
        if event["type"] == "tool_start":
            break
    await stream.aclose()

    events = [e async for e in service.stream_chat("算了，你好", session_id)]

    assert events[-1]["type"] == "stream_end"
    sent = fake_dashscope.requests[-1].messages
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert sent[3]["content"] == cancelled_tool_result()
