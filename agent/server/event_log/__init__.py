"""Per-reply event logs for resuming replies: in-process by default, Redis Streams with
``GEO_AGENT_STREAM_URL=redis://...`` (see ``base`` for the coalescing policy)."""

from __future__ import annotations

from bailian_geo_agent.agent.errors import ConfigurationError
from bailian_geo_agent.agent.server.event_log.base import (
    Entry,
    EventLog,
    LogFeed,
    LogUnavailable,
    ReplyInfo,
)
from bailian_geo_agent.agent.server.event_log.memory import MemoryLog
from bailian_geo_agent.prompts.catalogue import text

__all__ = [
    "Entry",
    "EventLog",
    "LogFeed",
    "LogUnavailable",
    "MemoryLog",
    "ReplyInfo",
    "open_log",
]


def open_log(url: str | None, ttl: float, lease: float) -> EventLog:
    """The event log at ``url`` (``None``/``memory://``: in this process)."""
    if not url or url.startswith("memory://"):
        return MemoryLog(ttl)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from bailian_geo_agent.agent.server.event_log.redis import RedisLog
        except ImportError:
            raise ConfigurationError(text("stream_url_needs_redis")) from None
        return RedisLog(url, ttl, lease)
    raise ConfigurationError(text("invalid_stream_url", scheme=url.split(":")[0]))
