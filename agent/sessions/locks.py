"""Per-session serialization inside one process: one reply at a time per session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class LockTimeout(TimeoutError):
    """A session's lock was not free in time."""


class SessionLocks:
    """FIFO locks keyed by session id, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, session_id: str, timeout: float | None = None) -> AsyncIterator[None]:
        """Hold ``session_id``'s lock; waiters go in arrival order.

        Raises ``LockTimeout`` when the lock is not free within ``timeout`` seconds.
        """
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        self._users[session_id] = self._users.get(session_id, 0) + 1
        try:
            if timeout is None:
                await lock.acquire()
            else:  # even when free: a released lock still goes to the waiters already queued
                try:
                    await asyncio.wait_for(lock.acquire(), timeout)
                except TimeoutError:
                    raise LockTimeout from None
            try:
                yield
            finally:
                lock.release()
        finally:
            remaining = self._users[session_id] - 1
            if remaining:
                self._users[session_id] = remaining
            else:
                del self._users[session_id]
                del self._locks[session_id]

    def busy(self, session_id: str) -> bool:
        """Whether a reply is being written to ``session_id`` now."""
        lock = self._locks.get(session_id)
        return lock is not None and lock.locked()
