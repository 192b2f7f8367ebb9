"""A reply over HTTP is one task: it reads the typed events and, in the same step, hands each
to its client and to its event log (no queue or task between them)."""

from __future__ import annotations

import asyncio

from bailian_geo_agent.agent.events import StreamChunk, StreamEnd, StreamError, StreamStart
from bailian_geo_agent.agent.server.event_log import MemoryLog
from bailian_geo_agent.agent.server.replies import Reply
from bailian_geo_agent.prompts.catalogue import text

MID, SID = "m-1", "s-1"


async def test_each_event_reaches_client_and_log_in_the_same_step():
    steps = [asyncio.Event() for _ in range(4)]
    events = [StreamChunk(MID, SID, c) for c in "abc"] + [StreamEnd(MID, SID)]

    async def stream():
        yield StreamStart(MID, SID)
        for step, event in zip(steps, events, strict=True):
            await step.wait()
            yield event

    log = MemoryLog()
    before = asyncio.all_tasks()
    reply = Reply(stream(), "owner", log)
    assert await reply.first() == StreamStart(MID, SID)
    assert asyncio.all_tasks() - before == {reply._task}  # one task, nothing else
    client: list = []
    reading = reply.rest()
    for n, step in enumerate(steps, 2):
        step.set()
        client.append(await anext(reading))
        logged = log._logs[MID]
        assert (len(client) + 1, logged.seqs[-1]) == (n, n)  # the log is never behind
        assert logged.entries[-1].event is client[-1]
    assert client == events and logged.done
    assert [e.seq for e in logged.entries] == [1, 2, 3, 4, 5]
    assert await anext(reading, None) is None


async def test_a_stopped_reply_ends_with_cancelled_in_client_and_log():
    never = asyncio.Event()

    async def stream():
        yield StreamStart(MID, SID)
        yield StreamChunk(MID, SID, "半")
        await never.wait()

    log = MemoryLog()
    reply = Reply(stream(), "owner", log)
    await reply.first()
    reading = reply.rest()
    assert await anext(reading) == StreamChunk(MID, SID, "半")
    await reply.stop()
    cancelled = StreamError(MID, SID, text("cancelled"))
    assert [e async for e in reading] == [cancelled]
    entries = log._logs[MID].entries
    assert [(e.seq, e.event, e.stopped) for e in entries] == [
        (1, StreamStart(MID, SID), False), (2, StreamChunk(MID, SID, "半"), False),
        (3, cancelled, True)]
    assert (await log.info(MID)).done
