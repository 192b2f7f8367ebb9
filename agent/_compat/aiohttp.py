"""aiohttp's ``StreamReader`` buffer, read when a connection breaks mid-body."""

from __future__ import annotations

import aiohttp

UPSTREAM: dict[str, str] = {
    "aiohttp:StreamReader._buffer": "slot",
    "aiohttp:StreamReader._buffer_offset": "slot",
}
"""Each upstream name read here and the shape relied on (``tests/test_compat.py``). Kept for
correctness: the tail of an answer received before a broken connection."""


def unread(content: aiohttp.StreamReader) -> bytes:
    """Bytes received before the connection broke that nobody had read yet.

    aiohttp's reads raise the connection's exception at once, dropping what is still buffered,
    so its buffer is read directly (without it that tail of the answer would be lost).
    """
    buffer = getattr(content, "_buffer", None)
    if not buffer:
        return b""
    return b"".join(buffer)[getattr(content, "_buffer_offset", 0) :]
