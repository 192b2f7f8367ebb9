"""``geo-agent serve`` drains on SIGTERM (issue 21, "restarts lose nothing"): a real process,
replies streaming from the DashScope fake while the signal comes.

``/readyz`` and new replies answer 503 at once (with ``Retry-After``), running replies finish
within ``GEO_AGENT_DRAIN_SECONDS``, a longer one ends with the "restarting" ``error`` (marked
with SSE ``retry:``, never a truncated body), and the process exits 0. With Redis, a reader on
another instance is told the reply was interrupted by the restart, never that it was
cancelled.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid

import httpx
import pytest
from bailian_geo_agent.prompts.catalogue import CATALOGUE
from httpx_sse import aconnect_sse

from tests.fakes.dashscope import RecordedRequest, Reply
from tests.server.conftest import TOKEN_A, server_env, start_server

AUTH = {"Authorization": f"Bearer {TOKEN_A}"}
SHORT = "短句。" * 12  # 18 chunks of 2 characters, 0.05 s apart: about 1 s
LONG = "很长的回答。" * 100  # 300 chunks: 15 s, longer than any drain here
RESTARTING = set(CATALOGUE["server_restarting"].values())
CANCELLED = set(CATALOGUE["cancelled"].values())


def _slow(request: RecordedRequest) -> Reply:
    last = [m for m in request.messages if m.get("role") == "user"][-1]["content"]
    text = LONG if "long" in str(last) else SHORT
    return Reply(text=text, chunk_size=2, chunk_delay=0.05)


class Stream:
    """One streaming reply read in the background: its events (with SSE ``retry``)."""

    def __init__(self, client: httpx.AsyncClient, message: str, path: str = "/v1/chat/stream",
                 method: str = "POST", headers: dict[str, str] | None = None) -> None:
        self.events: list[tuple[str, dict, int | None]] = []
        self.started = asyncio.Event()
        self.ended_at = 0.0
        body = {"message": message} if method == "POST" else None
        self.task = asyncio.create_task(self._read(client, method, path, body, headers or {}))

    async def _read(self, client: httpx.AsyncClient, method: str, path: str, body: object,
                    headers: dict[str, str]) -> None:
        async with aconnect_sse(client, method, path, json=body,
                                headers={**AUTH, **headers}) as source:
            assert source.response.status_code == 200, await source.response.aread()
            async for sse in source.aiter_sse():
                if not sse.data:
                    continue
                data = json.loads(sse.data)
                self.events.append((sse.id, data, sse.retry))
                if data["type"] == "stream_chunk":
                    self.started.set()
        self.ended_at = time.monotonic()
        self.started.set()

    @property
    def text(self) -> str:
        return "".join(d["chunk"] for _, d, _ in self.events if d["type"] == "stream_chunk")

    @property
    def last(self) -> dict:
        return self.events[-1][1]


async def _until_exit(process, timeout: float) -> int:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, process.wait, timeout)


async def test_sigterm_drains_then_interrupts_then_exits_0(fake_dashscope, tmp_path):
    fake_dashscope.responder = _slow
    env = server_env(fake_dashscope.compatible_base_url, tmp_path,
                     GEO_AGENT_DRAIN_SECONDS="3")
    server = start_server(tmp_path, env)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            short = [Stream(client, f"short {i}") for i in range(4)]
            long = [Stream(client, f"long {i}") for i in range(2)]
            await asyncio.wait_for(asyncio.gather(*(s.started.wait() for s in short + long)), 20)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            ready = await client.get("/readyz")
            refused = await client.post("/v1/chat/stream", json={"message": "hi"}, headers=AUTH)
            refused_ui = await client.post("/api/chat", headers=AUTH, json={
                "id": "chat-1", "messages": [{"id": "m1", "role": "user",
                                              "parts": [{"type": "text", "text": "hi"}]}]})
            answered = time.monotonic() - signalled
            await asyncio.wait_for(asyncio.gather(*(s.task for s in short + long)), 20)
        code = await _until_exit(server.process, 20)
        exited = time.monotonic() - signalled
    finally:
        server.stop()
    print(f"\nrefusals answered {answered:.2f} s after SIGTERM; exit after {exited:.2f} s")
    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    for answer in (refused, refused_ui):
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["error"] in {t.format(seconds=1) for t in
                                          CATALOGUE["server_draining"].values()}
    assert answered < 1.5
    for stream in short:  # finished within the drain, whole
        assert stream.last["type"] == "stream_end" and stream.text == SHORT
        assert stream.ended_at - signalled < 3
    for stream in long:  # cut at the drain's end: the restarting error, marked to retry
        sse_id, last, retry = stream.events[-1]
        assert last["type"] == "error" and last["error"] in RESTARTING, last
        assert retry == 1000 and int(sse_id) == len(stream.events)
        assert LONG.startswith(stream.text) and stream.text != LONG
        assert 2.5 < stream.ended_at - signalled < 6
    assert code == 0, server.logs()[-3000:]
    assert exited < 10


async def test_a_second_sigterm_ends_the_drain_at_once(fake_dashscope, tmp_path):
    fake_dashscope.responder = _slow
    env = server_env(fake_dashscope.compatible_base_url, tmp_path,
                     GEO_AGENT_DRAIN_SECONDS="60")
    server = start_server(tmp_path, env)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            stream = Stream(client, "long one")
            await asyncio.wait_for(stream.started.wait(), 20)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert (await client.get("/readyz")).status_code == 503
            server.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(stream.task, 20)
        code = await _until_exit(server.process, 20)
        exited = time.monotonic() - signalled
    finally:
        server.stop()
    assert stream.last["type"] == "error" and stream.last["error"] in RESTARTING
    assert code == 0
    assert exited < 8, exited


async def test_with_redis_a_reader_elsewhere_is_told_of_the_restart(
        fake_dashscope, tmp_path, redis_url):
    fake_dashscope.responder = _slow
    env = server_env(fake_dashscope.compatible_base_url, tmp_path,
                     GEO_AGENT_STREAM_URL=redis_url, GEO_AGENT_DRAIN_SECONDS="1")
    a = start_server(tmp_path / "a", env)
    b = start_server(tmp_path / "b", env)
    try:
        async with httpx.AsyncClient(base_url=a.url, timeout=30) as on_a, \
                httpx.AsyncClient(base_url=b.url, timeout=30) as on_b:
            live = Stream(on_a, "long story")
            await asyncio.wait_for(live.started.wait(), 20)
            message_id = live.events[0][1]["message_id"]
            reader = Stream(on_b, "", f"/v1/chat/{message_id}/events", "GET",
                            {"Last-Event-ID": "0"})
            await asyncio.wait_for(reader.started.wait(), 20)
            a.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(asyncio.gather(live.task, reader.task), 20)
            assert await _until_exit(a.process, 20) == 0
            session = live.events[0][1]["session_id"]
            stored = (await on_b.get(f"/v1/sessions/{session}", headers=AUTH)).json()
            # The retry (same message, same session) replaces the interrupted turn.
            fake_dashscope.responder = _count_users
            retried = await _post(on_b, {"message": "long story", "session_id": session,
                                         "retry": True})
            after = (await on_b.get(f"/v1/sessions/{session}", headers=AUTH)).json()
    finally:
        a.stop()
        b.stop()
    for stream in (live, reader):
        _, last, retry = stream.events[-1]
        assert last["error"] in RESTARTING and last["error"] not in CANCELLED, last
        assert retry == 1000
    assert reader.text == live.text  # the same reply, up to its cut
    assert stored["messages"][0]["role"] == "user"  # the question is kept
    assert stored["messages"][0]["content"] == "long story"
    assert retried == "users=1"  # the model saw the question once
    assert [(m["role"], m["content"]) for m in after["messages"]] == [
        ("user", "long story"), ("assistant", "users=1")]


def _count_users(request: RecordedRequest) -> Reply:
    return Reply(text=f"users={sum(m.get('role') == 'user' for m in request.messages)}")


async def _post(client: httpx.AsyncClient, body: dict) -> str:
    text = ""
    async with aconnect_sse(client, "POST", "/v1/chat/stream", json=body,
                            headers=AUTH) as source:
        assert source.response.status_code == 200, await source.response.aread()
        async for sse in source.aiter_sse():
            if sse.data and (data := json.loads(sse.data))["type"] == "error":
                text += "ERROR " + data["error"]
            if sse.data and data["type"] == "stream_chunk":
                text += data["chunk"]
    return text


@pytest.fixture(autouse=True)
def _quiet_fake(fake_dashscope):
    yield


async def test_the_ai_sdk_stream_says_interrupted_and_regenerate_replaces_the_turn(
        fake_dashscope, tmp_path):
    from tests.helpers import free_port
    from tests.server.test_aisdk import NODE, read_chat

    if NODE is None:
        pytest.skip("needs node and `npm ci` in tests/js")
    fake_dashscope.responder = _slow
    port = free_port()
    env = server_env(fake_dashscope.compatible_base_url, tmp_path, GEO_AGENT_DRAIN_SECONDS="1")
    server = start_server(tmp_path, env, "--port", str(port))
    loop = asyncio.get_running_loop()
    chat = str(uuid.uuid4())
    try:
        reading = loop.run_in_executor(None, read_chat, server.url, chat, "long story")
        while not fake_dashscope.requests:  # the model streams: the reply is running
            await asyncio.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        cut = await reading
        assert await _until_exit(server.process, 20) == 0
        fake_dashscope.responder = _count_users
        server = start_server(tmp_path, env, "--port", str(port))
        again = await loop.run_in_executor(None, read_chat, server.url, chat, "long story",
                                           "regenerate")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            stored = (await client.get(f"/v1/sessions/{chat}", headers=AUTH)).json()
    finally:
        server.stop()
    kinds = [c["type"] for c in cut["chunks"]]
    assert kinds[-3:] == ["data-interrupted", "error", "finish"], kinds
    assert cut["chunks"][-3] == {"type": "data-interrupted", "transient": True,
                                 "data": {"reason": "restart", "retry": True}}
    assert cut["chunks"][-2]["errorText"] in RESTARTING
    assert again["errors"] == []
    assert "".join(c["delta"] for c in again["chunks"] if c["type"] == "text-delta") == "users=1"
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "long story"), ("assistant", "users=1")]


async def test_create_app_drains_in_its_lifespan(fake_dashscope):
    # Under a caller's own uvicorn the drain runs at lifespan shutdown: the short reply ends
    # whole, the long one with the restarting error, not as cancelled.
    from bailian_geo_agent.agent import Settings, StreamChatService
    from bailian_geo_agent.agent.server import ServerSettings, create_app
    from bailian_geo_agent.agent.server.auth import Identity

    from tests.fakes.pytest_plugin import FAKE_API_KEY

    fake_dashscope.responder = _slow
    service = StreamChatService(Settings(api_key=FAKE_API_KEY, max_retries=0,
                                         base_url=fake_dashscope.compatible_base_url,
                                         session_store_url="memory://"), tools=[])
    app = create_app(service, ServerSettings(drain_seconds=2), close_service=True)
    state = app.state.geo_agent
    who = Identity("owner", "owner")
    ends: dict[str, object] = {}

    async def read(name: str, reply) -> None:
        async for event in reply.rest():
            ends[name] = event

    started = time.monotonic()
    async with app.router.lifespan_context(app):
        readers = []
        for name in ("short", "long"):
            reply, _ = await state.start_reply(who, name, str(uuid.uuid4()), frozenset())
            readers.append(asyncio.create_task(read(name, reply)))
        drained = time.monotonic()
    await asyncio.gather(*readers)
    assert ends["short"].type == "stream_end"
    assert ends["long"].type == "error" and ends["long"].error in RESTARTING
    assert 1.5 < time.monotonic() - drained < 5, time.monotonic() - started


async def test_with_redis_a_killed_instance_s_reply_is_marked_to_retry(
        fake_dashscope, tmp_path, redis_url):
    # No drain at all (SIGKILL): readers elsewhere learn it from the lease, with the same
    # retry mark, so a client sends the message again as after a drained restart.
    fake_dashscope.responder = _slow
    env = server_env(fake_dashscope.compatible_base_url, tmp_path,
                     GEO_AGENT_STREAM_URL=redis_url, GEO_AGENT_STREAM_LEASE="1")
    a = start_server(tmp_path / "a", env)
    b = start_server(tmp_path / "b", env)
    try:
        async with httpx.AsyncClient(base_url=a.url, timeout=30) as on_a, \
                httpx.AsyncClient(base_url=b.url, timeout=30) as on_b:
            live = Stream(on_a, "long story")
            await asyncio.wait_for(live.started.wait(), 20)
            message_id = live.events[0][1]["message_id"]
            reader = Stream(on_b, "", f"/v1/chat/{message_id}/events", "GET",
                            {"Last-Event-ID": "0"})
            await asyncio.wait_for(reader.started.wait(), 20)
            a.process.kill()
            with pytest.raises(httpx.TransportError):
                await live.task
            await asyncio.wait_for(reader.task, 20)
    finally:
        a.stop()
        b.stop()
    _, last, retry = reader.events[-1]
    assert last["error"] in set(CATALOGUE["reply_interrupted"].values()), last
    assert retry == 1000
