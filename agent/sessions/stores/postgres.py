"""``postgresql://``: sessions and their owners in PostgreSQL, shared by every instance.

A PostgreSQL advisory lock keeps one writer per session across instances, and a ticket queue
answers a session's messages in the order they arrived (``pg_queue``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from bailian_geo_agent.agent._compat.langgraph import newest_checkpoints_postgres
from bailian_geo_agent.agent.errors import SessionBusyError
from bailian_geo_agent.agent.sessions.expiry import idle_by_newest
from bailian_geo_agent.agent.sessions.locks import LockTimeout
from bailian_geo_agent.agent.sessions.stores.base import (
    OWNERS_INDEX,
    OWNERS_SCHEMA,
    SqlSessionStore,
    busy_message,
    owner_statements,
)
from bailian_geo_agent.agent.sessions.stores.pg_queue import (
    QUEUE_SCHEMA,
    SETUP_LOCK_KEY,
    AdvisoryLocks,
    advisory_key,
    try_lock,
)
from langgraph.checkpoint.base import BaseCheckpointSaver

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow
    from psycopg_pool import AsyncConnectionPool



def _quiet_logger(name: str) -> None:
    """No "last resort" printing to stderr for ``name``; an app's own logging still sees it."""
    log = logging.getLogger(name)
    if not log.handlers:
        log.addHandler(logging.NullHandler())


class _PgState:
    def __init__(self, saver: BaseCheckpointSaver[Any], pool: Any, locks: AdvisoryLocks) -> None:
        self.saver, self.pool, self.locks = saver, pool, locks


class PostgresStore(SqlSessionStore):
    """Sessions in PostgreSQL, shared by every instance pointing at the same database.

    Per event loop: a pool for the checkpointer and the owners table, and one dedicated
    connection holding the advisory locks of every session this instance is writing (a
    thousand concurrent replies do not need a thousand connections, and no session waits for
    another's).
    """

    owner_sql = owner_statements("%s")

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
                while not await try_lock(conn, SETUP_LOCK_KEY):
                    await asyncio.sleep(0.05)
                try:
                    await saver.setup()
                    for statement in (*QUEUE_SCHEMA, OWNERS_SCHEMA, OWNERS_INDEX):
                        await conn.execute(statement)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
        except BaseException:
            await pool.close()
            raise
        return _PgState(saver, pool, AdvisoryLocks(self.url, self.connect_timeout))

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
        key = advisory_key(session_id)
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
                raise SessionBusyError(busy_message(self.lock_timeout)) from None
        finally:
            if queued:
                # Shielded: a cancelled wait must not leave its ticket in the queue.
                await asyncio.shield(locks.drop_ticket(session_id, ticket))

    async def idle_sessions(self, idle_seconds: float) -> list[str]:
        state = await self._state()
        async with state.pool.connection() as conn:
            rows = await newest_checkpoints_postgres(conn)
        return await idle_by_newest(state.saver, rows, idle_seconds)

    async def _owner_query(self, sql: str, *params: str | int) -> str | None:
        async with (await self._state()).pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            row = await cursor.fetchone() if cursor.description else None
        return str(next(iter(row.values()))) if row else None

    async def _owner_rows(self, sql: str) -> list[str]:
        async with (await self._state()).pool.connection() as conn:
            cursor = await conn.execute(sql)
            rows = await cursor.fetchall()
        return [str(next(iter(row.values()))) for row in rows]

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        state = self._per_loop.pop(loop, None)
        if state is not None:
            await state.locks.aclose()
            await state.pool.close()
