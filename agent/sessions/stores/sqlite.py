"""``sqlite:///``: sessions in a local SQLite file (WAL mode), the default store.

The event loop never waits for the file: a call runs on the loop only when SQLite can answer at
once (its own connection, ``busy_timeout`` 0); a file locked by another process (a
``geo-agent ask`` writing the default file) sends it, and every call after it until the queue is
empty, to the store's worker thread, which waits up to the busy timeout while the server goes on
answering everything else. Uncontended, a reply pays no thread hand-off (four calls before its
first chunk); contended, the calls keep their order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bailian_geo_agent.agent._compat.langgraph import newest_checkpoints_sqlite
from bailian_geo_agent.agent.errors import ConfigurationError, SessionStoreError
from bailian_geo_agent.agent.sessions.expiry import idle_by_newest
from bailian_geo_agent.agent.sessions.stores.base import (
    OWNERS_INDEX,
    OWNERS_SCHEMA,
    SqlSessionStore,
    owner_statements,
)
from bailian_geo_agent.agent.sessions.stores.urls import sqlite_path
from bailian_geo_agent.prompts.catalogue import text
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

T = TypeVar("T")

BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another connection's lock before failing (on the worker thread)."""

_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes, e.g. BUSY_SNAPSHOT)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """The file is locked by another connection (the call can run again, elsewhere)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _BUSY_CODES


def _query(conn: sqlite3.Connection, sql: str, params: Sequence[str | int]) -> str | None:
    """One owners-table statement in its own transaction: the first column of its row."""
    try:
        row = conn.execute(sql, tuple(params)).fetchone()
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return str(row[0]) if row else None


class ThreadedSqliteSaver(SqliteSaver):
    """LangGraph's ``SqliteSaver`` whose async methods run its sync ones (by name) through
    ``run``: on the loop when SQLite answers at once, else on the store's worker thread."""

    def __init__(
        self, conn: sqlite3.Connection, run: Callable[..., Awaitable[Any]]
    ) -> None:
        super().__init__(conn)
        self._run = run

    def list_all(self, config: Any, kwargs: dict[str, Any]) -> list[Any]:
        """``list`` read in one go (it holds the saver's lock while it iterates)."""
        return list(self.list(config, **kwargs))

    async def aget_tuple(self, config: Any) -> Any:
        return await self._run("get_tuple", config)

    async def alist(self, config: Any, **kwargs: Any) -> AsyncIterator[Any]:
        for item in await self._run("list_all", config, kwargs):
            yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return await self._run("put", config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._run("put_writes", config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._run("delete_thread", thread_id)


class SqliteStore(SqlSessionStore):
    """Sessions and their owners in a local SQLite file (WAL mode).

    URLs follow SQLAlchemy's convention: ``sqlite:///relative/path.sqlite`` (from the working
    directory) and ``sqlite:////absolute/path.sqlite``. With ``create_folder``, the file's
    folders are created; otherwise the folder must exist. Either way a path that cannot hold
    the file gives the store-unavailable message naming it.
    """

    owner_sql = owner_statements("?")

    def __init__(
        self, url: str, lock_timeout: float = 60.0, *, create_folder: bool = False
    ) -> None:
        super().__init__(url, lock_timeout)
        path = sqlite_path(url)
        if path is None:
            raise ConfigurationError(text("store_url_invalid", url=repr(url)))
        self.path = path
        self._create_folder = create_folder
        self._worker: ThreadPoolExecutor | None = None
        self._saver: ThreadedSqliteSaver | None = None
        self._inline: ThreadedSqliteSaver | None = None  # the loop's connection (WAL only)
        self._queued = 0  # calls on their way through the worker: later ones queue behind

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the worker thread (one at a time, in order)."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="geo-agent-sqlite")
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    async def _queue(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the worker thread, in order with the calls queued before it."""
        self._queued += 1
        try:
            return await self._call(fn, *args)
        finally:
            self._queued -= 1

    async def _run(self, name: str, *args: Any) -> Any:
        """The saver's method ``name``: on the loop when SQLite answers at once (nothing queued
        and the file not locked), else on the worker thread."""
        saver = await self.checkpointer()
        assert isinstance(saver, ThreadedSqliteSaver)
        if self._inline is not None and not self._queued:
            try:
                return getattr(self._inline, name)(*args)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
        return await self._queue(getattr(saver, name), *args)

    def _open(self) -> ThreadedSqliteSaver:
        """The saver, its file opened and its tables made (on the worker thread)."""
        if self._saver is None:
            self._prepare_folder()
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_TIMEOUT)
            try:
                wal = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
                conn.execute("PRAGMA synchronous=NORMAL")  # durable across crashes in WAL mode
                saver = ThreadedSqliteSaver(conn, self._run)
                saver.setup()
                conn.execute(OWNERS_SCHEMA)
                conn.execute(OWNERS_INDEX)
                conn.commit()
                # The loop's own connection, which never waits (busy_timeout 0). Only in WAL
                # mode: there a locked file fails a write at its first statement, never at
                # COMMIT, so a refused call has written nothing and can run again elsewhere.
                inline = None
                if wal:
                    loop_conn = sqlite3.connect(self.path, check_same_thread=False, timeout=0)
                    loop_conn.execute("PRAGMA synchronous=NORMAL")
                    inline = ThreadedSqliteSaver(loop_conn, self._run)
                    inline.is_setup = True
            except BaseException:
                conn.close()
                raise
            self._saver, self._inline = saver, inline
        return self._saver

    def _prepare_folder(self) -> None:
        folder = self.path.parent
        try:
            if self._create_folder:
                folder.mkdir(parents=True, exist_ok=True)
            elif not folder.is_dir():
                raise FileNotFoundError
        except OSError as exc:
            raise SessionStoreError(
                text("store_unavailable", store=str(self.path), error=_folder_problem(folder, exc))
            ) from None

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        if self._saver is not None and self._worker is not None:
            return self._saver
        return await self._call(self._open)

    async def idle_sessions(self, idle_seconds: float) -> list[str]:
        saver = await self.checkpointer()
        assert isinstance(saver, ThreadedSqliteSaver)
        rows = await self._call(newest_checkpoints_sqlite, saver.conn)
        return await idle_by_newest(saver, rows, idle_seconds)

    async def _owner_query(self, sql: str, *params: str | int) -> str | None:
        """One owners-table statement: on the loop when SQLite answers at once, else queued."""
        saver = await self.checkpointer()
        if self._inline is not None and not self._queued:
            try:
                return _query(self._inline.conn, sql, params)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
        return await self._queue(_query, saver.conn, sql, params)  # type: ignore[attr-defined]

    async def _owner_rows(self, sql: str) -> list[str]:
        saver = await self.checkpointer()
        conn = saver.conn  # type: ignore[attr-defined]
        return await self._queue(lambda: [str(row[0]) for row in conn.execute(sql).fetchall()])

    async def aclose(self) -> None:
        worker, self._worker = self._worker, None
        saver, self._saver = self._saver, None
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.conn.close()
        if worker is None:
            return
        if saver is not None:
            await asyncio.get_running_loop().run_in_executor(worker, saver.conn.close)
        worker.shutdown(wait=False)


def _folder_problem(folder: Path, exc: OSError) -> str:
    """What keeps ``folder`` from holding the file, in the user's words (no errno text)."""
    blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return text("not_a_folder", path=str(blocker))
    if isinstance(exc, FileNotFoundError):
        return text("no_such_folder")
    if isinstance(exc, PermissionError):
        return text("permission_denied")
    return type(exc).__name__
