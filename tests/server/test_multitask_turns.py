"""The queues of ``enqueue``d messages (``agent.server.turns``): arrival order, giving a place
back, and skipping the ticket of a waiter that is gone; in the process and in real Redis."""

from __future__ import annotations

import uuid

import pytest
from bailian_geo_agent.agent.server import turns as turns_module
from bailian_geo_agent.agent.server.turns import RedisTurns, Turns, open_turns


@pytest.fixture(params=["memory", "redis"])
async def turns(request):
    if request.param == "memory":
        queues = Turns()
    else:
        queues = open_turns(request.getfixturevalue("redis_url"))
        assert isinstance(queues, RedisTurns)
    try:
        yield queues
    finally:
        await queues.aclose()


async def test_tickets_go_in_arrival_order_and_leave(turns):
    sid, other = str(uuid.uuid4()), str(uuid.uuid4())
    assert await turns.first(sid) is None
    one, two, three = [await turns.take(sid) for _ in range(3)]
    elsewhere = await turns.take(other)
    assert await turns.first(sid) == one and await turns.first(other) == elsewhere
    await turns.leave(sid, two)  # a waiter in the middle goes: the order of the rest stands
    assert await turns.first(sid) == one
    await turns.leave(sid, one)
    assert await turns.first(sid) == three
    await turns.leave(sid, three)
    await turns.leave(sid, three)  # twice: nothing happens
    assert await turns.first(sid) is None


async def test_a_ticket_not_renewed_is_skipped(turns, monkeypatch):
    sid = str(uuid.uuid4())
    gone = await turns.take(sid)
    waiting = await turns.take(sid)
    if isinstance(turns, RedisTurns):  # the waiter died: its ticket's key expired
        await turns._redis.delete(turns_module._alive_key(gone))
    else:  # its lease ran out
        monkeypatch.setitem(turns._alive, gone, 0.0)
    await turns.renew(waiting)
    assert await turns.first(sid) == waiting
    await turns.leave(sid, waiting)
    assert await turns.first(sid) is None


async def test_an_interrupting_ticket_goes_first(turns):
    sid = str(uuid.uuid4())
    queued = await turns.take(sid)
    urgent = await turns.take(sid, front=True)
    later = await turns.take(sid)
    assert await turns.first(sid) == urgent
    await turns.leave(sid, urgent)
    assert await turns.first(sid) == queued
    await turns.leave(sid, queued)
    assert await turns.first(sid) == later


async def test_dead_tickets_of_sessions_nobody_asks_about_are_dropped(monkeypatch):
    turns = Turns()
    sid = str(uuid.uuid4())
    gone = await turns.take(sid)
    monkeypatch.setitem(turns._alive, gone, 0.0)
    await turns.take(str(uuid.uuid4()))  # another session's message
    assert sid not in turns._queues and gone not in turns._alive
