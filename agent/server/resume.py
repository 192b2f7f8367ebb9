"""Resuming replies from the event log: who may read a logged reply, where a reader starts,
and stopping a reply that runs on another instance (the routes are in ``routes/``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.event_log import Entry, EventLog, ReplyInfo
from bailian_geo_agent.agent.server.schemas import Stopped
from bailian_geo_agent.agent.server.sse import SSEAdapter
from bailian_geo_agent.agent.server.state import log_error
from bailian_geo_agent.prompts.catalogue import text

STOP_WAIT_SECONDS = 10.0
MAX_EVENT_ID = 2**63 - 1
"""The largest ``Last-Event-ID`` accepted (a Redis stream id's sequence holds 64 bits)."""
_DIGITS = re.compile(r"[0-9]{1,19}")  # int() takes "1_0", "+1" and other digits


async def reply_info(log: EventLog, message_id: str) -> ReplyInfo | None:
    """The logged reply ``message_id`` (503 when the log cannot be reached)."""
    try:
        return await log.info(message_id)
    except Exception as exc:
        raise log_error(exc) from None


async def stop_elsewhere(log: EventLog, message_id: str, owner: str) -> Stopped:
    """Stop ``owner``'s reply running on another instance; answer once it has ended."""
    info = await reply_info(log, message_id)
    if info is None or info.owner != owner or info.done:
        raise ApiError(404, text("reply_not_found"))
    try:
        await log.request_stop(message_id)
        await log.wait_done(message_id, STOP_WAIT_SECONDS)
    except Exception as exc:
        raise log_error(exc) from None
    return Stopped(message_id=message_id, session_id=info.session_id)


def last_seen(header: str | None, query: str | None) -> int:
    """The id a client last saw (``Last-Event-ID`` header, else the query parameter; 0): ASCII
    digits only, below ``MAX_EVENT_ID`` (422 otherwise, whichever event log is in use)."""
    raw = (header or query or "0").strip()
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_EVENT_ID:
        raise ApiError(422, text("bad_last_event_id"))
    return int(raw)


async def sse_entries(entries: AsyncIterator[Entry]) -> AsyncIterator[bytes]:
    """Logged entries as SSE events, each with the id of the last event it holds."""
    adapter = SSEAdapter(sep="\r\n")
    async for entry in entries:
        yield adapter.resumed(entry.seq, entry.event, entry.restart)
