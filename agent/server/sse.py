"""``POST /v1/chat/stream``'s wire format: each event of the reply as one SSE event.

``event:`` is the event's type, ``id:`` counts 1, 2, ... within the reply, ``data:`` is exactly
the documented dict as JSON. Framing is sse-starlette's.
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


async def sse_events(
    first: dict[str, Any], rest: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[ServerSentEvent]:
    """The reply's events as SSE events."""
    yield ServerSentEvent(dumps(first), event=first["type"], id="1")
    n = 1
    async for event in rest:
        n += 1
        yield ServerSentEvent(dumps(event), event=event["type"], id=str(n))
