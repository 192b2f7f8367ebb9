"""DashScope's context cache (``DASHSCOPE_CONTEXT_CACHE``) on both providers, against the fake:
a byte-identical request prefix (implicit), ``cache_control`` markers (explicit), none (off), and
the cache's tokens in the ``usage`` event and the stored history."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.providers._cache import (
    EPHEMERAL,
    MAX_MARKERS,
    cache_tokens,
    mark_explicit,
)
from bailian_geo_agent.prompts import geo_assistant_prompt
from bailian_geo_agent.tools import GeoToolkit
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from tests.fakes.dashscope import FakeDashScope, RecordedRequest, Reply, ToolCall
from tests.helpers import PROVIDERS, collect, make_settings

MESSAGE_PROVIDERS = [p for p in PROVIDERS if p != "responses"]
"""The providers that send the whole history each call (the Responses API chains replies by
``previous_response_id`` and has no explicit markers: ``tests/test_responses.py``)."""
LONG_PROMPT = "你是地理助手。" * 700  # about 1,500 estimated tokens: explicit caching applies


@tool
def lookup_note(city: str) -> str:
    """A note about a city, e.g. 北京."""
    return f"{city}：晴，25°C"


def geo_tools() -> list[Any]:
    """The real geo toolkit (its 16 schemas are the bulk of the prefix) plus a local tool the
    fake's tool round trip calls."""
    return [*GeoToolkit().get_tools(), lookup_note]


def service(fake: FakeDashScope, provider: str, *, tools: list[Any] | None = None,
            system_prompt: str | None = None, **settings: Any) -> StreamChatService:
    return StreamChatService(
        make_settings(fake, provider, session_store_url="memory://", **settings),
        tools=geo_tools() if tools is None else tools,
        system_prompt=system_prompt,
    )


def wire(request: RecordedRequest) -> tuple[list[dict], list[dict]]:
    """The messages and tools of a recorded request (either protocol)."""
    if request.protocol == "openai":
        return request.body["messages"], request.body.get("tools") or []
    return request.body["input"]["messages"], request.body["parameters"].get("tools") or []


def prefix(request: RecordedRequest) -> bytes:
    """The stable prefix of a request as bytes: the tools, then the system message."""
    messages, tools = wire(request)
    return json.dumps([tools, messages[0]], ensure_ascii=False).encode()


def markers(request: RecordedRequest) -> list[int]:
    """Indexes of the messages carrying a ``cache_control`` marker."""
    messages, _ = wire(request)
    return [i for i, message in enumerate(messages)
            if isinstance(message.get("content"), list)
            and any(isinstance(b, dict) and "cache_control" in b for b in message["content"])]


def tool_round(fake: FakeDashScope, **usage: int) -> None:
    fake.script(Reply(tool_calls=[ToolCall("lookup_note", {"city": "北京"})], **usage),
                Reply(text="北京晴", **usage))


# -- implicit: the prefix is the same bytes on every call -----------------------------------------


@pytest.mark.parametrize("provider", MESSAGE_PROVIDERS)
async def test_calls_of_one_reply_and_replies_of_one_session_send_the_same_prefix(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    tool_round(fake_dashscope)
    tool_round(fake_dashscope)
    async with service(fake_dashscope, provider) as chat:
        first = await collect(chat.stream_chat("北京天气", session_id=SESSION))
        second = await collect(chat.stream_chat("上海呢", session_id=SESSION))
    assert first[-1]["type"] == second[-1]["type"] == "stream_end"
    requests = fake_dashscope.requests
    assert len(requests) == 4  # two replies, each a tool round trip
    prefixes = {prefix(request) for request in requests}
    assert len(prefixes) == 1, "the tools and system prompt changed between model calls"
    messages, tools = wire(requests[0])
    assert messages[0] == {"role": "system", "content": geo_assistant_prompt()}
    offered = [t for t in geo_tools() if not t.name.startswith("map_")]  # no map_action asked
    assert [t["function"]["name"] for t in tools] == [t.name for t in offered]
    assert len(offered) > 10
    # The history grows only at its end: each request starts with the previous one's messages.
    for before, after in itertools.pairwise(requests):
        assert wire(after)[0][: len(wire(before)[0])] == wire(before)[0]
    assert not any(markers(request) for request in requests)  # implicit: no markers
    # Another service (another instance behind the load balancer) sends the same prefix too.
    fake_dashscope.script(Reply(text="好"))
    async with service(fake_dashscope, provider) as other:
        await collect(other.stream_chat("你好"))
    assert prefix(fake_dashscope.requests[-1]) in prefixes


# -- explicit: markers on the system message and the history boundary -----------------------------


@pytest.mark.parametrize("provider", MESSAGE_PROVIDERS)
async def test_explicit_marks_the_system_prompt_and_the_history_boundary(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    tool_round(fake_dashscope, cache_creation_tokens=1500)
    tool_round(fake_dashscope, cached_tokens=1500)
    async with service(fake_dashscope, provider, context_cache="explicit",
                       system_prompt=LONG_PROMPT) as chat:
        await collect(chat.stream_chat("北京天气", session_id=SESSION))
        await collect(chat.stream_chat("上海呢", session_id=SESSION))
        history = await chat.get_history(SESSION)
    first_reply = fake_dashscope.requests[:2]
    second_reply = fake_dashscope.requests[2:]
    # First turn: no history yet, so the system prompt only, on both calls of the reply.
    assert [markers(r) for r in first_reply] == [[0], [0]]
    # Second turn: [system, user, ai(call), tool, ai(answer), user, ...]: the answer is the
    # boundary, the same on the call after the tool round trip.
    assert [markers(r) for r in second_reply] == [[0, 4], [0, 4]]
    messages, _ = wire(second_reply[1])
    assert messages[0]["content"] == [
        {"type": "text", "text": LONG_PROMPT, "cache_control": EPHEMERAL}]
    assert messages[4]["role"] == "assistant"
    assert messages[4]["content"][0]["text"] == "北京晴"
    # The stored history is plain: markers live on the wire only.
    assert all(isinstance(m.content, str) for m in history)
    answers = [m for m in history if isinstance(m, AIMessage)]
    assert answers[0].usage_metadata["input_token_details"] == {
        "cache_read": 0, "cache_creation": 1500}
    assert answers[-1].usage_metadata["input_token_details"]["cache_read"] == 1500


@pytest.mark.parametrize("provider", MESSAGE_PROVIDERS)
async def test_explicit_leaves_short_prompts_unmarked(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    tool_round(fake_dashscope)
    async with service(fake_dashscope, provider, context_cache="explicit", tools=[lookup_note],
                       system_prompt="你是地理助手。") as chat:
        events = await collect(chat.stream_chat("北京天气"))
    assert events[-1]["type"] == "stream_end"
    assert [markers(r) for r in fake_dashscope.requests] == [[], []]


@pytest.mark.parametrize("mode", ["implicit", "off"])
@pytest.mark.parametrize("provider", MESSAGE_PROVIDERS)
async def test_no_markers_unless_explicit(
    fake_dashscope: FakeDashScope, provider: str, mode: str
) -> None:
    tool_round(fake_dashscope)
    async with service(fake_dashscope, provider, context_cache=mode,
                       system_prompt=LONG_PROMPT) as chat:
        await collect(chat.stream_chat("北京天气"))
    assert [markers(r) for r in fake_dashscope.requests] == [[], []]
    assert "cache_control" not in json.dumps([r.body for r in fake_dashscope.requests])


# -- usage ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["implicit", "explicit", "off"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_usage_reports_cached_and_created_tokens(
    fake_dashscope: FakeDashScope, provider: str, mode: str
) -> None:
    explicit = mode == "explicit"
    fake_dashscope.script(
        Reply(tool_calls=[ToolCall("lookup_note", {"city": "北京"})], cached_tokens=0,
              cache_creation_tokens=1200 if explicit else None),
        Reply(text="北京晴", cached_tokens=1200),
    )
    async with service(fake_dashscope, provider, context_cache=mode,
                       system_prompt=LONG_PROMPT) as chat:
        events = await collect(chat.stream_chat("北京天气", events={"usage"}))
    usage = next(e for e in events if e["type"] == "usage")
    assert usage["model_calls"] == 2
    assert usage["cached_tokens"] == 1200
    assert usage["cache_creation_tokens"] == (1200 if explicit else 0)
    assert usage["input_tokens"] >= usage["cached_tokens"] + usage["cache_creation_tokens"]


# -- the pieces -----------------------------------------------------------------------------------


def test_at_most_the_documented_markers_and_the_input_unchanged() -> None:
    long = "x" * 8000
    messages = [{"role": "system", "content": long}, {"role": "user", "content": long},
                {"role": "assistant", "content": long}, {"role": "user", "content": "q"}]
    before = json.dumps(messages)
    marked = mark_explicit(messages, tools=[{"type": "function"}])
    assert json.dumps(messages) == before
    assert [i for i, m in enumerate(marked) if isinstance(m["content"], list)] == [0, 2]
    assert len([m for m in marked if isinstance(m["content"], list)]) <= MAX_MARKERS


def test_a_tool_call_without_text_and_its_result_are_skipped_for_the_message_before() -> None:
    # A turn that ended on a tool result (interrupted): the result's content stays a string
    # (the native API takes no list there), the marker goes on the last message that may.
    long = "x" * 8000
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": long},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "1"}]},
                {"role": "tool", "content": long, "tool_call_id": "1"},
                {"role": "user", "content": "q"}]
    marked = mark_explicit(messages)
    assert [i for i, m in enumerate(marked) if isinstance(m["content"], list)] == [1]
    assert marked[3] is messages[3]


def test_the_marker_goes_on_text_never_on_an_image_or_empty_block() -> None:
    long = "x" * 8000
    picture = {"role": "user", "content": [{"type": "text", "text": long},
                                           {"type": "image_url", "image_url": {"url": "u"}}]}
    blank = {"role": "assistant", "content": [{"type": "text", "text": ""}]}
    marked = mark_explicit([{"role": "system", "content": "s"}, picture, blank,
                            {"role": "user", "content": "q"}])
    assert marked[2] is blank
    assert marked[1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in marked[1]["content"][1]


def test_markers_already_in_the_messages_count_toward_the_limit() -> None:
    long = "x" * 8000
    given = [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}]
    messages = [{"role": "system", "content": long},
                *({"role": "user", "content": given}, {"role": "assistant", "content": "a"}) * 2,
                {"role": "user", "content": given}, {"role": "assistant", "content": long},
                {"role": "user", "content": "q"}]
    marked = mark_explicit(messages)
    count = sum("cache_control" in block for m in marked if isinstance(m["content"], list)
                for block in m["content"])
    assert count == MAX_MARKERS


@pytest.mark.parametrize(("usage", "expected"), [
    ({"prompt_tokens_details": {"cached_tokens": 5}}, (5, None)),
    ({"prompt_tokens_details": {"cached_tokens": 0, "cache_creation_input_tokens": 9}}, (0, 9)),
    ({"prompt_tokens_details": {"cache_creation": {"ephemeral_5m_input_tokens": 7}}}, (None, 7)),
    ({"cache_creation_input_tokens": 3, "cache_read_input_tokens": 2}, (2, 3)),
    ({"input_tokens_details": {"cached_tokens": 4}}, (4, None)),
    ({"prompt_tokens": 10}, (None, None)),
    (None, (None, None)),
])
def test_cache_fields_are_read_tolerantly(usage: Any, expected: tuple[Any, Any]) -> None:
    assert cache_tokens(usage) == expected


SESSION = "0b0e7a52-2d0c-4a51-9b9e-6c1f4d0e2a10"


def test_the_tools_share_of_the_prefix_follows_their_descriptions() -> None:
    # Same names, other descriptions (another language): the estimate must not be the first's.
    def tools(description: str) -> list[dict[str, Any]]:
        return [{"type": "function", "function": {"name": f"t{i}", "description": description,
                                                   "parameters": {}}} for i in range(4)]
    messages = [{"role": "system", "content": "s" * 400}, {"role": "user", "content": "q"}]
    assert isinstance(mark_explicit(messages, tools("d" * 1200))[0]["content"], list)
    assert mark_explicit(messages, tools("d"))[0] is messages[0]
