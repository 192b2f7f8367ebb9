"""Small shared plumbing: the package's version and reading a body within a size cap.

The lowest layer (``tools/`` never imports ``agent/``), so the service, the servers and the
geo tools all use these.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from functools import cache

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
