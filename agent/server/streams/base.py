"""Per-reply event logs: what a resuming client reads, and the policy that keeps them small.

Every event of a reply has its SSE id (1, 2, ...). A log holds *entries*: one event each, except
that once a reply has ``COALESCE_AFTER`` entries, consecutive ``stream_chunk`` events are
coalesced into one entry per ``COALESCE_SECONDS`` or ``COALESCE_CHARS`` (whichever comes
first). A coalesced entry remembers the ids and lengths of the chunks it joins, so a client
resuming after *any* id, even one inside a coalesced entry, gets exactly the text after it:
no chunk is repeated or lost. Entries are never trimmed otherwise; the whole log expires
``GEO_AGENT_STREAM_TTL`` seconds after the reply ends.

Bound: a reply of N events and C characters keeps at most
``COALESCE_AFTER + (non-chunk events) + C / COALESCE_CHARS + duration / COALESCE_SECONDS``
entries (300,000 chunks streamed in a few seconds: a few hundred entries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"stream_end", "error"})
COALESCE_AFTER = 256
"""Entries written one event each before chunks start being coalesced."""
COALESCE_SECONDS = 0.05
"""Longest a chunk waits before its coalesced entry is written."""
COALESCE_CHARS = 4096
"""Characters after which a coalesced entry is written at once."""


@dataclass
class Entry:
    """One log entry: an event, or several consecutive chunks joined (ids ``first``..``seq``)."""

    seq: int
    event: dict[str, Any]
    first: int = 0
    lens: list[int] | None = None
    stopped: bool = False

    def __post_init__(self) -> None:
        if not self.first:
            self.first = self.seq

    @property
    def terminal(self) -> bool:
        """Whether this is the reply's last event."""
        return self.event["type"] in TERMINAL

    def after(self, seen: int) -> Entry | None:
        """What of this entry a client that has seen id ``seen`` has not (``None``: nothing)."""
        if self.seq <= seen:
            return None
        if self.first > seen or not self.lens:
            return self
        skip = sum(self.lens[: seen - self.first + 1])
        event = {**self.event, "chunk": self.event["chunk"][skip:]}
        return Entry(self.seq, event, seen + 1, self.lens[seen - self.first + 1:], self.stopped)

    def to_dict(self) -> dict[str, Any]:
        """The entry as stored (JSON-able)."""
        out: dict[str, Any] = {"q": self.seq, "e": self.event}
        if self.first != self.seq:
            out["f"] = self.first
        if self.lens:
            out["l"] = self.lens
        if self.stopped:
            out["s"] = 1
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        """The inverse of ``to_dict``."""
        return cls(data["q"], data["e"], data.get("f", 0), data.get("l"), bool(data.get("s")))


@dataclass
class ReplyInfo:
    """Who a logged reply belongs to, and whether it has ended."""

    owner: str
    session_id: str
    done: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class LogUnavailable(Exception):
    """The event log (Redis) cannot be reached."""


class EventLog:
    """Where replies' events are kept for resuming; subclasses: in-process and Redis."""

    ttl: float = 600.0

    def on_stop(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(message_id)`` when any instance asks to stop a reply."""
        self._stop_callback = callback

    async def start(self) -> None:
        """Begin background work (stop listener, heartbeat)."""

    async def aclose(self) -> None:
        """End background work and release connections."""

    async def ping(self, fresh: bool = False) -> None:
        """Raise ``LogUnavailable`` if the log cannot be written (``fresh``: ask now, not a
        recent answer)."""

    async def open(self, message_id: str, owner: str, session_id: str) -> None:
        """Register a reply that is starting."""
        raise NotImplementedError

    async def write(self, message_id: str, entries: list[Entry]) -> None:
        """Append ``entries`` (in order) to the reply's log."""
        raise NotImplementedError

    async def close(self, message_id: str, session_id: str) -> None:
        """The reply has ended: keep its log for ``ttl`` seconds more."""
        raise NotImplementedError

    async def info(self, message_id: str) -> ReplyInfo | None:
        """The reply's owner and state, if its log exists."""
        raise NotImplementedError

    async def active(self, session_id: str) -> str | None:
        """The id of the reply running in ``session_id``, if any."""
        raise NotImplementedError

    def read(self, message_id: str, after: int) -> AsyncIterator[Entry]:
        """The entries after id ``after``, then the live ones, up to the terminal one."""
        raise NotImplementedError

    async def request_stop(self, message_id: str) -> bool:
        """Ask the instance running ``message_id`` to stop it; whether anyone may have heard."""
        return False

    async def wait_done(self, message_id: str, timeout: float) -> bool:
        """Wait until the reply has ended (at most ``timeout`` s); whether it has."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            info = await self.info(message_id)
            if info is None or info.done:
                return True
            await asyncio.sleep(0.02)
        return False

    def _stopped(self, message_id: str) -> None:
        callback = getattr(self, "_stop_callback", None)
        if callback is not None:
            callback(message_id)


class LogWriter:
    """Appends one reply's events to its log in order, coalescing chunks (see module doc).

    ``put`` never blocks; writing happens in a task of its own, so a slow log never slows the
    reply. ``opened`` completes once the log has registered the reply.
    """

    def __init__(self, log: EventLog, message_id: str, owner: str, session_id: str) -> None:
        self.log = log
        self.message_id = message_id
        self.session_id = session_id
        self._owner = owner
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._run())
        self._failed = False

    def put(self, seq: int, event: dict[str, Any], stopped: bool = False) -> None:
        """Queue event ``seq`` of the reply."""
        self._queue.put_nowait(Entry(seq, event, stopped=stopped))

    async def wait(self) -> None:
        """Until everything put has been written (or given up on)."""
        await asyncio.wait({self._task})

    def cancel(self) -> None:
        """Give up writing (the reply never began)."""
        self._task.cancel()

    async def _run(self) -> None:
        try:
            await self.log.open(self.message_id, self._owner, self.session_id)
        except BaseException as exc:
            if not self.opened.done():
                self.opened.set_exception(LogUnavailable(type(exc).__name__))
            return
        self.opened.set_result(None)
        loop = asyncio.get_running_loop()
        written = 0
        chunks: list[Entry] = []
        chars = 0
        deadline = 0.0
        queue = self._queue
        while True:
            if chunks:
                try:
                    entry = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    await self._write([_join(chunks)])
                    written += 1
                    chunks, chars = [], 0
                    continue
            else:
                entry = await queue.get()
            if entry.event["type"] == "stream_chunk" and written >= COALESCE_AFTER:
                if not chunks:
                    deadline = loop.time() + COALESCE_SECONDS
                chunks.append(entry)
                chars += len(entry.event["chunk"])
                if chars < COALESCE_CHARS:
                    continue
                batch = [_join(chunks)]
                chunks, chars = [], 0
            else:
                batch = [_join(chunks)] if chunks else []
                batch.append(entry)
                chunks, chars = [], 0
                # Whatever else is already queued, up to the coalescing point, goes along.
                while (not entry.terminal and not queue.empty()
                       and written + len(batch) < COALESCE_AFTER):
                    entry = queue.get_nowait()
                    batch.append(entry)
            await self._write(batch)
            written += len(batch)
            if entry.terminal:
                await self._finish()
                return

    async def _write(self, batch: list[Entry]) -> None:
        # Every batch is retried in place: a dropped one would leave a gap that a resuming
        # reader could never fill (the order of the log is the order of the reply).
        for attempt in range(4):
            try:
                await self.log.write(self.message_id, batch)
                return
            except Exception as exc:
                if not self._failed:
                    logger.warning("event log write failed for reply %s: %s",
                                   self.message_id, type(exc).__name__)
                    self._failed = True
                if attempt < 3:
                    await asyncio.sleep(0.25 * (attempt + 1))

    async def _finish(self) -> None:
        with contextlib.suppress(Exception):
            await self.log.close(self.message_id, self.session_id)


def _join(chunks: list[Entry]) -> Entry:
    """Consecutive chunk entries as one."""
    if len(chunks) == 1:
        return chunks[0]
    event = {**chunks[0].event, "chunk": "".join(c.event["chunk"] for c in chunks)}
    return Entry(chunks[-1].seq, event, chunks[0].seq, [len(c.event["chunk"]) for c in chunks])
