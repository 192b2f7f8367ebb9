"""Server-sent events split out of a streamed HTTP body (both model paths read their own).

An event is a block of ``field:value`` lines ended by a blank line; ``data`` lines carry the
payload, lines starting with ``:`` are comments (DashScope's native API sends its status as
``:HTTP_STATUS/200``). Line ends may be ``\\n``, ``\\r\\n`` or ``\\r``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

loads_json: Callable[[bytes | str], Any]  # one of the two below, which differ only in keywords
try:  # several times faster than json.loads on stream events; installed with langsmith
    from orjson import loads as loads_json
except ImportError:  # pragma: no cover - PyPy, or installs without orjson
    from json import loads as loads_json

__all__ = ["iter_sse_data", "loads_json", "split_events", "sse_data", "sse_field"]

_DATA = b"data:"
_NO_BLOCKS: list[bytes] = []  # returned, never mutated


def split_events(buffer: bytes, piece: bytes) -> tuple[list[bytes], bytes]:
    """Append ``piece`` to ``buffer``: the complete event blocks now in it, and what remains.

    Blocks are returned with ``\\n`` line ends and without their blank line; empty blocks
    (extra blank lines) are possible. A trailing ``\\r`` is kept back until the next piece
    says whether it starts a ``\\r\\n``.
    """
    buffer += piece
    if b"\r" in buffer:
        held = buffer.endswith(b"\r")
        if held:
            buffer = buffer[:-1]
        buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if held:
            buffer += b"\r"
    if b"\n\n" not in buffer:
        return _NO_BLOCKS, buffer
    *blocks, rest = buffer.split(b"\n\n")
    return blocks, rest


def sse_data(block: bytes) -> bytes | None:
    """The ``data`` of one event block (``None`` for comments and data-less events)."""
    if block.startswith(_DATA):
        start = 0
    else:
        start = block.find(b"\ndata:") + 1
        if not start:
            return None
    if block.find(b"\n", start) == -1:  # one data line, the block's last (the usual case)
        data = block[start + 5 :]
        return data[1:] if data[:1] == b" " else data
    lines = [line[5:] for line in block.split(b"\n") if line.startswith(_DATA)]
    return b"\n".join(line[1:] if line[:1] == b" " else line for line in lines)


def sse_field(block: bytes, name: bytes) -> bytes | None:
    """The value of the first ``name`` field of an event block, or ``None``."""
    for line in block.split(b"\n"):
        field, sep, value = line.partition(b":")
        if field == name and sep:
            return value[1:] if value[:1] == b" " else value
    return None


async def iter_sse_data(byte_chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield the ``data`` payload of each server-sent event in a byte stream."""
    buffer = b""
    async for piece in byte_chunks:
        blocks, buffer = split_events(buffer, piece)
        for block in blocks:
            data = sse_data(block)
            if data is not None:
                yield data
    rest = buffer.strip(b"\r\n")
    if rest:
        data = sse_data(rest)
        if data is not None:
            yield data
