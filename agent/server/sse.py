"""``POST /v1/chat/stream``'s wire format: each event of the reply as one SSE event.

``event:`` is the event's type, ``id:`` counts 1, 2, ... within the reply, ``data:`` is exactly
the documented dict as JSON. Framing is sse-starlette's (``encode`` writes the same bytes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import ServerSentEvent

try:
    from orjson import dumps as _dumps

    def dumps(value: Any) -> str:
        """Compact JSON, non-ASCII kept as is."""
        return _dumps(value).decode()
except ImportError:  # pragma: no cover - installs without orjson
    import json

    def dumps(value: Any) -> str:
        """Compact JSON, non-ASCII kept as is."""
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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


def encode(event: dict[str, Any], n: int) -> bytes:
    """Event ``n`` of a reply as one SSE event block: the bytes sse-starlette's
    ``ServerSentEvent(dumps(event), event=event["type"], id=str(n)).encode()`` gives (``sep``
    ``"\\n"``), without its line splitting: compact JSON has no line breaks, the id is digits
    and an event's type is one word."""
    return f"id: {n}\nevent: {event['type']}\ndata: {dumps(event)}\n\n".encode()


async def sse_events(
    first: dict[str, Any], rest: AsyncIterator[list[dict[str, Any]]]
) -> AsyncIterator[bytes]:
    """The reply's events as SSE event blocks; the events of one batch of ``rest`` (what was
    waiting when the response asked, ``Reply.rest_batches``) go out as one write."""
    yield encode(first, 1)
    n = 1
    async for batch in rest:
        blocks = []
        for event in batch:
            n += 1
            blocks.append(encode(event, n))
        yield b"".join(blocks)
