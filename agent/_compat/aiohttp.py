"""aiohttp's ``StreamReader`` buffer, read when a connection breaks mid-body; the socket read
size of the openai SDK's aiohttp connections."""

from __future__ import annotations

import asyncio
from typing import Any

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


SOCKET_READ_BYTES = 16 * 1024
"""What one socket read of a model stream takes at most: the 16 KiB the openai SDK's aiohttp
transport hands over per piece. asyncio's default (256 KiB) makes aiohttp parse a whole burst
(about 1,300 events) before the first piece reaches the reader: 2-6 ms more to the first text."""

UPSTREAM.update({
    "httpx2._client:BoundAsyncStream._stream": "attribute",
    "openai._vendor.httpx_aiohttp.transport:AiohttpResponseStream._aiohttp_response": "attribute",
    "asyncio.selector_events:_SelectorSocketTransport.max_size": "int",
})


def small_socket_reads(http_response: Any) -> None:
    """Cap the socket reads of the connection an httpx response of the SDK's aiohttp transport
    arrived on (kept for its later reads and replies: it stays in the pool); other transports
    (httpx's own, uvloop's) are left as they are."""
    stream = getattr(http_response, "stream", None)
    stream = getattr(stream, "_stream", stream)  # httpx's timing wrapper around the transport's
    aio_response = getattr(stream, "_aiohttp_response", None)
    connection = getattr(aio_response, "connection", None)
    transport = getattr(connection, "transport", None)
    if getattr(transport, "max_size", 0) > SOCKET_READ_BYTES and isinstance(
        transport, asyncio.Transport
    ):
        transport.max_size = SOCKET_READ_BYTES  # type: ignore[attr-defined]
