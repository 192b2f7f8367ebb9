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

Writing never blocks the reply: ``LogFeed.add`` (the reply's own task calls it) hands entries
to ``EventLog.append``, which the in-process log applies at once and the Redis log sends in
the background, every reply's entries in one pipeline.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bailian_geo_agent.agent.events import (
    TERMINAL_EVENTS,
    StreamChunk,
    StreamEvent,
    event_from_dict,
)

COALESCE_AFTER = 256
"""Entries written one event each before chunks start being coalesced."""
COALESCE_SECONDS = 0.05
"""Longest a chunk waits before its coalesced entry is written."""
COALESCE_CHARS = 4096
"""Characters after which a coalesced entry is written at once."""


@dataclass(slots=True)
class Entry:
    """One log entry: an event, or several consecutive chunks joined (ids ``first``..``seq``)."""

    seq: int
    event: StreamEvent
    first: int = 0
    lens: Sequence[int] | None = None
    stopped: bool = False
    restart: bool = False
    """The reply's last event, ended by a server restart (resume or retry elsewhere)."""

    def __post_init__(self) -> None:
        if not self.first:
            self.first = self.seq

    @property
    def terminal(self) -> bool:
        """Whether this is the reply's last event."""
        return isinstance(self.event, TERMINAL_EVENTS)

    def after(self, seen: int) -> Entry | None:
        """What of this entry a client that has seen id ``seen`` has not (``None``: nothing)."""
        if self.seq <= seen:
            return None
        event = self.event
        if self.first > seen or not self.lens or not isinstance(event, StreamChunk):
            return self
        skip = sum(self.lens[: seen - self.first + 1])
        rest = StreamChunk(event.message_id, event.session_id, event.chunk[skip:])
        return Entry(self.seq, rest, seen + 1, self.lens[seen - self.first + 1:], self.stopped,
                     self.restart)

    def to_dict(self) -> dict[str, Any]:
        """The entry as stored (JSON-able)."""
        out: dict[str, Any] = {"q": self.seq, "e": self.event.to_dict()}
        if self.first != self.seq:
            out["f"] = self.first
        if self.lens:
            out["l"] = list(self.lens)
        if self.stopped:
            out["s"] = 1
        if self.restart:
            out["r"] = 1
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        """The inverse of ``to_dict``."""
        return cls(data["q"], event_from_dict(data["e"]), data.get("f", 0), data.get("l"),
                   bool(data.get("s")), bool(data.get("r")))


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
        """Write what is pending, end background work and release connections."""

    async def ping(self, fresh: bool = False) -> None:
        """Raise ``LogUnavailable`` if the log cannot be written (``fresh``: ask now, not a
        recent answer)."""

    async def open(self, message_id: str, owner: str, session_id: str) -> None:
        """Register a reply that is starting."""
        raise NotImplementedError

    def append(self, message_id: str, entries: list[Entry]) -> None:
        """Append ``entries`` (in order) to the reply's log, without waiting."""
        raise NotImplementedError

    def finish(self, message_id: str, session_id: str) -> None:
        """The reply has ended (after its last ``append``): keep its log ``ttl`` seconds more."""
        raise NotImplementedError

    async def flushed(self) -> None:
        """Until everything appended so far has been written (or given up on)."""

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


class LogFeed:
    """One reply's events into its log, in order, coalescing chunks (see module doc).

    ``add`` is synchronous and cheap: the reply's task calls it beside handing the event to
    its client. A group of coalesced chunks is written when it is full, when another event
    comes, or ``COALESCE_SECONDS`` after its first chunk (a timer, one per group).
    """

    __slots__ = ("_chars", "_chunks", "_log", "_timer", "_written", "message_id", "session_id")

    def __init__(self, log: EventLog, message_id: str, session_id: str) -> None:
        self._log = log
        self.message_id = message_id
        self.session_id = session_id
        self._written = 0
        self._chunks: list[tuple[int, StreamChunk]] = []
        self._chars = 0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, seq: int, event: StreamEvent, stopped: bool = False,
            restart: bool = False) -> None:
        """Event ``seq`` of the reply (for its last: ``stopped``, the reply was stopped;
        ``restart``, it was cut by a server restart)."""
        if self._written >= COALESCE_AFTER and type(event) is StreamChunk:
            chunks = self._chunks
            if not chunks:
                self._timer = asyncio.get_running_loop().call_later(
                    COALESCE_SECONDS, self._write_chunks)
            chunks.append((seq, event))
            self._chars += len(event.chunk)
            if self._chars >= COALESCE_CHARS:
                self._write_chunks()
            return
        entry = Entry(seq, event, stopped=stopped, restart=restart)
        batch = [self._joined(), entry] if self._chunks else [entry]
        self._written += len(batch)
        self._log.append(self.message_id, batch)
        if entry.terminal:
            self._log.finish(self.message_id, self.session_id)

    def _write_chunks(self) -> None:
        if self._chunks:
            self._written += 1
            self._log.append(self.message_id, [self._joined()])

    def _joined(self) -> Entry:
        """The waiting chunks as one entry (and none waiting)."""
        chunks, self._chunks, self._chars = self._chunks, [], 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if len(chunks) == 1:
            seq, event = chunks[0]
            return Entry(seq, event)
        first = chunks[0][1]
        text = "".join(event.chunk for _, event in chunks)
        lens = array("I", [len(event.chunk) for _, event in chunks])  # 4 bytes a chunk
        return Entry(chunks[-1][0], StreamChunk(first.message_id, first.session_id, text),
                     chunks[0][0], lens)
