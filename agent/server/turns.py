"""The messages waiting for their session (``multitask_strategy`` ``enqueue``): a queue per
session, in arrival order, in this process or, with ``GEO_AGENT_STREAM_URL``, in Redis and so
across every instance sharing it.

A waiter takes a ticket, keeps it alive while it waits, and leaves once its reply has begun (or
it gave up). In Redis a ticket lives while its waiter renews it: the tickets of a waiter that
died are skipped and removed by the next reader of the queue.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

PREFIX = "geo-agent:"  # the event log's (agent.server.event_log.redis)
TICKET_LEASE_MS = 5000
"""How long a Redis ticket lives without its waiter renewing it."""
QUEUE_TTL_S = 86400
"""A session's queue key expires this long after its last ticket was taken."""


class Turns:
    """The queues of this process, by session id."""

    def __init__(self) -> None:
        self._queues: dict[str, list[str]] = {}
        self._alive: dict[str, float] = {}  # ticket -> until when it lives unless renewed
        self._numbers = itertools.count()

    async def take(self, session_id: str, front: bool = False) -> str:
        """A new ticket at the end of ``session_id``'s queue (``front``: before every other,
        for a message that interrupts)."""
        ticket = f"{next(self._numbers)}-{uuid.uuid4().hex}"
        self._forget_dead()
        queue = self._queues.setdefault(session_id, [])
        if front:
            queue.insert(0, ticket)
        else:
            queue.append(ticket)
        await self.renew(ticket)
        return ticket

    async def first(self, session_id: str) -> str | None:
        """The ticket whose turn it is (the oldest live one), if any."""
        queue = self._queues.get(session_id, [])
        now = time.monotonic()
        while queue and self._alive.get(queue[0], 0.0) < now:  # its waiter is gone
            await self.leave(session_id, queue[0])
        return queue[0] if queue else None

    async def renew(self, ticket: str) -> None:
        """The waiter holding ``ticket`` is still there."""
        self._alive[ticket] = time.monotonic() + TICKET_LEASE_MS / 1000

    async def leave(self, session_id: str, ticket: str) -> None:
        """Give ``ticket`` back: its reply has begun, or it no longer waits."""
        self._alive.pop(ticket, None)
        queue = self._queues.get(session_id)
        if queue is not None and ticket in queue:
            queue.remove(ticket)
            if not queue:
                del self._queues[session_id]

    async def aclose(self) -> None:
        """Release connections."""

    def _forget_dead(self) -> None:
        """Drop every ticket whose waiter is gone (one whose stream never began, say), also in
        sessions nobody asks about any more."""
        now = time.monotonic()
        for session_id, queue in list(self._queues.items()):
            queue[:] = [t for t in queue if self._alive.get(t, 0.0) >= now]
            if not queue:
                del self._queues[session_id]
        self._alive = {t: until for t, until in self._alive.items() if until >= now}


class RedisTurns(Turns):
    """The queues in Redis: a sorted set per session (score: a shared counter), a key per live
    ticket (expiring unless renewed)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2)

    async def take(self, session_id: str, front: bool = False) -> str:
        ticket = uuid.uuid4().hex
        number = await self._redis.incr(f"{PREFIX}turns:seq")
        if front:  # below every ticket taken at the end, and every earlier front one
            number = -number
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_alive_key(ticket), "1", px=TICKET_LEASE_MS)
            pipe.zadd(_queue_key(session_id), {ticket: number})
            pipe.expire(_queue_key(session_id), QUEUE_TTL_S)
            await pipe.execute()
        return ticket

    async def first(self, session_id: str) -> str | None:
        key = _queue_key(session_id)
        tickets = await self._redis.zrange(key, 0, -1)
        if not tickets:
            return None
        alive = await self._redis.mget([_alive_key(t) for t in tickets])
        dead = [t for t, live in zip(tickets, alive, strict=True) if not live]
        if dead:
            await self._redis.zrem(key, *dead)
        return next((t for t, live in zip(tickets, alive, strict=True) if live), None)

    async def renew(self, ticket: str) -> None:
        await self._redis.set(_alive_key(ticket), "1", px=TICKET_LEASE_MS)

    async def leave(self, session_id: str, ticket: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(_queue_key(session_id), ticket)
            pipe.delete(_alive_key(ticket))
            await pipe.execute()

    async def aclose(self) -> None:
        await self._redis.aclose()


def _queue_key(session_id: str) -> str:
    return f"{PREFIX}session:{session_id}:queue"


def _alive_key(ticket: str) -> str:
    return f"{PREFIX}turn:{ticket}"


def open_turns(url: str | None) -> Turns:
    """The queues for ``GEO_AGENT_STREAM_URL`` (Redis) or this process (``None``)."""
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return RedisTurns(url)
    return Turns()
