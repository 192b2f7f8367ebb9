"""Faults injected against the loopback fakes: each ends the faulted reply with one clear event,
the other sessions streaming at the same time are unaffected, and the faulted session's earlier
history is intact (its next message sees it). A stopped PostgreSQL: tests/stores."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool

from tests.fakes import dashscope_wire
from tests.fakes import responses as responses_wire
from tests.fakes.dashscope import Reply, ToolCall, echo_responder
from tests.helpers import assert_well_formed, collect, make_settings

FAULT = "故障消息"
MALFORMED = "这句回答的中途混进了坏行"
BYSTANDERS = 4


@pytest.fixture
def malformed_sse(monkeypatch):
    """Streams whose text is MALFORMED get a line that is not valid SSE JSON mid-stream."""
    openai_stream, native_stream = dashscope_wire.openai_stream, dashscope_wire.native_stream
    responses_stream = responses_wire.stream

    def broken_openai(model, text, *args, **kwargs):
        role, frames, finals, error = openai_stream(model, text, *args, **kwargs)
        if text == MALFORMED:
            frames.insert(2, b'data: {"id":"x","choices":[{"delta":{"content":"\xe5\n\n')
        return role, frames, finals, error

    def broken_native(text, *args, **kwargs):
        role, frames, finals, error = native_stream(text, *args, **kwargs)
        if text == MALFORMED:
            frames.insert(2, b"id:3\nevent:result\n:HTTP_STATUS/200\ndata:{\"output\":{tru\n\n")
        return role, frames, finals, error

    def broken_responses(model, response_id, previous, text, *args, **kwargs):
        head, frames, finals, error = responses_stream(model, response_id, previous, text,
                                                       *args, **kwargs)
        if text == MALFORMED:
            frames.insert(2, b'event: response.output_text.delta\ndata: {"type":"response.o'
                             b'utput_text.delta","delta":"\xe5\n\n')
        return head, frames, finals, error

    monkeypatch.setattr(responses_wire, "stream", broken_responses)
    monkeypatch.setattr(dashscope_wire, "openai_stream", broken_openai)
    monkeypatch.setattr(dashscope_wire, "native_stream", broken_native)


class Scenario:
    """Echo for everyone; the fault's replies (in order) for messages equal to FAULT."""

    def __init__(self, fake, faults: list[Reply]) -> None:
        self.faults = list(faults)
        fake.responder = self

    def __call__(self, request) -> Reply:
        last = request.messages[-1]
        if last.get("role") == "user" and last.get("content") == FAULT and self.faults:
            return self.faults.pop(0)
        reply = echo_responder(request)
        reply.chunk_size, reply.chunk_delay = 1, 0.01  # the bystanders stream while it fails
        return reply


async def run_fault(service: StreamChatService, session: str) -> tuple[list, list[list]]:
    """The session's first turn, then the fault with BYSTANDERS other sessions at once."""
    assert assert_well_formed(await collect(service.stream_chat("我叫小明", session))) \
        == "ECHO[1]: 我叫小明"
    faulted, *others = await asyncio.gather(
        collect(service.stream_chat(FAULT, session)),
        *(collect(service.stream_chat(f"旁观者{i}")) for i in range(BYSTANDERS)))
    for i, events in enumerate(others):
        assert assert_well_formed(events) == f"ECHO[1]: 旁观者{i}"
    return faulted, others


async def assert_history_intact(service: StreamChatService, fake, session: str) -> None:
    history = await service.get_history(session)
    assert [m.content for m in history[:2]] == ["我叫小明", "ECHO[1]: 我叫小明"]
    after = await collect(service.stream_chat("还记得我吗", session))
    assert assert_well_formed(after).endswith(": 还记得我吗")
    users = [m["content"] for m in fake.requests[-1].messages if m["role"] == "user"]
    assert users[0] == "我叫小明" and users[-1] == "还记得我吗"
    assert sum(isinstance(m, HumanMessage) for m in await service.get_history(session)) == 3


FAULTS: dict[str, tuple[list[Reply], dict[str, Any], str, str | None]] = {
    # name: (the fault's replies, settings, words in the error, text sent before it)
    "reset-mid-stream": ([Reply(text="前半句话后半句话", cut_after=2)], {}, "中断", "前半句话"),
    "stall-over-timeout": (
        [Reply(text="前半句话后半句话", stall_after=1, stall_seconds=3)],
        {"timeout": 0.6, "max_retries": 0}, "网络连接超时", "前半"),
    "429-storm": ([Reply(status=429, error_code="limit_requests")] * 20,
                  {"max_retries": 3}, "请求过于频繁", None),
    "5xx": ([Reply(status=503, error_code="service_unavailable")] * 20,
            {"max_retries": 2}, "HTTP 503", None),
    "500": ([Reply(status=500, error_code="internal_error")] * 20,
            {"max_retries": 1}, "HTTP 500", None),
    "malformed-sse": ([Reply(text=MALFORMED, chunk_size=2)], {"max_retries": 0},
                      "无法解析", "这句"),
}


@pytest.mark.parametrize("provider", ["openai", "tongyi", "responses"])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_provider_faults(fake_dashscope, malformed_sse, fault, provider):
    faults, overrides, words, partial = FAULTS[fault]
    Scenario(fake_dashscope, faults)
    settings = make_settings(fake_dashscope, provider, **overrides)
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        faulted, _ = await asyncio.wait_for(run_fault(service, session), 20)
        text = assert_well_formed(faulted, ok=False) if faulted[0]["type"] == "stream_start" \
            else ""
        assert faulted[-1]["type"] == "error" and faulted[-1]["session_id"] == session
        assert words and words in faulted[-1]["error"]
        if partial is not None:
            assert text.startswith(partial) if text else partial == ""
        assert "Traceback" not in faulted[-1]["error"]
        await assert_history_intact(service, fake_dashscope, session)


async def test_a_tool_that_raises(fake_dashscope):
    @tool
    def broken_tool(city: str) -> str:
        """Always fails."""
        raise RuntimeError("tool exploded")

    def responder(request):
        last = request.messages[-1]
        if last.get("content") == FAULT:
            return Reply(tool_calls=[ToolCall("broken_tool", {"city": "北京"})])
        if last.get("role") == "tool":
            return Reply(text=f"工具结果：{last['content']}")
        return Scenario.__call__(scenario, request)

    scenario = Scenario(fake_dashscope, [])
    fake_dashscope.responder = responder
    session = str(uuid.uuid4())
    async with StreamChatService(make_settings(fake_dashscope, "openai"),
                                 tools=[broken_tool]) as service:
        faulted, _ = await asyncio.wait_for(run_fault(service, session), 20)
        # LangGraph's ToolNode passes a tool's own exception on: the reply ends with it.
        assert [e["type"] for e in faulted] == ["stream_start", "error"]
        assert "RuntimeError" in faulted[-1]["error"]
        await assert_history_intact(service, fake_dashscope, session)
        sent = fake_dashscope.requests[-1].messages
        call_ids = [c["id"] for m in sent for c in (m.get("tool_calls") or [])]
        assert call_ids == [m["tool_call_id"] for m in sent if m["role"] == "tool"]


async def test_an_amap_timeout_is_a_tool_result(fake_dashscope, fake_amap_env):
    from bailian_geo_agent.tools import GeoToolkit
    from bailian_geo_agent.tools.http import HttpClient

    fake_amap_env.set_response("/v3/weather/weatherInfo", {"status": "1"}, delay=3)
    http = HttpClient(timeout=0.3, retries=0)
    tools = GeoToolkit(http=http).get_tools()

    def responder(request):
        last = request.messages[-1]
        if last.get("content") == FAULT:
            return Reply(tool_calls=[ToolCall("get_weather", {"place": "北京"})])
        if last.get("role") == "tool":
            return Reply(text=f"工具结果：{last['content']}")
        return Scenario.__call__(scenario, request)

    scenario = Scenario(fake_dashscope, [])
    fake_dashscope.responder = responder
    session = str(uuid.uuid4())
    try:
        async with StreamChatService(make_settings(fake_dashscope, "openai"),
                                     tools=tools) as service:
            faulted, _ = await asyncio.wait_for(run_fault(service, session), 20)
            text = assert_well_formed(faulted)
            assert text.startswith("工具结果：") and "超时" in text
            await assert_history_intact(service, fake_dashscope, session)
    finally:
        http.close()


async def test_a_failure_while_reporting_a_failure_still_ends_the_stream(
    fake_dashscope, monkeypatch
):
    """If describing an error itself fails, the consumer still gets a last event (it used to
    wait forever)."""

    def broken(*args: Any, **kwargs: Any):
        raise RuntimeError("describing failed")

    monkeypatch.setattr("bailian_geo_agent.agent.service.to_agent_error", broken)
    fake_dashscope.script(Reply(status=400, error_code="invalid_parameter_error"))
    service = StreamChatService(make_settings(fake_dashscope, "openai"), tools=[])
    events = await asyncio.wait_for(collect(service.stream_chat("你好")), 10)
    assert events[-1]["type"] == "error" and "内部错误" in events[-1]["error"]
