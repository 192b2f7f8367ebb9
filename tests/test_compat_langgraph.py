"""The LangGraph storage ``agent._compat.langgraph`` reads directly still has the shape we rely
on, checked on the upstream classes themselves (``SqliteSaver``, ``BasePostgresSaver``), so an
upstream release that changes it fails here, by name.

Each fence is also shown failing against a deliberately changed upstream.
"""

from __future__ import annotations

import inspect
import re
import sqlite3
from collections.abc import Sequence
from uuid import UUID

import pytest
from bailian_geo_agent.agent._compat.langgraph import (
    CHECKPOINT_COLUMNS,
    CHECKPOINTS_TABLE,
    newest_checkpoints_sqlite,
)
from bailian_geo_agent.agent.sessions.stores.sqlite import ThreadedSqliteSaver
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver

SQLITE_SETUP = "langgraph.checkpoint.sqlite.SqliteSaver.setup"
POSTGRES_MIGRATIONS = "langgraph.checkpoint.postgres.base.BasePostgresSaver.MIGRATIONS"


class FenceBroken(AssertionError):
    """An upstream definition we read no longer matches."""


def check_columns(columns: Sequence[str], where: str) -> None:
    missing = [c for c in CHECKPOINT_COLUMNS if c not in columns]
    if missing:
        raise FenceBroken(f"{where}: table {CHECKPOINTS_TABLE!r} lacks {missing}")


def sqlite_columns(saver_class: type[SqliteSaver]) -> list[str]:
    """The ``checkpoints`` columns ``saver_class.setup()`` creates, read back from SQLite."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    saver_class(conn).setup()
    rows = conn.execute(f"PRAGMA table_info({CHECKPOINTS_TABLE})").fetchall()
    return [row[1] for row in rows]


def postgres_columns(migrations: Sequence[str]) -> list[str]:
    """The ``checkpoints`` columns the migrations create (and do not rename or drop later)."""
    create = re.compile(rf"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} \((.*)\);?\s*$",
                        re.S | re.I)
    columns: list[str] = []
    for statement in migrations:
        found = create.search(statement.strip())
        if found:
            columns = [line.split()[0] for line in found.group(1).splitlines()
                       if line.strip() and not line.strip().upper().startswith("PRIMARY")]
        altered = re.search(rf"ALTER TABLE {CHECKPOINTS_TABLE}\s+(RENAME|DROP)\s+(COLUMN\s+)?(\w+)",
                            statement, re.I)
        if altered and altered.group(3) in columns:
            columns.remove(altered.group(3))
    return columns


def test_sqlite_saver_creates_the_checkpoints_table_we_read() -> None:
    check_columns(sqlite_columns(SqliteSaver), SQLITE_SETUP)


def test_postgres_migrations_create_the_checkpoints_table_we_read() -> None:
    check_columns(postgres_columns(BasePostgresSaver.MIGRATIONS), POSTGRES_MIGRATIONS)


def test_the_newest_checkpoint_query_on_the_upstream_saver() -> None:
    """Our query finds each thread's newest checkpoint as ``SqliteSaver.get_tuple`` does:
    checkpoint ids are UUIDv6, so the greatest is the newest."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    saver = SqliteSaver(conn)
    for thread in ("a", "b"):
        config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
        for _ in range(3):
            config = saver.put(config, empty_checkpoint(), {}, {})
    newest = dict(newest_checkpoints_sqlite(conn))
    for thread in ("a", "b"):
        latest = saver.get_tuple({"configurable": {"thread_id": thread}})
        assert latest is not None
        assert newest[thread] == latest.checkpoint["id"]
    assert UUID(empty_checkpoint()["id"]).version == 6


def test_the_threaded_saver_covers_every_async_method_sqlite_saver_leaves_out() -> None:
    """``SqliteSaver`` defines its async methods only to raise; ours run its sync ones on the
    store's thread, positionally, so their parameters must stay in this order."""
    upstream_async = {name for name, value in vars(SqliteSaver).items()
                      if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value)}
    ours = set(vars(ThreadedSqliteSaver))
    assert upstream_async <= ours, f"SqliteSaver's new async methods: {upstream_async - ours}"
    expected = {"get_tuple": ["config"], "list": ["config"],
                "put": ["config", "checkpoint", "metadata", "new_versions"],
                "put_writes": ["config", "writes", "task_id", "task_path"],
                "delete_thread": ["thread_id"]}
    for name, params in expected.items():
        positional = [p.name for p in inspect.signature(getattr(SqliteSaver, name)).parameters
                      .values() if p.kind is p.POSITIONAL_OR_KEYWORD][1:]
        assert positional == params, f"langgraph.checkpoint.sqlite.SqliteSaver.{name}"


# -- each fence failing against a deliberately changed upstream ------------------------------


class RenamedTableSaver(SqliteSaver):
    """An upstream release that renamed the table."""

    def setup(self) -> None:
        self.conn.execute("CREATE TABLE checkpoints_v2 (thread_id TEXT, checkpoint_id TEXT)")
        self.is_setup = True


class RenamedColumnSaver(SqliteSaver):
    """An upstream release that renamed ``thread_id``."""

    def setup(self) -> None:
        self.conn.execute("CREATE TABLE checkpoints (thread TEXT, checkpoint_id TEXT)")
        self.is_setup = True


@pytest.mark.parametrize("changed", [RenamedTableSaver, RenamedColumnSaver])
def test_the_sqlite_fence_fails_on_a_changed_upstream(changed: type[SqliteSaver]) -> None:
    with pytest.raises(FenceBroken, match=re.escape(SQLITE_SETUP)):
        check_columns(sqlite_columns(changed), SQLITE_SETUP)


@pytest.mark.parametrize("change", [
    lambda m: [s.replace("checkpoint_id TEXT NOT NULL", "step_id TEXT NOT NULL") for s in m],
    lambda m: [s.replace("EXISTS checkpoints (", "EXISTS checkpoints_v2 (") for s in m],
    lambda m: [*m, "ALTER TABLE checkpoints DROP COLUMN thread_id;"],
])
def test_the_postgres_fence_fails_on_a_changed_upstream(change) -> None:
    with pytest.raises(FenceBroken, match=re.escape(POSTGRES_MIGRATIONS)):
        check_columns(postgres_columns(change(BasePostgresSaver.MIGRATIONS)),
                      POSTGRES_MIGRATIONS)
