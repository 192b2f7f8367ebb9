"""Server-sent events split out of a streamed HTTP body (both model paths read their own).

An event is a block of ``field:value`` lines ended by a blank line; ``data`` lines carry the
payload, lines starting with ``:`` are comments (DashScope's native API sends its status as
``:HTTP_STATUS/200``). Line ends may be ``\\n``, ``\\r\\n`` or ``\\r``.

Parsing is linear in the bytes received (each byte is scanned a bounded number of times,
however the body is cut into pieces), and an event still incomplete after
``max_event_bytes`` raises ``StreamLimitError``: a line that never ends cannot grow the buffer
or pin the CPU.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from bailian_geo_agent.agent.errors import StreamLimitError
from bailian_geo_agent.prompts.catalogue import text

loads_json: Callable[[bytes | str], Any]  # one of the two below, which differ only in keywords

try:  # several times faster than json.loads on stream events; installed with langsmith
    from orjson import loads as loads_json
except ImportError:  # pragma: no cover - PyPy, or installs without orjson
    from json import loads as loads_json

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "EventSplitter",
    "iter_sse_data",
    "loads_json",
    "split_events",
    "sse_data",
    "sse_field",
]

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
_DATA = b"data:"
_NO_BLOCKS: list[bytes] = []  # returned, never mutated


def _too_large(limit: int) -> StreamLimitError:
    return StreamLimitError(text("stream_line_too_long", limit=limit))


class EventSplitter:
    """Feed it the pieces of a body; it returns the complete event blocks as they close.

    Blocks come with ``\\n`` line ends and without their blank line; empty blocks (extra
    blank lines) are possible. A block, or the unfinished rest, longer than
    ``max_event_bytes`` raises ``StreamLimitError`` (the line or event cap).
    """

    __slots__ = ("_buffer", "_cr", "_scanned", "max_event_bytes")

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer already known to hold no blank line
        self._cr = False  # the last piece ended with "\r": a "\n" first in the next is its pair

    def feed(self, piece: bytes) -> list[bytes]:
        """The event blocks completed by ``piece``."""
        if self._cr:
            self._cr = False
            if piece[:1] == b"\n":
                piece = piece[1:]
        if b"\r" in piece:  # normalized per piece: never a rescan of what came before
            self._cr = piece[-1:] == b"\r"
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer
        buffer += piece
        if buffer.find(b"\n\n", max(self._scanned - 1, 0)) == -1:
            self._scanned = len(buffer)
            if self._scanned > self.max_event_bytes:
                raise _too_large(self.max_event_bytes)
            return _NO_BLOCKS
        whole = bytes(buffer)
        *blocks, rest = whole.split(b"\n\n")
        self._buffer = bytearray(rest)
        self._scanned = len(rest)
        if len(whole) > self.max_event_bytes and max(map(len, blocks)) > self.max_event_bytes:
            raise _too_large(self.max_event_bytes)
        if len(rest) > self.max_event_bytes:
            raise _too_large(self.max_event_bytes)
        return blocks

    def iter_feed(self, piece: bytes) -> Iterator[bytes]:
        """The event blocks completed by ``piece``, one at a time: the first is handed over
        before the rest of a large piece is scanned or copied (a burst read in one go)."""
        if self._cr:
            self._cr = False
            if piece[:1] == b"\n":
                piece = piece[1:]
        if b"\r" in piece:
            self._cr = piece[-1:] == b"\r"
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        limit = self.max_event_bytes
        whole = piece
        start = 0
        buffer = self._buffer
        if buffer:  # an unfinished event: only its bytes and this piece's first block are joined
            held = len(buffer)
            buffer += piece
            end = buffer.find(b"\n\n", max(self._scanned - 1, 0))
            if end == -1:
                self._scanned = len(buffer)
                if self._scanned > limit:
                    raise _too_large(limit)
                return
            self._buffer = bytearray()
            self._scanned = 0
            if end > limit:
                raise _too_large(limit)
            yield bytes(buffer[:end])
            start = end + 2 - held  # the old buffer held no blank line: this is within piece
        self._buffer = bytearray()
        self._scanned = 0
        end = whole.find(b"\n\n", start)
        if end == -1:
            rest = whole[start:] if start else whole
        else:
            if end - start > limit:
                raise _too_large(limit)
            yield whole[start:end]  # the first at once; the rest split in one C call
            *blocks, rest = whole[end + 2 :].split(b"\n\n")
            if blocks and max(map(len, blocks)) > limit:
                raise _too_large(limit)
            yield from blocks
        if len(rest) > limit:
            raise _too_large(limit)
        if rest:
            self._buffer = bytearray(rest)
            self._scanned = len(rest)

    def rest(self) -> bytes:
        """What remains after the last complete block (a last event without its blank line)."""
        return bytes(self._buffer).strip(b"\r\n")


def split_events(buffer: bytes, piece: bytes) -> tuple[list[bytes], bytes]:
    """``buffer`` + ``piece`` split into complete event blocks and what remains (whole bodies,
    such as an error answer; streams use ``EventSplitter``)."""
    splitter = EventSplitter(max_event_bytes=len(buffer) + len(piece) + 1)
    blocks = splitter.feed(buffer + piece)
    return blocks, bytes(splitter._buffer)


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


async def iter_sse_data(
    byte_chunks: AsyncIterator[bytes], max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> AsyncIterator[bytes]:
    """Yield the ``data`` payload of each server-sent event in a byte stream.

    Raises ``StreamLimitError`` for a line or event longer than ``max_event_bytes``.
    """
    splitter = EventSplitter(max_event_bytes)
    feed = splitter.iter_feed
    async for piece in byte_chunks:
        for block in feed(piece):
            data = sse_data(block)
            if data is not None:
                yield data
    rest = splitter.rest()
    if rest:
        data = sse_data(rest)
        if data is not None:
            yield data
