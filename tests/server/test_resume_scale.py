"""1,000 concurrent resumable replies on one ``geo-agent serve`` with the Redis event log (the
DashScope fake in a process of its own): every one complete, and re-readable from Redis."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from tests.server.conftest import server_env, start_server
from tests.server.helpers import check_reply, read_sse
from tests.server.test_resume import chunks_text, resume
from tests.server.test_scale import CLIENTS, A, peak_rss_mb
from tests.test_load import fake_in_another_process  # noqa: F401 - the fixture


async def test_a_thousand_concurrent_resumable_replies_on_redis(
        fake_in_another_process, redis_url, tmp_path):  # noqa: F811
    env = server_env(fake_in_another_process, tmp_path, GEO_AGENT_SSE_PING="15",
                     GEO_AGENT_STREAM_URL=redis_url,
                     GEO_AGENT_MAX_CONNECTIONS=str(CLIENTS + 100))  # above the default 900
    server = start_server(tmp_path, env, "--log-level", "warning")
    try:
        messages = [f"可续读{i:04d}-{uuid.uuid4().hex[:8]}" for i in range(CLIENTS)]
        limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
            await read_sse(client, "/v1/chat/stream", {"message": "预热"}, A)

            async def one(message: str) -> tuple[str, str]:
                events = await read_sse(client, "/v1/chat/stream", {"message": message}, A)
                assert events[-1][2]["type"] == "stream_end", events[-1]
                return check_reply(events), events[0][2]["message_id"]

            started = time.perf_counter()
            results = await asyncio.wait_for(asyncio.gather(*(one(m) for m in messages)), 120)
            wall = time.perf_counter() - started
            # Each one's log in Redis holds the same text: 200 of them re-read at once (more
            # readers than redis-py's default pool of 100), on new connections, as clients
            # coming back would (uvicorn may be closing the replies' idle keep-alives).
            sample = results[:: CLIENTS // 200]
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as again:
            reread = await asyncio.gather(*(resume(again, mid, "0", A) for _, mid in sample))
        peak = peak_rss_mb(server.process.pid)
    finally:
        server.stop()
    assert [t for t, _ in results] == [f"ECHO[1]: {m}" for m in messages]
    for events, (text, mid) in zip(reread, sample, strict=True):
        assert chunks_text(events) == text, (mid, [(e, i, d.get("error")) for e, i, d in events])
    print(f"\nserve + Redis log: {CLIENTS} concurrent resumable replies, wall {wall:.2f} s, "
          f"peak RSS {peak:.0f} MB")
    assert wall < 60
