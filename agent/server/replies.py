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

A client that reads slower than the reply comes holds at most ``QUEUE_LIMIT`` events here:
beyond, they are dropped and it reads on from the log (where chunks are merged), each event
with its own id as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any

from bailian_geo_agent.agent.events import (
    TERMINAL_EVENTS,
    StreamChunk,
    StreamError,
    StreamEvent,
)
from bailian_geo_agent.agent.server.event_log import Entry, EventLog, LogFeed, LogUnavailable
from bailian_geo_agent.prompts.catalogue import text

EARLY_STOPS = 64
"""Stops remembered for replies not (yet) running here: one starting is stopped once added."""
QUEUE_LIMIT = 256
"""Events waiting for a reply's client, at most; one more and it reads on from the log."""
LOG_BATCH = 64
"""Events per write for a client reading on from the log (a merged entry is split again)."""
_END: Any = object()
_BEHIND: Any = object()  # the client fell behind: read on from the log


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
        self._behind = False  # its client fell behind: reads from the log
        self._waiting = False  # its client waits for the next event (keeps up)
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
        async for batch in self.rest_batches():
            for event in batch:
                yield event

    def rest_batches(self) -> AsyncIterator[list[StreamEvent]]:
        """``rest()`` a batch at a time: each batch is every event already waiting (at least
        one), so a busy server hands a slow reader several events at once, never later. A
        reader too far behind (``QUEUE_LIMIT``) reads on from the log, from where it was."""
        return self._batches(self._queue)  # the queue of now, even if read from later

    async def _batches(self, queue: asyncio.Queue[Any] | None
                       ) -> AsyncIterator[list[StreamEvent]]:
        if queue is None:  # detached, or behind before it began reading
            if self._behind:
                async for events in self._from_log(1):
                    yield events
            return
        seen = 1  # the id of the last event handed on (the first is the caller's)
        while True:
            self._waiting = True
            try:
                batch = [await queue.get()]
            finally:
                self._waiting = False
            # At most QUEUE_LIMIT a write: a burst taken at once must not sit in the connection's
            # buffer of a client that stops reading.
            while not queue.empty() and len(batch) < QUEUE_LIMIT:
                batch.append(queue.get_nowait())
            last = batch[-1]  # _END or _BEHIND is the last thing put, so always at the end
            if last is _END or last is _BEHIND:
                if len(batch) > 1:
                    yield batch[:-1]
                if last is _BEHIND:
                    async for events in self._from_log(seen + len(batch) - 1):
                        yield events
                return
            seen += len(batch)
            yield batch

    async def _from_log(self, seen: int) -> AsyncIterator[list[StreamEvent]]:
        """The events after id ``seen``, read from the reply's log."""
        assert self._log is not None
        async for entry in self._log.read(self.message_id, seen):
            for events in _split(entry):
                yield events

    def detach(self) -> None:
        """The client went away: the reply goes on, into its log only."""
        self._queue = None

    def leave(self, resume: bool) -> None:
        """Its client's stream has ended: the reply goes on with ``resume`` (``detach``), else
        it stops (``cancel``)."""
        if resume:
            self.detach()
        else:
            self.cancel()

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

    @property
    def ending(self) -> bool:
        """Whether the reply has sent its last event or was stopped: what is left of it is its
        tail (storing the turn, releasing the session)."""
        return self._ended or self.stopped

    async def ended(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the reply to be done; whether it is."""
        await asyncio.wait({self._task}, timeout=timeout)
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
            self._offer(event)

    def _offer(self, item: Any) -> None:
        """``item`` to the attached client; with ``QUEUE_LIMIT`` waiting already and the client
        not waiting for them (it is stuck in a write), it reads on from the log instead (what
        waits is dropped: the log has it). A client that waits only has not run yet: a model
        stream already buffered comes in a burst, and it takes the burst, ``QUEUE_LIMIT``
        events a write."""
        queue = self._queue
        if queue is None:
            return
        if queue.qsize() < QUEUE_LIMIT or self._feed is None or self._waiting:
            queue.put_nowait(item)
            return
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(_BEHIND)
        self._queue = None  # nothing more for it here
        self._behind = True

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
            self._offer(_END)


class Replies:
    """The replies in progress in this process, by message id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Reply] = {}
        self.draining = False
        """Shutting down: no new reply may start (``drain``)."""
        self._drain_cut: asyncio.Event | None = None
        self._drained = False  # past the drain's wait: a reply that begins now is cut at once
        self._early_stops: dict[str, None] = {}  # stops of replies not added yet, oldest first

    def add(self, reply: Reply) -> None:
        """Register ``reply`` (after its first event) until it is done."""
        self._by_id[reply.message_id] = reply
        reply.when_done(lambda: self.discard(reply))
        if self._drained:  # it was starting when the drain ended
            reply.interrupt()
        elif reply.message_id in self._early_stops:  # stopped while it was starting
            del self._early_stops[reply.message_id]
            reply.cancel()

    def discard(self, reply: Reply) -> None:
        """Forget ``reply``."""
        if self._by_id.get(reply.message_id) is reply:
            del self._by_id[reply.message_id]

    def get(self, message_id: str, owner: str) -> Reply | None:
        """``owner``'s reply ``message_id`` in progress here, if any."""
        reply = self._by_id.get(message_id)
        return reply if reply is not None and reply.owner == owner else None

    def cancel(self, message_id: str) -> None:
        """Stop reply ``message_id`` if it runs here (a stop sent to another instance); one
        in its log but not added yet (starting here, or elsewhere) is stopped once added."""
        reply = self._by_id.get(message_id)
        if reply is not None:
            reply.cancel()
            return
        self._early_stops[message_id] = None
        while len(self._early_stops) > EARLY_STOPS:
            del self._early_stops[next(iter(self._early_stops))]

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


def _split(entry: Entry) -> Iterator[list[StreamEvent]]:
    """The events of a log entry, ``LOG_BATCH`` at a time: a merged run of chunks as the
    chunks it joined (their ids follow one another), anything else as it is."""
    event, lens = entry.event, entry.lens
    if not lens or len(lens) < 2 or not isinstance(event, StreamChunk):
        yield [event]
        return
    text, at = event.chunk, 0
    for start in range(0, len(lens), LOG_BATCH):
        events: list[StreamEvent] = []
        for length in lens[start:start + LOG_BATCH]:
            events.append(StreamChunk(event.message_id, event.session_id, text[at:at + length]))
            at += length
        yield events
