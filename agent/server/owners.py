"""Who owns each session: a small table beside the sessions, keyed by session id.

A session belongs to the token (its SHA-256) whose request created it. The table lives in the
same database as the sessions (``SESSION_STORE_URL``), so several server instances on one
PostgreSQL agree on owners; ``memory://`` keeps it in the process.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from bailian_geo_agent.agent.sessions.store import default_store_url

TABLE = "geo_agent_session_owners"
_CLAIM = (
    f"INSERT INTO {TABLE} (session_id, owner) VALUES ({{p}}, {{p}}) "
    "ON CONFLICT (session_id) DO UPDATE SET session_id = excluded.session_id RETURNING owner"
)


def store_url(configured: str | None) -> str:
    """The session store's URL (the service's default SQLite file when unset)."""
    return configured or default_store_url()


class SessionOwners:
    """Owners kept in this process (``memory://``); the base of the database-backed kinds.

    Nothing is cached: another instance may delete a session (and its owner) at any time.
    """

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    async def claim(self, session_id: str, owner: str) -> bool:
        """Make ``owner`` the owner of a new ``session_id``; whether ``owner`` owns it now."""
        return await self._claim(session_id, owner) == owner

    async def owns(self, session_id: str, owner: str) -> bool:
        """Whether ``owner`` owns ``session_id`` (``False`` for an unknown session)."""
        return await self._lookup(session_id) == owner

    async def forget(self, session_id: str) -> None:
        """Drop ``session_id``'s owner (the session was deleted)."""
        await self._delete(session_id)

    async def ping(self) -> None:
        """Raise if the table cannot be reached."""

    async def aclose(self) -> None:
        """Release connections (reopened on demand)."""

    async def _claim(self, session_id: str, owner: str) -> str:
        return self._owners.setdefault(session_id, owner)

    async def _lookup(self, session_id: str) -> str | None:
        return self._owners.get(session_id)

    async def _delete(self, session_id: str) -> None:
        self._owners.pop(session_id, None)


class SqliteOwners(SessionOwners):
    """The owner table in the sessions' SQLite file."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10,
                                   isolation_level=None)
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} "
                         "(session_id TEXT PRIMARY KEY, owner TEXT NOT NULL)")
            self._conn = conn
        return self._conn

    async def _claim(self, session_id: str, owner: str) -> str:
        owner_now: str = self._db().execute(_CLAIM.format(p="?"), (session_id, owner)).fetchone()[0]
        return owner_now

    async def _lookup(self, session_id: str) -> str | None:
        row = self._db().execute(
            f"SELECT owner FROM {TABLE} WHERE session_id = ?", (session_id,)).fetchone()
        return row[0] if row else None

    async def _delete(self, session_id: str) -> None:
        self._db().execute(f"DELETE FROM {TABLE} WHERE session_id = ?", (session_id,))

    async def ping(self) -> None:
        self._db().execute("SELECT 1").fetchone()

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresOwners(SessionOwners):
    """The owner table in the sessions' PostgreSQL database (shared by every instance)."""

    def __init__(self, url: str, pool_size: int = 4) -> None:
        super().__init__()
        self.url = url
        self._pool_size = pool_size
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _connection(self) -> Any:
        async with self._opening:
            if self._pool is None:
                from psycopg_pool import AsyncConnectionPool

                pool = AsyncConnectionPool(
                    self.url, min_size=1, max_size=self._pool_size, open=False,
                    kwargs={"autocommit": True, "connect_timeout": 10})
                await pool.open(wait=True, timeout=10)
                async with pool.connection() as conn:
                    await conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} "
                                       "(session_id TEXT PRIMARY KEY, owner TEXT NOT NULL)")
                self._pool = pool
        return self._pool.connection()

    async def _claim(self, session_id: str, owner: str) -> str:
        async with await self._connection() as conn:
            cur = await conn.execute(_CLAIM.format(p="%s"), (session_id, owner))
            owner_now: str = (await cur.fetchone())[0]
            return owner_now

    async def _lookup(self, session_id: str) -> str | None:
        async with await self._connection() as conn:
            cur = await conn.execute(
                f"SELECT owner FROM {TABLE} WHERE session_id = %s", (session_id,))
            row = await cur.fetchone()
            return row[0] if row else None

    async def _delete(self, session_id: str) -> None:
        async with await self._connection() as conn:
            await conn.execute(f"DELETE FROM {TABLE} WHERE session_id = %s", (session_id,))

    async def ping(self) -> None:
        async with await self._connection() as conn:
            await conn.execute("SELECT 1")

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def open_owners(url: str | None) -> SessionOwners:
    """The owner table for the session store at ``url`` (``SESSION_STORE_URL``)."""
    url = store_url(url)
    if url.startswith("sqlite:///"):
        return SqliteOwners(url[len("sqlite:///"):])
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresOwners(url)
    return SessionOwners()
