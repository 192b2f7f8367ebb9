"""Tool approval (``GEO_AGENT_APPROVAL_TOOLS``, ``agent.approval``): a reply pauses before a gated
tool runs, and the next request approves or refuses it, on the same or another service
instance (SQLite and PostgreSQL), through the real ChatOpenAI stack against the DashScope fake."""

from __future__ import annotations

from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.approval import CANNOT_ASK_NOTE, NEW_MESSAGE_NOTE
from bailian_geo_agent.agent.errors import ConfigurationError
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from tests.fakes.dashscope import ToolCall, echo_responder, tool_then_answer
from tests.helpers import PROVIDERS, collect, make_settings
from tests.stores.conftest import pg_url, postgres_url  # noqa: F401 - fixtures

EVENTS = ["approval_request", "tool_start", "tool_end"]
RAN: list[str] = []


@tool
def ip_location(ip: str = "") -> str:
    """Where the user's IP address is (reveals the user's location)."""
    RAN.append(ip)
    return "北京市海淀区"


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"{city}：晴"


@pytest.fixture(autouse=True)
def _fresh_runs() -> None:
    RAN.clear()


@pytest.fixture
def fake(fake_dashscope: Any) -> Any:
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("ip_location", {"ip": "1.2.3.4"})], answer=lambda results: "结果：" + results[0])
    return fake_dashscope


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


def service(fake: Any, store: str = "memory://", provider: str = "openai",
            **overrides: Any) -> StreamChatService:
    settings = make_settings(fake, provider, session_store_url=store,
                             approval_tools=("ip_location",), **overrides)
    return StreamChatService(settings, tools=[ip_location, get_weather], events=EVENTS)


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["chunk"] for e in events if e["type"] == "stream_chunk")


async def pause(svc: StreamChatService, sid: str | None = None) -> tuple[str, dict[str, Any]]:
    events = await collect(svc.stream_chat("我在哪儿？", sid))
    assert kinds(events) == ["stream_start", "approval_request", "stream_end"], events
    request = events[1]
    assert request["tool"] == "ip_location" and request["arguments"] == {"ip": "1.2.3.4"}
    assert request["tool_call_id"] and request["approval_id"]
    assert RAN == []  # not before the user says so
    return request["session_id"], request


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_approved_call_runs_and_the_answer_goes_on(fake, provider):
    async with service(fake, provider=provider) as svc:
        sid, request = await pause(svc)
        events = await collect(svc.stream_chat(
            "", sid, approvals={request["approval_id"]: {"approved": True}}))

        assert kinds(events)[:3] == ["stream_start", "tool_start", "tool_end"], events
        assert events[1]["tool_call_id"] == request["tool_call_id"]
        assert kinds(events)[-1] == "stream_end"
        assert text_of(events) == "结果：北京市海淀区"
        assert RAN == ["1.2.3.4"]
        history = await svc.get_history(sid)
        assert [type(m) for m in history] == [HumanMessage, AIMessage, ToolMessage, AIMessage]


async def test_refused_call_never_runs_and_the_model_explains(fake, provider):
    async with service(fake, provider=provider) as svc:
        sid, request = await pause(svc)
        events = await collect(svc.stream_chat(
            "", sid, approvals={request["approval_id"]: {"approved": False, "reason": "不想说"}}))

        assert kinds(events)[0] == "stream_start" and kinds(events)[-1] == "stream_end"
        assert "tool_start" not in kinds(events)
        assert RAN == []
        # the model was told, with the user's reason, and answered from that
        told = fake.requests[-1].messages[-1]
        assert told["role"] == "tool" and "rejected" in told["content"]
        assert "不想说" in told["content"] and "不想说" in text_of(events)


async def test_a_new_message_instead_refuses_the_waiting_call_with_a_note(fake, provider):
    async with service(fake, provider=provider) as svc:
        sid, _ = await pause(svc)
        fake.responder = echo_responder
        events = await collect(svc.stream_chat("算了，北京天气？", sid))

        assert kinds(events)[-1] == "stream_end", events
        assert RAN == []
        sent = fake.requests[-1].messages
        assert sent[-2]["role"] == "tool"
        assert sent[-2]["content"] == NEW_MESSAGE_NOTE.format(tool="ip_location")
        assert sent[-1] == {"role": "user", "content": "算了，北京天气？"}
        history = await svc.get_history(sid)
        assert [type(m) for m in history] == [
            HumanMessage, AIMessage, ToolMessage, HumanMessage, AIMessage]


async def test_unknown_or_missing_approval_ids_are_refused_and_nothing_is_lost(fake):
    async with service(fake) as svc:
        sid, request = await pause(svc)
        requests = len(fake.requests)

        wrong = await collect(svc.stream_chat("", sid, approvals={"nope": {"approved": True}}))
        assert kinds(wrong) == ["error"] and "nope" in wrong[0]["error"]
        assert request["approval_id"] in wrong[0]["error"]  # names what waits
        malformed = await collect(svc.stream_chat("", sid, approvals={"x": {"approved": "yes"}}))
        assert kinds(malformed) == ["error"]
        both = await collect(svc.stream_chat(
            "hi", sid, approvals={request["approval_id"]: {"approved": True}}))
        assert kinds(both) == ["error"]
        other = await collect(svc.stream_chat(  # a session with nothing waiting
            "", None, approvals={request["approval_id"]: {"approved": True}}))
        assert kinds(other) == ["error"]
        assert len(fake.requests) == requests and RAN == []

        # the pause is still there
        events = await collect(svc.stream_chat(
            "", sid, approvals={request["approval_id"]: {"approved": True}}))
        assert text_of(events) == "结果：北京市海淀区" and RAN == ["1.2.3.4"]
        # and answered once only
        again = await collect(svc.stream_chat(
            "", sid, approvals={request["approval_id"]: {"approved": True}}))
        assert kinds(again) == ["error"] and RAN == ["1.2.3.4"]


async def test_the_pause_survives_to_another_instance(fake, store_url):
    async with service(fake, store_url) as first, service(fake, store_url) as second:
        sid, request = await pause(first)
        # the other instance sees what waits, as the event announced it
        [waiting] = await second.pending_approvals(sid)
        assert waiting == {k: request[k] for k in waiting}
        events = await collect(second.stream_chat(
            "", sid, approvals={request["approval_id"]: {"approved": True}}))
        assert text_of(events) == "结果：北京市海淀区"
        assert RAN == ["1.2.3.4"]
        assert await first.pending_approvals(sid) == []
    async with service(fake, store_url) as restarted:  # and after a restart, nothing waits
        assert len(await restarted.get_history(sid)) == 4
        assert await restarted.pending_approvals(sid) == []


async def test_unknown_tool_names_are_a_configuration_error_naming_the_known_ones(fake):
    settings = make_settings(fake, "openai", session_store_url="memory://",
                             approval_tools=("ip_locaton",))
    svc = StreamChatService(settings, tools=[ip_location, get_weather])
    with pytest.raises(ConfigurationError) as caught:
        await svc.prepare()
    assert "ip_locaton" in str(caught.value) and "ip_location, get_weather" in str(caught.value)
    events = await collect(svc.stream_chat("hi"))
    assert kinds(events) == ["error"] and "GEO_AGENT_APPROVAL_TOOLS" in events[0]["error"]
    await svc.aclose()


async def test_without_the_setting_no_middleware_and_no_pause(fake):
    settings = make_settings(fake, "openai", session_store_url="memory://")
    async with StreamChatService(settings, tools=[ip_location], events=EVENTS) as svc:
        graph = await svc._graph()
        assert not any("Approval" in node for node in graph.get_graph().nodes)
        events = await collect(svc.stream_chat("我在哪儿？"))
        assert "approval_request" not in kinds(events)
        assert RAN == ["1.2.3.4"]


def test_the_setting_reads_a_comma_separated_list(monkeypatch):
    from bailian_geo_agent.agent import Settings

    monkeypatch.setenv("GEO_AGENT_APPROVAL_TOOLS", " ip_location, get_weather ,")
    assert Settings().approval_tools == ("ip_location", "get_weather")


async def test_two_waiting_calls_are_answered_together_each_its_own_way(fake):
    fake.enforce_parallel_tool_calls = False
    fake.responder = tool_then_answer(
        [ToolCall("ip_location", {"ip": "1.1.1.1"}), ToolCall("get_weather", {"city": "北京"}),
         ToolCall("ip_location", {"ip": "2.2.2.2"})],
        answer=lambda results: " | ".join(results))
    async with service(fake) as svc:
        events = await collect(svc.stream_chat("我在哪？天气？"))
        requests = [e for e in events if e["type"] == "approval_request"]
        assert [r["arguments"]["ip"] for r in requests] == ["1.1.1.1", "2.2.2.2"]
        assert kinds(events) == ["stream_start", "approval_request", "approval_request",
                                 "stream_end"]  # the ungated call waits with them
        sid = events[0]["session_id"]
        first, second = (r["approval_id"] for r in requests)

        half = await collect(svc.stream_chat("", sid, approvals={first: {"approved": True}}))
        assert kinds(half) == ["error"] and second in half[0]["error"] and RAN == []

        events = await collect(svc.stream_chat("", sid, approvals={
            second: {"approved": False}, first: {"approved": True}}))
        assert RAN == ["1.1.1.1"]
        results = text_of(events).split(" | ")  # the refusal first: HITL adds it before tools run
        assert sorted(results[1:]) == ["北京市海淀区", "北京：晴"]
        assert "rejected" in results[0] and requests[1]["tool_call_id"] in results[0]


async def test_sending_the_question_again_replaces_the_paused_turn(fake):
    async with service(fake) as svc:
        sid, request = await pause(svc)
        events = [e.to_dict() async for e in svc.stream_events("我在哪儿？", sid, retry=True)]
        assert kinds(events) == ["stream_start", "approval_request", "stream_end"]
        assert events[1]["approval_id"] != request["approval_id"]
        history = await svc.get_history(sid)
        assert [type(m) for m in history] == [HumanMessage, AIMessage]  # the turn once
        assert [p["approval_id"] for p in await svc.pending_approvals(sid)] == [
            events[1]["approval_id"]]
        assert RAN == []


async def test_a_caller_that_cannot_answer_gets_a_refusal_at_once(fake):
    # No approval_request asked for (the web page, the CLI): no pause nobody could answer.
    async with service(fake) as svc:
        events = await collect(svc.stream_chat("我在哪儿？", events=["tool_start"]))
        assert kinds(events)[0] == "stream_start" and kinds(events)[-1] == "stream_end"
        assert "tool_start" not in kinds(events) and RAN == []
        assert text_of(events) == "结果：" + CANNOT_ASK_NOTE.format(tool="ip_location")
        assert await svc.pending_approvals(events[0]["session_id"]) == []


async def test_answers_are_applied_whatever_events_the_answering_request_asks_for(fake):
    async with service(fake) as svc:
        sid, request = await pause(svc)
        events = await collect(svc.stream_chat(
            "", sid, events=[], approvals={request["approval_id"]: {"approved": True}}))
        assert text_of(events) == "结果：北京市海淀区" and RAN == ["1.2.3.4"]


def test_the_command_line_never_asks_for_approvals_it_cannot_answer():
    import argparse

    from bailian_geo_agent.agent.cli.options import _events_arg

    assert "approval_request" not in _events_arg("all")
    with pytest.raises(argparse.ArgumentTypeError):
        _events_arg("approval_request")
