"""Two ``geo-agent serve`` processes on one Redis and one PostgreSQL: start on A, drop the
client, resume on B; stop on B a reply running on A; kill A mid-reply; Redis down and back."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from bailian_geo_agent.prompts.catalogue import text
from httpx_sse import aconnect_sse

from tests.fakes.dashscope import Reply
from tests.server.conftest import TOKEN_A, server_env, start_server
from tests.server.helpers import check_reply, read_sse
from tests.server.redis_server import RedisServer, unavailable
from tests.server.test_resume import chunks_text, resume, start_and_drop
from tests.server.test_stop import UpstreamWatch

A = {"Authorization": f"Bearer {TOKEN_A}"}
STORY = Reply(text="".join(f"第{i}句。" for i in range(300)), chunk_size=3, chunk_delay=0.01)


@pytest.fixture
def pair(fake_dashscope_server, pg_url, redis_url, tmp_path):
    """Servers A and B sharing the fake, PostgreSQL and Redis (lease 1 s)."""
    servers = []
    for name in ("a", "b"):
        env = server_env(fake_dashscope_server.compatible_base_url, tmp_path / name,
                         SESSION_STORE_URL=pg_url, GEO_AGENT_STREAM_URL=redis_url,
                         GEO_AGENT_STREAM_LEASE="1")
        servers.append(start_server(tmp_path / name, env))
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_start_on_a_drop_the_client_resume_on_b(pair, fake_dashscope):
    a, b = pair
    fake_dashscope.script(STORY)
    sid = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as client:
        mid, last, first = await start_and_drop(client, A, {
            "message": "讲", "session_id": sid, "resume": True}, after_chunks=3)
        client.base_url = httpx.URL(b.url)
        rest = await resume(client, mid, last, A)
        assert chunks_text(first) + chunks_text(rest) == STORY.text
        assert rest[-1][0] == "stream_end"
        again = await resume(client, mid, "0", A)  # finished: re-read on B
        assert chunks_text(again) == STORY.text
        history = (await client.get(f"/v1/sessions/{sid}", headers=A)).json()["messages"]
        assert history[-1]["content"] == STORY.text


async def test_stop_on_b_a_reply_running_on_a(pair, fake_dashscope, monkeypatch):
    a, b = pair
    upstream = UpstreamWatch(fake_dashscope, monkeypatch)
    fake_dashscope.script(STORY)
    sid = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=30) as ca, httpx.AsyncClient(
            base_url=b.url, timeout=30) as cb:
        events = []
        async with aconnect_sse(ca, "POST", f"{a.url}/v1/chat/stream",
                                json={"message": "讲", "session_id": sid}, headers=A) as src:
            stream = src.aiter_sse()
            async for sse in stream:
                events.append(json.loads(sse.data))
                if sse.event == "stream_chunk":
                    break
            mid = events[0]["message_id"]
            reader_b = asyncio.ensure_future(resume(cb, mid, "1", A))
            await asyncio.sleep(0.2)
            sent = time.perf_counter()
            stopped = await cb.post(f"/v1/chat/{mid}/stop", headers=A)
            assert stopped.status_code == 200, stopped.text
            assert stopped.json() == {"message_id": mid, "session_id": sid, "stopped": True}
            took = await upstream.closed_after(sent, 1.0)
            async for sse in stream:
                if sse.data:
                    events.append(json.loads(sse.data))
        on_b = await asyncio.wait_for(reader_b, 10)
        cancelled = {"type": "error", "message_id": mid, "session_id": sid,
                     "error": text("cancelled")}
        assert events[-1] == cancelled and on_b[-1][2] == cancelled
        assert (await cb.post(f"/v1/chat/{mid}/stop", headers=A)).status_code == 404
        after = await read_sse(cb, "/v1/chat/stream", {"message": "继续", "session_id": sid}, A)
        assert check_reply(after).startswith("ECHO")
    print(f"\nstop on B -> upstream of A closed: {took * 1000:.0f} ms")


async def test_kill_a_mid_reply_readers_on_b_hear_of_it(pair, fake_dashscope):
    a, b = pair
    fake_dashscope.script(Reply(text="很长的回答" * 200, chunk_size=2, chunk_delay=0.02))
    sid = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as client:
        mid, last, _ = await start_and_drop(client, A, {"message": "讲", "session_id": sid})
        client.base_url = httpx.URL(b.url)
        reader = asyncio.ensure_future(resume(client, mid, last, A))
        await asyncio.sleep(0.3)
        a.process.kill()
        killed = time.perf_counter()
        got = await asyncio.wait_for(reader, 15)
        heard = time.perf_counter() - killed
        assert got[-1][2]["type"] == "error"
        assert got[-1][2]["error"] == text("reply_interrupted")
        assert heard < 4, heard
        # The session stays usable on B (A's PostgreSQL lock went with its connection).
        after = await read_sse(client, "/v1/chat/stream", {"message": "还在吗", "session_id": sid},
                               A)
        assert after[-1][2]["type"] == "stream_end", after[-1]
        history = (await client.get(f"/v1/sessions/{sid}", headers=A)).json()["messages"]
        assert history[-1]["role"] == "assistant"
    print(f"\nA killed -> reader on B got the interrupted error after {heard:.2f} s")


async def test_redis_down_then_back(fake_dashscope_server, tmp_path):
    redis = RedisServer()
    try:
        redis.start()
    except Exception as exc:
        unavailable(str(exc))
    env = server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                     GEO_AGENT_STREAM_URL=redis.url)
    server = start_server(tmp_path, env)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await client.get("/readyz")).status_code == 200
            redis.stop()
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["event_log"] == text("stream_log_unavailable")
            refused = await client.post("/v1/chat/stream", json={"message": "你好"}, headers=A)
            assert refused.status_code == 503
            assert refused.json() == {"type": "error", "error": text("stream_log_unavailable")}
            redis.start()
            assert (await client.get("/readyz")).status_code == 200
            events = await read_sse(client, "/v1/chat/stream", {"message": "你好"}, A)
            assert events[-1][2]["type"] == "stream_end"
            assert server.process.poll() is None
    finally:
        server.stop()
        redis.destroy()
