"""The in-process event log (the default): resumable on this instance only."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator

from bailian_geo_agent.agent.server.event_log.base import Entry, EventLog, ReplyInfo


class _Log:
    """One reply's entries and who waits for more."""

    __slots__ = ("changed", "done", "entries", "info", "seqs")

    def __init__(self, info: ReplyInfo) -> None:
        self.info = info
        self.entries: list[Entry] = []
        self.seqs: list[int] = []
        self.changed: asyncio.Event | None = None  # made by the first reader that waits
        self.done = False

    def wake(self) -> None:
        """Tell the readers waiting that there is more (nothing to do when none waits)."""
        changed = self.changed
        if changed is not None:
            self.changed = None
            changed.set()


class MemoryLog(EventLog):
    """Logs kept in this process; a finished reply's log is dropped ``ttl`` seconds later."""

    def __init__(self, ttl: float = 600.0) -> None:
        self.ttl = ttl
        self._logs: dict[str, _Log] = {}
        self._active: dict[str, str] = {}

    async def open(self, message_id: str, owner: str, session_id: str) -> None:
        self._logs[message_id] = _Log(ReplyInfo(owner, session_id))
        self._active[session_id] = message_id

    def append(self, message_id: str, entries: list[Entry]) -> None:
        log = self._logs.get(message_id)
        if log is None:
            return
        for entry in entries:
            log.entries.append(entry)
            log.seqs.append(entry.seq)
        log.wake()

    def finish(self, message_id: str, session_id: str) -> None:
        log = self._logs.get(message_id)
        if log is not None:
            log.done = log.info.done = True
            log.wake()
            asyncio.get_running_loop().call_later(self.ttl, self._expire, message_id, log)
        if self._active.get(session_id) == message_id:
            del self._active[session_id]

    def _expire(self, message_id: str, log: _Log) -> None:
        if self._logs.get(message_id) is log:
            del self._logs[message_id]

    async def info(self, message_id: str) -> ReplyInfo | None:
        log = self._logs.get(message_id)
        return log.info if log is not None else None

    async def active(self, session_id: str) -> str | None:
        return self._active.get(session_id)

    async def request_stop(self, message_id: str) -> bool:
        # Every reply of this log runs in this process; one still starting (logged, not yet
        # among the replies) is stopped as it is added (``Replies.cancel``).
        self._stopped(message_id)
        return True

    async def read(self, message_id: str, after: int) -> AsyncIterator[Entry]:
        log = self._logs.get(message_id)
        if log is None:
            return
        seen = after
        while True:
            start = bisect.bisect_right(log.seqs, seen)
            for entry in log.entries[start:]:
                part = entry.after(seen)
                if part is None:
                    continue
                seen = part.seq
                yield part
                if part.terminal:
                    return
            if bisect.bisect_right(log.seqs, seen) < len(log.seqs):
                continue  # more came while the last entries were being read (the end too)
            if log.done:
                return
            if log.changed is None:
                log.changed = asyncio.Event()
            await log.changed.wait()

    def __len__(self) -> int:
        return len(self._logs)
