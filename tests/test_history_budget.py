"""Bounded sessions: the prompt is trimmed to whole turns within a turn/token budget (never
separating a tool call from its result), long conversations keep working, and the session
operations (history, delete, idle expiry) work."""

from __future__ import annotations

import asyncio
import uuid

from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.sessions.history import repair_tool_calls, trim_history
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.tools import tool

from tests.fakes.dashscope import Reply, ToolCall, echo_responder
from tests.helpers import assert_well_formed, collect, make_settings, wait_until


def turn(i: int, tools: int = 0, size: int = 10) -> list:
    messages: list = [HumanMessage(f"问题{i} " + "字" * size)]
    if tools:
        calls = [{"name": "get_weather", "args": {"city": f"城{i}-{k}"}, "id": f"c{i}-{k}"}
                 for k in range(tools)]
        messages.append(AIMessage("", tool_calls=calls))
        messages += [ToolMessage(f"结果{i}-{k}", tool_call_id=f"c{i}-{k}") for k in range(tools)]
    messages.append(AIMessage(f"回答{i} " + "字" * size))
    return messages


def assert_pairs_intact(messages: list) -> None:
    calls = [c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    results = [m.tool_call_id for m in messages if isinstance(m, ToolMessage)]
    assert sorted(calls) == sorted(results)
    for index, message in enumerate(messages):  # every result follows its call
        if isinstance(message, ToolMessage):
            assert any(isinstance(m, AIMessage) and message.tool_call_id in
                       [c["id"] for c in m.tool_calls] for m in messages[:index])


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(0, 3), min_size=1, max_size=12),
    sizes=st.lists(st.integers(0, 400), min_size=12, max_size=12),
    max_turns=st.integers(1, 6),
    max_tokens=st.integers(1, 1500),
)
def test_trimming_keeps_whole_recent_turns_within_budget(shape, sizes, max_turns, max_tokens):
    messages = [m for i, tools in enumerate(shape) for m in turn(i, tools, sizes[i])]
    trimmed = trim_history(messages, max_turns, max_tokens)

    assert trimmed == messages[len(messages) - len(trimmed):], "a suffix of the history"
    assert isinstance(trimmed[0], HumanMessage), "starts at a turn"
    assert_pairs_intact(trimmed)
    kept_turns = sum(isinstance(m, HumanMessage) for m in trimmed)
    assert 1 <= kept_turns <= max_turns
    if kept_turns > 1:
        assert count_tokens_approximately(trimmed) <= max_tokens
    # Nothing more could have been kept: the next older turn would break a budget.
    if len(trimmed) < len(messages):
        starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
        older = max(i for i in starts if i < len(messages) - len(trimmed))
        bigger = messages[older:]
        assert kept_turns + 1 > max_turns or count_tokens_approximately(bigger) > max_tokens


def test_the_current_turn_is_kept_even_over_budget():
    messages = turn(0) + turn(1, tools=2, size=5000)
    assert trim_history(messages, 5, 10) == turn(1, tools=2, size=5000)


def test_repair_answers_dangling_calls_and_drops_stray_results():
    dangling = [*turn(0)[:1], AIMessage("", tool_calls=[{"name": "x", "args": {}, "id": "a"}]),
                ToolMessage("孤儿", tool_call_id="nobody"), *turn(1)]
    repaired = repair_tool_calls(dangling)
    assert_pairs_intact(repaired)
    assert [type(m).__name__ for m in repaired] == [
        "HumanMessage", "AIMessage", "ToolMessage", "HumanMessage", "AIMessage"]
    assert "未完成" in repaired[2].content


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"{city}：晴"


def tool_sometimes(request):
    """A weather tool call for every message mentioning 天气, then an answer; echo otherwise."""
    last = request.messages[-1]
    if last["role"] == "tool":
        return Reply(text=f"工具说：{last['content']}")
    if "天气" in str(last["content"]):
        return Reply(tool_calls=[ToolCall("get_weather", {"city": "北京"})])
    return echo_responder(request)


async def test_a_hundred_turn_conversation_keeps_working_with_bounded_prompts(fake_dashscope):
    fake_dashscope.responder = tool_sometimes
    settings_ = make_settings(fake_dashscope, "openai", history_max_turns=4)
    session = str(uuid.uuid4())
    async with StreamChatService(settings_, tools=[get_weather]) as service:
        for i in range(100):
            message = f"第{i}轮，天气？" if i % 7 == 0 else f"第{i}轮"
            text = assert_well_formed(await collect(service.stream_chat(message, session)))
            expected = f"ECHO[{min(i + 1, 4)}]: {message}"
            assert text == ("工具说：北京：晴" if i % 7 == 0 else expected)
        history = await service.get_history(session)

    assert sum(isinstance(m, HumanMessage) for m in history) == 100, "the store keeps it all"
    for request in fake_dashscope.requests:
        sent = [m for m in request.messages if m["role"] != "system"]
        assert sum(m["role"] == "user" for m in sent) <= 4
        assert sent[0]["role"] == "user", "trimmed at a turn boundary"
        call_ids = [c["id"] for m in sent for c in (m.get("tool_calls") or [])]
        assert call_ids == [m["tool_call_id"] for m in sent if m["role"] == "tool"]
    history_sent = [[m for m in r.messages if m["role"] != "system"]
                    for r in fake_dashscope.requests]  # the system prompt is constant
    assert max(len(str(sent)) for sent in history_sent) < 800


async def test_token_budget_bounds_the_prompt(fake_dashscope):
    settings_ = make_settings(fake_dashscope, "openai", history_max_tokens=600)
    session = str(uuid.uuid4())
    async with StreamChatService(settings_, tools=[]) as service:
        for i in range(12):
            await collect(service.stream_chat(f"{i}:" + "长" * 500, session))
    sizes = [count_tokens_approximately([m.get("content") or "" for m in r.messages])
             for r in fake_dashscope.requests]
    users = [sum(m["role"] == "user" for m in r.messages) for r in fake_dashscope.requests]
    assert max(users) < 12 and users[-1] >= 1
    assert max(sizes) < 1200


async def test_history_delete_and_idle_expiry(fake_dashscope):
    async with StreamChatService(make_settings(fake_dashscope, "openai"), tools=[]) as service:
        a, b, c = (str(uuid.uuid4()) for _ in range(3))
        for sid in (a, b, c):
            await collect(service.stream_chat("你好", sid))
        assert [m.content for m in await service.get_history(a)] == ["你好", "ECHO[1]: 你好"]
        assert await service.get_history(str(uuid.uuid4())) == []

        await service.delete_session(a)
        assert await service.get_history(a) == []
        assert await service.expire_idle_sessions(3600) == []

        fake_dashscope.script(Reply(text="慢" * 20, chunk_size=1, chunk_delay=0.03))
        busy = asyncio.create_task(collect(service.stream_chat("进行中", b)))
        await wait_until(lambda: fake_dashscope.requests[-1].messages[-1]["content"] == "进行中",
                         "b's reply at the model")
        expired = await service.expire_idle_sessions(0)
        assert not busy.done()  # b's reply was in progress during the sweep (0.6 s of chunks)
        assert expired == [c], "a session with a reply in progress is not expired"
        await busy
        assert await service.get_history(c) == []
        assert len(await service.get_history(b)) == 4


async def test_idle_sessions_expire_in_the_background(fake_dashscope):
    settings_ = make_settings(fake_dashscope, "openai", session_idle_ttl=0.3)
    async with StreamChatService(settings_, tools=[]) as service:
        old = str(uuid.uuid4())
        await collect(service.stream_chat("旧会话", old))
        await asyncio.sleep(0.5)
        await collect(service.stream_chat("新会话"))  # a reply triggers the periodic sweep
        await asyncio.wait_for(_history_gone(service, old), 5)


async def _history_gone(service: StreamChatService, session_id: str) -> None:
    while await service.get_history(session_id):
        await asyncio.sleep(0.01)
