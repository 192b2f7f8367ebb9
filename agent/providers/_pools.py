"""Connection pools owned by one model and one event loop.

Pooled connections belong to the loop that opened them, so a model used from several loops
(scripts calling ``asyncio.run`` twice, test suites, notebooks) gets one pool per loop. Each
model closes only its own pools; ``close_all`` closes every pool opened in the running loop, for
application shutdown.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Generic, TypeVar

PoolT = TypeVar("PoolT")

_ALL: weakref.WeakSet[LoopPools[Any]] = weakref.WeakSet()


class LoopPools(Generic[PoolT]):
    """Pools keyed by event loop and owner, opened on first use and reopened once closed."""

    def __init__(
        self,
        open_pool: Callable[[], PoolT],
        is_closed: Callable[[PoolT], bool],
        close_pool: Callable[[PoolT], Awaitable[object]],
    ) -> None:
        self._open = open_pool
        self._is_closed = is_closed
        self._close = close_pool
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, PoolT]] = (
            weakref.WeakKeyDictionary()
        )
        _ALL.add(self)

    def get(self, owner: object) -> PoolT:
        """``owner``'s pool for the running loop."""
        loop = asyncio.get_running_loop()
        pools = self._by_loop.get(loop)
        if pools is None:
            pools = self._by_loop[loop] = {}
            _close_at_loop_shutdown(loop)
        pool = pools.get(id(owner))
        if pool is None or self._is_closed(pool):
            pool = pools[id(owner)] = self._open()
        return pool

    async def close(self, owner: object) -> None:
        """Close ``owner``'s pool for the running loop (a new one is opened on demand)."""
        pools = self._by_loop.get(asyncio.get_running_loop())
        pool = pools.pop(id(owner), None) if pools else None
        if pool is not None:
            await self._close(pool)

    async def close_all(self) -> None:
        """Close every pool opened in the running loop."""
        for pool in self._by_loop.pop(asyncio.get_running_loop(), {}).values():
            await self._close(pool)


_CLOSERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
    weakref.WeakKeyDictionary()
)


_STARTING: set[asyncio.Future[None]] = set()


async def _closer() -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await close_all_loop_pools()


def _close_at_loop_shutdown(loop: asyncio.AbstractEventLoop) -> None:
    """Close this loop's pools when it shuts down (``asyncio.run`` finalizes async generators
    before closing the loop), so a service that was never closed leaves no open connection
    and no "Unclosed client session" warning behind."""
    if loop in _CLOSERS:
        return
    closer = _CLOSERS[loop] = _closer()
    # Started here, suspended at its yield: the loop's shutdown_asyncgens() runs its finally.
    started = asyncio.ensure_future(closer.__anext__(), loop=loop)
    _STARTING.add(started)
    started.add_done_callback(_STARTING.discard)


async def close_all_loop_pools() -> None:
    """Close every pool of every provider opened in the running loop."""
    for pools in list(_ALL):
        await pools.close_all()
