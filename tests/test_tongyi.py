"""The ChatTongyi path end to end: the real dashscope SDK against the loopback DashScope fake."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import dashscope
import pytest
from aiohttp import web
from bailian_geo_agent.agent.errors import (
    DashScopeAPIError,
    NetworkError,
    StreamInterruptedError,
    to_agent_error,
)
from bailian_geo_agent.agent.providers._native_wire import StreamState, chunk_from_event, text_chunk
from bailian_geo_agent.agent.providers.dashscope_native import (
    DashScopeChatTongyi,
    DashScopeConnectionError,
    DashScopeTimeoutError,
    close_http_session,
)
from dashscope.api_entities.aio_session import close_shared_aio_session
from langchain_community.chat_models.tongyi import ChatTongyi
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_tests.unit_tests import ChatModelUnitTests

from tests.fakes.dashscope import FakeDashScope, Reply, ToolCall, echo_responder, tool_then_answer

KEY = "sk-test-tongyi-0000"


def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"{city}：晴，20℃"


def make(fake: FakeDashScope, **kwargs: Any) -> DashScopeChatTongyi:
    params: dict[str, Any] = {
        "api_key": KEY,
        "model": "qwen-plus",
        "base_url": fake.native_base_url,
        "timeout": 5.0,
        "max_retries": 2,
    }
    params.update(kwargs)
    model = DashScopeChatTongyi(**params)
    model.retry_base_delay = 0.01
    return model


def join(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


class Tokens(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


@pytest.fixture(autouse=True)
async def _close_sdk_session():
    """The model keeps one aiohttp session per event loop; close it before the loop goes away."""
    yield
    await close_http_session()
    await close_shared_aio_session()


# -- streaming and tool calls --------------------------------------------------------------------


async def test_plain_answer_streams_chunk_by_chunk(fake_dashscope: FakeDashScope) -> None:
    text = "北京今天晴，气温二十度。"
    fake_dashscope.script(Reply(text=text, chunk_size=3))
    handler = Tokens()
    message = await make(fake_dashscope).ainvoke("天气", config={"callbacks": [handler]})

    assert message.content == text
    non_empty = [t for t in handler.tokens if t]
    assert non_empty == ["北京今", "天晴，", "气温二", "十度。"]
    assert "".join(handler.tokens) == text
    assert message.usage_metadata is not None
    assert message.usage_metadata["total_tokens"] == (
        message.usage_metadata["input_tokens"] + message.usage_metadata["output_tokens"]
    )
    assert message.response_metadata["finish_reason"] == "stop"
    body = fake_dashscope.requests[0].body
    assert body["parameters"]["incremental_output"] is True
    assert fake_dashscope.requests[0].stream and fake_dashscope.requests[0].api_key == KEY


async def test_text_and_tool_call_with_tools_bound(fake_dashscope: FakeDashScope) -> None:
    # Repeated text is what ChatTongyi's delta rebuilding (str.replace) destroys.
    text = "好的好的，我来查一下。好的"
    reply = Reply(text=text, tool_calls=[ToolCall("get_weather", {"city": "北京"})])
    fake_dashscope.script(reply)
    handler = Tokens()
    model = make(fake_dashscope).bind_tools([get_weather])
    chunks = [c async for c in model.astream("北京天气", config={"callbacks": [handler]})]

    message = join(chunks)
    assert message.content == text
    assert "".join(handler.tokens) == text
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_weather", {"city": "北京"})
    ]
    assert message.tool_calls[0]["id"].startswith("call_")
    # Tool-call-only chunks carry no text: the agent drops their empty tokens.
    assert all(c.text == "" for c in chunks if c.tool_call_chunks)
    assert fake_dashscope.requests[0].body["parameters"]["incremental_output"] is True


async def test_stock_chattongyi_mangles_text_and_parallel_calls(
    fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression demonstration: the same setup through the unmodified ChatTongyi."""
    monkeypatch.setattr(dashscope, "base_http_api_url", fake_dashscope.native_base_url)
    stock = ChatTongyi(api_key=KEY, model="qwen-plus", streaming=True, max_retries=1)
    text = "好的好的，我来查一下。好的"
    fake_dashscope.script(Reply(text=text, tool_calls=[ToolCall("get_weather", {"city": "北京"})]))
    chunks = [c async for c in stock.bind_tools([get_weather]).astream("北京天气")]
    assert join(chunks).content != text  # text lost: "好的，我来查一下。好的"
    assert fake_dashscope.requests[0].body["parameters"].get("incremental_output") is not True

    two = [ToolCall("get_weather", {"city": "北京"}), ToolCall("get_weather", {"city": "上海"})]
    fake_dashscope.script(Reply(text="查一下", tool_calls=two))
    with pytest.raises(IndexError):
        [c async for c in stock.bind_tools([get_weather], parallel_tool_calls=True).astream("x")]


async def test_one_tool_call(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "杭州市"})]))
    message = await make(fake_dashscope).bind_tools([get_weather]).ainvoke("杭州天气")
    assert message.content == ""
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_weather", {"city": "杭州市"})
    ]
    assert message.response_metadata["finish_reason"] == "tool_calls"
    assert message.invalid_tool_calls == []


async def test_two_tool_calls_in_one_turn(fake_dashscope: FakeDashScope) -> None:
    calls = [
        ToolCall("get_weather", {"city": "北京"}, id="call_a"),
        ToolCall("get_weather", {"city": "上海"}, id="call_b"),
    ]
    fake_dashscope.script(Reply(text="分别查询。", tool_calls=calls))
    model = make(fake_dashscope).bind_tools([get_weather], parallel_tool_calls=True)
    message = join([c async for c in model.astream("北京和上海")])

    assert message.content == "分别查询。"
    assert [(c["id"], c["name"], c["args"]) for c in message.tool_calls] == [
        ("call_a", "get_weather", {"city": "北京"}),
        ("call_b", "get_weather", {"city": "上海"}),
    ]
    assert "tool_calls" not in message.additional_kwargs  # nothing left to merge wrongly


async def test_history_with_tool_calls_is_serialized(fake_dashscope: FakeDashScope) -> None:
    calls = [ToolCall("get_weather", {"city": "北京"}), ToolCall("get_weather", {"city": "上海"})]
    fake_dashscope.responder = tool_then_answer(calls, lambda results: "；".join(results))
    model = make(fake_dashscope).bind_tools([get_weather], parallel_tool_calls=True)
    history: list[Any] = [HumanMessage("北京和上海天气")]
    ai = await model.ainvoke(history)
    assert len(ai.tool_calls) == 2
    history.append(ai)
    for call in ai.tool_calls:
        result = get_weather(**call["args"])
        history.append(ToolMessage(result, tool_call_id=call["id"], name=call["name"]))
    answer = await model.ainvoke(history)
    assert answer.content == "北京：晴，20℃；上海：晴，20℃"

    sent = fake_dashscope.requests[1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assistant = sent[1]
    assert [
        (c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in assistant["tool_calls"]
    ] == [
        (ai.tool_calls[0]["id"], "function", "get_weather", {"city": "北京"}),
        (ai.tool_calls[1]["id"], "function", "get_weather", {"city": "上海"}),
    ]
    assert [(m["tool_call_id"], m["name"], m["content"]) for m in sent[2:]] == [
        (ai.tool_calls[0]["id"], "get_weather", "北京：晴，20℃"),
        (ai.tool_calls[1]["id"], "get_weather", "上海：晴，20℃"),
    ]


def test_sync_invoke_and_stream(fake_dashscope: FakeDashScope) -> None:
    model = make(fake_dashscope)
    fake_dashscope.script(
        Reply(text="好的好的，查询中", tool_calls=[ToolCall("get_weather", {"city": "北京"})])
    )
    message = model.bind_tools([get_weather]).invoke("北京天气")
    assert message.content == "好的好的，查询中"
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_weather", {"city": "北京"})
    ]

    fake_dashscope.script(Reply(status=429, error_code="limit_requests"))
    chunks = list(model.stream("你好"))
    assert join(chunks).content == "ECHO[1]: 你好"
    assert len(fake_dashscope.requests) == 3


def test_repeated_ids_and_names_on_fragments_are_not_concatenated() -> None:
    """Issue #394's symptom (``get_weatherget_weather``): a server repeating id and name."""
    state = StreamState()

    def event(fragments: list[dict], finish: str = "null") -> dict:
        message = {"role": "assistant", "content": "", "tool_calls": fragments}
        return {"choices": [{"message": message, "finish_reason": finish}]}

    def fragment(index: Any, call_id: str, name: str, args: str) -> dict:
        return {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": args},
        }

    events = [
        event([fragment(0, "call_1", "get_weather", "")]),
        event([fragment(0, "call_1", "get_weather", '{"city":')]),
        event([fragment(0, "", "get_weather", ' "北京"}'), fragment(1, "call_2", "now", "{}")]),
        event([{"index": 1, "id": "", "type": "function", "function": {}}], finish="tool_calls"),
    ]
    chunks = [
        chunk_from_event(e, {"input_tokens": 3, "output_tokens": 4}, "r", state, "m")
        for e in events
    ]
    message = join([c.message for c in chunks if c is not None])
    assert [(c["id"], c["name"], c["args"]) for c in message.tool_calls] == [
        ("call_1", "get_weather", {"city": "北京"}),
        ("call_2", "now", {}),
    ]
    assert message.usage_metadata == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


def test_text_chunk_equals_the_validated_chunk() -> None:
    """The fast path for text-only events builds exactly what validation would."""
    slow = ChatGenerationChunk(
        message=AIMessageChunk(
            content="北京", additional_kwargs={}, tool_call_chunks=[], usage_metadata=None
        )
    )
    event = {
        "choices": [{"message": {"role": "assistant", "content": "北京"}, "finish_reason": "null"}]
    }
    fast = chunk_from_event(event, {"output_tokens": 1}, "r", StreamState(), "m")
    assert fast is not None
    for got, expected in ((fast, slow), (fast.message, slow.message)):
        assert got == expected and got.__dict__ == expected.__dict__
        assert got.model_fields_set == expected.model_fields_set
        assert (got.__pydantic_extra__, got.__pydantic_private__) == (
            expected.__pydantic_extra__,
            expected.__pydantic_private__,
        )
    assert fast.model_dump(exclude_unset=True) == slow.model_dump(exclude_unset=True)
    assert text_chunk("北京") == slow and (fast + fast) == (slow + slow)


# -- errors, retries, truncation, timeouts -------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (Reply(error_code="invalid_api_key"), 401, "InvalidApiKey"),
        (Reply(error_code="model_not_found"), 400, "InvalidParameter"),
        (Reply(error_code="data_inspection_failed"), 400, "DataInspectionFailed"),
    ],
)
async def test_errors_are_not_retried(
    fake_dashscope: FakeDashScope, reply: Reply, status: int, code: str
) -> None:
    fake_dashscope.script(reply)
    with pytest.raises(DashScopeAPIError) as info:
        await make(fake_dashscope).ainvoke("你好")
    assert (info.value.status_code, info.value.code) == (status, code)
    assert info.value.request_id
    assert len(fake_dashscope.requests) == 1


async def test_bad_key_and_unknown_model(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.valid_keys = {"sk-other"}
    with pytest.raises(DashScopeAPIError) as info:
        await make(fake_dashscope).ainvoke("你好")
    assert (info.value.status_code, info.value.code) == (401, "InvalidApiKey")
    fake_dashscope.valid_keys = None
    with pytest.raises(DashScopeAPIError) as info:
        await make(fake_dashscope, model="qwen-nope").ainvoke("你好")
    assert (info.value.status_code, info.value.code, info.value.message) == (
        400, "InvalidParameter", "Model not exist.")
    assert len(fake_dashscope.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [Reply(status=429, error_code="limit_requests"), Reply(status=500), Reply(status=503)],
)
async def test_retried_then_success_text_once(fake_dashscope: FakeDashScope, failure) -> None:
    fake_dashscope.script(failure, Reply(text="一次就好"))
    handler = Tokens()
    message = await make(fake_dashscope).ainvoke("你好", config={"callbacks": [handler]})
    assert message.content == "一次就好"
    assert "".join(handler.tokens) == "一次就好"
    assert len(fake_dashscope.requests) == 2


async def test_retries_give_up_after_max_retries(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(*[Reply(status=429, error_code="limit_requests")] * 3)
    with pytest.raises(DashScopeAPIError) as info:
        await make(fake_dashscope, max_retries=2).ainvoke("你好")
    assert info.value.status_code == 429
    assert len(fake_dashscope.requests) == 3


async def test_in_stream_error_after_text_is_raised_after_the_text(
    fake_dashscope: FakeDashScope,
) -> None:
    fake_dashscope.script(Reply(text="这是一段会被拦截的回答", chunk_size=2, moderation_after=2))
    seen: list[str] = []
    with pytest.raises(DashScopeAPIError) as info:
        async for chunk in make(fake_dashscope).astream("你好"):
            seen.append(chunk.text)
    assert "".join(seen) == "这是一段"
    assert info.value.code == "DataInspectionFailed"
    assert len(fake_dashscope.requests) == 1  # never retried after text went out


async def test_cut_mid_stream_raises_stream_interrupted(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="一二三四五六七八", chunk_size=2, cut_after=2))
    seen: list[str] = []
    with pytest.raises(StreamInterruptedError, match="中断"):
        async for chunk in make(fake_dashscope).astream("你好"):
            seen.append(chunk.text)
    # Everything sent before the cut is shown (see also the slow-consumer test below).
    assert "".join(seen) == "一二三四"
    assert len(fake_dashscope.requests) == 1


@contextlib.asynccontextmanager
async def native_server(
    body: bytes, content_type: str = "text/event-stream", *, then: bytes = b"", cut: bool = False
):
    """A loopback server answering every request with ``body``, then after 0.1 s ``then``, and
    ending the body cleanly or (``cut``) dropping the connection right after; yields its base."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        await response.write(body)
        if then:
            await asyncio.sleep(0.1)
            await response.write(then)
        if cut:
            assert request.transport is not None
            request.transport.abort()
        else:
            await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/api/v1/services/aigc/text-generation/generation", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        await runner.cleanup()


def native_event(n: int, content: str, finish: str = "null") -> bytes:
    message = {"role": "assistant", "content": content}
    data = {
        "output": {"choices": [{"message": message, "finish_reason": finish}]},
        "usage": {"input_tokens": 3, "output_tokens": n},
        "request_id": "r1",
    }
    text = json.dumps(data, ensure_ascii=False)
    return f"id:{n}\nevent:result\n:HTTP_STATUS/200\ndata:{text}\n\n".encode()


async def test_request_is_the_one_the_sdk_sends() -> None:
    """Same URL, body bytes and headers as ``dashscope.AioGeneration.call`` (cassettes match
    bodies; DashScope may rely on the SDK's headers)."""
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((str(request.url), dict(request.headers), await request.read()))
        return web.json_response({"code": "InvalidApiKey", "message": "no"}, status=401)

    app = web.Application()
    app.router.add_post("/api/v1/services/aigc/text-generation/generation", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    model = DashScopeChatTongyi(
        api_key=KEY, model="qwen-plus", base_url=f"http://127.0.0.1:{port}/api/v1",
        timeout=5, max_retries=0,
    )  # fmt: skip
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    try:
        for kwargs in ({}, {"tools": [tool], "parallel_tool_calls": True, "seed": 3}):
            messages = [HumanMessage("北京天气")]
            params = model._request_params(messages, ["。"] if kwargs else None, **kwargs)
            async for _ in await dashscope.AioGeneration.call(**params):
                pass
            with pytest.raises(DashScopeAPIError):
                await model.ainvoke(messages, stop=params.get("stop"), **kwargs)
            (sdk_url, sdk_headers, sdk_body), (url, headers, body) = seen[-2:]
            assert (url, body) == (sdk_url, sdk_body)
            assert headers == sdk_headers
    finally:
        await runner.cleanup()


async def test_clean_end_without_final_event_raises_stream_interrupted(
    fake_dashscope: FakeDashScope,
) -> None:
    # The fake can only abort a connection; a proxy may also end the body cleanly early.
    body = native_event(1, "一二") + native_event(2, "三四")
    async with native_server(body) as base:
        seen: list[str] = []
        with pytest.raises(StreamInterruptedError):
            async for chunk in make(fake_dashscope, base_url=base).astream("你好"):
                seen.append(chunk.text)
    assert "".join(seen) == "一二三四"


async def test_text_received_before_a_cut_is_shown_to_a_slow_consumer(
    fake_dashscope: FakeDashScope,
) -> None:
    # Events 2 and 3 and the reset arrive while the consumer is busy with event 1: aiohttp
    # then raises on the next read and drops what it had buffered, unless it is salvaged.
    then = native_event(2, "三四") + native_event(3, "五六")
    async with native_server(native_event(1, "一二"), then=then, cut=True) as base:
        seen: list[str] = []
        with pytest.raises(StreamInterruptedError):
            async for chunk in make(fake_dashscope, base_url=base, max_retries=0).astream("x"):
                seen.append(chunk.text)
                if len(seen) == 1:
                    await asyncio.sleep(0.3)
    assert "".join(seen) == "一二三四五六"


async def test_crlf_heartbeats_last_event_without_blank_line_and_whole_json(
    fake_dashscope: FakeDashScope,
) -> None:
    body = (
        b": ping\r\n\r\n"
        + native_event(1, "一二").replace(b"\n", b"\r\n")
        + native_event(2, "三", "stop").rstrip(b"\n")
    )
    async with native_server(body) as base:
        assert (await make(fake_dashscope, base_url=base).ainvoke("x")).content == "一二三"
    # A server that ignores X-DashScope-SSE and answers with one JSON document.
    whole = native_event(1, "全部", "stop").split(b"data:")[1].strip()
    async with native_server(whole, "application/json") as base:
        message = await make(fake_dashscope, base_url=base).ainvoke("x")
    assert message.content == "全部" and message.response_metadata["finish_reason"] == "stop"


async def test_in_stream_error_status_comes_from_its_http_status_line(
    fake_dashscope: FakeDashScope,
) -> None:
    error = (
        b"id:1\nevent:error\n:HTTP_STATUS/429\ndata:"
        b'{"code":"Throttling.RateQuota","message":"slow down","request_id":"r9"}\n\n'
    )
    async with native_server(error) as base:
        with pytest.raises(DashScopeAPIError) as info:
            await make(fake_dashscope, base_url=base, max_retries=1).ainvoke("x")
    assert (info.value.status_code, info.value.code, info.value.request_id) == (
        429,
        "Throttling.RateQuota",
        "r9",
    )


async def test_malformed_event_is_a_decode_error(fake_dashscope: FakeDashScope) -> None:
    body = native_event(1, "一二") + b'id:2\nevent:result\ndata:{"output":{tru\n\n'
    async with native_server(body) as base:
        with pytest.raises(json.JSONDecodeError) as info:
            await make(fake_dashscope, base_url=base).ainvoke("x")
    assert "无法解析" in str(to_agent_error(info.value))


def test_sync_cut_mid_stream_raises_stream_interrupted(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="一二三四五六七八", chunk_size=2, cut_after=2))
    with pytest.raises(StreamInterruptedError):
        make(fake_dashscope).invoke("你好")


async def test_stall_longer_than_timeout_is_a_network_error(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="一二三四", chunk_size=2, stall_after=1, stall_seconds=2.0))
    started = time.monotonic()
    with pytest.raises(DashScopeTimeoutError) as info:
        await make(fake_dashscope, timeout=0.3).ainvoke("你好")
    assert time.monotonic() - started < 1.5
    error = to_agent_error(info.value, host="dashscope", timeout=0.3)
    assert isinstance(error, NetworkError)
    assert "0.3秒" in str(error)


async def test_stall_before_headers_times_out(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="晚了", stall_before=2.0))
    started = time.monotonic()
    with pytest.raises(DashScopeTimeoutError):
        await make(fake_dashscope, timeout=0.3, max_retries=0).ainvoke("你好")
    assert time.monotonic() - started < 1.5


def test_sync_stall_times_out(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="一二三四", chunk_size=2, stall_after=1, stall_seconds=2.0))
    with pytest.raises(DashScopeTimeoutError) as info:
        make(fake_dashscope, timeout=0.3).invoke("你好")
    assert isinstance(to_agent_error(info.value), NetworkError)


async def test_unreachable_endpoint_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = DashScopeChatTongyi(
        api_key=KEY,
        model="qwen-plus",
        base_url=f"http://127.0.0.1:{port}/api/v1",
        timeout=2,
        max_retries=1,
    )
    model.retry_base_delay = 0.01
    with pytest.raises(DashScopeConnectionError) as info:
        await model.ainvoke("你好")
    assert isinstance(to_agent_error(info.value), NetworkError)


# -- cancellation, concurrency, base URL ---------------------------------------------------------


def _established_to(port: int) -> int:
    """Client-side TCP connections of this machine to 127.0.0.1:port (Linux /proc)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2] == f"0100007F:{port:04X}" and fields[3] == "01":
            count += 1
    return count


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
async def test_cancellation_closes_the_request(fake_dashscope: FakeDashScope) -> None:
    await close_http_session()  # no pooled connection may blur the count
    port = fake_dashscope.port
    assert port is not None
    before = _established_to(port)
    fake_dashscope.script(Reply(text="很长的回答" * 40, chunk_size=2, chunk_delay=0.05))
    first = asyncio.Event()

    async def consume() -> None:
        async for chunk in make(fake_dashscope).astream("你好"):
            if chunk.text:
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    assert _established_to(port) == before + 1
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    while _established_to(port) > before and time.monotonic() - started < 1:
        await asyncio.sleep(0.01)
    assert _established_to(port) == before, "upstream connection still open after cancel"
    assert time.monotonic() - started < 0.5


async def _first_chunk_latency(model: Any, text: str) -> float:
    started = time.monotonic()
    async for chunk in model.astream(text):
        if chunk.text:
            return time.monotonic() - started
    raise AssertionError("no text")


STALLED = 120


async def test_stalled_sessions_do_not_delay_a_fast_one(fake_dashscope: FakeDashScope) -> None:
    def responder(request: Any) -> Reply:
        reply = echo_responder(request)
        if "slow" in reply.text:
            reply.stall_before = 3.0
        return reply

    fake_dashscope.responder = responder
    model = make(fake_dashscope, timeout=10)
    await _first_chunk_latency(model, "warm up")
    baseline = min([await _first_chunk_latency(model, "fast") for _ in range(3)])

    # More than aiohttp's default 100-connection pool, which the SDK's shared session has.
    stalled = [asyncio.create_task(model.ainvoke(f"slow {i}")) for i in range(STALLED)]
    while len(fake_dashscope.requests) < 4 + STALLED:
        await asyncio.sleep(0.01)
    loaded = min([await _first_chunk_latency(model, "fast") for _ in range(2)])
    for task in stalled:
        task.cancel()
    await asyncio.gather(*stalled, return_exceptions=True)

    print(
        f"\nfirst chunk alone {baseline * 1000:.1f} ms, "
        f"with {STALLED} stalled {loaded * 1000:.1f} ms"
    )
    assert loaded - baseline < 0.05


async def test_stock_chattongyi_stalled_sessions_block_a_fast_one(
    fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Comparison: stock ChatTongyi runs each blocking read on the loop's small thread pool."""
    monkeypatch.setattr(dashscope, "base_http_api_url", fake_dashscope.native_base_url)

    def responder(request: Any) -> Reply:
        reply = echo_responder(request)
        if "slow" in reply.text:
            reply.stall_before = 1.0
        return reply

    fake_dashscope.responder = responder
    stock = ChatTongyi(api_key=KEY, model="qwen-plus", streaming=True, max_retries=1)
    workers = min(32, (__import__("os").cpu_count() or 1) + 4)  # default executor size
    stalled = [asyncio.create_task(stock.ainvoke(f"slow {i}")) for i in range(workers)]
    while len(fake_dashscope.requests) < workers:
        await asyncio.sleep(0.01)
    loaded = await _first_chunk_latency(stock, "fast")
    await asyncio.gather(*stalled, return_exceptions=True)
    print(f"\nstock ChatTongyi first chunk with {workers} stalled: {loaded * 1000:.0f} ms")
    assert loaded > 0.5


async def test_instances_with_different_base_urls_do_not_interfere(
    fake_dashscope: FakeDashScope,
) -> None:
    default_url = dashscope.base_http_api_url
    with FakeDashScope() as other:
        first, second = make(fake_dashscope), make(other)
        answers = await asyncio.gather(
            *[m.ainvoke(f"问题{i}") for i in range(5) for m in (first, second)]
        )
        assert all(a.content.startswith("ECHO[1]: 问题") for a in answers)
        assert len(fake_dashscope.requests) == len(other.requests) == 5
    assert dashscope.base_http_api_url == default_url


def test_defaults_and_factory() -> None:
    model = DashScopeChatTongyi(
        api_key=KEY, model="qwen-max", base_url=None, timeout=12.5, max_retries=3
    )
    assert (model.model_name, model.timeout, model.max_retries) == ("qwen-max", 12.5, 3)
    assert model.streaming is True and model.base_url is None
    params = model._request_params(messages=[HumanMessage("x")], stop=None)
    assert "base_address" not in params  # the SDK's own default (env / dashscope.base_http_api_url)
    assert params["request_timeout"] == 12.5 and params["incremental_output"] is True
    assert DashScopeChatTongyi(api_key=KEY).max_retries == 2


def test_ai_message_without_tool_calls_round_trips(fake_dashscope: FakeDashScope) -> None:
    history = [HumanMessage("一"), AIMessage("ECHO[1]: 一"), HumanMessage("二")]
    assert make(fake_dashscope).invoke(history).content == "ECHO[2]: 二"
    assert "tool_calls" not in fake_dashscope.requests[0].messages[1]


# -- langchain-tests standard unit tests ---------------------------------------------------------


class TestDashScopeChatTongyiStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[DashScopeChatTongyi]:
        return DashScopeChatTongyi

    @property
    def chat_model_params(self) -> dict:
        return {"model": "qwen-plus", "api_key": KEY, "timeout": 30, "max_retries": 2}

    @property
    def has_structured_output(self) -> bool:
        # ChatTongyi.with_structured_output only does function calling (no ``method=``); the
        # product does not use structured output on this path.
        return False


@pytest.mark.parametrize("disable", [True, False])
async def test_data_inspection_setting_reaches_both_paths(
    fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch, disable: bool
) -> None:
    """``DASHSCOPE_DISABLE_DATA_INSPECTION`` is a setting: the async path and the SDK's sync one
    send the header from it, whatever the process environment says."""
    monkeypatch.delenv("DASHSCOPE_DISABLE_DATA_INSPECTION", raising=False)
    model = make(fake_dashscope, disable_data_inspection=disable)
    await model.ainvoke("你好")
    await asyncio.to_thread(model.invoke, "你好")
    sent = [r.headers.get("x-dashscope-datainspection") for r in fake_dashscope.requests]
    assert sent == ([None, None] if disable else ["enable", "enable"])
