"""Session stores chosen by ``SESSION_STORE_URL``, all LangGraph checkpointers.

- ``sqlite:///path/to/sessions.sqlite`` (default, under the user's data directory): survives
  restarts, nothing to install; one process at a time should write a given file.
- ``memory://``: ephemeral, gone with the process.
- ``postgresql://user:pass@host/db``: shared by several service instances; a PostgreSQL advisory
  lock keeps one writer per session across instances, and a ticket queue
  (``geo_agent_session_queue``) answers a session's messages in the order they arrived, whichever
  instance received them.

Each store also serializes replies per session (``hold``), so a session's history is never
written by two replies at once, while different sessions never wait on each other.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sqlite3
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from bailian_geo_agent.agent.errors import ConfigurationError, SessionBusyError, SessionStoreError
from bailian_geo_agent.agent.sessions.locks import LockTimeout, SessionLocks
from bailian_geo_agent.prompts.catalogue import text
from bailian_geo_agent.tools.security import redact
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow
    from psycopg_pool import AsyncConnectionPool

APP_DIR_NAME = "bailian-geo-agent"

logger = logging.getLogger(__name__)


def default_store_url() -> str:
    """``sqlite:///`` in ``$XDG_DATA_HOME/bailian-geo-agent`` (``~/.local/share`` by default)."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(data_home) / APP_DIR_NAME / 'sessions.sqlite'}"


def _quiet_logger(name: str) -> None:
    """No "last resort" printing to stderr for ``name``; an app's own logging still sees it."""
    log = logging.getLogger(name)
    if not log.handlers:
        log.addHandler(logging.NullHandler())


def display_url(url: str) -> str:
    """``url`` with any password removed, for messages and logs."""
    return redact(url)  # the one redactor masks a URL's password


class InlineSqliteSaver(SqliteSaver):
    """LangGraph's ``SqliteSaver`` with its async methods served by its sync ones.

    A local SQLite write takes well under a millisecond, less than a thread hop, and no worker
    thread is left behind to keep the interpreter alive at exit (as aiosqlite's would).
    """

    async def aget_tuple(self, config: Any) -> Any:
        return self.get_tuple(config)

    async def alist(self, config: Any, **kwargs: Any) -> AsyncIterator[Any]:
        # ``list`` holds the saver's (thread) lock while it iterates: read everything first, or
        # a write by another coroutine between two items would block the event loop for good.
        for item in list(self.list(config, **kwargs)):
            yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Any:
        return self.get_delta_channel_history(config=config, channels=channels)


class SessionStore:
    """A checkpointer plus per-session serialization; subclasses choose the backend."""

    def __init__(self, url: str, lock_timeout: float = 60.0) -> None:
        self.url = url
        self.lock_timeout = lock_timeout
        self._local = SessionLocks()

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        """The checkpointer to use from the running event loop."""
        raise NotImplementedError

    @asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        """Hold ``session_id`` for one reply; ``SessionBusyError`` after ``lock_timeout``."""
        try:
            async with self._local.hold(session_id, self.lock_timeout):
                yield
        except LockTimeout:  # only waiting for the lock; the reply's own timeouts pass through
            raise SessionBusyError(_busy_message(self.lock_timeout)) from None

    def busy(self, session_id: str) -> bool:
        """Whether this process is writing a reply to ``session_id`` now."""
        return self._local.busy(session_id)

    async def aclose(self) -> None:
        """Release connections."""


def _busy_message(timeout: float) -> str:
    return text("session_busy", timeout=f"{timeout:g}")


class MemoryStore(SessionStore):
    """Sessions in this process's memory, or in a checkpointer the caller manages."""

    def __init__(
        self,
        url: str = "memory://",
        lock_timeout: float = 60.0,
        saver: BaseCheckpointSaver[Any] | None = None,
    ) -> None:
        super().__init__(url, lock_timeout)
        self._saver = saver if saver is not None else InMemorySaver()

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        return self._saver


class SqliteStore(SessionStore):
    """Sessions in a local SQLite file (WAL mode).

    URLs follow SQLAlchemy's convention: ``sqlite:///relative/path.sqlite`` (from the working
    directory) and ``sqlite:////absolute/path.sqlite``. An absolute path's folders are created; a
    relative path's folder must exist (else the store-unavailable message names the path).
    """

    def __init__(
        self, url: str, lock_timeout: float = 60.0, *, create_folder: bool = False
    ) -> None:
        super().__init__(url, lock_timeout)
        self._create_folder = create_folder
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigurationError(text("store_url_invalid", url=repr(url)))
        self.path = Path(path).expanduser()
        self._saver: InlineSqliteSaver | None = None

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        if self._saver is None:
            if self._create_folder:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.parent.is_dir():
                raise SessionStoreError(
                    text("store_unavailable", store=str(self.path), error=text("no_such_folder"))
                )
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across crashes in WAL mode
            saver = InlineSqliteSaver(conn)
            saver.setup()
            self._saver = saver
        return self._saver

    async def aclose(self) -> None:
        if self._saver is not None:
            self._saver.conn.close()
            self._saver = None


class PostgresStore(SessionStore):
    """Sessions in PostgreSQL, shared by every instance pointing at the same database.

    Per event loop: a pool for the checkpointer, and one dedicated connection holding the
    advisory locks of every session this instance is writing (session-level locks are
    per connection, so one connection serves any number of sessions: a thousand concurrent
    replies do not need a thousand connections, and no session waits for another's).
    """

    pool_timeout = 10.0
    """Seconds to wait for a pooled connection (or the first one) before giving up."""
    connect_timeout = 5
    """libpq ``connect_timeout`` for every connection."""

    def __init__(self, url: str, lock_timeout: float = 60.0, pool_size: int = 20) -> None:
        super().__init__(url, lock_timeout)
        self.pool_size = pool_size
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PgState] = (
            weakref.WeakKeyDictionary()
        )
        self._opening: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def _open(self) -> _PgState:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        # The pool logs each failed connection attempt as a warning; with no logging set up,
        # Python prints those to stderr. The failure reaches the user once, as its error event.
        _quiet_logger("psycopg.pool")
        kwargs = {
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "connect_timeout": self.connect_timeout,
        }
        pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs=kwargs,
            open=False,
            timeout=self.pool_timeout,
            check=AsyncConnectionPool.check_connection,  # replace connections a restart broke
        )
        try:
            await pool.open(wait=True, timeout=self.pool_timeout)
            # row_factory=dict_row (kwargs above): the pool's connections return dict rows.
            saver = AsyncPostgresSaver(
                cast("AsyncConnectionPool[AsyncConnection[DictRow]]", pool)
            )
            async with pool.connection() as conn:
                # Instances starting together on a new database would race to create the
                # tables (UniqueViolation): one at a time. Polled, not a blocking
                # pg_advisory_lock: a waiting query would hold a snapshot, which the setup's
                # CREATE INDEX CONCURRENTLY waits for (an undetected deadlock).
                while not await _try_lock(conn, _SETUP_LOCK_KEY):
                    await asyncio.sleep(0.05)
                try:
                    await saver.setup()
                    for statement in _QUEUE_SCHEMA:
                        await conn.execute(statement)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
        except BaseException:
            await pool.close()
            raise
        return _PgState(saver, pool, _AdvisoryLocks(self.url, self.connect_timeout))

    async def _state(self) -> _PgState:
        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None:
            opening = self._opening.setdefault(loop, asyncio.Lock())
            async with opening:  # concurrent first replies open one pool, not several
                state = self._per_loop.get(loop)
                if state is None:
                    state = self._per_loop[loop] = await self._open()
        return state

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        return (await self._state()).saver

    @asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        """Take a ticket on arrival, wait until it is the session's lowest live ticket (so
        messages go in arrival order across instances), then the in-process lock and the
        advisory lock; the ticket is given back once the lock is held, or on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_timeout
        locks = (await self._state()).locks
        key = _advisory_key(session_id)
        ticket = await locks.take_ticket(session_id)
        queued = True
        try:
            await locks.wait_turn(session_id, ticket, deadline, self.lock_timeout)
            remaining = max(0.0, deadline - loop.time())
            try:
                async with self._local.hold(session_id, remaining):
                    token = await locks.acquire(
                        key, max(0.0, deadline - loop.time()), self.lock_timeout
                    )
                    try:
                        queued = False
                        await locks.drop_ticket(session_id, ticket)
                        yield
                    finally:
                        await locks.release(key, token)
            except LockTimeout:
                raise SessionBusyError(_busy_message(self.lock_timeout)) from None
        finally:
            if queued:
                # Shielded: a cancelled wait must not leave its ticket in the queue.
                await asyncio.shield(locks.drop_ticket(session_id, ticket))

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        state = self._per_loop.pop(loop, None)
        if state is not None:
            await state.locks.aclose()
            await state.pool.close()


class _PgState:
    def __init__(self, saver: BaseCheckpointSaver[Any], pool: Any, locks: _AdvisoryLocks) -> None:
        self.saver, self.pool, self.locks = saver, pool, locks


class _AdvisoryLocks:
    """Session-level advisory locks, all held on one dedicated connection."""

    def __init__(self, url: str, connect_timeout: int) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._connecting = asyncio.Lock()

    async def _connection(self) -> Any:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        async with self._connecting:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    # Its locks went with it: sessions still running lose cross-instance
                    # protection until they finish (logged, rare: the server went away).
                    logger.warning("advisory lock connection lost; reconnecting")
                    with suppress(Exception):
                        await conn.close()
                from psycopg import AsyncConnection

                conn = self._conn = await AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=self.connect_timeout
                )
        return conn

    async def acquire(self, key: int, timeout: float, shown_timeout: float) -> Any:
        """Take ``key``, polling (no query ever blocks); returns a token for ``release``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.005
        while True:
            conn = await self._connection()
            if await _try_lock(conn, key):
                return conn
            if loop.time() >= deadline:
                raise SessionBusyError(_busy_message(shown_timeout))
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, 0.1)

    async def take_ticket(self, session_id: str) -> _Ticket:
        """A place in ``session_id``'s queue, marked live by an advisory lock on this
        connection (taken in the same statement, so nobody sees the row without its lock)."""
        conn = await self._connection()
        cursor = await conn.execute(_TAKE_TICKET, (session_id,))
        row = await cursor.fetchone()
        if row is None or not row[1]:  # the ticket's lock key is in use: practically never
            raise SessionStoreError(text("store_unavailable", store="PostgreSQL",
                                         error="session queue"))
        return _Ticket(int(row[0]), conn)

    async def wait_turn(
        self, session_id: str, ticket: _Ticket, deadline: float, shown_timeout: float
    ) -> None:
        """Wait until ``ticket`` is the lowest live ticket of ``session_id`` (tickets whose
        lock is gone, as after a crash, do not count); ``SessionBusyError`` at ``deadline``.
        After a reconnection ``ticket`` is replaced in place by a new one (its place is lost)."""
        loop = asyncio.get_running_loop()
        delay = 0.005
        while True:
            conn = await self._connection()
            if conn is not ticket.conn:  # reconnected: the ticket's lock went with the old one
                logger.warning("session queue connection lost; taking a new ticket")
                await self.drop_ticket(session_id, ticket)
                fresh = await self.take_ticket(session_id)
                ticket.number, ticket.conn = fresh.number, fresh.conn
                conn = fresh.conn
            cursor = await conn.execute(_FIRST_LIVE, (session_id, ticket.number))
            row = await cursor.fetchone()
            if row is not None and row[0] == ticket.number:
                return
            if loop.time() >= deadline:
                raise SessionBusyError(_busy_message(shown_timeout))
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, 0.05)

    async def drop_ticket(self, session_id: str, ticket: _Ticket) -> None:
        """Leave the queue, removing any dead tickets ahead (never raises)."""
        conn = ticket.conn
        if conn.closed or conn.broken:
            return  # its lock went with the connection: the row no longer counts
        try:
            await conn.execute(_DROP_TICKET, (session_id, ticket.number, ticket.number,
                                              ticket.number))
        except Exception as exc:  # the server went away: so did the ticket's lock
            logger.warning("leaving a session queue failed: %s", type(exc).__name__)

    async def release(self, key: int, token: Any) -> None:
        if token is not self._conn or token.closed or token.broken:
            return  # that connection is gone, and its locks with it
        try:
            await token.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except Exception as exc:  # the server went away: so did the lock
            logger.warning("releasing a session lock failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()


_SETUP_LOCK_KEY = 0x6765_6F5F_6167_6E74  # "geo_agnt": serializes the schema setup

_TICKET_LOCK_CLASS = 0x6765_6F71  # "geoq": the first key of the (int, int) ticket locks
_TICKET_MOD = 2_147_483_647  # the second key: the ticket modulo this (an int4)

_QUEUE_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS geo_agent_session_queue (
        ticket bigserial PRIMARY KEY,
        session_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE INDEX IF NOT EXISTS geo_agent_session_queue_session
        ON geo_agent_session_queue (session_id, ticket)""",
)

# A ticket is live while its (class, ticket) advisory lock is held in this database: the
# connection that took it is still there. A crashed instance's tickets are skipped, and removed
# by the next waiter of that session that leaves the queue.
_LIVE = f"""EXISTS (SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = {_TICKET_LOCK_CLASS}::oid
      AND l.objid = mod(q.ticket, {_TICKET_MOD})::oid)"""

_TAKE_TICKET = f"""WITH t AS (
    INSERT INTO geo_agent_session_queue (session_id) VALUES (%s) RETURNING ticket)
SELECT ticket, pg_try_advisory_lock({_TICKET_LOCK_CLASS}, mod(ticket, {_TICKET_MOD})::int)
FROM t"""

_FIRST_LIVE = f"""SELECT min(q.ticket) FROM geo_agent_session_queue q
WHERE q.session_id = %s AND (q.ticket = %s OR {_LIVE})"""

_DROP_TICKET = f"""WITH gone AS (
    DELETE FROM geo_agent_session_queue q
    WHERE q.session_id = %s AND (q.ticket = %s OR (q.ticket < %s AND NOT {_LIVE})))
SELECT pg_advisory_unlock({_TICKET_LOCK_CLASS}, mod(%s::bigint, {_TICKET_MOD})::int)"""


class _Ticket:
    """A place in a session's queue and the connection holding its lock."""

    def __init__(self, number: int, conn: Any) -> None:
        self.number, self.conn = number, conn


async def _try_lock(conn: Any, key: int) -> bool:
    cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    row = await cursor.fetchone()
    value = next(iter(row.values())) if isinstance(row, dict) else row[0] if row else False
    return bool(value)


def _advisory_key(session_id: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def open_store(url: str | None, lock_timeout: float = 60.0) -> SessionStore:
    """The store for ``url`` (``None``: the default SQLite file)."""
    url = (url or default_store_url()).strip()
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return MemoryStore(url, lock_timeout)
    if scheme == "sqlite":
        path = Path(url[len("sqlite:///") :]).expanduser()
        # Folders of the default or an absolute path are created; never below the working
        # directory by surprise (a relative path's folder must exist).
        return SqliteStore(url, lock_timeout, create_folder=path.is_absolute())
    if scheme in ("postgres", "postgresql"):
        return PostgresStore(url, lock_timeout)
    raise ConfigurationError(text("store_url_invalid", url=repr(display_url(url))))
