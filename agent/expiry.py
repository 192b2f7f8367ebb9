"""Finding sessions nobody has written to for a while, through any LangGraph checkpointer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any


async def idle_sessions(checkpointer: Any, idle_seconds: float) -> list[str]:
    """Ids of the sessions whose newest checkpoint is older than ``idle_seconds``."""
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=idle_seconds)
    newest: dict[str, datetime] = {}
    async for item in checkpointer.alist(None):
        thread_id = item.config["configurable"]["thread_id"]
        stamp = _timestamp(item.checkpoint.get("ts"))
        if stamp is not None and (thread_id not in newest or stamp > newest[thread_id]):
            newest[thread_id] = stamp
    return [thread_id for thread_id, stamp in newest.items() if stamp < cutoff]


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
