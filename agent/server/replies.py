"""Replies in progress: each runs in its own task, detached from the request that started it.

``Reply`` reads ``StreamChatService.stream_chat`` in a task, numbers its events (their SSE
ids), appends each to the reply's event log (``agent.server.streams``) and hands it to the
response that started it while that client is connected. A client that goes away only
detaches (``detach``); the reply runs on to its end, resumable from the log. Stopping (the stop
endpoint, from any instance, or a disconnect with ``"resume": false``) cancels the task, which
closes the upstream model request; the reply then ends with the ``error`` event (cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from bailian_geo_agent.agent.server.streams import EventLog, LogWriter
from bailian_geo_agent.agent.server.streams.base import TERMINAL
from bailian_geo_agent.prompts.catalogue import text

_END = object()


class Reply:
    """One reply's events, read by the client that started it; ``stop()`` may come from
    anywhere."""

    def __init__(self, stream: AsyncGenerator[dict[str, Any], None], owner: str,
                 log: EventLog | None = None) -> None:
        self.owner = owner
        self.message_id = ""
        self.session_id = ""
        self.stopped = False
        self.writer: LogWriter | None = None
        self._stream = stream
        self._log = log
        self._queue: asyncio.Queue[Any] | None = asyncio.Queue()
        self._first: asyncio.Queue[Any] = self._queue
        self._seq = 0
        self._ended = False
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def first(self) -> dict[str, Any]:
        """The first event (``stream_start``, or the ``error`` of a reply that never began)."""
        event: dict[str, Any] = await self._first.get()
        if event is _END:  # pragma: no cover - stream_chat always yields an event
            raise RuntimeError("the reply ended without an event")
        return event

    async def rest(self) -> AsyncIterator[dict[str, Any]]:
        """The events after the first, up to and including the last one (while attached)."""
        queue = self._queue
        if queue is None:
            return
        while (event := await queue.get()) is not _END:
            yield event

    async def rest_batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """``rest()`` a batch at a time: each batch is every event already waiting (at least
        one), so a busy server hands a slow reader several events at once, never later."""
        queue = self._queue
        if queue is None:
            return
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            if batch[-1] is _END:  # the last thing put, so always at the end
                if len(batch) > 1:
                    yield batch[:-1]
                return
            yield batch

    def detach(self) -> None:
        """The client went away: the reply goes on, into its log only."""
        self._queue = None

    def cancel(self) -> None:
        """Stop the reply without waiting (usable where awaiting is not: a cancelled scope)."""
        if not self._task.done():
            self.stopped = True
            self._task.cancel()

    async def stop(self) -> None:
        """Stop the reply and wait until its model request is closed."""
        self.cancel()
        await asyncio.wait({self._task})

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the reply has sent its last event."""
        self._task.add_done_callback(lambda _task: callback())

    @property
    def done(self) -> bool:
        """Whether the reply has sent its last event (or was stopped)."""
        return self._task.done()

    def _emit(self, event: dict[str, Any]) -> None:
        self._seq += 1
        if self._seq == 1:
            self.message_id = event["message_id"]
            self.session_id = event["session_id"]
            if self._log is not None and event["type"] != "error":
                self.writer = LogWriter(self._log, self.message_id, self.owner,
                                        self.session_id)
        terminal = event["type"] in TERMINAL
        if terminal:
            self._ended = True
        if self.writer is not None:
            self.writer.put(self._seq, event, self.stopped and terminal)
        if self._queue is not None:
            self._queue.put_nowait(event)

    async def _pump(self) -> None:
        try:
            async for event in self._stream:
                self._emit(event)
        except asyncio.CancelledError:
            if not self._ended and self.message_id:
                self._emit({"type": "error", "message_id": self.message_id,
                            "session_id": self.session_id, "error": text("cancelled")})
        finally:
            with contextlib.suppress(Exception):
                await self._stream.aclose()
            self._first.put_nowait(_END)
            if self._queue is not None and self._queue is not self._first:
                self._queue.put_nowait(_END)


class Replies:
    """The replies in progress in this process, by message id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Reply] = {}
        self._writers: set[LogWriter] = set()

    def add(self, reply: Reply) -> None:
        """Register ``reply`` (after its first event) until it is done."""
        self._by_id[reply.message_id] = reply
        writer = reply.writer
        if writer is not None:
            self._writers.add(writer)
            writer._task.add_done_callback(lambda _t: self._writers.discard(writer))
        reply.when_done(lambda: self.discard(reply))

    def discard(self, reply: Reply) -> None:
        """Forget ``reply``."""
        if self._by_id.get(reply.message_id) is reply:
            del self._by_id[reply.message_id]

    def get(self, message_id: str, owner: str) -> Reply | None:
        """``owner``'s reply ``message_id`` in progress here, if any."""
        reply = self._by_id.get(message_id)
        return reply if reply is not None and reply.owner == owner else None

    def cancel(self, message_id: str) -> None:
        """Stop reply ``message_id`` if it runs here (a stop sent to another instance)."""
        reply = self._by_id.get(message_id)
        if reply is not None:
            reply.cancel()

    def __len__(self) -> int:
        return len(self._by_id)

    async def stop_all(self) -> None:
        """Stop every reply (the server is shutting down) and let their logs take the end."""
        replies = list(self._by_id.values())
        for reply in replies:
            reply.cancel()
        for reply in replies:
            await reply.stop()
        writers = [w._task for w in self._writers]
        if writers:
            await asyncio.wait(writers, timeout=5)
