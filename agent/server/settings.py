"""``ServerSettings``: the HTTP service's settings (defined in ``agent.serving``, which
``geo-agent mcp`` reads too)."""

from __future__ import annotations

from bailian_geo_agent.agent.serving import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONCURRENT_REPLIES,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_SSE_PING_SECONDS,
    DEFAULT_STREAM_LEASE,
    DEFAULT_STREAM_TTL,
    ServerSettings,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_CONCURRENT_REPLIES",
    "DEFAULT_REQUESTS_PER_MINUTE",
    "DEFAULT_SSE_PING_SECONDS",
    "DEFAULT_STREAM_LEASE",
    "DEFAULT_STREAM_TTL",
    "ServerSettings",
]
