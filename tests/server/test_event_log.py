"""The event logs themselves: exactly once from any resume point, the coalescing bound, expiry;
in-process and on a real Redis."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from bailian_geo_agent.agent.events import StreamChunk, StreamEnd, StreamStart
from bailian_geo_agent.agent.server.event_log import LogFeed, MemoryLog
from bailian_geo_agent.agent.server.event_log.base import COALESCE_AFTER, Entry

MID, SID, OWNER = "m-1", "s-1", "owner"
measured: dict[str, float] = {}


@pytest.fixture(params=["memory", "redis"])
async def log(request):
    if request.param == "memory":
        yield MemoryLog(ttl=600)
        return
    from bailian_geo_agent.agent.server.event_log.redis import RedisLog

    url = request.getfixturevalue("redis_url")
    made = RedisLog(url, ttl=600, lease=1)
    await made.start()
    try:
        yield made
    finally:
        await made.aclose()


def chunk(i: int) -> StreamChunk:
    return StreamChunk(MID, SID, f"<{i}>")


async def write_reply(log, chunks: int, delay_every: int = 0) -> str:
    await log.open(MID, OWNER, SID)
    feed = LogFeed(log, MID, SID)
    feed.add(1, StreamStart(MID, SID))
    for i in range(chunks):
        feed.add(i + 2, chunk(i))
        if delay_every and i % delay_every == 0:
            await asyncio.sleep(0.001)
    feed.add(chunks + 2, StreamEnd(MID, SID))
    await log.flushed()
    return "".join(f"<{i}>" for i in range(chunks))


async def read_text(log, after: int) -> tuple[str, list[int]]:
    text, ids = [], []
    async for entry in log.read(MID, after):
        ids.append(entry.seq)
        if isinstance(entry.event, StreamChunk):
            text.append(entry.event.chunk)
    return "".join(text), ids


def full_text_after(n_chunks: int, seen: int) -> str:
    return "".join(f"<{i}>" for i in range(max(0, seen - 1), n_chunks))


async def test_any_resume_point_gives_exactly_the_rest(log):
    n = 3000
    await write_reply(log, n, delay_every=97)  # some coalesced entries are partly read
    rng = random.Random(12)
    for seen in [0, 1, 2, COALESCE_AFTER, COALESCE_AFTER + 1, n, n + 1,
                 *rng.sample(range(n + 2), 60)]:
        text, ids = await read_text(log, seen)
        assert text == full_text_after(n, seen), seen
        assert ids == sorted(set(ids)) and all(i > seen for i in ids) and ids[-1] == n + 2


async def test_random_disconnects_assemble_the_whole_reply_while_it_streams(log):
    n = 5000
    writing = asyncio.ensure_future(write_reply(log, n, delay_every=50))
    rng = random.Random(7)
    assembled, seen, reads = [], 0, 0
    await asyncio.sleep(0.01)
    while True:
        reads += 1
        stop_after = rng.randint(1, 40)
        got = 0
        ended = False
        async for entry in log.read(MID, seen):
            if isinstance(entry.event, StreamChunk):
                assembled.append(entry.event.chunk)
            seen = entry.seq
            got += 1
            if entry.terminal:
                ended = True
                break
            if got >= stop_after:
                break  # the client drops here
        if ended:
            break
    await writing
    assert "".join(assembled) == full_text_after(n, 0)
    assert reads > 10


async def test_a_300000_chunk_reply_is_coalesced_into_few_entries(log):
    n = 300_000
    started = time.perf_counter()
    await write_reply(log, n, delay_every=1000)
    took = time.perf_counter() - started
    if isinstance(log, MemoryLog):
        entries = len(log._logs[MID].entries)
    else:
        entries = await log._redis.xlen(f"geo-agent:reply:{MID}:log")
    measured[f"entries {type(log).__name__}"] = entries
    print(f"\n{type(log).__name__}: 300,000 chunks -> {entries} entries ({took:.1f} s)")
    assert entries < 2000, entries
    text, _ = await read_text(log, 150_000)
    assert text == full_text_after(n, 150_000)


async def test_a_finished_log_expires(log):
    log.ttl = 1
    await write_reply(log, 3)
    assert (await log.info(MID)).done
    assert await log.active(SID) is None

    async def expired() -> None:
        while await log.info(MID) is not None:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(expired(), 5)  # once its 1 s ttl has passed, not 2.2 s later


def test_an_entry_resumed_inside_a_coalesced_chunk_keeps_only_the_rest():
    entry = Entry(7, StreamChunk(MID, SID, "aabbbc"), 5, [2, 3, 1])
    assert entry.after(4) is entry
    assert entry.after(5).event.chunk == "bbbc" and entry.after(5).first == 6
    assert entry.after(6).event.chunk == "c"
    assert entry.after(7) is None
    assert Entry.from_dict(entry.to_dict()) == entry


async def test_memory_per_idle_resumable_reply(log):
    """A finished 100-chunk reply kept for resuming: bytes held (reported)."""
    import tracemalloc

    global MID
    if isinstance(log, MemoryLog):
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(200):
            MID = f"m-{i}"
            await write_reply(log, 100)
        per = (tracemalloc.get_traced_memory()[0] - before) / 200
        tracemalloc.stop()
    else:
        await write_reply(log, 100)
        per = sum([await log._redis.memory_usage(f"geo-agent:reply:{MID}:{k}") or 0
                   for k in ("log", "meta")])
    MID = "m-1"
    print(f"\n{type(log).__name__}: idle 100-chunk reply holds {per / 1024:.1f} KiB")
    assert per < 64 * 1024


async def test_a_busy_pool_is_not_redis_down(redis_url, unused_tcp_port):
    """A health ping that waits behind other commands which Redis answers is not a failure;
    a ping to no Redis at all is."""
    from bailian_geo_agent.agent.server.event_log import LogUnavailable
    from bailian_geo_agent.agent.server.event_log.redis import RedisLog

    log = RedisLog(redis_url, connections=1)
    log.ping_seconds = 0.3
    try:
        # The one connection stays busy past the ping's deadline, but a write is answered
        # while the ping waits.
        first = asyncio.ensure_future(log._redis.blpop(["geo-agent:test:none"], 0.1))
        await asyncio.sleep(0)
        write = asyncio.ensure_future(log.write(MID, [Entry(1, chunk(0))]))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(log._redis.blpop(["geo-agent:test:none"], 0.6))
        await asyncio.sleep(0)
        await log.ping(fresh=True)
        await asyncio.gather(first, write, second)
    finally:
        await log._redis.delete(f"geo-agent:reply:{MID}:log")
        await log.aclose()
    down = RedisLog(f"redis://127.0.0.1:{unused_tcp_port}/0")
    down.ping_seconds = 0.3
    try:
        with pytest.raises(LogUnavailable):
            await down.ping(fresh=True)
    finally:
        await down.aclose()


async def test_more_readers_than_connections_wait_their_turn(redis_url):
    """Each live reader holds a Redis connection for a blocking read; past the pool's size
    (here 5; redis-py's own default is 100, which raised) the rest wait instead of failing."""
    from bailian_geo_agent.agent.server.event_log.redis import RedisLog

    log = RedisLog(redis_url, ttl=600, lease=1, readers=5)
    await log.start()
    try:
        await log.open(MID, OWNER, SID)
        feed = LogFeed(log, MID, SID)
        readers = [asyncio.ensure_future(read_text(log, 0)) for _ in range(20)]
        await asyncio.sleep(0)
        feed.add(1, StreamStart(MID, SID))
        for i in range(30):
            feed.add(i + 2, chunk(i))
        feed.add(32, StreamEnd(MID, SID))
        await log.flushed()
        texts = [text for text, _ in await asyncio.wait_for(asyncio.gather(*readers), 30)]
    finally:
        await log._redis.delete(f"geo-agent:reply:{MID}:log", f"geo-agent:reply:{MID}:meta")
        await log.aclose()
    assert texts == [full_text_after(30, 0)] * 20


async def test_redis_sends_every_replys_entries_in_one_pipeline_and_a_retry_is_harmless(
        redis_url):
    """Appends of several replies wait for one background send; re-sending entries a failed
    attempt had written (the retry in place) is not an error and duplicates nothing."""
    from bailian_geo_agent.agent.server.event_log.redis import RedisLog

    log = RedisLog(redis_url, ttl=600, lease=1)
    mids = [f"m-pipe-{i}" for i in range(3)]
    sent: list[int] = []
    send = log._send

    async def counted(pending, ending):
        sent.append(sum(len(v) for v in pending.values()) + len(ending))
        await send(pending, ending)

    log._send = counted
    try:
        for mid in mids:
            await log.open(mid, OWNER, SID)
        for mid in mids:
            feed = LogFeed(log, mid, SID)
            feed.add(1, StreamStart(mid, SID))
            feed.add(2, StreamChunk(mid, SID, "x"))
            feed.add(3, StreamEnd(mid, SID))
        assert sent == []  # nothing waited for Redis yet
        await log.flushed()
        assert sent == [12]  # 3 replies x (3 entries + their end), one pipeline
        again = [Entry(2, StreamChunk(mids[0], SID, "x")), Entry(3, StreamEnd(mids[0], SID))]
        await send({mids[0]: again}, [])
        for mid in mids:
            assert await log._redis.xlen(f"geo-agent:reply:{mid}:log") == 3
            assert (await log.info(mid)).done
            assert [e.seq async for e in log.read(mid, 0)] == [1, 2, 3]
    finally:
        for mid in mids:
            await log._redis.delete(f"geo-agent:reply:{mid}:log", f"geo-agent:reply:{mid}:meta")
        await log.aclose()
