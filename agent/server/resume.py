"""Resuming replies: ``GET /v1/chat/{message_id}/events`` (SSE after ``Last-Event-ID``),
``GET /api/chat/{chat_id}/stream`` (the AI SDK's ``useChat({ resume: true })`` reconnect) and
stopping a reply that runs on another instance."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from bailian_geo_agent.agent.server import aisdk
from bailian_geo_agent.agent.server.auth import Identity
from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.schemas import ErrorBody, Stopped
from bailian_geo_agent.agent.server.sse import dumps, keep_alive
from bailian_geo_agent.agent.server.streams import Entry, EventLog, LogUnavailable, ReplyInfo
from bailian_geo_agent.prompts.catalogue import text
from fastapi import Depends, FastAPI, Query, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

logger = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 10.0
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 422, 429, 503)
}


def log_error(exc: Exception) -> ApiError:
    """A 503 in the stream's wording for the event log failing."""
    cause = exc.args[0] if isinstance(exc, LogUnavailable) and exc.args else ""
    logger.warning("event log failed: %s", cause or type(exc).__name__)
    return ApiError(503, text("stream_log_unavailable"))


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
    """The id a client last saw (``Last-Event-ID`` header, else the query parameter; 0)."""
    raw = (header or query or "0").strip()
    try:
        seen = int(raw)
    except ValueError:
        seen = -1
    if seen < 0:
        raise ApiError(422, text("bad_last_event_id"))
    return seen


async def sse_entries(entries: AsyncIterator[Entry]) -> AsyncIterator[ServerSentEvent]:
    """Logged entries as SSE events, each with the id of the last event it holds."""
    async for entry in entries:
        event = entry.event
        yield ServerSentEvent(dumps(event), event=event["type"], id=str(entry.seq))


def add_resume_routes(app: FastAPI, log: EventLog, caller: Callable[..., Any],
                      ping_seconds: float) -> None:
    """The resume endpoints, for callers authenticated by ``caller``."""
    who = Depends(caller)

    @app.get("/v1/chat/{message_id}/events", tags=["chat"], responses={
        200: {"content": {"text/event-stream": {}},
              "description": "the reply's events after `Last-Event-ID`, then the live rest"},
        **_ERRORS})
    async def events(message_id: str, request: Request, identity: Identity = who,
                     last_event_id: Annotated[str | None, Query()] = None) -> Any:
        """Resume a reply: every event after ``Last-Event-ID`` (header or query parameter;
        none: from the start), then the live rest; the stream closes after its last event.
        Works on any instance sharing ``GEO_AGENT_STREAM_URL``, until the log expires."""
        seen = last_seen(request.headers.get("last-event-id"), last_event_id)
        info = await reply_info(log, message_id)
        if info is None or info.owner != identity.owner:
            raise ApiError(404, text("reply_log_not_found"))
        return EventSourceResponse(sse_entries(log.read(message_id, seen)), sep="\n",
                                   ping=ping_seconds,
                                   ping_message_factory=keep_alive)

    @app.get("/api/chat/{chat_id}/stream", tags=["chat"], responses={
        200: {"content": {"text/event-stream": {}},
              "description": "the running reply as the AI SDK UI message stream"},
        204: {"description": "no reply is running in this chat"}, **_ERRORS})
    async def ui_resume(chat_id: str, identity: Identity = who) -> Any:
        """The AI SDK's resume hook (``useChat({ resume: true })``): the chat's running reply
        from its start as the UI message stream, or 204 when none runs."""
        sid = aisdk.session_for_chat(chat_id, identity.owner)
        try:
            message_id = await log.active(sid)
        except Exception as exc:
            raise log_error(exc) from None
        info = await reply_info(log, message_id) if message_id else None
        if message_id is None or info is None or info.done:
            return Response(status_code=204)
        if info.owner != identity.owner:
            raise ApiError(404, text("reply_log_not_found"))
        stopped = [False]

        async def replay() -> AsyncIterator[dict[str, Any]]:
            async for entry in log.read(message_id, 0):
                stopped[0] = entry.stopped
                yield entry.event

        source = replay()
        try:
            first = await source.__anext__()
        except StopAsyncIteration:
            return Response(status_code=204)
        parts = aisdk.ui_message_stream(first, source, lambda: stopped[0])
        return EventSourceResponse(parts, headers=aisdk.HEADERS, sep="\n", ping=ping_seconds,
                                   ping_message_factory=keep_alive)
