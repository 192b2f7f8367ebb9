"""``POST /v1/chat/stream``'s wire format: each event of the reply as one SSE event.

``event:`` is the event's type, ``id:`` counts 1, 2, ... within the reply, ``data:`` is exactly
the documented dict as JSON. Framing is sse-starlette's (``encode`` writes the same bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bailian_geo_agent.agent.events import StreamEvent
from bailian_geo_agent.agent.server.protocol import EventStreamAdapter
from sse_starlette import ServerSentEvent

_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})
"""Characters JSON leaves raw but line splitters (``str.splitlines``, httpx ``iter_lines``)
end a line at: escaped, a model's text cannot start a forged ``event:`` or ``data:`` line."""

try:
    from orjson import dumps as _dumps

    def _compact(value: Any) -> str:
        return _dumps(value).decode()
except ImportError:  # pragma: no cover - installs without orjson
    import json

    def _compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is but for U+2028, U+2029 and U+0085 (escaped): the one
    encoder of every SSE ``data:`` payload (both protocols, the resume replay)."""
    data = _compact(value)
    if "\u2028" in data or "\u2029" in data or "\x85" in data:
        data = data.translate(_LINE_BREAKS)
    return data


class _KeepAlive(ServerSentEvent):
    """A keep-alive comment line without the blank line that ends an event block.

    Per the SSE spec a comment is ignored wherever it stands; a blank line after it would be
    too, but httpx-sse (0.4) then dispatches an empty event carrying the last id. Without the
    blank line every client sees nothing but the next real event.
    """

    def encode(self) -> bytes:
        """``: ping`` and a line end."""
        return b": ping\n"


def keep_alive() -> ServerSentEvent:
    """The keep-alive sent while a reply is quiet (tools running, the model thinking)."""
    return _KeepAlive()


def encode(event: dict[str, Any], n: int, sep: str = "\n") -> bytes:
    """Event ``n`` of a reply as one SSE event block: the bytes sse-starlette's
    ``ServerSentEvent(dumps(event), event=event["type"], id=str(n), sep=sep).encode()`` gives,
    without its line splitting: compact JSON has no line breaks, the id is digits and an
    event's type is one word."""
    return f"id: {n}{sep}event: {event['type']}{sep}data: {dumps(event)}{sep}{sep}".encode()


RETRY_MS = 1000
"""The SSE ``retry:`` (ms) on the ``error`` of a reply cut by a server restart: the mark that
tells a client to resume or retry it (the event's documented dict is unchanged)."""


class SSEAdapter(EventStreamAdapter[bytes]):
    """The seed SSE protocol: every event, as its documented dict, one SSE event each.

    Ids count from 1; a resumed reply's entries carry their own (``resumed``). ``sep`` is the
    line end: ``"\\n"`` on the live stream, sse-starlette's default ``"\\r\\n"`` on resumes
    (as they have always been sent). ``interrupted()``: whether the reply was cut by a
    server restart (its ``error`` then carries ``retry:``)."""

    def __init__(self, sep: str = "\n",
                 interrupted: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.seq = 0
        """The id of the last event sent."""
        self._sep = sep
        self.interrupted = interrupted or (lambda: False)

    def _event(self, event: StreamEvent) -> Sequence[bytes]:
        self.seq += 1
        return (encode(event.to_dict(), self.seq, self._sep),)

    on_start = on_chunk = on_reasoning = on_tool_start = on_tool_end = _event
    on_map_action = on_links = on_usage = on_end = on_source = _event
    on_approval_request = _event

    def on_error(self, event: StreamEvent) -> Sequence[bytes]:
        frames = self._event(event)
        if self.interrupted():
            return (f"retry: {RETRY_MS}{self._sep}".encode() + frames[0],)
        return frames

    def encode(self, frame: bytes) -> bytes:
        """Frames are bytes already."""
        return frame

    def resumed(self, seq: int, event: StreamEvent, restart: bool = False) -> bytes:
        """A logged event with id ``seq`` (``restart``: the error of a reply cut by a
        restart)."""
        self.seq = seq - 1
        if restart:
            self.interrupted = lambda: True
        return self.to_bytes((event,))
