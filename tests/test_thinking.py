"""Qwen thinking models and token usage on both providers, end to end against the fake's real
shapes (protocols.md section 6): reasoning as the opt-in ``reasoning_chunk`` event, kept in
history and not re-sent, the thinking-mode rules, and the opt-in ``usage`` event."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.providers._native_wire import (
    StreamState,
    chunk_from_event,
    reasoning_chunk,
)
from bailian_geo_agent.agent.providers.openai_compatible import DashScopeChatOpenAI, _fast_delta
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool

from tests.fakes import dashscope as fake_module
from tests.fakes.dashscope import FakeDashScope, Reply, ToolCall
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import request_options
from tests.test_service import PROVIDERS, assert_well_formed, collect, make_settings

THOUGHT_1, THOUGHT_2, ANSWER = "先查天气", "有结果了", "北京晴"


@tool
def get_weather(city: str) -> str:
    """Current weather for a city, e.g. 北京."""
    return f"{city}：晴，25°C"


def script_tool_round(fake: FakeDashScope) -> None:
    fake.script(
        Reply(reasoning=THOUGHT_1, tool_calls=[ToolCall("get_weather", {"city": "北京"})]),
        Reply(reasoning=THOUGHT_2, text=ANSWER),
    )


def service(fake: FakeDashScope, provider: str, **settings: Any) -> StreamChatService:
    return StreamChatService(
        make_settings(fake, provider, session_store_url="memory://", **settings),
        tools=[get_weather],
    )


def options(fake: FakeDashScope, index: int) -> dict[str, Any]:
    """The compatible-mode body or the native ``parameters`` of request ``index``."""
    return request_options(fake.requests[index])


def shape(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(e["type"], e["chunk"]) if "chunk" in e else (e["type"],) for e in events]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_reasoning_streams_as_its_own_event_on_both_providers(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    script_tool_round(fake_dashscope)
    async with service(fake_dashscope, provider, enable_thinking=True) as chat:
        events = await collect(chat.stream_chat("北京天气", events={"reasoning_chunk", "usage"}))

    assert shape(events) == [
        ("stream_start",),
        ("reasoning_chunk", "先查"), ("reasoning_chunk", "天气"),
        ("reasoning_chunk", "有结"), ("reasoning_chunk", "果了"),
        ("stream_chunk", "北京"), ("stream_chunk", "晴"),
        ("usage",),
        ("stream_end",),
    ]  # fmt: skip
    usage = events[-2]
    assert set(usage) == {"type", "message_id", "session_id", "input_tokens", "output_tokens",
                          "reasoning_tokens", "total_tokens", "model_calls", "cached_tokens",
                          "cache_creation_tokens"}
    assert (usage["model_calls"], usage["reasoning_tokens"]) == (2, 4)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert [options(fake_dashscope, i)["enable_thinking"] for i in (0, 1)] == [True, True]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_without_the_opt_in_only_the_documented_events(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    script_tool_round(fake_dashscope)
    async with service(fake_dashscope, provider, enable_thinking=True) as chat:
        events = await collect(chat.stream_chat("北京天气"))
    assert assert_well_formed(events) == ANSWER
    assert [e["type"] for e in events] == ["stream_start", "stream_chunk", "stream_chunk",
                                           "stream_end"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_usage_counts_every_model_call_without_thinking(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    fake_dashscope.script(
        Reply(tool_calls=[ToolCall("get_weather", {"city": "北京"})]), Reply(text="晴天")
    )
    async with service(fake_dashscope, provider) as chat:
        events = await collect(chat.stream_chat("北京天气", events={"usage"}))
        history = await chat.get_history(events[0]["session_id"])
    assert [e["type"] for e in events] == ["stream_start", "stream_chunk", "usage", "stream_end"]
    usage = events[2]
    replies = [m for m in history if isinstance(m, AIMessage)]
    # The event is the sum of the stored messages' usage_metadata (nothing counted twice).
    assert [m.usage_metadata is not None for m in replies] == [True, True]
    assert usage["input_tokens"] == sum(m.usage_metadata["input_tokens"] for m in replies)
    assert usage["output_tokens"] == sum(m.usage_metadata["output_tokens"] for m in replies)
    assert (usage["model_calls"], usage["reasoning_tokens"]) == (2, 0)
    prompts = [json.dumps(r.messages, ensure_ascii=False) for r in fake_dashscope.requests]
    assert usage["input_tokens"] == sum(
        fake_module.w.count_tokens(r.messages) for r in fake_dashscope.requests
    ), prompts
    for key in ("enable_thinking", "thinking_budget", "preserve_thinking"):
        assert key not in options(fake_dashscope, 0)  # unset: the model's default
    if provider == "openai":
        assert fake_dashscope.requests[0].body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_reasoning_is_kept_in_history_and_not_resent(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    script_tool_round(fake_dashscope)
    fake_dashscope.script(Reply(reasoning="再想", text="好"))
    async with service(fake_dashscope, provider, enable_thinking=True) as chat:
        first = await collect(chat.stream_chat("北京天气"))
        sid = first[0]["session_id"]
        await collect(chat.stream_chat("谢谢", sid))
        history = await chat.get_history(sid)

    replies = [m for m in history if isinstance(m, AIMessage)]
    assert [m.additional_kwargs.get("reasoning_content") for m in replies] == [
        THOUGHT_1, THOUGHT_2, "再想"
    ]
    assert [m.content for m in replies] == ["", ANSWER, "好"]
    assert [m.usage_metadata["output_token_details"]["reasoning"] for m in replies] == [2, 2, 1]
    sent = fake_dashscope.requests[2].messages
    assert [m["role"] for m in sent if m["role"] != "system"] == [
        "user", "assistant", "tool", "assistant", "user"
    ]
    assert [m for m in sent if "reasoning_content" in m] == []
    assert "preserve_thinking" not in options(fake_dashscope, 2)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_preserve_thinking_sends_the_reasoning_back(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    script_tool_round(fake_dashscope)
    async with service(
        fake_dashscope, provider, enable_thinking=True, thinking_budget=64, preserve_thinking=True
    ) as chat:
        assert assert_well_formed(await collect(chat.stream_chat("北京天气"))) == ANSWER
    if provider != "responses":  # there the server keeps each response's reasoning itself
        sent = fake_dashscope.requests[1].messages
        assert [m.get("reasoning_content") for m in sent if m["role"] == "assistant"] == [
            THOUGHT_1]
    sent_options = options(fake_dashscope, 1)
    assert {k: sent_options[k] for k in ("enable_thinking", "thinking_budget",
                                         "preserve_thinking")} == {
        "enable_thinking": True, "thinking_budget": 64, "preserve_thinking": True}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_thinking_off_is_sent_and_nothing_is_reasoned(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    fake_dashscope.script(Reply(reasoning="不该出现", text="好的"))
    async with service(fake_dashscope, provider, enable_thinking=False,
                       thinking_budget=64) as chat:
        events = await collect(chat.stream_chat("你好", events={"reasoning_chunk"}))
    assert shape(events) == [("stream_start",), ("stream_chunk", "好的"), ("stream_end",)]
    assert options(fake_dashscope, 0)["enable_thinking"] is False
    assert "thinking_budget" not in options(fake_dashscope, 0)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_thinking_only_model_works_end_to_end_with_tools(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    script_tool_round(fake_dashscope)
    async with service(fake_dashscope, provider, model="qwq-plus") as chat:
        events = await collect(chat.stream_chat("北京天气", events={"reasoning_chunk"}))
    assert [t for t, *_ in shape(events)] == ["stream_start"] + ["reasoning_chunk"] * 4 + [
        "stream_chunk", "stream_chunk", "stream_end"]
    assert [r.stream for r in fake_dashscope.requests] == [True, True]
    assert [r.model for r in fake_dashscope.requests] == ["qwq-plus", "qwq-plus"]


def _chat_openai(fake: FakeDashScope, **kwargs: Any) -> DashScopeChatOpenAI:
    return DashScopeChatOpenAI(model="qwq-plus", api_key=FAKE_API_KEY,
                               base_url=fake.compatible_base_url, streaming=True,
                               stream_usage=True, max_retries=0, **kwargs)


def _chat_tongyi(fake: FakeDashScope, **kwargs: Any) -> Any:
    from bailian_geo_agent.agent.providers.dashscope_native import DashScopeChatTongyi

    return DashScopeChatTongyi(api_key=FAKE_API_KEY, model="qwq-plus",
                               base_url=fake.native_base_url, max_retries=0, **kwargs)


@pytest.mark.parametrize("make", [_chat_openai, _chat_tongyi])
async def test_a_forced_tool_choice_is_dropped_while_thinking(
    fake_dashscope: FakeDashScope, make: Any
) -> None:
    fake_dashscope.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "北京"})]))
    bound = make(fake_dashscope).bind_tools([get_weather], tool_choice="get_weather")
    message = await bound.ainvoke("北京天气")
    assert [c["name"] for c in message.tool_calls] == ["get_weather"]
    assert "tool_choice" not in options(fake_dashscope, 0)


async def test_the_fake_rejects_what_thinking_mode_forbids(fake_dashscope: FakeDashScope) -> None:
    """The rules the adapters follow are enforced by the fake (so the tests above can fail)."""
    url = fake_dashscope.compatible_base_url + "/chat/completions"
    headers = {"Authorization": f"Bearer {FAKE_API_KEY}"}
    base = {"model": "qwq-plus", "messages": [{"role": "user", "content": "hi"}]}
    bodies = [
        {**base, "stream": False},
        {**base, "stream": True, "enable_thinking": False},
        {**base, "stream": True, "tool_choice": "required"},
        {**base, "stream": True, "response_format": {"type": "json_object"}},
    ]
    async with httpx2.AsyncClient() as client:
        answers = [await client.post(url, json=b, headers=headers) for b in bodies]
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [
        (400, "invalid_parameter_error")] * 4
    assert [a.json()["error"]["message"] for a in answers] == [
        fake_module.THINKING_STREAM_ONLY, fake_module.THINKING_ONLY_TRUE,
        fake_module.THINKING_TOOL_CHOICE, fake_module.THINKING_RESPONSE_FORMAT]


async def test_structured_output_while_thinking_uses_a_tool_call(
    fake_dashscope: FakeDashScope,
) -> None:
    fake_dashscope.script(Reply(reasoning="想", tool_calls=[ToolCall("City", {"name": "北京"})]))

    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    result = await _chat_openai(fake_dashscope).with_structured_output(City).ainvoke("首都")
    assert result == City(name="北京")
    body = fake_dashscope.requests[0].body
    assert "response_format" not in body and "tool_choice" not in body and body["stream"]


# -- the fast paths build what the general paths build ------------------------------------------


def _event(delta: dict, finish_reason: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "qwq-plus", "system_fingerprint": None, "usage": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                         "logprobs": None}]}


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        ({"content": None, "reasoning_content": "想"}, ("想", True)),
        ({"content": "", "reasoning_content": "想"}, ("想", True)),
        ({"content": "答", "reasoning_content": None}, ("答", False)),
        ({"content": "答"}, ("答", False)),
        ({"content": "", "reasoning_content": None}, None),
        ({"content": None, "reasoning_content": ""}, None),
        ({"content": "答", "reasoning_content": "想"}, None),
        ({"content": None, "role": "assistant", "reasoning_content": ""}, None),
        ({"reasoning_content": "想", "tool_calls": []}, None),
    ],
)
def test_fast_delta_takes_only_lone_text_or_reasoning(delta: dict, expected: Any) -> None:
    assert _fast_delta(_event(delta)) == expected


@pytest.mark.parametrize("sdk_path", [False, True])
async def test_openai_reasoning_is_kept_on_the_lean_and_the_sdk_path(
    fake_dashscope: FakeDashScope, sdk_path: bool
) -> None:
    fake_dashscope.script(Reply(reasoning="想一想", text="答", chunk_size=3))
    # Its own client: langchain-openai's shared default one may belong to a closed loop.
    async with httpx2.AsyncClient() as client:
        chat = _chat_openai(fake_dashscope, include_response_headers=sdk_path,
                            http_async_client=client)
        chunks = [c async for c in chat.astream("hi")]
    pieces = [(c.content, c.additional_kwargs) for c in chunks if c.content or c.additional_kwargs]
    assert pieces == [("", {"reasoning_content": "想一想"}), ("答", {})]
    total = sum(chunks[1:], chunks[0])
    assert isinstance(total, AIMessageChunk)
    assert (total.content, total.additional_kwargs) == ("答", {"reasoning_content": "想一想"})
    assert total.usage_metadata["output_token_details"]["reasoning"] == 1


def test_openai_reasoning_fast_chunk_equals_the_converter() -> None:
    from bailian_geo_agent.agent.providers._chunks import reasoning_chunk as fast_reasoning
    from bailian_geo_agent.agent.providers.openai_compatible import _TEXT_FIELDS

    chat = DashScopeChatOpenAI(model="qwq-plus", api_key="sk-test", base_url="http://127.0.0.1:1")
    raw = _event({"content": None, "reasoning_content": "想"})
    reference = chat._convert_chunk_to_generation_chunk(raw, AIMessageChunk, None)
    fast = fast_reasoning("想", {"model_provider": "openai"}, _TEXT_FIELDS)
    assert fast == reference
    assert fast.message.model_fields_set == reference.message.model_fields_set
    assert (fast + fast).message == (reference + reference).message


def test_native_reasoning_fast_chunk_equals_the_general_path() -> None:
    message = {"content": "", "reasoning_content": "想", "role": "assistant"}
    fast = chunk_from_event({"choices": [{"message": message, "finish_reason": "null"}]},
                            None, "r", StreamState(), "qwq-plus")
    general = chunk_from_event({"choices": [{"message": message, "finish_reason": "nul"}]},
                               None, "r", StreamState(), "qwq-plus")
    assert fast == reasoning_chunk("想")
    assert fast.message == general.message
    assert fast.message.model_fields_set == general.message.model_fields_set


def test_native_vl_list_content_and_text_output_are_read() -> None:
    state = StreamState()
    listed = chunk_from_event(
        {"choices": [{"message": {"content": [{"text": "图中"}], "role": "assistant"},
                      "finish_reason": "null"}]}, None, "r", state, "qwen-vl-max")
    text = chunk_from_event({"text": "是猫", "finish_reason": "stop"},
                            {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
                            "r", state, "qwen-vl-max")
    assert [listed.text, text.text] == ["图中", "是猫"]
    assert text.message.usage_metadata["total_tokens"] == 5


# -- the quirks are data: agent.providers.profiles ------------------------------------------------


@pytest.mark.parametrize(("model", "always_thinks"), [
    ("qwq-plus", True), ("QwQ-32B", True), ("qvq-max", True),
    ("qwen3-235b-a22b-thinking-2507", True), ("qwen-plus", False), ("qwen3-max", False),
    ("", False), (None, False),
])  # fmt: skip
def test_model_profiles_by_name(model: str | None, always_thinks: bool) -> None:
    from bailian_geo_agent.agent.providers.profiles import (
        DEFAULT_PROFILE,
        THINKING_ONLY,
        model_profile,
    )

    assert model_profile(model) == (THINKING_ONLY if always_thinks else DEFAULT_PROFILE)


def test_thinking_fields_go_where_each_api_takes_them() -> None:
    from bailian_geo_agent.agent.providers.profiles import (
        COMPATIBLE_MODE,
        NATIVE,
        thinking_fields,
    )

    fields = thinking_fields(True, 100, True)
    assert fields == {"enable_thinking": True, "thinking_budget": 100, "preserve_thinking": True}
    assert thinking_fields(False, 100, False) == {"enable_thinking": False}
    assert thinking_fields(None, None, False) == {}
    payload: dict[str, Any] = {"model": "m", "extra_body": {"enable_thinking": False}}
    COMPATIBLE_MODE.add_thinking_fields(payload, fields)
    assert payload == {"model": "m", "extra_body": {
        "enable_thinking": False, "thinking_budget": 100, "preserve_thinking": True}}
    params: dict[str, Any] = {"model": "m", "enable_thinking": False}
    NATIVE.add_thinking_fields(params, fields)
    assert params == {"model": "m", **fields}
    untouched: dict[str, Any] = {"model": "m"}
    COMPATIBLE_MODE.add_thinking_fields(untouched, {})
    assert untouched == {"model": "m"}


@pytest.mark.parametrize("make", [_chat_openai, _chat_tongyi])
async def test_a_profile_that_allows_a_forced_tool_choice_keeps_it(
    fake_dashscope: FakeDashScope, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule comes from the profile, not the name: a thinking-only family that accepted a
    forced choice would be sent it (the fake then answers 400, as DashScope does today)."""
    from bailian_geo_agent.agent.providers import profiles

    allowing = profiles.ModelProfile(always_thinks=True, forced_tool_choice_while_thinking=True)
    monkeypatch.setattr(profiles, "MODEL_PROFILES", (profiles.ModelMatch(allowing, ("qwq",)),))
    profiles.model_profile.cache_clear()
    try:
        bound = make(fake_dashscope).bind_tools([get_weather], tool_choice="get_weather")
        with pytest.raises(Exception, match="tool_choice"):
            await bound.ainvoke("北京天气")
        assert options(fake_dashscope, 0)["tool_choice"] not in (None, "auto")
    finally:
        profiles.model_profile.cache_clear()
