"""The seed SSE stream: ``POST /v1/chat/stream`` and its resume,
``GET /v1/chat/{message_id}/events``."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import uuid4

from bailian_geo_agent.agent.events import StreamEvent
from bailian_geo_agent.agent.server import multitask
from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.replies import Reply
from bailian_geo_agent.agent.server.resume import last_seen, reply_info, sse_entries
from bailian_geo_agent.agent.server.schemas import ChatStreamRequest
from bailian_geo_agent.agent.server.sse import SSEAdapter
from bailian_geo_agent.agent.server.state import ERRORS, Caller, State, check_input
from bailian_geo_agent.prompts.catalogue import text
from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse

router = APIRouter(tags=["chat"])


@router.post("/v1/chat/stream", responses={
    200: {"content": {"text/event-stream": {}},
          "description": "SSE: `event:` type, `id:` 1, 2, ..., `data:` the event dict"},
    **ERRORS})
async def chat_stream(body: ChatStreamRequest, identity: Caller,
                      state: State) -> EventSourceResponse:
    """Stream the reply to ``message`` as server-sent events.

    Events: ``stream_start``, ``stream_chunk``s, then ``stream_end``, or ``error`` last;
    ``map_action``, ``tool_start``, ``tool_end`` when asked for in ``events``. While a reply
    runs in the session, ``multitask_strategy`` says what this message does.
    """
    # With approvals (answers to a paused reply) the message must be empty: the service says so.
    answers = body.approvals is not None
    message, sid, wanted = check_input("-" if answers else body.message, body.session_id,
                                       body.events, state.service.settings.max_message_chars)
    if answers:
        message = body.message if isinstance(body.message, str) else "-"
    sid = sid or str(uuid4())
    strategy = body.multitask_strategy or state.settings.multitask_strategy

    async def begin(rollback: bool) -> tuple[Reply, StreamEvent]:
        return await state.start_reply(identity, message, sid, wanted, body.retry, rollback,
                                       body.approvals)

    def adapter(reply: Reply | None) -> SSEAdapter:
        return SSEAdapter(interrupted=lambda: reply is not None and reply.interrupted)

    return await multitask.answer(state, identity, sid, strategy, begin, adapter,
                                  resume=body.resume)


@router.get("/v1/chat/{message_id}/events", responses={
    200: {"content": {"text/event-stream": {}},
          "description": "the reply's events after `Last-Event-ID`, then the live rest"},
    **{k: v for k, v in ERRORS.items() if k != 413}})
async def events(message_id: str, request: Request, identity: Caller, state: State,
                 last_event_id: Annotated[str | None, Query()] = None) -> Any:
    """Resume a reply: every event after ``Last-Event-ID`` (header or query parameter;
    none: from the start), then the live rest; the stream closes after its last event.
    Works on any instance sharing ``GEO_AGENT_STREAM_URL``, until the log expires. A reader
    holds one of the token's ``GEO_AGENT_MAX_CONCURRENT_REPLIES`` slots while it reads."""
    seen = last_seen(request.headers.get("last-event-id"), last_event_id)
    info = await reply_info(state.log, message_id)
    if info is None or info.owner != identity.owner:
        raise ApiError(404, text("reply_log_not_found"))
    release = state.reader_slot(identity)  # a reader streams as a reply does: same limit
    return state.stream(sse_entries(state.log.read(message_id, seen)), on_close=release)
