"""Model tokens spent per API token: today's (UTC) and all-time totals, and the daily budget.

Each token is known by ``token_id``: a short hash of its stored digest (never the token), the
same id as the ``api_token`` label of the metrics; ``anonymous`` on a server without tokens.
Totals live in this process (``MemoryUsage``) or, with ``GEO_AGENT_STREAM_URL=redis://...``,
in Redis (``RedisUsage``), so that every instance adds to and reads the same counts: hashes
``geo-agent:usage:{id}:{YYYY-MM-DD}`` (``HINCRBY``, expiring two days after their day began)
and ``geo-agent:usage:{id}:all``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

from bailian_geo_agent.agent.events import Usage
from bailian_geo_agent.agent.server.auth import ANONYMOUS

logger = logging.getLogger(__name__)

PREFIX = "geo-agent:usage:"
_DAY_TTL = 2 * 86400
FIELDS = ("input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens",
          "cache_creation_tokens", "total_tokens", "replies")


def token_id(owner: str) -> str:
    """The public id of the API token whose digest is ``owner`` (``anonymous`` without tokens)."""
    if owner == ANONYMOUS:
        return ANONYMOUS
    return hashlib.sha256(f"geo-agent-token-id:{owner}".encode()).hexdigest()[:12]


def today() -> str:
    """Today's UTC date, ``YYYY-MM-DD`` (the key of the daily totals)."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def seconds_to_midnight() -> int:
    """Whole seconds until the next UTC midnight (when the daily budget starts again)."""
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(),
                                   tzinfo=dt.UTC)
    return max(1, math.ceil((midnight - now).total_seconds()))


@dataclass
class Totals:
    """Tokens of a set of replies, every model call summed (cached, cache creation and
    reasoning tokens are parts of input and output); ``replies`` counts the replies."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    total_tokens: int = 0
    replies: int = 0

    @classmethod
    def of(cls, usage: Usage | None) -> Totals:
        """One reply's totals (no tokens known when it sent no ``usage``)."""
        if usage is None:
            return cls(replies=1)
        return cls(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                   reasoning_tokens=usage.reasoning_tokens, cached_tokens=usage.cached_tokens,
                   cache_creation_tokens=usage.cache_creation_tokens,
                   total_tokens=usage.total_tokens or usage.input_tokens + usage.output_tokens,
                   replies=1)

    def add(self, other: Totals) -> None:
        """Add ``other`` in place."""
        for name in FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        """The totals by name."""
        return asdict(self)

    @classmethod
    def from_hash(cls, data: dict[str, Any]) -> Totals:
        """Totals from a Redis hash (missing fields are 0)."""
        return cls(**{name: int(data.get(name) or 0) for name in FIELDS})


class MemoryUsage:
    """Totals kept in this process (one instance)."""

    def __init__(self) -> None:
        self._days: dict[tuple[str, str], Totals] = {}
        self._all: dict[str, Totals] = {}

    def record(self, token: str, totals: Totals) -> None:
        """Count one reply of ``token`` (in Redis: soon, in the background)."""
        self._days.setdefault((token, today()), Totals()).add(totals)
        self._all.setdefault(token, Totals()).add(totals)
        if len(self._days) > 4 * max(1, len(self._all)):  # forget past days now and then
            keep = today()
            self._days = {k: v for k, v in self._days.items() if k[1] == keep}

    async def read(self, token: str) -> tuple[Totals, Totals]:
        """``token``'s totals today and all time."""
        day = self._days.get((token, today()), Totals())
        return Totals(**day.as_dict()), Totals(**self._all.get(token, Totals()).as_dict())

    async def spent_today(self, token: str) -> int:
        """Tokens (input + output) ``token`` has spent today."""
        return self._days.get((token, today()), Totals()).total_tokens

    async def settled(self) -> None:
        """Wait until every count recorded so far is stored (at once here)."""

    async def aclose(self) -> None:
        """Release the store's connections (none here)."""


class RedisUsage(MemoryUsage):
    """Totals in Redis, shared by every instance using it."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url, decode_responses=True,
                                             socket_connect_timeout=2, socket_timeout=5)
        self._pending: set[asyncio.Task[None]] = set()

    def record(self, token: str, totals: Totals) -> None:
        task = asyncio.get_running_loop().create_task(self._add(token, totals))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settled(self) -> None:
        """Wait until every count recorded so far is in Redis."""
        if self._pending:
            await asyncio.wait(set(self._pending))

    async def _add(self, token: str, totals: Totals) -> None:
        try:
            await self._write(token, totals)
        except Exception as exc:  # the reply is over; its count is lost, not the service
            logger.warning("token usage not counted (Redis failed): %s", type(exc).__name__)

    async def _write(self, token: str, totals: Totals) -> None:
        day_key, all_key = f"{PREFIX}{token}:{today()}", f"{PREFIX}{token}:all"
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, value in totals.as_dict().items():
                if value:
                    pipe.hincrby(day_key, name, value)
                    pipe.hincrby(all_key, name, value)
            pipe.expire(day_key, _DAY_TTL)
            await pipe.execute()

    async def read(self, token: str) -> tuple[Totals, Totals]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"{PREFIX}{token}:{today()}")
            pipe.hgetall(f"{PREFIX}{token}:all")
            day, total = await pipe.execute()
        return Totals.from_hash(day), Totals.from_hash(total)

    async def spent_today(self, token: str) -> int:
        return int(await self._redis.hget(f"{PREFIX}{token}:{today()}", "total_tokens") or 0)

    async def aclose(self) -> None:
        await self.settled()
        await self._redis.aclose()


def open_usage(url: str | None) -> MemoryUsage:
    """The usage store for ``GEO_AGENT_STREAM_URL`` (Redis) or this process (``None``)."""
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return RedisUsage(url)
    return MemoryUsage()
