"""Clients that stop reading hold little: each reply's queue toward its client is bounded, a
client too far behind reads on from the reply's log, every event still exactly once with its
id. A real ``geo-agent serve`` process, raw sockets that never read, the server's RSS from
/proc (``python -m bench.slow_clients`` measures the issue's 100 clients of 20,000 chunks)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from bailian_geo_agent.agent.events import StreamChunk, StreamEnd, StreamStart
from bailian_geo_agent.agent.server.event_log import EventLog, MemoryLog
from bailian_geo_agent.agent.server.replies import QUEUE_LIMIT, Reply

from bench.slow_clients import measure

CLIENTS = 10
CHUNKS = 100_000  # a reply far bigger than the kernel's socket buffers on the way


def test_clients_that_never_read_add_little_memory(tmp_path):
    result = measure(CLIENTS, CHUNKS, tmp_path)
    print(f"\n{CLIENTS} non-reading clients of a {CHUNKS:,}-chunk reply: server RSS "
          f"+{result.growth_mib:.1f} MiB (peak +{result.peak_growth_mib:.1f} MiB)")
    assert result.checked_events == CHUNKS + 2  # one stuck client's whole stream, exact
    # Unbounded queues: +152 MiB here (each client's unread events); bounded: about +32 MiB,
    # mostly the replies' own logs (kept for resuming) and the peak of ten running at once.
    assert result.peak_growth_mib < 64, result


async def _fall_behind_and_read(log: EventLog, chunks: int) -> tuple[list[int], str, int]:
    """A reply of ``chunks`` chunks (each a yield point) whose client reads nothing until the
    reply has ended: the ids its events get (as the SSE adapter numbers them), their text and
    the most events its queue held."""
    mid, sid = str(uuid.uuid4()), str(uuid.uuid4())

    async def stream():
        yield StreamStart(mid, sid)
        for n in range(chunks):
            yield StreamChunk(mid, sid, "地图"[n % 2] * (1 + n % 3))
            if n % 100 == 0:
                await asyncio.sleep(0)
        yield StreamEnd(mid, sid)

    reply = Reply(stream(), "owner", log)
    await reply.first()
    reading = reply.rest_batches()
    most = 0
    while not reply.done:
        most = max(most, reply._queue.qsize() if reply._queue is not None else 0)
        await asyncio.sleep(0)
    await log.flushed()
    ids, text, seq = [], [], 1
    async for batch in reading:
        for event in batch:
            seq += 1
            ids.append(seq)
            if isinstance(event, StreamChunk):
                text.append(event.chunk)
            else:
                assert isinstance(event, StreamEnd), event
    assert ids[-1] == chunks + 2  # stream_end last, with its own id
    return ids, "".join(text), most


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_client_too_far_behind_reads_on_from_the_log_exactly(kind, request):
    if kind == "redis":
        from bailian_geo_agent.agent.server.event_log.redis import RedisLog

        log: EventLog = RedisLog(request.getfixturevalue("redis_url"), 60, 15)
        await log.start()
    else:
        log = MemoryLog()
    try:
        chunks = 5 * QUEUE_LIMIT + 7
        ids, text, most = await _fall_behind_and_read(log, chunks)
    finally:
        await log.aclose()
    assert most <= QUEUE_LIMIT
    assert ids == list(range(2, chunks + 3))
    assert text == "".join("地图"[n % 2] * (1 + n % 3) for n in range(chunks))


async def test_a_client_waiting_for_a_burst_takes_it_from_its_queue_not_from_the_log():
    """A model stream already buffered comes without a yield point: the client was waiting for
    it (not stuck in a write), so it gets the whole burst from its queue, live, in writes of
    ``QUEUE_LIMIT`` events, instead of falling back to the log (merged chunks every 50 ms)."""
    mid, sid = str(uuid.uuid4()), str(uuid.uuid4())
    burst = 5 * QUEUE_LIMIT

    async def stream():
        yield StreamStart(mid, sid)
        for _ in range(20):  # loop turns: the client waits for the next event by then
            await asyncio.sleep(0)
        for n in range(burst):
            yield StreamChunk(mid, sid, str(n % 10))
        yield StreamEnd(mid, sid)

    log = MemoryLog()
    try:
        reply = Reply(stream(), "owner", log)
        await reply.first()
        batches = [batch async for batch in reply.rest_batches()]
    finally:
        await log.aclose()
    assert not reply._behind
    assert [len(b) for b in batches] == [QUEUE_LIMIT] * 5 + [1]  # the burst, then stream_end
    events = [e for b in batches for e in b]
    assert "".join(e.chunk for e in events if isinstance(e, StreamChunk)) == "".join(
        str(n % 10) for n in range(burst))
