"""What every request pays once (issue 24 item 5): each tool's schema is built once, not per
model call, and the reader gets a reply's first piece before the rest of a burst is parsed."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.callbacks import ChunkStreamHandler
from bailian_geo_agent.agent.providers import _tool_calls, build_chat_model, openai_compatible
from bailian_geo_agent.tools import GeoToolkit
from langchain_core.tools import StructuredTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from tests.fakes.dashscope import FakeDashScope, Reply
from tests.helpers import PROVIDERS, collect, make_settings


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every tool whose schema is built from here on."""
    built: list[str] = []

    def counting(tool: Any, **kwargs: Any) -> dict[str, Any]:
        built.append(getattr(tool, "name", "?"))
        return convert_to_openai_tool(tool, **kwargs)

    monkeypatch.setattr(_tool_calls, "convert_to_openai_tool", counting)
    return built


def bound_tools(model: Any, tools: list[Any], **kwargs: Any) -> list[dict[str, Any]]:
    tools_sent: list[dict[str, Any]] = model.bind_tools(tools, **kwargs).kwargs["tools"]
    return tools_sent


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_tool_schema_is_built_once_and_sent_byte_identical(
    fake_dashscope: FakeDashScope, provider: str, conversions: list[str]
) -> None:
    model = build_chat_model(make_settings(fake_dashscope, provider))
    tools = GeoToolkit().get_tools()
    expected = json.dumps([convert_to_openai_tool(t) for t in tools], ensure_ascii=False)
    first = bound_tools(model, tools)
    second = bound_tools(model, tools[:3])  # another call offering fewer tools
    third = bound_tools(model, tools)
    assert json.dumps(first, ensure_ascii=False) == expected
    assert json.dumps(third, ensure_ascii=False) == expected
    assert second == first[:3]
    assert sorted(conversions) == sorted(t.name for t in tools)  # once each, for all calls


def test_a_changed_tool_is_built_again(
    fake_dashscope: FakeDashScope, conversions: list[str]
) -> None:
    @tool
    def note(city: str) -> str:
        """A note about a city."""
        return city

    model = build_chat_model(make_settings(fake_dashscope, "openai"))
    assert bound_tools(model, [note])[0]["function"]["description"] == "A note about a city."
    note.description = "A shorter note."
    assert bound_tools(model, [note])[0]["function"]["description"] == "A shorter note."
    assert conversions == ["note", "note"]


def test_a_json_schema_changed_in_place_is_built_again(
    fake_dashscope: FakeDashScope, conversions: list[str]
) -> None:
    # An MCP tool's args_schema is a dict: the cache must not serve the schema it had.
    schema = {"type": "object", "properties": {"city": {"type": "string", "description": "old"}},
              "required": ["city"]}
    note = StructuredTool(name="note", description="A note.", args_schema=schema,
                          func=lambda city: city)
    model = build_chat_model(make_settings(fake_dashscope, "openai"))
    city = bound_tools(model, [note])[0]["function"]["parameters"]["properties"]["city"]
    assert city["description"] == "old"
    assert bound_tools(model, [note])[0]["function"]["parameters"]["properties"]["city"] == city
    schema["properties"]["city"]["description"] = "new"
    city = bound_tools(model, [note])[0]["function"]["parameters"]["properties"]["city"]
    assert city["description"] == "new"
    assert conversions == ["note", "note"]


def test_strict_schemas_and_tools_with_extras_are_left_to_langchain(
    fake_dashscope: FakeDashScope, conversions: list[str]
) -> None:
    def deferred(city: str) -> str:
        """Deferred."""
        return city

    extra = StructuredTool.from_function(deferred, extras={"defer_loading": True})
    model = build_chat_model(make_settings(fake_dashscope, "openai"))
    sent = bound_tools(model, [extra])
    assert sent[0]["defer_loading"] is True  # langchain-openai's own passthrough still applies
    strict = bound_tools(model, GeoToolkit().get_tools()[:1], strict=True)
    assert strict[0]["function"]["strict"] is True
    assert conversions == []  # neither went through the cache


async def test_the_reader_gets_the_first_piece_before_the_burst_is_parsed() -> None:
    handler = ChunkStreamHandler()
    run_id = object()
    emitted = 0

    async def burst() -> None:  # a producer that never waits: chunks already read
        nonlocal emitted
        handler.start()
        for _ in range(2000):
            emitted += 1
            await handler.on_llm_new_token("x", run_id=run_id)  # type: ignore[arg-type]
        handler.finish()

    seen_at: list[int] = []
    producer = asyncio.create_task(burst())
    async for event in handler:
        if event.type == "stream_chunk" and not seen_at:
            seen_at.append(emitted)
    await producer
    assert seen_at == [1]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_burst_reply_arrives_whole(fake_dashscope: FakeDashScope, provider: str) -> None:
    text = "北京今天晴。" * 400
    fake_dashscope.script(Reply(text=text, chunk_size=1))
    service = StreamChatService(make_settings(fake_dashscope, provider, session_store_url="memory://"),
                                tools=GeoToolkit().get_tools())
    events = await collect(service.stream_chat("天气？"))
    await service.aclose()
    assert [e["type"] for e in events][-1] == "stream_end"
    assert "".join(e["chunk"] for e in events if e["type"] == "stream_chunk") == text


async def test_one_tls_context_for_every_http_client(
    fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each TLS context loads the CA bundle (20-50 ms in a fresh process): ChatOpenAI's sync
    and async clients and the per-loop aiohttp pool share one, as the SDK alone has one."""
    made: list[int] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    openai_compatible._tls.cache_clear()
    # a timeout of its own: langchain-openai caches its default clients per (URL, timeout)
    model: Any = build_chat_model(make_settings(fake_dashscope, "openai", timeout=7.25))
    model._client_for_loop()
    assert len(made) == 1
    events = await collect(StreamChatService(model=model, tools=[]).stream_chat("你好"))
    assert events[-1]["type"] == "stream_end"  # the shared context's clients still work
    assert len(made) == 1


async def test_model_call_hooks_hop_to_a_thread_once_per_call(
    fake_dashscope: FakeDashScope,
) -> None:
    """create_agent wraps each middleware's model-call hook in a LangSmith span set up and ended
    in a worker thread (traced or not); the service's hooks are one middleware: 2 hops a call."""
    import langsmith

    hops: list[str] = []

    async def counting(default: Any, ctx: Any, func: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(repr(func))
        return await default(ctx, func, *args, **kwargs)

    fake_dashscope.script(Reply(text="好"))
    service = StreamChatService(
        make_settings(fake_dashscope, "openai", session_store_url="memory://"), tools=[]
    )
    langsmith.set_runtime_overrides(aio_to_thread=counting)
    try:
        events = await collect(service.stream_chat("你好"))
    finally:
        langsmith.set_runtime_overrides()
        await service.aclose()
    assert events[-1]["type"] == "stream_end", events[-1]
    assert len(hops) == 2  # one model call, one span: set up and end (6 with three spans)


async def test_the_first_event_of_a_read_is_handed_over_before_the_rest_is_split() -> None:
    # One read holding a whole burst: the first event comes out before the splitter looks at
    # the rest (here, a later event over the cap that only raises once reached).
    from bailian_geo_agent.agent.errors import StreamLimitError
    from bailian_geo_agent.agent.providers._sse import iter_sse_data

    read = b"data: first\n\n" + b"data: " + b"x" * 200 + b"\n\n" + b"data: last\n\n"

    async def one_read() -> Any:
        yield read

    got: list[bytes] = []
    with pytest.raises(StreamLimitError):
        async for data in iter_sse_data(one_read(), max_event_bytes=100):
            got.append(data)
    assert got == [b"first"]


def test_events_split_lazily_match_the_whole_read_split() -> None:
    from bailian_geo_agent.agent.providers._sse import EventSplitter

    body = b"data: a\r\n\r\n:c\n\ndata: b\ndata: c\n\n\n\ndata: " + "天".encode() * 50 + b"\n\nda"
    for size in (1, 2, 3, 7, 64, len(body)):
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        whole, lazy = EventSplitter(), EventSplitter()
        assert [b for p in pieces for b in whole.feed(p)] == [
            b for p in pieces for b in lazy.iter_feed(p)
        ]
        assert whole.rest() == lazy.rest() == b"da"


async def test_model_streams_read_the_socket_16_kib_at_a_time(
    fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncio reads up to 256 KiB per socket read: aiohttp would parse a whole burst before
    # the first event reached the SSE splitter.
    from aiohttp.client_proto import ResponseHandler
    from bailian_geo_agent.agent._compat.aiohttp import SOCKET_READ_BYTES

    transports: list[Any] = []
    connection_made = ResponseHandler.connection_made

    def recording(self: Any, transport: Any) -> None:
        transports.append(transport)
        connection_made(self, transport)

    monkeypatch.setattr(ResponseHandler, "connection_made", recording)
    text = "晴" * 3000
    fake_dashscope.script(Reply(text=text, chunk_size=1))
    model = build_chat_model(make_settings(fake_dashscope, "openai"))
    got = "".join([str(chunk.content) async for chunk in model.astream("天气？")])
    await openai_compatible.close_http_clients()
    assert got == text
    assert SOCKET_READ_BYTES == 16 * 1024
    assert transports and [t.max_size for t in transports] == [SOCKET_READ_BYTES] * len(transports)
