"""LangGraph's checkpoint table, read directly for the one question its public API answers
only by loading every checkpoint: each session's newest checkpoint (idle-session expiry).

The table is the one ``langgraph.checkpoint.sqlite.SqliteSaver.setup`` and
``langgraph.checkpoint.postgres.base.BasePostgresSaver.MIGRATIONS`` create: ``checkpoints``,
with ``thread_id`` (the session) and ``checkpoint_id`` (UUIDv6, so the greatest is the newest).
``tests/test_compat_langgraph.py`` checks both upstream definitions, by name.
"""

from __future__ import annotations

import sqlite3
from typing import Any

CHECKPOINTS_TABLE = "checkpoints"
CHECKPOINT_COLUMNS = ("thread_id", "checkpoint_id")
NEWEST_CHECKPOINTS_SQL = (
    "SELECT thread_id, MAX(checkpoint_id) AS newest "
    f"FROM {CHECKPOINTS_TABLE} GROUP BY thread_id"
)


def newest_checkpoints_sqlite(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """``(thread_id, newest checkpoint id)`` of every session in a ``SqliteSaver``'s file."""
    return [(str(t), str(c)) for t, c in conn.execute(NEWEST_CHECKPOINTS_SQL).fetchall()]


async def newest_checkpoints_postgres(conn: Any) -> list[tuple[str, str]]:
    """The same from an ``AsyncPostgresSaver``'s database (``conn``: a psycopg async
    connection returning dict rows)."""
    cursor = await conn.execute(NEWEST_CHECKPOINTS_SQL)
    return [(str(r["thread_id"]), str(r["newest"])) for r in await cursor.fetchall()]
