"""PostgreSQL's per-session order across instances: session-level advisory locks (one writer
per session) and a ticket queue (``geo_agent_session_queue``: a session's messages answered in
the order they arrived, whichever instance received them).

Every lock and ticket of an instance is held on one dedicated connection (session-level locks
are per connection, so one connection serves any number of sessions).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from contextlib import suppress
from typing import Any

from bailian_geo_agent.agent.errors import SessionBusyError, SessionStoreError
from bailian_geo_agent.agent.sessions.stores.base import busy_message
from bailian_geo_agent.prompts.catalogue import text

logger = logging.getLogger(__name__)

SETUP_LOCK_KEY = 0x6765_6F5F_6167_6E74  # "geo_agnt": serializes the schema setup

_TICKET_LOCK_CLASS = 0x6765_6F71  # "geoq": the first key of the (int, int) ticket locks
_TICKET_MOD = 2_147_483_647  # the second key: the ticket modulo this (an int4)

QUEUE_SCHEMA = (
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


class Ticket:
    """A place in a session's queue and the connection holding its lock."""

    def __init__(self, number: int, conn: Any) -> None:
        self.number, self.conn = number, conn


class AdvisoryLocks:
    """Session-level advisory locks and queue tickets, all held on one dedicated connection."""

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
            if await try_lock(conn, key):
                return conn
            if loop.time() >= deadline:
                raise SessionBusyError(busy_message(shown_timeout))
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, 0.1)

    async def take_ticket(self, session_id: str) -> Ticket:
        """A place in ``session_id``'s queue, marked live by an advisory lock on this
        connection (taken in the same statement, so nobody sees the row without its lock)."""
        conn = await self._connection()
        try:
            cursor = await conn.execute(_TAKE_TICKET, (session_id,))
        except Exception:
            if not (conn.closed or conn.broken):
                raise
            # The server restarted since this connection's last use (the first statement of a
            # reply sees it): reconnect once rather than fail the reply.
            conn = await self._connection()
            cursor = await conn.execute(_TAKE_TICKET, (session_id,))
        row = await cursor.fetchone()
        if row is None or not row[1]:  # the ticket's lock key is in use: practically never
            raise SessionStoreError(text("store_unavailable", store="PostgreSQL",
                                         error="session queue"))
        return Ticket(int(row[0]), conn)

    async def wait_turn(
        self, session_id: str, ticket: Ticket, deadline: float, shown_timeout: float
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
                raise SessionBusyError(busy_message(shown_timeout))
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, 0.05)

    async def drop_ticket(self, session_id: str, ticket: Ticket) -> None:
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


async def try_lock(conn: Any, key: int) -> bool:
    """Take the advisory lock ``key`` on ``conn`` if it is free; whether it was."""
    cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    row = await cursor.fetchone()
    value = next(iter(row.values())) if isinstance(row, dict) else row[0] if row else False
    return bool(value)


def advisory_key(session_id: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
