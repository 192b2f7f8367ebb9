"""The Redis event log (``GEO_AGENT_STREAM_URL=redis://...``): resumable on every instance.

Keys (prefix ``geo-agent:``): ``reply:{id}:log``, a Redis Stream whose entry ids are
``0-{SSE id}`` (so ``XREAD`` after ``0-{Last-Event-ID}`` is exactly what a client has not
seen); ``reply:{id}:meta``, a hash (owner, session, instance, done); ``session:{id}:active``,
the reply running in a session; ``instance:{id}``, each instance's lease, renewed every third
of ``GEO_AGENT_STREAM_LEASE``. Stops travel on the ``geo-agent:stop`` pub/sub channel. Every
key of a reply expires ``GEO_AGENT_STREAM_TTL`` seconds after its last renewal or its end.

Appended entries wait in this process until one background task (started on demand) sends
every reply's waiting entries in one pipeline; a failed pipeline is retried in place, so a
reply's log never has a gap a resuming reader could not fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from bailian_geo_agent.agent.events import StreamError
from bailian_geo_agent.agent.providers._sse import loads_json as _loads
from bailian_geo_agent.agent.server.event_log.base import (
    Entry,
    EventLog,
    LogUnavailable,
    ReplyInfo,
)
from bailian_geo_agent.agent.server.sse import dumps
from bailian_geo_agent.prompts.catalogue import text

logger = logging.getLogger(__name__)

PREFIX = "geo-agent:"
STOP_CHANNEL = PREFIX + "stop"
_DROP_IF_MINE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
                 "return redis.call('del', KEYS[1]) end return 0")



def _log_key(message_id: str) -> str:
    return f"{PREFIX}reply:{message_id}:log"


def _meta_key(message_id: str) -> str:
    return f"{PREFIX}reply:{message_id}:meta"


def _active_key(session_id: str) -> str:
    return f"{PREFIX}session:{session_id}:active"


def _instance_key(instance: str) -> str:
    return f"{PREFIX}instance:{instance}"


class RedisLog(EventLog):
    """Logs in Redis Streams, shared by every instance on one Redis."""

    ping_seconds = 5.0
    """How long a health ping may take (waiting for a connection included)."""

    def __init__(self, url: str, ttl: float = 600.0, lease: float = 15.0,
                 connections: int = 128, readers: int = 1000) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.ttl = ttl
        self.lease = lease
        self.instance = uuid.uuid4().hex
        # Commands share a bounded pool (a burst of replies must not open a connection each);
        # blocking reads, which hold theirs up to a poll, get their own, one per reader up
        # to ``readers`` (more readers wait their turn instead of failing: redis-py's own
        # pools default to 100 and raise beyond it).
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, socket_connect_timeout=2, max_connections=connections,
            timeout=30)
        self._redis: Any = aioredis.Redis(connection_pool=pool)
        reads = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, socket_connect_timeout=2, max_connections=readers + 1,
            timeout=30)
        self._reads: Any = aioredis.Redis(connection_pool=reads)
        self._pinged = -1.0
        self._pinging: asyncio.Task[None] | None = None
        self._running: dict[str, str] = {}  # message id -> session id, replies run here
        self._tasks: list[asyncio.Task[None]] = []
        self._poll_ms = max(50, int(min(1.0, lease / 2) * 1000))
        self._pending: dict[str, list[Entry]] = {}  # appended, not yet sent: by reply
        self._closing: list[tuple[str, str]] = []  # finished replies, after their entries
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        self._closed = False
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._heartbeat()), loop.create_task(self._listen())]

    async def aclose(self) -> None:
        if self._flusher is not None:  # what the replies sent last, then close
            await asyncio.wait({self._flusher}, timeout=5)
            self._flusher.cancel()
        # redis-py can swallow a cancellation that lands inside a pipeline: the loops also
        # stop on this flag, and the wait is bounded.
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._redis.delete(_instance_key(self.instance))
        for client in (self._redis, self._reads):
            with contextlib.suppress(Exception):
                await client.aclose()

    async def ping(self, fresh: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if not fresh and loop.time() - self._pinged < 1.0:  # answered within the last second
            return
        if self._pinging is None or self._pinging.done():  # one ping for a burst of callers
            self._pinging = loop.create_task(self._ping())
        await asyncio.shield(self._pinging)

    async def _ping(self) -> None:
        loop = asyncio.get_running_loop()
        asked = loop.time()
        try:
            await asyncio.wait_for(self._redis.ping(), self.ping_seconds)
        except Exception as exc:
            # A ping that only waited for a connection while the pool's other commands were
            # answered says the pool is busy, not that Redis is down.
            if isinstance(exc, TimeoutError) and self._pinged > asked:
                return
            self._pinged = -1.0
            raise LogUnavailable(type(exc).__name__) from None
        self._answered()

    def _answered(self) -> None:
        """Redis has just answered a command: as good as a ping."""
        self._pinged = asyncio.get_running_loop().time()

    async def open(self, message_id: str, owner: str, session_id: str) -> None:
        ttl = int(self.ttl) + 1
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(_instance_key(self.instance), "1", px=int(self.lease * 1000))
            pipe.hset(_meta_key(message_id), mapping={
                "owner": owner, "session": session_id, "instance": self.instance})
            pipe.expire(_meta_key(message_id), ttl)
            pipe.set(_active_key(session_id), message_id, ex=ttl)
            await pipe.execute()
        self._answered()
        self._running[message_id] = session_id

    def append(self, message_id: str, entries: list[Entry]) -> None:
        waiting = self._pending.get(message_id)
        if waiting is None:
            self._pending[message_id] = entries
        else:
            waiting += entries
        self._flush_soon()

    def finish(self, message_id: str, session_id: str) -> None:
        self._running.pop(message_id, None)
        self._closing.append((message_id, session_id))
        self._flush_soon()

    async def flushed(self) -> None:
        while self._flusher is not None and not self._flusher.done():
            await asyncio.wait({self._flusher})

    def _flush_soon(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Send what is waiting, until nothing is (new entries come while one is sent)."""
        failing = False
        while self._pending or self._closing:
            pending, self._pending = self._pending, {}
            ending, self._closing = self._closing, []
            # Every batch is retried in place: a dropped one would leave a gap that a resuming
            # reader could never fill (the order of the log is the order of the reply).
            for attempt in range(4):
                try:
                    await self._send(pending, ending)
                    break
                except Exception as exc:
                    if not failing:
                        logger.warning("event log write failed for %d replies: %s",
                                       len(pending) + len(ending), type(exc).__name__)
                        failing = True
                    if attempt < 3:
                        await asyncio.sleep(0.25 * (attempt + 1))

    async def _send(self, pending: dict[str, list[Entry]], ending: list[tuple[str, str]]) -> None:
        ttl = int(self.ttl) + 1
        async with self._redis.pipeline(transaction=False) as pipe:
            for message_id, entries in pending.items():
                key = _log_key(message_id)
                for entry in entries:
                    pipe.xadd(key, {"d": dumps(entry.to_dict())}, id=f"0-{entry.seq}")
                if entries[0].seq == 1:
                    pipe.expire(key, ttl)
            for message_id, session_id in ending:
                pipe.hset(_meta_key(message_id), "done", "1")
                pipe.expire(_meta_key(message_id), ttl)
                pipe.expire(_log_key(message_id), ttl)
                pipe.eval(_DROP_IF_MINE, 1, _active_key(session_id), message_id)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            # An entry a failed attempt had already written is not an error.
            if isinstance(result, Exception) and "equal or smaller" not in str(result):
                raise result
        self._answered()

    async def write(self, message_id: str, entries: list[Entry]) -> None:
        """Append ``entries`` now, waiting for Redis (``append`` does it in the background)."""
        await self._send({message_id: entries}, [])

    async def info(self, message_id: str) -> ReplyInfo | None:
        meta = await self._redis.hgetall(_meta_key(message_id))
        if not meta:
            return None
        return ReplyInfo(meta["owner"], meta["session"], meta.get("done") == "1", meta)

    async def active(self, session_id: str) -> str | None:
        message_id = await self._redis.get(_active_key(session_id))
        if not message_id:
            return None
        info = await self.info(message_id)
        if info is None or info.done or not await self._alive(info):
            return None
        return str(message_id)

    async def _alive(self, info: ReplyInfo) -> bool:
        instance = info.extra.get("instance", "")
        return bool(instance) and bool(await self._redis.exists(_instance_key(instance)))

    async def read(self, message_id: str, after: int) -> AsyncIterator[Entry]:
        key = _log_key(message_id)
        seen = after
        while True:
            try:
                answer = await self._reads.xread({key: f"0-{seen}"}, count=500,
                                                 block=self._poll_ms)
            except Exception as exc:
                logger.warning("event log read failed for reply %s: %s",
                               message_id, type(exc).__name__)
                yield await self._ending(message_id, seen, "stream_log_unavailable")
                return
            if not answer:
                try:
                    info = await self.info(message_id)
                except Exception as exc:  # not known to be interrupted: say what failed
                    logger.warning("event log read failed for reply %s: %s",
                                   message_id, type(exc).__name__)
                    yield await self._ending(message_id, seen, "stream_log_unavailable")
                    return
                if info is None:
                    yield await self._ending(message_id, seen, "reply_interrupted")
                    return
                if info.done:  # ended, but its last entry never reached the log
                    yield await self._ending(message_id, seen, "reply_interrupted", info)
                    return
                if not await self._alive(info):
                    yield await self._ending(message_id, seen, "reply_interrupted", info)
                    return
                continue
            for _, items in answer:
                for _, fields in items:
                    part = Entry.from_dict(_loads(fields["d"])).after(seen)
                    if part is None:
                        continue
                    seen = part.seq
                    yield part
                    if part.terminal:
                        return

    async def _ending(self, message_id: str, seen: int, key: str,
                      info: ReplyInfo | None = None) -> Entry:
        """The ``error`` event a reader gets when the reply cannot go on; one whose instance
        stopped is marked as a restart's (the client sends the message again)."""
        session_id = info.session_id if info else ""
        return Entry(seen + 1, StreamError(message_id, session_id, text(key)),
                     restart=key == "reply_interrupted")

    async def request_stop(self, message_id: str) -> bool:
        return bool(await self._redis.publish(STOP_CHANNEL, message_id))

    async def _heartbeat(self) -> None:
        """Renew this instance's lease and its running replies' keys."""
        every = self.lease / 3
        while not self._closed:
            try:
                ttl = int(self.ttl) + 1
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.set(_instance_key(self.instance), "1", px=int(self.lease * 1000))
                    for message_id, session_id in list(self._running.items()):
                        pipe.expire(_meta_key(message_id), ttl)
                        pipe.expire(_log_key(message_id), ttl)
                        pipe.expire(_active_key(session_id), ttl)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("event log heartbeat failed: %s", type(exc).__name__)
            await asyncio.sleep(every)

    async def _listen(self) -> None:
        """Hear stop requests from every instance (resubscribing after a Redis outage)."""
        while not self._closed:
            pubsub = self._reads.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(STOP_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._stopped(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("stop listener lost Redis: %s", type(exc).__name__)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
