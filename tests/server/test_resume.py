"""Resuming replies on one ``geo-agent serve`` (the in-process event log): a disconnect only
detaches, ``GET /v1/chat/{message_id}/events`` sends the rest after ``Last-Event-ID`` exactly
once, a finished reply can be re-read, other tokens get 404."""

from __future__ import annotations

import json
import random
import uuid

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fakes.dashscope import Reply

STORY = Reply(text="".join(f"第{i}句。" for i in range(400)), chunk_size=3, chunk_delay=0.004)


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def start_and_drop(client, auth, body, after_chunks: int = 1) -> tuple[str, str, list]:
    """Start a reply, read ``after_chunks`` chunks, drop the connection: (message id, last id,
    the events read)."""
    events = []
    async with aconnect_sse(client, "POST", "/v1/chat/stream", json=body,
                            headers=auth) as source:
        assert source.response.status_code == 200
        async for sse in source.aiter_sse():
            if not sse.data:
                continue
            events.append((sse.event, sse.id, json.loads(sse.data)))
            if sum(e[0] == "stream_chunk" for e in events) >= after_chunks:
                break
    return events[0][2]["message_id"], events[-1][1], events


async def resume(client, message_id: str, last_id: str | None, auth, *, query: bool = False,
                 stop_after: int | None = None) -> list[tuple[str, str, dict]]:
    """Resume reading; with ``stop_after``, drop the connection after that many events."""
    headers = dict(auth)
    params = {}
    if last_id is not None:
        if query:
            params["last_event_id"] = last_id
        else:
            headers["Last-Event-ID"] = last_id
    events = []
    async with aconnect_sse(client, "GET", f"/v1/chat/{message_id}/events", params=params,
                            headers=headers) as source:
        assert source.response.status_code == 200, await source.response.aread()
        async for sse in source.aiter_sse():
            if not sse.data:  # httpx-sse turns a keep-alive comment into an empty event
                continue
            events.append((sse.event, sse.id, json.loads(sse.data)))
            if stop_after is not None and len(events) >= stop_after:
                break
    return events


def chunks_text(events) -> str:
    return "".join(d["chunk"] for _, _, d in events if d["type"] == "stream_chunk")


async def test_a_dropped_client_resumes_with_last_event_id(client, fake_dashscope, auth_a,
                                                           auth_b):
    fake_dashscope.script(STORY)
    sid = str(uuid.uuid4())
    mid, last, first = await start_and_drop(client, auth_a, {"message": "讲", "session_id": sid})
    other = await client.get(f"/v1/chat/{mid}/events", headers=auth_b)
    assert other.status_code == 404 and other.json()["type"] == "error"
    rest = await resume(client, mid, last, auth_a)
    assert [e[0] for e in rest][-1] == "stream_end"
    assert int(rest[0][1]) == int(last) + 1
    assert chunks_text(first) + chunks_text(rest) == STORY.text
    # Finished: re-readable from the start (a header) or from any id (the query parameter).
    whole = await resume(client, mid, None, auth_a)
    assert whole[0][0] == "stream_start" and whole[-1][0] == "stream_end"
    assert chunks_text(whole) == STORY.text
    ids = [int(e[1]) for e in whole]
    assert ids == sorted(set(ids))  # coalesced entries carry the id of their last chunk
    tail = await resume(client, mid, "5", auth_a, query=True)
    assert chunks_text(whole[:5]) + chunks_text(tail) == STORY.text
    bad = await client.get(f"/v1/chat/{mid}/events", headers={**auth_a, "Last-Event-ID": "x"})
    assert bad.status_code == 422
    missing = await client.get(f"/v1/chat/{uuid.uuid4()}/events", headers=auth_a)
    assert missing.status_code == 404
    # The detached reply was stored whole.
    history = (await client.get(f"/v1/sessions/{sid}", headers=auth_a)).json()["messages"]
    assert history[-1]["content"] == STORY.text


async def test_random_disconnect_points_assemble_the_whole_reply(client, fake_dashscope,
                                                                 auth_a):
    fake_dashscope.script(STORY)
    rng = random.Random(2024)
    mid, last, events = await start_and_drop(client, auth_a, {"message": "讲"},
                                             rng.randint(1, 20))
    text = [chunks_text(events)]
    resumes = 0
    while True:
        resumes += 1
        got = await resume(client, mid, last, auth_a, stop_after=rng.randint(1, 30))
        text.append(chunks_text(got))
        last = got[-1][1]
        if got[-1][0] in ("stream_end", "error"):
            break
    assert got[-1][0] == "stream_end"
    assert "".join(text) == STORY.text
    assert resumes >= 5
    print(f"\n{resumes} resumes, text assembled exactly once")
