"""The ``responses`` provider (DashScope's Responses API) against the fake: a turn sends only what
is new with ``previous_response_id``, a forgotten response falls back to the whole history,
tool round trips, thinking and usage (cached tokens), errors mapped like the other providers,
web search sources and the session cache header."""

from __future__ import annotations

import json
from typing import Any, get_args

import openai
import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.config import Settings
from bailian_geo_agent.agent.providers import build_chat_model
from bailian_geo_agent.agent.providers.responses import (
    SESSION_CACHE_HEADER,
    citations,
    is_forgotten_response,
)
from bailian_geo_agent.prompts.catalogue import text
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from tests.fakes import responses as responses_wire
from tests.fakes.dashscope import FakeDashScope, Reply, ToolCall
from tests.helpers import assert_well_formed, collect, make_settings

SOURCES = [
    {"title": "北京天气预报", "url": "https://weather.example.cn/beijing"},
    {"title": "中国天气网", "url": "https://www.weather.example.com.cn/"},
]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city, e.g. 北京."""
    return f"{city}：晴，25°C"


def service(fake: FakeDashScope, **settings: Any) -> StreamChatService:
    return StreamChatService(
        make_settings(fake, "responses", session_store_url="memory://", **settings),
        tools=[get_weather],
    )


def items(fake: FakeDashScope, index: int) -> list[dict[str, Any]]:
    """The ``input`` items request ``index`` sent."""
    body = fake.requests[index].body
    assert fake.requests[index].protocol == "responses"
    return list(body["input"])


def roles(entries: list[dict[str, Any]]) -> list[str]:
    return [e.get("role") or e["type"] for e in entries]


async def test_second_turn_sends_only_the_new_message_and_the_previous_id(
    fake_dashscope: FakeDashScope,
) -> None:
    async with service(fake_dashscope) as chat:
        first = await collect(chat.stream_chat("北京"))
        sid = first[0]["session_id"]
        second = await collect(chat.stream_chat("上海", sid))
        history = await chat.get_history(sid)
    assert assert_well_formed(first) == "ECHO[1]: 北京"
    # The fake rebuilt the conversation from the stored response: two user turns.
    assert assert_well_formed(second) == "ECHO[2]: 上海"
    assert roles(items(fake_dashscope, 0)) == ["system", "user"]
    assert "previous_response_id" not in fake_dashscope.requests[0].body
    assert all(r.body["store"] is True for r in fake_dashscope.requests)
    assert items(fake_dashscope, 1) == [
        {"type": "message", "role": "user", "content": "上海"}]
    replies = [m for m in history if isinstance(m, AIMessage)]
    ids = [m.response_metadata["id"] for m in replies]
    assert all(i.startswith("resp_") for i in ids) and len(set(ids)) == 2
    assert fake_dashscope.requests[1].body["previous_response_id"] == ids[0]


async def test_tool_round_trip_sends_the_results_only(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(
        Reply(tool_calls=[ToolCall("get_weather", {"city": "北京"}),
                          ToolCall("get_weather", {"city": "上海"})]),
        Reply(text="都晴"),
    )
    async with service(fake_dashscope) as chat:
        events = await collect(chat.stream_chat("北京和上海天气", events={"tool_start"}))
    calls = [e for e in events if e["type"] == "tool_start"]
    assert [c["tool"] for c in calls] == ["get_weather", "get_weather"]
    assert assert_well_formed([e for e in events if e not in calls]) == "都晴"
    first, second = fake_dashscope.requests
    assert first.body["parallel_tool_calls"] is True
    assert [t["name"] for t in first.body["tools"]] == ["get_weather"]
    sent = items(fake_dashscope, 1)
    assert [e["type"] for e in sent] == ["function_call_output", "function_call_output"]
    assert [e["output"] for e in sent] == ["北京：晴，25°C", "上海：晴，25°C"]
    assert second.body["previous_response_id"].startswith("resp_")
    # The fake's rebuilt conversation: system, user, the calls, both results.
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "tool",
                                                    "tool"]


async def test_a_forgotten_response_resends_the_whole_history_once(
    fake_dashscope: FakeDashScope,
) -> None:
    async with service(fake_dashscope) as chat:
        sid = (await collect(chat.stream_chat("北京")))[0]["session_id"]
        fake_dashscope.forget_responses()
        events = await collect(chat.stream_chat("上海", sid))
        third = await collect(chat.stream_chat("广州", sid))
    assert assert_well_formed(events) == "ECHO[2]: 上海"
    assert assert_well_formed(third) == "ECHO[3]: 广州"
    refused, whole, chained = fake_dashscope.requests[1:]
    assert "previous_response_id" in refused.body
    assert "previous_response_id" not in whole.body
    assert roles(whole.body["input"]) == ["system", "user", "assistant", "user"]
    assert chained.body["input"] == [{"type": "message", "role": "user", "content": "广州"}]
    assert len(fake_dashscope.requests) == 4


async def test_thinking_and_usage_with_cached_tokens(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(
        Reply(reasoning="先查天气", tool_calls=[ToolCall("get_weather", {"city": "北京"})],
              cached_tokens=1200),
        Reply(reasoning="有结果了", text="北京晴", cached_tokens=1200),
    )
    async with service(fake_dashscope, enable_thinking=True) as chat:
        events = await collect(chat.stream_chat("北京天气", events={"reasoning_chunk", "usage"}))
        history = await chat.get_history(events[0]["session_id"])
    kinds = [(e["type"], e.get("chunk")) for e in events]
    assert kinds == [
        ("stream_start", None),
        ("reasoning_chunk", "先查"), ("reasoning_chunk", "天气"),
        ("reasoning_chunk", "有结"), ("reasoning_chunk", "果了"),
        ("stream_chunk", "北京"), ("stream_chunk", "晴"),
        ("usage", None), ("stream_end", None),
    ]  # fmt: skip
    usage = events[-2]
    assert (usage["model_calls"], usage["reasoning_tokens"], usage["cached_tokens"]) == (2, 4,
                                                                                         2400)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert [r.body["enable_thinking"] for r in fake_dashscope.requests] == [True, True]
    answer = [m for m in history if isinstance(m, AIMessage)][-1]
    assert answer.content == "北京晴"
    assert answer.additional_kwargs["reasoning_content"] == "有结果了"
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["input_token_details"]["cache_read"] == 1200


@pytest.mark.parametrize(("reply", "kind"), [
    (Reply(status=401), "auth_failed"),
    (Reply(status=429), "rate_limited"),
    (Reply(status=500), "server_error"),
    (Reply(text="北京晴朗", moderation_after=0), "moderation"),
])  # fmt: skip
async def test_errors_before_the_first_chunk_are_mapped(
    fake_dashscope: FakeDashScope, reply: Reply, kind: str
) -> None:
    fake_dashscope.script(*[reply] * 3)
    async with service(fake_dashscope) as chat:
        events = await collect(chat.stream_chat("北京"))
    assert [e["type"] for e in events] == ["stream_start", "error"]
    assert events[-1]["error"] == text(kind, status=500)
    # 429 and 5xx were retried by the SDK (max_retries=2) before the error.
    expected = 3 if kind in ("rate_limited", "server_error") else 1
    assert len(fake_dashscope.requests) == expected


async def test_a_stream_cut_after_the_first_chunk_is_not_retried(
    fake_dashscope: FakeDashScope,
) -> None:
    fake_dashscope.script(Reply(text="北京晴朗少云", cut_after=1), Reply(text="不该出现"))
    async with service(fake_dashscope) as chat:
        events = await collect(chat.stream_chat("北京"))
    assert [e["type"] for e in events] == ["stream_start", "stream_chunk", "error"]
    assert events[1]["chunk"] == "北京"
    assert len(fake_dashscope.requests) == 1


async def test_a_stream_cut_before_the_first_chunk_is_retried(
    fake_dashscope: FakeDashScope,
) -> None:
    fake_dashscope.script(Reply(text="北京晴", cut_after=0), Reply(text="北京晴"))
    async with service(fake_dashscope) as chat:
        events = await collect(chat.stream_chat("北京"))
    assert assert_well_formed(events) == "北京晴"
    assert len(fake_dashscope.requests) == 2


async def test_search_adds_the_built_in_tool_and_citations_become_sources(
    fake_dashscope: FakeDashScope,
) -> None:
    fake_dashscope.script(Reply(text="北京今天晴。", search_results=SOURCES))
    async with service(fake_dashscope, enable_search=True) as chat:
        events = await collect(chat.stream_chat("北京今天天气", events={"source"}))
    sources = [e for e in events if e["type"] == "source"]
    assert [(e["url"], e["title"]) for e in sources] == [(s["url"], s["title"]) for s in SOURCES]
    assert set(sources[0]) == {"type", "message_id", "session_id", "url", "title"}
    assert assert_well_formed([e for e in events if e["type"] != "source"]) == "北京今天晴。"
    assert {"type": "web_search"} in fake_dashscope.requests[0].body["tools"]
    assert "enable_search" not in fake_dashscope.requests[0].body


async def test_search_off_by_default(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="好", search_results=SOURCES))
    async with service(fake_dashscope) as chat:
        events = await collect(chat.stream_chat("北京", events={"source"}))
    assert "source" not in {e["type"] for e in events}
    assert {"type": "web_search"} not in fake_dashscope.requests[0].body["tools"]


@pytest.mark.parametrize("enabled", [True, False])
async def test_session_cache_header_follows_the_setting(
    fake_dashscope: FakeDashScope, enabled: bool
) -> None:
    async with service(fake_dashscope, session_cache=enabled) as chat:
        await collect(chat.stream_chat("北京"))
    headers = fake_dashscope.requests[0].headers
    assert headers.get(SESSION_CACHE_HEADER) == ("enable" if enabled else None)


def test_session_cache_is_on_by_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(api_key="k").session_cache is True
    monkeypatch.setenv("DASHSCOPE_SESSION_CACHE", "false")
    assert Settings(api_key="k").session_cache is False
    model = build_chat_model(Settings(api_key="k", provider="responses"))
    assert model.default_headers is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(("region", "workspace", "url"), [
    ("cn-beijing", None,
     "https://dashscope.aliyuncs.com/api/v2/apps/protocols/compatible-mode/v1"),
    ("ap-southeast-1", None,
     "https://dashscope-intl.aliyuncs.com/api/v2/apps/protocols/compatible-mode/v1"),
    ("cn-beijing", "ws1",
     "https://ws1.cn-beijing.maas.aliyuncs.com/api/v2/apps/protocols/compatible-mode/v1"),
])  # fmt: skip
def test_the_region_sets_the_responses_base_url(
    region: str, workspace: str | None, url: str
) -> None:
    settings = Settings(api_key="k", provider="responses", region=region, workspace_id=workspace)
    assert settings.responses_base_url == url
    assert settings.endpoint == url
    assert settings.base_url_variable == "DASHSCOPE_RESPONSES_BASE_URL"
    explicit = Settings(api_key="k", region=region, workspace_id=workspace,
                        responses_base_url="https://gateway.example/v1")
    assert explicit.responses_base_url == "https://gateway.example/v1"


def test_forgotten_response_errors_are_recognised() -> None:
    import httpx2
    import openai

    request = httpx2.Request("POST", "http://127.0.0.1/responses")

    def status_error(status: int, body: dict[str, Any]) -> openai.APIStatusError:
        response = httpx2.Response(status, request=request, json=body)
        return openai.APIStatusError("x", response=response, body=body)

    openai_shape = {"error": {"code": "previous_response_not_found", "message": "Previous "
                              "response with id 'resp_1' not found.",
                              "param": "previous_response_id"}}
    assert is_forgotten_response(status_error(400, openai_shape))
    assert is_forgotten_response(status_error(404, {"code": "NotFound", "message":
                                                    "previous response not found"}))
    assert is_forgotten_response(status_error(400, {"code": "InvalidParameter", "message":
                                                    "Response resp_1 does not exist."}))
    assert not is_forgotten_response(status_error(400, {"error": {"code": "invalid_parameter",
                                                                  "message": "bad"}}))
    assert not is_forgotten_response(status_error(500, openai_shape))


def test_only_http_url_citations_are_sources() -> None:
    assert citations([
        {"type": "url_citation", "url": "https://a.example/", "title": "A"},
        {"type": "url_citation", "url": "javascript:alert(1)", "title": "x"},
        {"type": "file_citation", "file_id": "f"},
        {"type": "url_citation", "url": "http://b.example/"},
    ]) == [{"url": "https://a.example/", "title": "A"},
           {"url": "http://b.example/", "title": "http://b.example/"}]


async def test_calls_send_the_same_tools_and_the_system_prompt_once(
    fake_dashscope: FakeDashScope,
) -> None:
    fake_dashscope.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "北京"})]),
                          Reply(text="北京晴"), Reply(text="好"))
    async with service(fake_dashscope, context_cache="explicit") as chat:
        sid = (await collect(chat.stream_chat("北京天气")))[0]["session_id"]
        await collect(chat.stream_chat("谢谢", sid))
    bodies = [r.body for r in fake_dashscope.requests]
    assert len({json.dumps(b["tools"], ensure_ascii=False) for b in bodies}) == 1
    systems = [e for b in bodies for e in b["input"] if e.get("role") == "system"]
    assert len(systems) == 1  # the server keeps it with the first response
    assert "cache_control" not in json.dumps(bodies)  # no explicit markers on this API


async def test_arguments_sent_only_with_the_finished_call_are_read(
    fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = responses_wire.stream

    def no_argument_deltas(*args: Any, **kwargs: Any) -> Any:
        head, frames, finals, error = stream(*args, **kwargs)
        kept = []
        for frame in frames:  # the call's events, without its argument deltas
            events = frame.split(b"\n\n")
            kept.append(b"\n\n".join(e for e in events
                                     if b"function_call_arguments.delta" not in e))
        return head, kept, finals, error

    monkeypatch.setattr(responses_wire, "stream", no_argument_deltas)
    fake_dashscope.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "广州"})]),
                          Reply(text="广州晴"))
    async with service(fake_dashscope) as chat:
        events = await collect(chat.stream_chat("广州天气", events={"tool_start"}))
    assert [e["arguments"] for e in events if e["type"] == "tool_start"] == [{"city": "广州"}]
    assert [e["output"] for e in items(fake_dashscope, 1)] == ["广州：晴，25°C"]


@pytest.mark.parametrize("reply", [
    Reply(text="北京晴", reasoning="想一想", search_results=SOURCES, cached_tokens=3),
    Reply(tool_calls=[ToolCall("get_weather", {"city": "北京"}),
                      ToolCall("get_weather", {"city": "上海"})]),
    Reply(text="一些内容然后", moderation_after=1),
])  # fmt: skip
def test_the_fakes_events_validate_against_the_openai_sdks_schema(
    fake_dashscope: FakeDashScope, reply: Reply
) -> None:
    """Each event the fake streams is a valid ``ResponseStreamEvent`` of the installed openai
    package (strict pydantic validation, not the SDK's lenient construction)."""
    import httpx2
    from openai.types.responses import ResponseStreamEvent

    union = get_args(ResponseStreamEvent)[0]
    schema = {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(union)}

    fake_dashscope.script(reply)
    body = {"model": "qwen-plus", "input": "北京", "stream": True, "enable_thinking": True,
            "parallel_tool_calls": True, "tools": [{"type": "web_search"}]}
    response = httpx2.post(f"{fake_dashscope.responses_base_url}/responses", json=body,
                           headers={"Authorization": "Bearer sk-test"}, timeout=5)
    assert response.status_code == 200
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    kinds = []
    for block in blocks:
        name, data = block.split("\n", 1)
        event = json.loads(data.removeprefix("data: "))
        schema[event["type"]].model_validate(event, strict=False)  # raises on a wrong shape
        assert name == f"event: {event['type']}"
        kinds.append(event["type"])
    assert kinds[0] == "response.created"
    assert kinds[-1] == ("error" if reply.moderation_after is not None else "response.completed")
    numbers = [int(json.loads(b.split("data: ", 1)[1])["sequence_number"]) for b in blocks]
    assert numbers == sorted(set(numbers))  # increasing (a moderation error skips ahead)


async def test_a_two_turn_conversation_sends_under_a_third_of_the_messages(
    fake_dashscope: FakeDashScope,
) -> None:
    """Two turns, a tool round trip each (4 model calls): the characters of the messages sent
    (Chat Completions ``messages`` against Responses ``input``; the tools go with every call on
    both). README "The Responses API" quotes these numbers."""
    from bailian_geo_agent.tools import GeoToolkit

    sent: dict[str, tuple[int, int]] = {}
    for provider in ("openai", "responses"):
        fake_dashscope.reset()
        for _ in range(2):
            fake_dashscope.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "北京"})]),
                                  Reply(text="北京晴，气温二十五度。"))
        tools = [*GeoToolkit().get_tools(), get_weather]
        tools = [t for t in tools if t.name != "get_weather"] + [get_weather]
        settings = make_settings(fake_dashscope, provider, session_store_url="memory://")
        async with StreamChatService(settings, tools=tools) as chat:
            sid = (await collect(chat.stream_chat("北京天气怎么样")))[0]["session_id"]
            await collect(chat.stream_chat("那上海呢", sid))
        bodies = [r.body for r in fake_dashscope.requests]
        assert len(bodies) == 4
        key = "messages" if provider == "openai" else "input"
        sent[provider] = (
            sum(len(json.dumps(b[key], ensure_ascii=False)) for b in bodies),
            sum(len(json.dumps(b["tools"], ensure_ascii=False)) for b in bodies),
        )
    (messages, tools), (chained, its_tools) = sent["openai"], sent["responses"]
    assert chained * 3 < messages, sent  # 2,133 against 8,640 characters when written
    assert its_tools <= tools, sent  # the same tools, flatter (no "function" wrapper)


async def test_a_chain_past_the_context_restarts_from_the_trimmed_history(
    fake_dashscope: FakeDashScope,
) -> None:
    fake_dashscope.script(Reply(text="一"), Reply(text="二"),
                          Reply(status=400, error_code="invalid_parameter_error"),  # too long
                          Reply(text="三"))
    async with service(fake_dashscope, history_max_turns=2) as chat:
        sid = (await collect(chat.stream_chat("北京")))[0]["session_id"]
        await collect(chat.stream_chat("上海", sid))
        events = await collect(chat.stream_chat("广州", sid))
    assert assert_well_formed(events) == "三"
    refused, whole = fake_dashscope.requests[2:]
    assert "previous_response_id" in refused.body
    assert "previous_response_id" not in whole.body
    # GEO_AGENT_HISTORY_MAX_TURNS=2: the system prompt and the last two turns only.
    assert roles(whole.body["input"]) == ["system", "user", "assistant", "user"]


async def test_the_whole_history_carries_earlier_tool_calls_and_results(
    fake_dashscope: FakeDashScope,
) -> None:
    weather = ToolCall("get_weather", {"city": "北京"})
    fake_dashscope.script(Reply(reasoning="想", tool_calls=[weather]), Reply(text="北京晴"),
                          Reply(text="好"))
    async with service(fake_dashscope, enable_thinking=True) as chat:
        sid = (await collect(chat.stream_chat("北京天气")))[0]["session_id"]
        fake_dashscope.forget_responses()
        events = await collect(chat.stream_chat("谢谢", sid))
    assert assert_well_formed(events) == "好"
    whole = fake_dashscope.requests[-1].body["input"]
    assert roles(whole) == ["system", "user", "function_call", "function_call_output",
                            "assistant", "user"]
    call, result = whole[2], whole[3]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "北京"})
    assert result["call_id"] == call["call_id"] and result["output"] == "北京：晴，25°C"


@pytest.mark.parametrize("after_text", [False, True])
async def test_the_forgotten_fallback_never_resends_after_the_first_chunk(
    fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch, after_text: bool
) -> None:
    # Resending the whole history once text was shown would show the answer twice.
    from bailian_geo_agent.agent.providers.responses import DashScopeResponses
    from langchain_core.messages import AIMessageChunk, HumanMessage
    from langchain_core.outputs import ChatGenerationChunk

    sent: list[dict[str, Any]] = []

    async def once(self: Any, payload: dict[str, Any], run_manager: Any, progress: Any) -> Any:
        sent.append(payload)
        progress["response_started"] = True
        if len(sent) > 1:
            yield ChatGenerationChunk(message=AIMessageChunk(content="whole"))
            return
        if after_text:
            yield ChatGenerationChunk(message=AIMessageChunk(content="北京"))
        raise openai.APIError("Previous response not found", None,  # type: ignore[arg-type]
                              body={"code": "previous_response_not_found"})

    monkeypatch.setattr(DashScopeResponses, "_astream_once", once)
    model = build_chat_model(make_settings(fake_dashscope, "responses"))
    history = [HumanMessage("北京"), AIMessage("晴", response_metadata={"id": "resp_1"}),
               HumanMessage("上海")]
    if after_text:
        with pytest.raises(openai.APIError):
            [chunk async for chunk in model._astream(history)]
        assert len(sent) == 1
    else:
        assert [c.text async for c in model._astream(history)] == ["whole"]
        assert [("previous_response_id" in body) for body in sent] == [True, False]
