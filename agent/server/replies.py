"""Replies in progress: each runs in its own task so that it can be stopped from another request.

``Reply`` reads ``StreamChatService.stream_chat`` in a task and hands the events to the one
response streaming it. Stopping (the stop endpoint, or the client going away) cancels that
task, which closes the upstream model request; the reply then ends with the ``error`` event
the service sends for a cancelled reply.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from agent.messages import text

_END = object()
TERMINAL = frozenset({"stream_end", "error"})


class Reply:
    """One reply's events, read by one consumer; ``stop()`` may come from anywhere."""

    def __init__(self, stream: AsyncGenerator[dict[str, Any], None], owner: str) -> None:
        self.owner = owner
        self.message_id = ""
        self.session_id = ""
        self.stopped = False
        self._stream = stream
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._ended = False
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def first(self) -> dict[str, Any]:
        """The first event (``stream_start``, or the ``error`` of a reply that never began)."""
        event: dict[str, Any] = await self._queue.get()
        if event is _END:  # pragma: no cover - stream_chat always yields an event
            raise RuntimeError("the reply ended without an event")
        self.message_id = event["message_id"]
        self.session_id = event["session_id"]
        return event

    async def rest(self) -> AsyncIterator[dict[str, Any]]:
        """The events after the first, up to and including the last one."""
        queue = self._queue
        while (event := await queue.get()) is not _END:
            yield event

    def cancel(self) -> None:
        """Stop the reply without waiting (usable where awaiting is not: a cancelled scope)."""
        if not self._task.done():
            self.stopped = True
            self._task.cancel()

    async def stop(self) -> None:
        """Stop the reply and wait until its model request is closed."""
        self.cancel()
        await asyncio.wait({self._task})

    @property
    def done(self) -> bool:
        """Whether the reply has sent its last event (or was stopped)."""
        return self._task.done()

    async def _pump(self) -> None:
        put = self._queue.put_nowait
        try:
            async for event in self._stream:
                if event["type"] in TERMINAL:
                    self._ended = True
                put(event)
        except asyncio.CancelledError:
            if not self._ended and self.message_id:
                put({"type": "error", "message_id": self.message_id,
                     "session_id": self.session_id, "error": text("cancelled")})
        finally:
            with contextlib.suppress(Exception):
                await self._stream.aclose()
            put(_END)


class Replies:
    """The replies in progress in this process, by message id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Reply] = {}

    def add(self, reply: Reply) -> None:
        """Register ``reply`` (after its first event) until ``discard``."""
        self._by_id[reply.message_id] = reply

    def discard(self, reply: Reply) -> None:
        """Forget ``reply``."""
        if self._by_id.get(reply.message_id) is reply:
            del self._by_id[reply.message_id]

    def get(self, message_id: str, owner: str) -> Reply | None:
        """``owner``'s reply ``message_id`` in progress here, if any."""
        reply = self._by_id.get(message_id)
        return reply if reply is not None and reply.owner == owner else None

    async def stop_all(self) -> None:
        """Stop every reply (the server is shutting down)."""
        replies = list(self._by_id.values())
        for reply in replies:
            reply.cancel()
        for reply in replies:
            await reply.stop()
