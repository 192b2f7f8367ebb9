"""Replies in progress: each is one task, detached from the request that started it.

A ``Reply``'s task reads the service's typed event stream (``StreamChatService.stream_events``),
numbers the events (their SSE ids) and hands each, in the same step, to the reply's event log
(``agent.server.event_log``) and to the client that started it while that client is connected.
A client that goes away only detaches (``detach``); the reply runs on to its end, resumable
from the log. Stopping (the stop endpoint, from any instance, or a disconnect with
``"resume": false``) cancels the task, which closes the upstream model request; the reply then
ends with the ``error`` event (cancelled). A server that is shutting down drains
(``Replies.drain``): no new replies, running ones may finish for a while, then the rest are
interrupted: their ``error`` says the server is restarting and the reply can be resumed or
retried (logged as such, not as cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from bailian_geo_agent.agent.events import TERMINAL_EVENTS, StreamError, StreamEvent
from bailian_geo_agent.agent.server.event_log import EventLog, LogFeed, LogUnavailable
from bailian_geo_agent.prompts.catalogue import text

_END: Any = object()


class Reply:
    """One reply's events, read by the client that started it; ``stop()`` may come from
    anywhere."""

    def __init__(self, stream: AsyncGenerator[StreamEvent, None], owner: str,
                 log: EventLog | None = None) -> None:
        self.owner = owner
        self.message_id = ""
        self.session_id = ""
        self.stopped = False
        self.interrupted = False
        """Cut by a server restart (``interrupt``): its ``error`` says so, and to retry."""
        self._stream = stream
        self._log = log
        self._feed: LogFeed | None = None
        self._queue: asyncio.Queue[Any] | None = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._first: asyncio.Future[StreamEvent] = loop.create_future()
        self._seq = 0
        self._ended = False
        self._task = loop.create_task(self._run())

    async def first(self) -> StreamEvent:
        """The first event (``stream_start``, or the ``error`` of a reply that never began),
        once the log has registered the reply; ``LogUnavailable`` if it could not."""
        return await asyncio.shield(self._first)

    async def rest(self) -> AsyncIterator[StreamEvent]:
        """The events after the first, up to and including the last one (while attached)."""
        queue = self._queue
        if queue is None:
            return
        while (event := await queue.get()) is not _END:
            yield event

    async def rest_batches(self) -> AsyncIterator[list[StreamEvent]]:
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

    def interrupt(self) -> None:
        """End the reply because the server is restarting (not a stop: resumable, retried)."""
        if not self._task.done():
            self.interrupted = True
            self._task.cancel("interrupted")  # the metrics count it as such, not as a stop

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

    def _emit(self, event: StreamEvent) -> None:
        """Event number ``seq`` to the log and to the client."""
        self._seq += 1
        terminal = isinstance(event, TERMINAL_EVENTS)
        if terminal:
            self._ended = True
        if self._feed is not None:
            self._feed.add(self._seq, event, self.stopped and terminal,
                           self.interrupted and terminal)
        if self._queue is not None:
            self._queue.put_nowait(event)

    async def _begin(self, first: StreamEvent) -> None:
        """Register the reply in its log (a reply that never began is not logged)."""
        self.message_id, self.session_id = first.message_id, first.session_id
        if self._log is not None and not isinstance(first, StreamError):
            try:
                await self._log.open(self.message_id, self.owner, self.session_id)
            except Exception as exc:
                raise LogUnavailable(type(exc).__name__) from None
            self._feed = LogFeed(self._log, self.message_id, self.session_id)
        self._seq = 1
        self._ended = isinstance(first, TERMINAL_EVENTS)
        if self._feed is not None:
            self._feed.add(1, first)

    async def _run(self) -> None:
        stream = self._stream
        try:
            first = await anext(stream)
            await self._begin(first)
            self._first.set_result(first)
            async for event in stream:
                self._emit(event)
        except asyncio.CancelledError:
            if not self._ended and self._first.done():
                why = text("server_restarting") if self.interrupted else text("cancelled")
                self._emit(StreamError(self.message_id, self.session_id, why))
        except Exception as exc:  # the log could not register the reply: first() raises it
            if not self._first.done():
                self._first.set_exception(exc)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
            if not self._first.done():
                self._first.cancel()
            if self._queue is not None:
                self._queue.put_nowait(_END)


class Replies:
    """The replies in progress in this process, by message id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Reply] = {}
        self.draining = False
        """Shutting down: no new reply may start (``drain``)."""
        self._drain_cut: asyncio.Event | None = None
        self._drained = False  # past the drain's wait: a reply that begins now is cut at once

    def add(self, reply: Reply) -> None:
        """Register ``reply`` (after its first event) until it is done."""
        self._by_id[reply.message_id] = reply
        reply.when_done(lambda: self.discard(reply))
        if self._drained:  # it was starting when the drain ended
            reply.interrupt()

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

    async def drain(self, seconds: float) -> None:
        """Shut down gently: refuse new replies from now on, let the running ones finish
        for up to ``seconds`` (or until ``cut_drain``), then interrupt the rest (their
        ``error`` says the server is restarting) and wait until they have ended."""
        self.draining = True
        cut = self._drain_cut = self._drain_cut or asyncio.Event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        cutting = asyncio.ensure_future(cut.wait())
        try:  # the replies running (also one that was starting as the drain began)
            while ((waiting := [r._task for r in self._by_id.values() if not r.done])
                   and not cut.is_set() and (left := deadline - loop.time()) > 0):
                await asyncio.wait([*waiting, cutting], timeout=left,
                                   return_when=asyncio.FIRST_COMPLETED)
        finally:
            cutting.cancel()
        self._drained = True
        replies = list(self._by_id.values())
        for reply in replies:
            reply.interrupt()
        if replies:
            await asyncio.wait({reply._task for reply in replies})

    def cut_drain(self) -> None:
        """End a drain's waiting now (a second signal): the running replies are interrupted."""
        self.draining = True
        if self._drain_cut is None:
            self._drain_cut = asyncio.Event()
        self._drain_cut.set()
