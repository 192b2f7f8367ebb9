"""What every session store does: a LangGraph checkpointer, one reply at a time per session,
the owners table, and finding idle sessions. One subclass per backend."""

from __future__ import annotations

import enum
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, NamedTuple

from bailian_geo_agent.agent._compat.langgraph import CHECKPOINTS_TABLE
from bailian_geo_agent.agent.errors import SessionBusyError
from bailian_geo_agent.agent.sessions.expiry import idle_sessions
from bailian_geo_agent.agent.sessions.locks import LockTimeout, SessionLocks
from bailian_geo_agent.prompts.catalogue import text
from langgraph.checkpoint.base import BaseCheckpointSaver

OWNERS_TABLE = "geo_agent_session_owners"
"""Which API token (its SHA-256) owns each session, beside the sessions in the same database."""

OWNERS_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {OWNERS_TABLE} "
    "(session_id TEXT PRIMARY KEY, owner TEXT NOT NULL)"
)
OWNERS_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {OWNERS_TABLE}_owner ON {OWNERS_TABLE} (owner)"
)
"""Counting an owner's sessions (the per-token cap) without reading the whole table."""


class Claim(enum.Enum):
    """What claiming a session for an owner found."""

    NEW = "new"
    """The session had no owner; now it is the caller's."""
    OWNED = "owned"
    """The caller owned it already."""
    REFUSED = "refused"
    """Another owner's session."""
    FULL = "full"
    """A new session, but the caller holds as many sessions as allowed: nothing claimed."""


class OwnerSql(NamedTuple):
    """The owners table's statements in one driver's placeholder style."""

    claim: str
    """Make the owner the owner unless there is one; returns the owner now."""
    lookup: str
    delete: str
    insert: str
    """Insert a new session's owner; returns it, or no row when the session has one."""
    insert_capped: str
    """``insert`` only while the owner holds fewer sessions than the third parameter."""
    release: str
    """Delete a session's owner row if it is this owner's."""
    orphans: str
    """The sessions that have an owner row but no checkpoint."""
    forget_orphan: str
    """Delete a session's owner row if the session still has no checkpoint."""


def owner_statements(placeholder: str) -> OwnerSql:
    """The owners-table statements for a driver whose parameter placeholder is
    ``placeholder`` (``?`` or ``%s``)."""
    p, t = placeholder, OWNERS_TABLE
    return OwnerSql(
        claim=f"INSERT INTO {t} (session_id, owner) VALUES ({p}, {p}) ON CONFLICT (session_id) "
        "DO UPDATE SET session_id = excluded.session_id RETURNING owner",
        lookup=f"SELECT owner FROM {t} WHERE session_id = {p}",
        delete=f"DELETE FROM {t} WHERE session_id = {p}",
        insert=f"INSERT INTO {t} (session_id, owner) VALUES ({p}, {p}) "
        "ON CONFLICT (session_id) DO NOTHING RETURNING owner",
        insert_capped=f"INSERT INTO {t} (session_id, owner) SELECT {p}, {p} "
        f"WHERE (SELECT count(*) FROM {t} WHERE owner = {p}) < {p} "
        "ON CONFLICT (session_id) DO NOTHING RETURNING owner",
        release=f"DELETE FROM {t} WHERE session_id = {p} AND owner = {p}",
        orphans=f"SELECT o.session_id FROM {t} o WHERE NOT EXISTS "
        f"(SELECT 1 FROM {CHECKPOINTS_TABLE} c WHERE c.thread_id = o.session_id)",
        forget_orphan=f"DELETE FROM {t} WHERE session_id = {p} AND NOT EXISTS "
        f"(SELECT 1 FROM {CHECKPOINTS_TABLE} c WHERE c.thread_id = {p})",
    )


def busy_message(timeout: float) -> str:
    """The ``SessionBusyError`` text for a lock not free within ``timeout`` seconds."""
    return text("session_busy", timeout=f"{timeout:g}")


class SessionStore:
    """A checkpointer plus per-session serialization and the sessions' owners; subclasses
    choose the backend."""

    orphan_grace = 600.0
    """Seconds an owner row must have been seen without history before it is dropped."""

    def __init__(self, url: str, lock_timeout: float = 60.0) -> None:
        self.url = url
        self.lock_timeout = lock_timeout
        self._local = SessionLocks()
        self._orphans: dict[str, float] = {}  # owner rows without history: when first seen

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
            raise SessionBusyError(busy_message(self.lock_timeout)) from None

    def busy(self, session_id: str) -> bool:
        """Whether this process is writing a reply to ``session_id`` now."""
        return self._local.busy(session_id)

    async def idle_sessions(self, idle_seconds: float) -> list[str]:
        """Ids of the sessions whose newest checkpoint is older than ``idle_seconds``."""
        return await idle_sessions(await self.checkpointer(), idle_seconds)

    async def claim_owner(self, session_id: str, owner: str) -> bool:
        """Make ``owner`` the owner of ``session_id`` unless it has one; whether ``owner``
        owns it now."""
        raise NotImplementedError

    async def claim_session(self, session_id: str, owner: str, max_sessions: int = 0) -> Claim:
        """Claim ``session_id`` for ``owner`` unless another owner has it; a new session only
        while ``owner`` holds fewer than ``max_sessions`` (0: no cap)."""
        raise NotImplementedError

    async def release_owner(self, session_id: str, owner: str) -> None:
        """Drop ``session_id``'s owner row if ``owner`` holds it (a claim whose reply never
        began)."""
        raise NotImplementedError

    async def is_owner(self, session_id: str, owner: str) -> bool:
        """Whether ``owner`` owns ``session_id`` (``False`` for an unknown session)."""
        raise NotImplementedError

    async def forget_owner(self, session_id: str) -> None:
        """Drop ``session_id``'s owner (the session was deleted)."""
        raise NotImplementedError

    async def forget_orphan_owners(self) -> list[str]:
        """Drop the owner rows of sessions that have no history now and had none at a
        previous call at least ``orphan_grace`` seconds ago (a claim whose reply never wrote:
        the process died; rows of sessions deleted before owner rows went with them); a
        session being created now keeps its row. The ids dropped."""
        now = time.monotonic()
        seen = self._orphans
        self._orphans = {sid: seen.get(sid, now) for sid in await self._orphan_owners()}
        stale = sorted(sid for sid, first in self._orphans.items()
                       if now - first >= self.orphan_grace and sid in seen)
        for sid in stale:
            await self._forget_orphan(sid)
            del self._orphans[sid]
        return stale

    async def _orphan_owners(self) -> list[str]:
        """The sessions with an owner but no checkpoint (none for a store that cannot tell)."""
        return []

    async def _forget_orphan(self, session_id: str) -> None:
        """Drop ``session_id``'s owner row if it still has no checkpoint."""

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""
        await self.checkpointer()

    async def aclose(self) -> None:
        """Release connections (reopened on demand)."""


class SqlSessionStore(SessionStore):
    """A store whose owners table lives in its SQL database: the owner calls, each one
    statement (``owner_sql``, from ``owner_statements``) run by the backend's ``_owner_query``."""

    owner_sql: ClassVar[OwnerSql]
    """The owners-table statements in the driver's placeholder style."""

    async def _owner_query(self, sql: str, *params: str | int) -> str | None:
        """Run one owners-table statement: the first column of its row, if any."""
        raise NotImplementedError

    async def claim_owner(self, session_id: str, owner: str) -> bool:
        return await self._owner_query(self.owner_sql.claim, session_id, owner) == owner

    async def claim_session(self, session_id: str, owner: str, max_sessions: int = 0) -> Claim:
        sql = self.owner_sql
        for attempt in range(2):
            found = await self._owner_query(sql.lookup, session_id)
            if found is not None:
                return Claim.OWNED if found == owner else Claim.REFUSED
            if attempt:  # not inserted, and still no owner: the cap refused it
                return Claim.FULL
            if max_sessions:
                added = await self._owner_query(sql.insert_capped, session_id, owner, owner,
                                                max_sessions)
            else:
                added = await self._owner_query(sql.insert, session_id, owner)
            if added is not None:
                return Claim.NEW
        raise AssertionError("unreachable")

    async def release_owner(self, session_id: str, owner: str) -> None:
        await self._owner_query(self.owner_sql.release, session_id, owner)

    async def _owner_rows(self, sql: str) -> list[str]:
        """Run one owners-table query: the first column of every row."""
        raise NotImplementedError

    async def _orphan_owners(self) -> list[str]:
        await self.checkpointer()  # the checkpoints table exists
        return await self._owner_rows(self.owner_sql.orphans)

    async def _forget_orphan(self, session_id: str) -> None:
        await self._owner_query(self.owner_sql.forget_orphan, session_id, session_id)

    async def is_owner(self, session_id: str, owner: str) -> bool:
        return await self._owner_query(self.owner_sql.lookup, session_id) == owner

    async def forget_owner(self, session_id: str) -> None:
        await self._owner_query(self.owner_sql.delete, session_id)

    async def ping(self) -> None:
        await self._owner_query("SELECT 1")


class SessionOwners:
    """Which API token owns which session, as kept by the session store ``store()`` returns
    (asked on each call: the store is opened on first use, and another instance may delete a
    session and its owner at any time, so nothing is cached)."""

    def __init__(self, store: Callable[[], SessionStore]) -> None:
        self._store = store

    async def claim(self, session_id: str, owner: str) -> bool:
        """Make ``owner`` the owner of a new ``session_id``; whether ``owner`` owns it now."""
        return await self._store().claim_owner(session_id, owner)

    async def claim_session(self, session_id: str, owner: str, max_sessions: int = 0) -> Claim:
        """Claim ``session_id`` for ``owner``; a new session only while ``owner`` holds fewer
        than ``max_sessions`` (0: no cap)."""
        return await self._store().claim_session(session_id, owner, max_sessions)

    async def release(self, session_id: str, owner: str) -> None:
        """Undo ``owner``'s claim of a new ``session_id`` whose reply never began."""
        await self._store().release_owner(session_id, owner)

    async def owns(self, session_id: str, owner: str) -> bool:
        """Whether ``owner`` owns ``session_id`` (``False`` for an unknown session)."""
        return await self._store().is_owner(session_id, owner)

    async def forget(self, session_id: str) -> None:
        """Drop ``session_id``'s owner (the session was deleted)."""
        await self._store().forget_owner(session_id)

    async def ping(self) -> None:
        """Raise if the owners table cannot be reached."""
        await self._store().ping()

    async def aclose(self) -> None:
        """Nothing to release: the connections are the store's, closed with it."""
