"""A second message while a reply runs, on one ``geo-agent serve`` with no shared log (the
event log and the queue in the process): the server's default strategy (``reject``, and
``GEO_AGENT_MULTITASK_STRATEGY``), a queued client that leaves, and ``POST /api/chat``."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
from bailian_geo_agent.prompts.catalogue import text
from httpx_sse import aconnect_sse

from tests.server.conftest import TOKEN_A
from tests.server.helpers import check_reply
from tests.server.test_multitask import STORY, Stream, history

A = {"Authorization": f"Bearer {TOKEN_A}"}


async def _running(client, url: str, sid: str, order: list) -> Stream:
    first = Stream(client, f"{url}/v1/chat/stream", {"message": "讲", "session_id": sid},
                   order, "first")
    await asyncio.wait_for(first.chunks.wait(), 10)
    assert first.events[-1][0] == "stream_chunk", first.events
    return first


async def test_by_default_a_second_message_is_rejected(server, fake_dashscope):
    fake_dashscope.script(STORY)
    sid, order = str(uuid.uuid4()), []
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running(client, server.url, sid, order)
        mid = first.events[0][2]["message_id"]
        started = time.perf_counter()
        refused = await client.post(f"{server.url}/v1/chat/stream", headers=A,
                                    json={"message": "再讲", "session_id": sid})
        assert time.perf_counter() - started < 2  # at once, not after the session lock's 60 s
        assert refused.status_code == 409
        assert refused.json()["error"] == text("reply_running", message_id=mid)
        assert check_reply(await first.done()) == STORY.text
        assert await history(client, server.url, sid) == [
            ("user", "讲", False), ("assistant", STORY.text, False)]


async def test_a_queued_client_that_leaves_gives_up_its_place(server, fake_dashscope):
    fake_dashscope.script(STORY)
    sid, order = str(uuid.uuid4()), []
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running(client, server.url, sid, order)
        body = {"message": "二", "session_id": sid, "multitask_strategy": "enqueue"}
        async with aconnect_sse(client, "POST", f"{server.url}/v1/chat/stream", json=body,
                                headers=A) as left:
            assert left.response.status_code == 200  # queued; then its client goes
        third = Stream(client, f"{server.url}/v1/chat/stream", {
            "message": "三", "session_id": sid, "multitask_strategy": "enqueue"}, order, "third")
        assert await third.opened == 200
        one = await first.done()
        ended = time.perf_counter()
        await asyncio.wait_for(third.chunks.wait(), 10)
        # Its turn came at once: the left ticket was given back, not waited out (5 s lease).
        assert time.perf_counter() - ended < 2
        assert check_reply(one) == STORY.text
        assert check_reply(await third.done()) == "ECHO[2]: 三"
        assert [n for n, kind in order if kind == "stream_start"] == ["first", "third"]
        assert await history(client, server.url, sid) == [
            ("user", "讲", False), ("assistant", STORY.text, False),
            ("user", "三", False), ("assistant", "ECHO[2]: 三", False)]


async def _parts(client, url: str, chat: str, message: str, into: list,
                 started: asyncio.Event) -> None:
    body = {"id": chat, "messages": [{"role": "user", "parts": [
        {"type": "text", "text": message}]}]}
    async with aconnect_sse(client, "POST", f"{url}/api/chat", json=body, headers=A) as source:
        assert source.response.status_code == 200
        async for sse in source.aiter_sse():
            if not sse.data:
                continue
            into.append(sse.data if sse.data == "[DONE]" else json.loads(sse.data))
            if sum(isinstance(p, dict) and p["type"] == "text-delta" for p in into) >= 3:
                started.set()


async def test_the_ai_sdk_chat_interrupts_by_the_server_default(interrupting, fake_dashscope):
    fake_dashscope.script(STORY)
    chat = str(uuid.uuid4())
    one: list = []
    two: list = []
    async with httpx.AsyncClient(timeout=30) as client:
        running = asyncio.Event()
        first = asyncio.ensure_future(_parts(client, interrupting.url, chat, "讲", one, running))
        await asyncio.wait_for(running.wait(), 10)
        await asyncio.wait_for(
            _parts(client, interrupting.url, chat, "改", two, asyncio.Event()), 30)
        await asyncio.wait_for(first, 10)
        kinds = [p["type"] if isinstance(p, dict) else p for p in one]
        assert kinds[:3] == ["start", "start-step", "text-start"]
        assert kinds[-4:] == ["text-end", "message-metadata", "abort", "[DONE]"]
        assert one[-2] == {"type": "abort", "reason": text("cancelled")}
        shown = "".join(p["delta"] for p in one if isinstance(p, dict)
                        and p["type"] == "text-delta")
        assert 0 < len(shown) < len(STORY.text)
        answer = "".join(p["delta"] for p in two if isinstance(p, dict)
                         and p["type"] == "text-delta")
        assert answer == "ECHO[2]: 改"
        assert [p["type"] if isinstance(p, dict) else p for p in two][-2:] == ["finish",
                                                                               "[DONE]"]
        assert await history(client, interrupting.url, chat) == [
            ("user", "讲", False), ("assistant", shown, True),
            ("user", "改", False), ("assistant", "ECHO[2]: 改", False)]
