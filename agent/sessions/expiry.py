"""Finding sessions nobody has written to for a while, through any LangGraph checkpointer.

LangGraph's checkpoint ids are UUIDv6, ordered by and carrying their creation time, so on the
SQL-backed savers one ``GROUP BY`` query finds each session's newest checkpoint without loading
(and deserializing) every checkpoint ever stored. Other checkpointers are listed in full.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from bailian_geo_agent.agent._compat.langgraph import postgres_cursor

_NEWEST_SQL = "SELECT thread_id, MAX(checkpoint_id) AS newest FROM checkpoints GROUP BY thread_id"
_UUID_EPOCH = 0x01B21DD213814000  # 100-ns intervals from 1582-10-15 to 1970-01-01


async def idle_sessions(checkpointer: Any, idle_seconds: float) -> list[str]:
    """Ids of the sessions whose newest checkpoint is older than ``idle_seconds``."""
    cutoff = datetime.now(UTC) - timedelta(seconds=idle_seconds)
    newest = await _newest_by_sql(checkpointer)
    if newest is None:
        newest = {}
        async for item in checkpointer.alist(None):
            thread_id = item.config["configurable"]["thread_id"]
            stamp = _timestamp(item.checkpoint.get("ts"))
            if stamp is not None and (thread_id not in newest or stamp > newest[thread_id]):
                newest[thread_id] = stamp
    return [thread_id for thread_id, stamp in newest.items() if stamp < cutoff]


async def _newest_by_sql(checkpointer: Any) -> dict[str, datetime] | None:
    """``{thread_id: newest checkpoint time}`` straight from the SQL table, or ``None``."""
    rows: list[tuple[str, str]]
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError:  # pragma: no cover - the SQLite saver is a dependency
        SqliteSaver = None  # type: ignore[misc, assignment]  # None: the class is missing
    if SqliteSaver is not None and isinstance(checkpointer, SqliteSaver):
        with checkpointer.cursor(transaction=False) as cur:
            rows = [(str(t), str(c)) for t, c in cur.execute(_NEWEST_SQL).fetchall()]
    else:
        if not type(checkpointer).__module__.startswith("langgraph.checkpoint.postgres"):
            return None  # (and no import of the PostgreSQL stack for other stores)
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError:
            return None
        if not isinstance(checkpointer, AsyncPostgresSaver):
            return None
        async with postgres_cursor(checkpointer) as cur:
            await cur.execute(_NEWEST_SQL)
            rows = [(str(r["thread_id"]), str(r["newest"])) for r in await cur.fetchall()]
    newest: dict[str, datetime] = {}
    for thread_id, checkpoint_id in rows:
        stamp = _uuid_time(checkpoint_id)
        if stamp is None:  # not a UUIDv6: ask the checkpoint itself
            config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
            item = await checkpointer.aget_tuple(config)
            stamp = _timestamp(item.checkpoint.get("ts")) if item is not None else None
        if stamp is not None:
            newest[thread_id] = stamp
    return newest


def _uuid_time(value: str) -> datetime | None:
    try:
        uid = UUID(value)
    except ValueError:
        return None
    if uid.version != 6:
        return None
    ticks = ((uid.int >> 80) << 12) | ((uid.int >> 64) & 0x0FFF)
    return datetime.fromtimestamp((ticks - _UUID_EPOCH) / 1e7, UTC)


async def still_idle(checkpointer: Any, session_id: str, idle_seconds: float) -> bool:
    """Whether ``session_id``'s newest checkpoint is (still) older than ``idle_seconds``."""
    newest = await checkpointer.aget_tuple({"configurable": {"thread_id": session_id}})
    stamp = _timestamp(newest.checkpoint.get("ts")) if newest is not None else None
    return stamp is not None and stamp < datetime.now(UTC) - timedelta(
        seconds=idle_seconds
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
