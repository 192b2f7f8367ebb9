"""The DashScope fake, driven by the real clients (openai SDK, dashscope SDK) and raw httpx.

Fixtures come from ``tests.fakes.pytest_plugin`` (loaded by tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from http import HTTPStatus
from pathlib import Path

import dashscope
import httpx
import openai
import pytest

from tests.fakes.dashscope import (
    FakeDashScope,
    RecordedRequest,
    Reply,
    ToolCall,
    echo_responder,
    tool_then_answer,
)

KEY = "sk-test-fake-key-0000000000"
USER = [{"role": "user", "content": "杭州天气怎么样"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


@pytest.fixture
async def oai(fake_dashscope: FakeDashScope):
    client = openai.AsyncOpenAI(base_url=fake_dashscope.compatible_base_url, api_key=KEY,
                                max_retries=0)
    yield client
    await client.close()


@pytest.fixture
def native(fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch) -> FakeDashScope:
    # dashscope reads the module attribute at call time (api_request_factory.py).
    monkeypatch.setattr(dashscope, "base_http_api_url", fake_dashscope.native_base_url)
    return fake_dashscope


async def _collect(client: openai.AsyncOpenAI, **kw) -> list:
    stream = await client.chat.completions.create(model=kw.pop("model", "qwen-plus"),
                                                  messages=kw.pop("messages", USER),
                                                  stream=True, **kw)
    return [chunk async for chunk in stream]


def _raw_openai(server: FakeDashScope, body: dict, key: str = KEY) -> httpx.Response:
    return httpx.post(f"{server.compatible_base_url}/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {key}"})


def _raw_native(server: FakeDashScope, body: dict, stream: bool = True) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}"}
    if stream:
        headers |= {"Accept": "text/event-stream", "X-DashScope-SSE": "enable"}
    return httpx.post(f"{server.native_base_url}/services/aigc/text-generation/generation",
                      json=body, headers=headers)


# ----------------------------------------------------------------------------- raw framing
def test_openai_raw_framing(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="我是通义千问", chunk_size=2))
    r = _raw_openai(fake_dashscope, {"model": "qwen-plus", "messages": USER, "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.endswith("data: [DONE]\n\n")
    events = r.text.split("\n\n")[:-1]
    assert all(e.startswith("data: ") and "\n" not in e for e in events)
    data = [json.loads(e[6:]) for e in events[:-1]]
    assert [d["choices"][0]["delta"] for d in data] == [
        {"content": "", "role": "assistant"}, {"content": "我是"}, {"content": "通义"},
        {"content": "千问"}, {"content": ""}]
    assert [d["choices"][0]["finish_reason"] for d in data] == [None] * 4 + ["stop"]
    assert all(d["usage"] is None and d["object"] == "chat.completion.chunk" for d in data)
    assert len({d["id"] for d in data}) == 1 and data[0]["id"].startswith("chatcmpl-")
    assert len({tuple(d) for d in data}) == 2  # key order varies between chunks


def test_openai_raw_usage_chunk_only_with_include_usage(fake_dashscope: FakeDashScope) -> None:
    body = {"model": "qwen-plus", "messages": USER, "stream": True,
            "stream_options": {"include_usage": True}}
    fake_dashscope.script(Reply(text="abcd"))
    events = _raw_openai(fake_dashscope, body).text.split("\n\n")[:-1]
    assert events[-1] == "data: [DONE]"
    usage = json.loads(events[-2][6:])
    assert usage["choices"] == []
    u = usage["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] > 0
    assert json.loads(events[-3][6:])["choices"][0]["finish_reason"] == "stop"


def test_native_raw_framing_incremental(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="我是通义", chunk_size=2))
    body = {"model": "qwen-plus", "input": {"messages": USER},
            "parameters": {"result_format": "message", "incremental_output": True}}
    r = _raw_native(fake_dashscope, body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "[DONE]" not in r.text and "data: " not in r.text
    events = r.text.split("\n\n")[:-1]
    payloads = []
    for n, e in enumerate(events, 1):
        lines = e.split("\n")
        assert lines[:3] == [f"id:{n}", "event:result", ":HTTP_STATUS/200"]
        assert lines[3].startswith("data:{")
        payloads.append(json.loads(lines[3][5:]))
    choices = [p["output"]["choices"][0] for p in payloads]
    assert [c["message"]["content"] for c in choices] == ["我是", "通义", ""]
    assert [c["finish_reason"] for c in choices] == ["null", "null", "stop"]
    assert [p["usage"]["output_tokens"] for p in payloads] == [1, 2, 2]
    assert all(p["usage"]["total_tokens"] == p["usage"]["input_tokens"] + p["usage"][
        "output_tokens"] for p in payloads)
    assert len({p["request_id"] for p in payloads}) == 1


def test_native_raw_cumulative_by_default(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="abcde", chunk_size=2))
    body = {"model": "qwen-plus", "input": {"messages": USER}, "parameters": {}}
    events = _raw_native(fake_dashscope, body).text.split("\n\n")[:-1]
    contents = [json.loads(e.split("\n")[3][5:])["output"]["choices"][0]["message"]["content"]
                for e in events]
    assert contents == ["ab", "abcd", "abcde", "abcde"]


def test_chunks_arrive_separately(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="abcdef", chunk_size=2, chunk_delay=0.1))
    body = {"model": "qwen-plus", "messages": USER, "stream": True}
    arrivals = []
    with httpx.stream("POST", f"{fake_dashscope.compatible_base_url}/chat/completions",
                      json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic())
    assert len(arrivals) == 6  # role, 3 text, finish, [DONE]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) > 0.05


# ----------------------------------------------------------------------------- openai SDK
async def test_openai_text_stream(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="北京今天晴，气温二十度。", chunk_size=3))
    chunks = await _collect(oai)
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", "")
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "北京今天晴，气温二十度。"
    assert [c.choices[0].finish_reason for c in chunks] == [None] * 5 + ["stop"]
    assert all(c.usage is None for c in chunks)
    rec = fake_dashscope.requests[-1]
    assert (rec.protocol, rec.api_key, rec.model, rec.stream) == ("openai", KEY, "qwen-plus", True)
    assert rec.messages == USER and rec.path == "/compatible-mode/v1/chat/completions"


async def test_openai_usage_chunk(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="abc"))
    chunks = await _collect(oai, stream_options={"include_usage": True})
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop"


async def test_openai_parallel_tool_calls(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(chunk_size=4, empty_function_fragment=True, tool_calls=[
        ToolCall("get_weather", {"city": "杭州市"}, id="call_a"),
        ToolCall("get_weather", '{"city": "北京"}')]))
    chunks = await _collect(oai, tools=[WEATHER], parallel_tool_calls=True)
    assert chunks[0].choices[0].delta.role == "assistant"
    frags = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    calls: dict[int, dict] = {}
    for f in frags:
        cur = calls.setdefault(f.index, {"id": f.id, "name": f.function.name, "args": ""})
        if cur["id"] != f.id:
            assert f.id == "" and f.type == "function" and f.function.name is None
        cur["args"] += f.function.arguments or ""
    assert calls[0] == {"id": "call_a", "name": "get_weather", "args": '{"city": "杭州市"}'}
    assert calls[1]["id"].startswith("call_") and calls[1]["name"] == "get_weather"
    assert json.loads(calls[1]["args"]) == {"city": "北京"}
    assert any(f.function.arguments is None and f.function.name is None for f in frags)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert fake_dashscope.requests[-1].tools == [WEATHER]


async def test_openai_single_tool_call_without_parallel_flag(oai, fake_dashscope) -> None:
    fake_dashscope.script(Reply(tool_calls=[ToolCall("a", {}), ToolCall("b", {})]))
    chunks = await _collect(oai, tools=[WEATHER])
    names = [tc.function.name for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert names == ["a"]


@pytest.mark.parametrize(("reply", "exc", "code"), [
    (Reply(status=401, error_code="invalid_api_key"), openai.AuthenticationError,
     "invalid_api_key"),
    (Reply(error_code="limit_requests", headers={"retry-after": "2"}), openai.RateLimitError,
     "limit_requests"),
    (Reply(status=429, error_code="insufficient_quota"), openai.RateLimitError,
     "insufficient_quota"),
    (Reply(status=500), openai.InternalServerError, "internal_error"),
    (Reply(status=400, error_code="data_inspection_failed"), openai.BadRequestError,
     "data_inspection_failed"),
    (Reply(error_code="Arrearage"), openai.BadRequestError, "Arrearage"),
    (Reply(error_code="InvalidParameter"), openai.BadRequestError, "invalid_parameter_error"),
])
async def test_openai_errors(oai, fake_dashscope, reply, exc, code) -> None:
    fake_dashscope.script(reply)
    with pytest.raises(exc) as info:
        await _collect(oai)
    assert info.value.code == code
    assert info.value.body["code"] == code and "For details, see:" in info.value.body["message"]
    assert info.value.response.headers.get("retry-after") == reply.headers.get("retry-after")


async def test_openai_bad_key_and_unknown_model(fake_dashscope: FakeDashScope, oai) -> None:
    fake_dashscope.valid_keys = {KEY}
    bad = openai.AsyncOpenAI(base_url=fake_dashscope.compatible_base_url, api_key="sk-wrong",
                             max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        await _collect(bad)
    await bad.close()
    assert info.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as info2:
        await _collect(oai, model="qwen-nonexistent")
    assert info2.value.code == "model_not_found"
    assert [r.api_key for r in fake_dashscope.requests] == ["sk-wrong", KEY]


def test_missing_key_gets_flat_native_body(fake_dashscope: FakeDashScope) -> None:
    r = httpx.post(f"{fake_dashscope.compatible_base_url}/chat/completions",
                   json={"model": "qwen-plus", "messages": USER})
    assert r.status_code == 401
    assert r.json()["code"] == "InvalidApiKey" and r.json()["message"] == "No API-key provided."


async def test_openai_moderation_mid_stream(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="abcdefgh", moderation_after=2))
    stream = await oai.chat.completions.create(model="qwen-plus", messages=USER, stream=True)
    got = []
    with pytest.raises(openai.APIError) as info:
        async for c in stream:
            got.append(c.choices[0].delta.content)
    assert type(info.value) is openai.APIError
    assert info.value.code == "data_inspection_failed"
    assert got == ["", "ab", "cd"]


async def test_openai_cut_after(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="abcdefgh", cut_after=3))
    stream = await oai.chat.completions.create(model="qwen-plus", messages=USER, stream=True)
    got = []
    with pytest.raises(openai.APIConnectionError):
        async for c in stream:
            got.append((c.choices[0].delta.content, c.choices[0].finish_reason))
    assert got == [("", None), ("ab", None), ("cd", None), ("ef", None)]


async def test_openai_omit_done(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="abcd", omit_done=True))
    chunks = await _collect(oai)
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, None, "stop"]
    fake_dashscope.script(Reply(text="ab", omit_done=True))
    r = _raw_openai(fake_dashscope, {"model": "qwen-plus", "messages": USER, "stream": True})
    assert "[DONE]" not in r.text and '"finish_reason":"stop"' in r.text


async def test_openai_stall_read_timeout(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="abcd", stall_after=1, stall_seconds=1.0))
    client = openai.AsyncOpenAI(base_url=fake_dashscope.compatible_base_url, api_key=KEY,
                                max_retries=0, timeout=0.3)
    got = []
    with pytest.raises(openai.APITimeoutError):
        async for c in await client.chat.completions.create(model="qwen-plus", messages=USER,
                                                            stream=True):
            got.append(c.choices[0].delta.content)
    await client.close()
    assert got == ["", "ab"]
    fake_dashscope.script(Reply(text="ab", stall_before=1.0))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake_dashscope.compatible_base_url}/chat/completions", timeout=0.2,
                   json={"model": "qwen-plus", "messages": USER, "stream": True},
                   headers={"Authorization": f"Bearer {KEY}"})


async def test_openai_non_streaming(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="你好"), Reply(tool_calls=[ToolCall("f", {"x": 1}, "c1")]))
    r1 = await oai.chat.completions.create(model="qwen-max", messages=USER)
    assert r1.object == "chat.completion" and r1.choices[0].message.content == "你好"
    assert r1.choices[0].finish_reason == "stop" and r1.usage.total_tokens > 0
    r2 = await oai.chat.completions.create(model="qwen-max", messages=USER, tools=[WEATHER])
    tc = r2.choices[0].message.tool_calls[0]
    assert (tc.id, tc.function.name, tc.function.arguments) == ("c1", "f", '{"x": 1}')
    assert r2.choices[0].finish_reason == "tool_calls"
    assert [r.stream for r in fake_dashscope.requests] == [False, False]


# ----------------------------------------------------------------------------- responders
async def test_script_then_echo_responder(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="scripted"))
    texts = []
    second = [*USER, {"role": "assistant", "content": "x"},
              {"role": "user", "content": [{"type": "text", "text": "再见"}]}]
    for msgs in (USER, second):
        chunks = await _collect(oai, messages=msgs)
        texts.append("".join(c.choices[0].delta.content or "" for c in chunks))
    assert texts == ["scripted", "ECHO[2]: 再见"]


def test_tool_then_answer_responder() -> None:
    def req(messages: list[dict]) -> RecordedRequest:
        return RecordedRequest("openai", "/", {}, {}, KEY, "qwen-plus", messages, [], True)

    responder = tool_then_answer(lambda r: [ToolCall("get_weather", {"city": "杭州"})])
    first = responder(req(USER))
    assert [tc.name for tc in first.tool_calls] == ["get_weather"] and first.text == ""
    done = responder(req([*USER, {"role": "assistant", "content": ""},
                          {"role": "tool", "content": "晴"}, {"role": "tool", "content": "20度"}]))
    assert done.text == "根据工具结果：晴；20度" and done.tool_calls == []
    custom = tool_then_answer([ToolCall("a", "{}")], lambda rs: "|".join(rs))
    assert custom(req([{"role": "tool", "content": "r"}])).text == "r"
    assert echo_responder(req([])).text == "ECHO[0]: "


# ----------------------------------------------------------------------------- dashscope SDK
async def test_dashscope_aio_incremental(native: FakeDashScope) -> None:
    native.script(Reply(text="我是通义千问", chunk_size=2))
    resp = await dashscope.AioGeneration.call(
        model="qwen-plus", messages=USER, api_key=KEY, stream=True, incremental_output=True,
        result_format="message")
    got = [(r.status_code, r.output.choices[0].message.content, r.output.choices[0].finish_reason)
           async for r in resp]
    await dashscope.close_shared_aio_session()
    assert got == [(200, "我是", "null"), (200, "通义", "null"), (200, "千问", "null"),
                   (200, "", "stop")]
    rec = native.requests[-1]
    assert (rec.protocol, rec.stream, rec.api_key) == ("native", True, KEY)
    assert rec.headers["x-dashscope-sse"] == "enable"
    assert rec.body["parameters"]["incremental_output"] is True and rec.messages == USER


def test_dashscope_sync_cumulative(native: FakeDashScope) -> None:
    native.script(Reply(text="abcde", chunk_size=2), Reply(text="abcde", chunk_size=2))
    # incremental_output omitted: the service sends cumulative content
    got = [r.output.choices[0].message.content for r in dashscope.Generation.call(
        model="qwen-plus", messages=USER, api_key=KEY, stream=True, result_format="message")]
    assert got == ["ab", "abcd", "abcde", "abcde"]
    assert "incremental_output" not in native.requests[-1].body["parameters"]
    # incremental_output=False: dashscope 2.x asks for deltas on the wire and merges itself
    got = [r.output.choices[0].message.content for r in dashscope.Generation.call(
        model="qwen-plus", messages=USER, api_key=KEY, stream=True, incremental_output=False,
        result_format="message")]
    assert got[-1] == "abcde"
    assert native.requests[-1].body["parameters"]["incremental_output"] is True


def test_dashscope_sync_tool_calls(native: FakeDashScope) -> None:
    native.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "杭州"}, "call_1"),
                                    ToolCall("get_time", {}, "call_2")]))
    msgs = [r.output.choices[0] for r in dashscope.Generation.call(
        model="qwen-plus", messages=USER, api_key=KEY, stream=True, incremental_output=True,
        result_format="message", tools=[WEATHER], parallel_tool_calls=True)]
    frags = [tc for m in msgs for tc in m.message.get("tool_calls", [])]
    assert [(f["index"], f["id"], f["function"].get("name")) for f in frags[:1]] == [
        (0, "call_1", "get_weather")]
    assert all(f["id"] == "" and "name" not in f["function"] for f in frags[1:-1] if
               f["index"] == 0)
    args = {i: "".join(f["function"]["arguments"] for f in frags if f["index"] == i)
            for i in (0, 1)}
    assert args == {0: '{"city": "杭州"}', 1: "{}"}
    assert [m.finish_reason for m in msgs][-2:] == ["null", "tool_calls"]
    assert native.requests[-1].tools == [WEATHER]


def test_dashscope_cumulative_tool_calls(native: FakeDashScope) -> None:
    native.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "杭州"}, "call_1")]))
    msgs = [r.output.choices[0].message for r in dashscope.Generation.call(
        model="qwen-plus", messages=USER, api_key=KEY, stream=True, result_format="message",
        tools=[WEATHER])]
    assert all(m["tool_calls"][0]["id"] == "call_1" for m in msgs)
    assert msgs[-1]["tool_calls"][0]["function"] == {"name": "get_weather",
                                                     "arguments": '{"city": "杭州"}'}


def test_dashscope_non_streaming(native: FakeDashScope) -> None:
    native.script(Reply(text="你好"))
    r = dashscope.Generation.call(model="qwen-turbo", messages=USER, api_key=KEY,
                                  result_format="message")
    assert r.status_code == HTTPStatus.OK
    assert r.output.choices[0].message.content == "你好"
    assert r.output.choices[0].finish_reason == "stop" and r.usage.total_tokens > 0
    assert r.request_id and native.requests[-1].stream is False


@pytest.mark.parametrize(("reply", "status", "code"), [
    (Reply(status=401, error_code="invalid_api_key"), 401, "InvalidApiKey"),
    (Reply(error_code="limit_requests"), 429, "Throttling.RateQuota"),
    (Reply(error_code="data_inspection_failed"), 400, "DataInspectionFailed"),
    (Reply(error_code="Arrearage"), 400, "Arrearage"),
    (Reply(status=400, error_code="invalid_parameter_error"), 400, "InvalidParameter"),
])
def test_dashscope_errors(native: FakeDashScope, reply: Reply, status: int, code: str) -> None:
    native.script(reply, reply)
    r = dashscope.Generation.call(model="qwen-plus", messages=USER, api_key=KEY)
    assert (r.status_code, r.code) == (status, code) and r.message and r.request_id
    stream = list(dashscope.Generation.call(model="qwen-plus", messages=USER, api_key=KEY,
                                            stream=True, incremental_output=True))
    assert [(x.status_code, x.code) for x in stream] == [(status, code)]


async def test_dashscope_unknown_model_and_moderation(native: FakeDashScope) -> None:
    r = await dashscope.AioGeneration.call(model="qwen-nope", messages=USER, api_key=KEY)
    # protocols.md / issue 13: the native API says 400 InvalidParameter for an unknown model.
    assert (r.status_code, r.code, r.message) == (400, "InvalidParameter", "Model not exist.")
    native.script(Reply(text="abcdef", moderation_after=2))
    resp = await dashscope.AioGeneration.call(
        model="qwen-plus", messages=USER, api_key=KEY, stream=True, incremental_output=True,
        result_format="message")
    got = [(x.status_code, x.code) async for x in resp]
    await dashscope.close_shared_aio_session()
    assert got == [(200, ""), (200, ""), (400, "DataInspectionFailed")]


def test_native_in_stream_error_frame(fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.script(Reply(text="abcd", moderation_after=1))
    r = _raw_native(fake_dashscope, {"model": "qwen-plus", "input": {"messages": USER},
                                     "parameters": {"incremental_output": True}})
    last = r.text.split("\n\n")[:-1][-1].split("\n")
    assert last[:3] == ["id:2", "event:error", ":HTTP_STATUS/400"]
    assert json.loads(last[3][5:])["code"] == "DataInspectionFailed"


# ----------------------------------------------------------------------------- lifecycle, CLI
def test_start_stop_context_manager() -> None:
    import threading

    before = set(threading.enumerate())
    with FakeDashScope(models={"m"}) as server:
        r = _raw_openai(server, {"model": "qwen-plus", "messages": USER})
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert set(threading.enumerate()) <= before


def test_standalone_cli() -> None:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.dashscope", "--chunks", "5",
                             "--chunk-size", "1"], cwd=root, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        line = proc.stdout.readline().split()
        assert line[0] == "READY" and line[1].endswith("/compatible-mode/v1")
        assert line[2].endswith("/api/v1")
        assert line[3].endswith("/api/v2/apps/protocols/compatible-mode/v1")
        streamed = httpx.post(f"{line[3]}/responses", headers={"Authorization": "Bearer k"},
                              json={"model": "qwen-plus", "input": "hi", "stream": True})
        assert streamed.text.count("response.output_text.delta\ndata: ") == 5
        r = httpx.post(f"{line[1]}/chat/completions", headers={"Authorization": "Bearer k"},
                       json={"model": "qwen-plus", "messages": USER, "stream": True})
        assert r.text.count("data: ") == 5 + 3
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        proc.stdout.close()


async def test_many_concurrent_streams(oai, fake_dashscope: FakeDashScope) -> None:
    fake_dashscope.responder = lambda req: Reply(text="x" * 10, chunk_size=1, chunk_delay=0.01)
    results = await asyncio.gather(*[_collect(oai) for _ in range(50)])
    assert all(len(chunks) == 12 for chunks in results)
    assert len(fake_dashscope.requests) == 50


async def test_responder_exception_is_a_500(oai, fake_dashscope: FakeDashScope) -> None:
    def broken(_req: RecordedRequest) -> Reply:
        raise KeyError("boom")

    fake_dashscope.responder = broken
    with pytest.raises(openai.InternalServerError) as info:
        await _collect(oai)
    assert "KeyError('boom')" in info.value.message
