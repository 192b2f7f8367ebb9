"""Small shared plumbing: the package's version, reading a body within a size cap, and
awaiting many calls with a few in flight.

The lowest layer (``tools/`` never imports ``agent/``), so the service, the servers and the
geo tools all use these.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, Awaitable, Iterable
from functools import cache
from typing import TypeVar

T = TypeVar("T")

DISTRIBUTION = "bailian-geo-agent"
UNKNOWN_VERSION = "0+unknown"
"""The version reported by a source tree that is not installed."""


@cache
def version() -> str:
    """The installed distribution's version (``UNKNOWN_VERSION`` from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


def user_agent() -> str:
    """The User-Agent this package sends (the open geo services ask for one that identifies it)."""
    return f"{DISTRIBUTION}/{version()} (+https://github.com/bailian-geo-agent/bailian-geo-agent)"


class ResponseTooLarge(Exception):
    """A body passed its cap."""


async def read_capped(
    chunks: AsyncIterable[bytes], limit: int, declared: int | None = None
) -> bytes:
    """The whole body of ``chunks``, or ``ResponseTooLarge`` as soon as it passes ``limit``
    bytes (at once when the ``declared`` length does)."""
    if declared is not None and declared > limit:
        raise ResponseTooLarge
    parts, size = [], 0
    async for piece in chunks:
        size += len(piece)
        if size > limit:
            raise ResponseTooLarge
        parts.append(piece)
    return b"".join(parts)


async def gather_limited(calls: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """The results of ``calls``, in order, with at most ``limit`` of them running at once (the
    providers' per-second limits). The first failure cancels those not done and is raised."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    waiting = list(calls)
    tasks = [asyncio.ensure_future(one(call)) for call in waiting]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for call in waiting:  # those cancelled before they began: closed, never awaited
            if inspect.iscoroutine(call):
                call.close()
        raise
