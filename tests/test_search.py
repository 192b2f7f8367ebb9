"""Web search (``DASHSCOPE_ENABLE_SEARCH``) on both providers, against the fake: the request asks
for it only when set, and the answer's sources become opt-in ``source`` events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.callbacks import ChunkStreamHandler
from bailian_geo_agent.agent.events import FRONT_END_EVENTS, OPTIONAL_EVENTS, Source
from bailian_geo_agent.agent.providers._search import search_results, sources_chunk
from bailian_geo_agent.agent.server.aisdk import AISDKAdapter
from bailian_geo_agent.agent.server.sse import SSEAdapter
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from tests.fakes.dashscope import FakeDashScope, RecordedRequest, Reply, ToolCall
from tests.helpers import PROVIDERS, collect, make_settings

SOURCES = [
    {"title": "北京天气预报", "url": "https://weather.example.cn/beijing"},
    {"title": "中国天气网", "url": "https://www.weather.example.com.cn/"},
]


def options(request: RecordedRequest) -> dict[str, Any]:
    """The compatible-mode body or the native ``parameters``."""
    return request.body if request.protocol != "native" else request.body["parameters"]


def asks_for_search(request: RecordedRequest) -> bool:
    """``enable_search`` with sources (Chat Completions, native) or the built-in ``web_search``
    tool (Responses API)."""
    if request.protocol == "responses":
        return {"type": "web_search"} in (request.body.get("tools") or [])
    sent = options(request)
    assert sent.get("search_options", {"enable_source": True}) == {"enable_source": True}
    return sent.get("enable_search") is True


def service(fake: FakeDashScope, provider: str, **settings: Any) -> StreamChatService:
    return StreamChatService(
        make_settings(fake, provider, session_store_url="memory://", **settings), tools=[])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_sources_become_source_events_before_the_answer(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    fake_dashscope.script(Reply(text="北京今天晴。", search_results=SOURCES))
    async with service(fake_dashscope, provider, enable_search=True) as chat:
        events = await collect(chat.stream_chat("北京今天天气", events={"source"}))
    # The Responses API cites its sources as annotations of the answer's text: they follow it.
    first = events[-3:-1] if provider == "responses" else events[1:3]
    assert [e["type"] for e in first] == ["source", "source"]
    assert [(e["url"], e["title"]) for e in events if e["type"] == "source"] == [
        (s["url"], s["title"]) for s in SOURCES]
    assert set(first[0]) == {"type", "message_id", "session_id", "url", "title"}
    assert "".join(e.get("chunk", "") for e in events) == "北京今天晴。"
    assert events[-1]["type"] == "stream_end"
    assert asks_for_search(fake_dashscope.requests[0])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_each_source_once_per_reply_across_model_calls(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    from langchain_core.tools import tool

    @tool
    def note(city: str) -> str:
        """A note about a city."""
        return "ok"

    fake_dashscope.script(
        Reply(tool_calls=[ToolCall("note", {"city": "北京"})], search_results=SOURCES[:1]),
        Reply(text="好", search_results=SOURCES),
    )
    settings = make_settings(fake_dashscope, provider, session_store_url="memory://",
                             enable_search=True)
    async with StreamChatService(settings, tools=[note]) as chat:
        events = await collect(chat.stream_chat("北京", events={"source"}))
    assert [e["url"] for e in events if e["type"] == "source"] == [s["url"] for s in SOURCES]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_off_by_default_and_no_events_without_the_opt_in(
    fake_dashscope: FakeDashScope, provider: str
) -> None:
    fake_dashscope.script(Reply(text="好", search_results=SOURCES),
                          Reply(text="好", search_results=SOURCES))
    async with service(fake_dashscope, provider) as chat:
        off = await collect(chat.stream_chat("北京", events={"source"}))
    assert not asks_for_search(fake_dashscope.requests[0])
    assert "enable_search" not in options(fake_dashscope.requests[0])
    assert [e["type"] for e in off] == ["stream_start", "stream_chunk", "stream_end"]
    async with service(fake_dashscope, provider, enable_search=True) as chat:
        not_asked = await collect(chat.stream_chat("北京"))
    assert [e["type"] for e in not_asked] == ["stream_start", "stream_chunk", "stream_end"]


def test_only_web_links_are_sources() -> None:
    info = {"search_results": [
        {"index": 1, "title": "ok", "url": "https://a.example/x"},
        {"index": 2, "title": "bad", "url": "javascript:alert(1)"},
        {"index": 3, "url": "http://b.example/"},
        {"index": 4, "title": "no url"},
        "junk",
    ]}
    assert search_results(info) == [{"url": "https://a.example/x", "title": "ok"},
                                    {"url": "http://b.example/", "title": "http://b.example/"}]
    assert search_results(None) == search_results({"search_results": "x"}) == []


def test_source_is_opt_in_and_a_front_end_event() -> None:
    assert "source" in OPTIONAL_EVENTS and "source" in FRONT_END_EVENTS  # the page shows them


def test_source_on_the_wire_protocols() -> None:
    event = Source("m", "s", "https://a.example/x", "标题")
    frame = SSEAdapter().to_bytes([event]).decode()
    assert frame.startswith("id: 1\nevent: source\ndata: ")
    assert '"url":"https://a.example/x","title":"标题"' in frame
    parts = AISDKAdapter(lambda: False).frames(event)
    assert parts == [{"type": "source-url", "sourceId": "source-1",
                      "url": "https://a.example/x", "title": "标题"}]


class ForeignSearchModel(BaseChatModel):
    """Any LangChain model whose chunks carry sources, not one of ours (which filter them)."""

    @property
    def _llm_type(self) -> str:
        return "foreign-search"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        raise NotImplementedError

    async def _astream(self, messages: Any, stop: Any = None, run_manager: Any = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        found = [{"url": url, "title": "t"} for url in (
            "javascript:alert(1)", "data:text/html,x", "https://", "https:///etc/passwd",
            "https://a.example/\nx", "https://ok.example/a")]
        for chunk in (sources_chunk(found), ChatGenerationChunk(message=AIMessageChunk("ok"))):
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


async def test_a_source_event_never_carries_a_non_web_url_whatever_the_model() -> None:
    handler = ChunkStreamHandler(events={"source"})
    task = asyncio.create_task(ForeignSearchModel().ainvoke("hi", {"callbacks": [handler]}))
    events = [event async for event in handler.dicts()]
    await task
    assert [e["url"] for e in events if e["type"] == "source"] == ["https://ok.example/a"]


async def test_sources_repeated_on_every_native_event_are_stored_once(
    fake_dashscope: FakeDashScope,
) -> None:
    # Chunk addition concatenates response_metadata lists: a source on each of 8 events would
    # be stored 8 times in the session's history.
    fake_dashscope.script(Reply(text="北京今天晴，气温二十五度。", chunk_size=2,
                                search_results=SOURCES, search_results_repeated=True))
    async with service(fake_dashscope, "tongyi", enable_search=True) as chat:
        events = await collect(chat.stream_chat("北京", events={"source"}))
        history = await chat.get_history(events[0]["session_id"])
    assert [e["url"] for e in events if e["type"] == "source"] == [s["url"] for s in SOURCES]
    stored = history[-1].response_metadata.get("search_results")
    assert [s["url"] for s in stored] == [s["url"] for s in SOURCES]
