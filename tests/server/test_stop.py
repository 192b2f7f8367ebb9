"""Stop and disconnect: the reply ends with its cancelled ``error`` event, the upstream model
connection closes within 100 ms of the stop's answer, and the session keeps working."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import httpx
import pytest
from bailian_geo_agent.prompts.catalogue import text
from httpx_sse import aconnect_sse

from tests.fakes.dashscope import Reply
from tests.server.helpers import check_reply, read_sse

LONG = Reply(text="很长的回答" * 100, chunk_size=2, chunk_delay=0.02)  # ~5 s of streaming
STOP_LIMIT = 0.1
DISCONNECT_LIMIT = 0.5
measured: dict[str, float] = {}


class UpstreamWatch:
    """When the fake's streaming handler for a request ended: aiohttp cancels it as soon as
    its client (our server) closes the connection."""

    def __init__(self, fake, monkeypatch) -> None:
        self.open = 0
        self.ended: list[float] = []
        self._event = threading.Event()
        original = fake._stream

        async def tracked(*args, **kwargs):
            self.open += 1
            try:
                return await original(*args, **kwargs)
            finally:
                self.ended.append(time.perf_counter())
                self._event.set()

        monkeypatch.setattr(fake, "_stream", tracked)

    async def closed_after(self, since: float, limit: float) -> float:
        """Seconds from ``since`` until the upstream request ended (fails after ``limit``)."""
        deadline = time.perf_counter() + limit + 1
        while not self.ended and time.perf_counter() < deadline:
            await asyncio.sleep(0.002)
        assert self.ended, "the upstream request is still open"
        took = self.ended[0] - since
        assert took < limit, f"upstream closed {took * 1000:.0f} ms after, limit {limit * 1000:.0f}"
        return took


@pytest.fixture
def upstream(fake_dashscope, monkeypatch) -> UpstreamWatch:
    return UpstreamWatch(fake_dashscope, monkeypatch)


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def test_stop_ends_the_reply_closes_upstream_and_keeps_the_session(
        client, fake_dashscope, upstream, auth_a, auth_b):
    fake_dashscope.script(LONG)
    sid = str(uuid.uuid4())
    events = []
    async with aconnect_sse(client, "POST", "/v1/chat/stream",
                            json={"message": "讲个长故事", "session_id": sid},
                            headers=auth_a) as source:
        stream = source.aiter_sse()
        async for sse in stream:
            events.append(json.loads(sse.data))
            if sse.event == "stream_chunk":
                break
        assert upstream.open == 1 and not upstream.ended, "the model request is streaming"
        message_id = events[0]["message_id"]

        other = await client.post(f"/v1/chat/{message_id}/stop", headers=auth_b)
        assert other.status_code == 404  # not B's reply: it goes on

        sent = time.perf_counter()
        stopped = await client.post(f"/v1/chat/{message_id}/stop", headers=auth_a)
        answered = time.perf_counter()
        assert stopped.status_code == 200, stopped.text
        assert stopped.json() == {"message_id": message_id, "session_id": sid, "stopped": True}
        measured["stop"] = await upstream.closed_after(sent, STOP_LIMIT)
        assert upstream.ended[0] <= answered  # the stop answers once the request is closed
        async for sse in stream:
            events.append(json.loads(sse.data))
    assert time.perf_counter() - answered < 5
    kinds = [e["type"] for e in events]
    assert kinds[0] == "stream_start" and kinds[-1] == "error"
    assert set(kinds[1:-1]) == {"stream_chunk"}
    assert events[-1] == {"type": "error", "message_id": message_id, "session_id": sid,
                          "error": text("cancelled")}
    again = await client.post(f"/v1/chat/{message_id}/stop", headers=auth_a)
    assert again.status_code == 404  # over

    # The session goes on: the stopped turn's question is kept, the next reply is whole.
    after = await read_sse(client, "/v1/chat/stream", {"message": "继续", "session_id": sid},
                           auth_a)
    assert check_reply(after) == "ECHO[2]: 继续"
    history = (await client.get(f"/v1/sessions/{sid}", headers=auth_a)).json()["messages"]
    assert [(m["role"], m["content"]) for m in history][-2:] == [
        ("user", "继续"), ("assistant", "ECHO[2]: 继续")]
    print(f"\nstop sent -> upstream closed: {measured['stop'] * 1000:.1f} ms")


async def test_a_client_that_disconnects_with_resume_false_cancels_the_reply(
        client, fake_dashscope, upstream, auth_a):
    # Replies are resumable by default (a disconnect only detaches: tests/server/test_resume.py);
    # "resume": false keeps the behaviour from before issue 12: the disconnect cancels.
    fake_dashscope.script(LONG)
    sid = str(uuid.uuid4())
    async with aconnect_sse(client, "POST", "/v1/chat/stream",
                            json={"message": "讲个长故事", "session_id": sid, "resume": False},
                            headers=auth_a) as source:
        async for sse in source.aiter_sse():
            if sse.event == "stream_chunk":
                break
        assert upstream.open == 1 and not upstream.ended
    # Leaving the block closed our connection mid-reply.
    left = time.perf_counter()
    measured["disconnect"] = await upstream.closed_after(left, DISCONNECT_LIMIT)
    after = await read_sse(client, "/v1/chat/stream", {"message": "还在吗", "session_id": sid},
                           auth_a)
    assert check_reply(after) == "ECHO[2]: 还在吗"
    assert len(fake_dashscope.requests) == 2
    print(f"\ndisconnect -> upstream closed: {measured['disconnect'] * 1000:.1f} ms")


async def test_stopping_an_unknown_reply_is_404(client, auth_a):
    response = await client.post(f"/v1/chat/{uuid.uuid4()}/stop", headers=auth_a)
    assert response.status_code == 404
    assert response.json() == {"type": "error", "error": "回复不存在或已结束。"}
