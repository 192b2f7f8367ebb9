"""Finding sessions nobody has written to for a while, through any LangGraph checkpointer.

``idle_sessions`` lists every checkpoint through the public API (loading each one). The SQL
stores know better: one ``GROUP BY`` finds each session's newest checkpoint id, and LangGraph's
checkpoint ids are UUIDv6, ordered by and carrying their creation time; ``idle_by_newest``
turns those ids into the idle sessions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

_UUID_EPOCH = 0x01B21DD213814000  # 100-ns intervals from 1582-10-15 to 1970-01-01


async def idle_sessions(checkpointer: Any, idle_seconds: float) -> list[str]:
    """Ids of the sessions whose newest checkpoint is older than ``idle_seconds``."""
    cutoff = _cutoff(idle_seconds)
    newest: dict[str, datetime] = {}
    async for item in checkpointer.alist(None):
        thread_id = item.config["configurable"]["thread_id"]
        stamp = _timestamp(item.checkpoint.get("ts"))
        if stamp is not None and (thread_id not in newest or stamp > newest[thread_id]):
            newest[thread_id] = stamp
    return [thread_id for thread_id, stamp in newest.items() if stamp < cutoff]


async def idle_by_newest(
    checkpointer: Any, newest_ids: Iterable[tuple[str, str]], idle_seconds: float
) -> list[str]:
    """The sessions of ``newest_ids`` (``(thread_id, newest checkpoint id)`` pairs) idle for
    longer than ``idle_seconds``."""
    cutoff = _cutoff(idle_seconds)
    idle = []
    for thread_id, checkpoint_id in newest_ids:
        stamp = _uuid_time(checkpoint_id)
        if stamp is None:  # not a UUIDv6: ask the checkpoint itself
            config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
            item = await checkpointer.aget_tuple(config)
            stamp = _timestamp(item.checkpoint.get("ts")) if item is not None else None
        if stamp is not None and stamp < cutoff:
            idle.append(thread_id)
    return idle


async def still_idle(checkpointer: Any, session_id: str, idle_seconds: float) -> bool:
    """Whether ``session_id``'s newest checkpoint is (still) older than ``idle_seconds``."""
    newest = await checkpointer.aget_tuple({"configurable": {"thread_id": session_id}})
    stamp = _timestamp(newest.checkpoint.get("ts")) if newest is not None else None
    return stamp is not None and stamp < _cutoff(idle_seconds)


def _cutoff(idle_seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=idle_seconds)


def _uuid_time(value: str) -> datetime | None:
    try:
        uid = UUID(value)
    except ValueError:
        return None
    if uid.version != 6:
        return None
    ticks = ((uid.int >> 80) << 12) | ((uid.int >> 64) & 0x0FFF)
    return datetime.fromtimestamp((ticks - _UUID_EPOCH) / 1e7, UTC)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
