"""``POST /v1/chat/stream`` against a real ``geo-agent serve`` process, read with httpx-sse."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from bailian_geo_agent.agent import Settings, StreamChatService

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.server.helpers import check_reply, read_sse


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def test_a_reply_streams_as_sse_events_with_the_documented_dicts(client, fake_dashscope,
                                                                       auth_a):
    events = await read_sse(client, "/v1/chat/stream", {"message": "你好，北京"}, auth_a)
    assert check_reply(events) == "ECHO[1]: 你好，北京"
    assert [e[2]["type"] for e in events] == (
        ["stream_start"] + ["stream_chunk"] * 7 + ["stream_end"])


async def test_the_http_text_equals_the_in_process_text_for_the_same_conversation(
        client, fake_dashscope, auth_a):
    sid = str(uuid.uuid4())
    over_http = []
    for message in ("第一句", "第二句", "第三句"):
        events = await read_sse(client, "/v1/chat/stream",
                                {"message": message, "session_id": sid}, auth_a)
        assert {e[2]["session_id"] for e in events} == {sid}
        over_http.append(check_reply(events))
    settings = Settings(api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
                        max_retries=0, session_store_url="memory://")
    in_process = []
    async with StreamChatService(settings, tools=[]) as service:
        other = str(uuid.uuid4())
        for message in ("第一句", "第二句", "第三句"):
            chunks = [e["chunk"] async for e in service.stream_chat(message, other)
                      if e["type"] == "stream_chunk"]
            in_process.append("".join(chunks))
    assert over_http == in_process == ["ECHO[1]: 第一句", "ECHO[2]: 第二句", "ECHO[3]: 第三句"]


async def test_optional_events_and_map_actions_come_when_asked_for(client, fake_dashscope,
                                                                   auth_a):
    call = ToolCall("map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})
    fake_dashscope.responder = tool_then_answer([call], lambda results: "地图已更新。")
    body = {"message": "把地图移到天安门", "events": ["map_action", "tool_start", "tool_end"]}
    events = await read_sse(client, "/v1/chat/stream", body, auth_a)
    assert check_reply(events) == "地图已更新。"
    kinds = [e[2]["type"] for e in events]
    assert kinds[:4] == ["stream_start", "tool_start", "map_action", "tool_end"], kinds
    assert kinds[4:] == ["stream_chunk"] * (len(kinds) - 5) + ["stream_end"]
    start, action, end = (e[2] for e in events[1:4])
    assert (start["tool"], start["arguments"]) == (
        "map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})
    assert action["action"]["op"] == "set_view" and action["action"]["zoom"] == 15
    assert end["tool"] == "map_set_view" and end["result"].startswith("地图已定位到")


async def test_keep_alives_never_reach_an_httpx_sse_reader(client, fake_dashscope, auth_a):
    """httpx-sse (0.4) turns a comment followed by a blank line into an empty event."""
    fake_dashscope.script(Reply(text="好的呀", chunk_size=1, stall_after=1, stall_seconds=1.0))
    events = await read_sse(client, "/v1/chat/stream", {"message": "慢一点"}, auth_a)
    assert check_reply(events) == "好的呀"


async def test_keep_alive_comments_flow_while_the_reply_is_quiet(client, fake_dashscope, auth_a):
    fake_dashscope.script(Reply(text="好的", stall_before=1.0))  # a slow tool or model
    raw = b""
    async with client.stream("POST", "/v1/chat/stream", json={"message": "慢一点"},
                             headers=auth_a) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        async for piece in response.aiter_bytes():
            raw += piece
    text = raw.decode()
    assert text.count(": ping") >= 3, text  # GEO_AGENT_SSE_PING=0.2 in these tests
    assert text.index(": ping") < text.index("event: stream_chunk")
    after = text.split(": ping\n")[1:]  # a ping is never a block of its own
    assert after and not any(rest.startswith(("\n", "\r\n")) for rest in after)
    assert text.rstrip().endswith('"type":"stream_end","message_id":"' +
                                  text.split('"message_id":"')[1].split('"')[0] + '","session_id":"'
                                  + text.split('"session_id":"')[1].split('"')[0] + '"}')


async def test_a_model_failure_ends_the_stream_with_its_error_event(client, fake_dashscope,
                                                                    auth_a):
    fake_dashscope.script(Reply(text="一半的回答", cut_after=2))
    events = await read_sse(client, "/v1/chat/stream", {"message": "你好"}, auth_a)
    check_reply(events)
    last = events[-1][2]
    assert last["type"] == "error" and last["error"].startswith(("回复中断", "模型回复被中断"))


BAD_BODIES = [
    ({"message": ""}, 422, "消息不能为空"),
    ({"message": "   \u200b "}, 422, "消息不能为空"),
    ({"message": 5}, 422, "消息必须是字符串，收到的是 int"),
    ({"message": ["a"]}, 422, "消息必须是字符串，收到的是 list"),
    ({"message": None}, 422, "消息必须是字符串，收到的是 NoneType"),
    ({"message": "a\x00b"}, 422, "消息中包含空字符"),
    ({"message": "x" * 8001}, 413, "消息过长：8001 个字符，超过上限 8000"),
    ({"message": "hi", "session_id": "abc"}, 422, "session_id 格式无效"),
    ({"message": "hi", "session_id": 7}, 422, "session_id 必须是 UUID 字符串"),
    ({"message": "hi", "events": ["zz"]}, 422, "未知的可选事件类型"),
    ({"message": "hi", "events": "map_action"}, 422, "events 必须是事件类型的集合"),
    ({"message": "hi", "extra": 1}, 422, "请求无效：不支持的字段 extra"),
    ({}, 422, "请求无效：缺少字段 message"),
    ([1, 2], 422, "请求体必须是 JSON 对象"),
    ("just a string", 422, "请求体必须是 JSON 对象"),
]


@pytest.mark.parametrize(("body", "status", "text"), BAD_BODIES)
async def test_bad_input_gets_a_clear_4xx_in_the_streams_wording(client, fake_dashscope, auth_a,
                                                                 body, status, text):
    response = await client.post("/v1/chat/stream", json=body, headers=auth_a)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert list(payload) == ["type", "error"] and payload["type"] == "error"
    assert payload["error"].startswith(text), payload
    assert fake_dashscope.requests == []  # no model call


@pytest.mark.parametrize("raw", [b"garbage", b"{", b"\xff\xfe", b'{"message": "a"'])
async def test_garbage_is_a_4xx_never_a_500(client, fake_dashscope, auth_a, raw):
    response = await client.post("/v1/chat/stream", content=raw,
                                 headers={**auth_a, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json() == {"type": "error", "error": "请求体不是有效的 JSON。"}


async def test_a_body_over_the_limit_is_413_declared_or_streamed(client, auth_a):
    big = b'{"message": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post("/v1/chat/stream", content=big,
                                 headers={**auth_a, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"].startswith("请求体过大：超过 1048576 字节")

    async def chunked():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post("/v1/chat/stream", content=chunked(),
                                 headers={**auth_a, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"].startswith("请求体过大")


async def test_sessions_over_http_history_and_delete(client, fake_dashscope, auth_a):
    sid = str(uuid.uuid4())
    await read_sse(client, "/v1/chat/stream", {"message": "我在杭州", "session_id": sid}, auth_a)
    history = (await client.get(f"/v1/sessions/{sid}", headers=auth_a)).json()
    assert history == {"session_id": sid, "messages": [
        {"role": "user", "content": "我在杭州", "tool_calls": None, "name": None,
         "interrupted": False},
        {"role": "assistant", "content": "ECHO[1]: 我在杭州", "tool_calls": None, "name": None,
         "interrupted": False}]}
    assert (await client.delete(f"/v1/sessions/{sid}", headers=auth_a)).status_code == 204
    gone = await client.get(f"/v1/sessions/{sid}", headers=auth_a)
    assert gone.status_code == 404 and gone.json()["type"] == "error"
    bad = await client.get("/v1/sessions/not-a-uuid", headers=auth_a)
    assert bad.status_code == 422 and bad.json()["error"].startswith("session_id 格式无效")


async def test_health_readiness_and_the_openapi_document(client):
    assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready",
                            "checks": {"session_store": "ok", "api_key": "ok",
                                           "event_log": "ok"}}
    spec = (await client.get("/openapi.json")).json()
    assert set(spec["paths"]) == {
        "/healthz", "/readyz", "/v1/chat/stream", "/api/chat", "/v1/chat/{message_id}/stop",
        "/v1/sessions/{session_id}", "/v1/chat/{message_id}/events",
        "/api/chat/{chat_id}/stream", "/v1/usage", "/metrics",
        "/v1/agui", "/.well-known/agent-card.json", "/a2a", "/v1/sessions/{session_id}/approvals",
        "/api/chat/{chat_id}/stop"}
    assert set(spec["paths"]["/v1/sessions/{session_id}"]) == {"get", "delete"}
    stream = spec["paths"]["/v1/chat/stream"]["post"]
    assert stream["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ChatStreamRequest")
    assert {"ChatStreamRequest", "UIChatRequest", "History", "ErrorBody"} <= set(
        spec["components"]["schemas"])
    assert (await client.get("/docs")).status_code == 200


async def test_head_of_the_page_answers_200_with_the_get_headers(client):
    head = await client.head("/")
    get = await client.get("/")
    assert (head.status_code, get.status_code) == (200, 200)
    assert head.content == b"" and get.content.startswith(b"<!")
    assert head.headers["content-type"] == get.headers["content-type"] == (
        "text/html; charset=utf-8")
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_many_replies_at_once_each_get_their_own_text(client, fake_dashscope, auth_a):
    messages = [f"并发消息{i}" for i in range(30)]
    results = await asyncio.gather(*(
        read_sse(client, "/v1/chat/stream", {"message": m}, auth_a) for m in messages))
    assert [check_reply(r) for r in results] == [f"ECHO[1]: {m}" for m in messages]


@pytest.mark.parametrize("event", [
    {"type": "stream_chunk", "message_id": "m", "session_id": "s", "chunk": "北京\n晴\r\n\r"},
    {"type": "tool_end", "message_id": "m", "session_id": "s", "tool": "t",
     "result": {"text": "a\u2028b\u0085c", "n": [1, 2.5, None, True]}},
    {"type": "error", "message_id": "m", "session_id": "s", "error": "\"quoted\"\\ \x00"},
])
def test_encode_writes_sse_starlettes_bytes(event):
    from bailian_geo_agent.agent.server.sse import dumps, encode
    from sse_starlette import ServerSentEvent

    expected = ServerSentEvent(dumps(event), event=event["type"], id="12", sep="\n").encode()
    assert encode(event, 12) == expected


async def test_a_batch_of_waiting_events_goes_out_as_one_write_in_order():
    from bailian_geo_agent.agent.events import event_from_dict
    from bailian_geo_agent.agent.server.replies import Reply
    from bailian_geo_agent.agent.server.sse import SSEAdapter, encode

    events = [{"type": "stream_start", "message_id": "m", "session_id": "s"},
              *({"type": "stream_chunk", "message_id": "m", "session_id": "s", "chunk": c}
                for c in "abcde"),
              {"type": "stream_end", "message_id": "m", "session_id": "s"}]
    go = asyncio.Event()

    async def stream():
        yield event_from_dict(events[0])
        await go.wait()  # the rest arrive while the reader is away: one batch
        for event in events[1:]:
            yield event_from_dict(event)

    reply = Reply(stream(), "owner")
    first = await reply.first()
    writes = SSEAdapter().stream(first, reply.rest_batches())
    assert await anext(writes) == encode(events[0], 1)
    pumped = asyncio.Event()
    reply.when_done(pumped.set)  # every event is queued once the reply's task has ended
    go.set()
    await pumped.wait()
    rest = [w async for w in writes]
    assert rest == [b"".join(encode(e, i) for i, e in enumerate(events[1:], 2))]


async def test_a_reply_is_not_held_back_for_the_clients_delayed_ack(server, fake_dashscope,
                                                                    auth_a):
    """A reply's first event follows its head at once. With Nagle on (the listening socket made
    with protocol 0: asyncio then leaves ``TCP_NODELAY`` off) the server's first write after the
    head waited for the client's delayed ACK, 40 ms on Linux, on every reply of a kept-alive
    connection: a 1-chunk reply took about 48 ms instead of about 12."""
    import statistics
    import time

    fake_dashscope.responder = lambda _request: Reply(text="晴", chunk_size=1)
    firsts, ends, totals = [], [], []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:  # one connection
        for _ in range(7):
            started = time.perf_counter()
            async with client.stream("POST", "/v1/chat/stream", json={"message": "天气"},
                                     headers=auth_a) as response:
                assert response.status_code == 200
                head = time.perf_counter()
                body = b""
                async for chunk in response.aiter_raw():
                    if not body:
                        firsts.append(time.perf_counter() - head)  # head -> stream_start
                    body += chunk
                ends.append(time.perf_counter() - head)
            totals.append(time.perf_counter() - started)
            assert body.startswith(b"id: 1\nevent: stream_start") and b"stream_end" in body
    # Medians of the replies after the first (a new connection ACKs at once).
    first, end, total = (statistics.median(x[1:]) for x in (firsts, ends, totals))
    timings = (f"head -> first event {first * 1e3:.1f} ms, head -> end {end * 1e3:.1f} ms, "
               f"whole reply {total * 1e3:.1f} ms")
    assert first < 0.020, timings
