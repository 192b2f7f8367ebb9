"""What every session store does: a LangGraph checkpointer, one reply at a time per session,
the owners table, and finding idle sessions. One subclass per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

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
_CLAIM = (
    f"INSERT INTO {OWNERS_TABLE} (session_id, owner) VALUES ({{p}}, {{p}}) "
    "ON CONFLICT (session_id) DO UPDATE SET session_id = excluded.session_id RETURNING owner"
)


def owner_statements(placeholder: str) -> tuple[str, str, str]:
    """The claim (returns the owner now), lookup and delete statements for a driver whose
    parameter placeholder is ``placeholder`` (``?`` or ``%s``)."""
    p = placeholder
    return (
        _CLAIM.format(p=p),
        f"SELECT owner FROM {OWNERS_TABLE} WHERE session_id = {p}",
        f"DELETE FROM {OWNERS_TABLE} WHERE session_id = {p}",
    )


def busy_message(timeout: float) -> str:
    """The ``SessionBusyError`` text for a lock not free within ``timeout`` seconds."""
    return text("session_busy", timeout=f"{timeout:g}")


class SessionStore:
    """A checkpointer plus per-session serialization and the sessions' owners; subclasses
    choose the backend."""

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

    async def is_owner(self, session_id: str, owner: str) -> bool:
        """Whether ``owner`` owns ``session_id`` (``False`` for an unknown session)."""
        raise NotImplementedError

    async def forget_owner(self, session_id: str) -> None:
        """Drop ``session_id``'s owner (the session was deleted)."""
        raise NotImplementedError

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""
        await self.checkpointer()

    async def aclose(self) -> None:
        """Release connections (reopened on demand)."""


class SqlSessionStore(SessionStore):
    """A store whose owners table lives in its SQL database: the owner calls, each one
    statement (``owner_sql``, from ``owner_statements``) run by the backend's ``_owner_query``."""

    owner_sql: ClassVar[tuple[str, str, str]]
    """The claim, lookup and delete statements in the driver's placeholder style."""

    async def _owner_query(self, sql: str, *params: str) -> str | None:
        """Run one owners-table statement: the first column of its row, if any."""
        raise NotImplementedError

    async def claim_owner(self, session_id: str, owner: str) -> bool:
        return await self._owner_query(self.owner_sql[0], session_id, owner) == owner

    async def is_owner(self, session_id: str, owner: str) -> bool:
        return await self._owner_query(self.owner_sql[1], session_id) == owner

    async def forget_owner(self, session_id: str) -> None:
        await self._owner_query(self.owner_sql[2], session_id)

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
