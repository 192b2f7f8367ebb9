"""The Vercel AI SDK UI message stream: ``POST /api/chat`` (``useChat``'s default transport)
and ``GET /api/chat/{chat_id}/stream`` (its ``resume: true`` reconnect)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from bailian_geo_agent.agent.events import FRONT_END_EVENTS, StreamEvent
from bailian_geo_agent.agent.server import aisdk, multitask
from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.replies import Reply
from bailian_geo_agent.agent.server.resume import reply_info
from bailian_geo_agent.agent.server.schemas import UIChatRequest
from bailian_geo_agent.agent.server.state import (
    ERRORS,
    Caller,
    State,
    check_input,
    log_error,
)
from bailian_geo_agent.prompts.catalogue import text
from fastapi import APIRouter, Response
from sse_starlette import EventSourceResponse

router = APIRouter(tags=["chat"])
_EVENTS = frozenset(FRONT_END_EVENTS)  # what the page asks for, from the one list
_AISDK_EVENTS = _EVENTS | aisdk.AISDKAdapter.NEEDS  # sources, usage for the metadata
_AISDK_EVENTS |= {"approval_request"}  # tool approval parts (GEO_AGENT_APPROVAL_TOOLS only)


async def _one_at_a_time(events: AsyncIterator[StreamEvent]) -> AsyncIterator[list[StreamEvent]]:
    async for event in events:
        yield [event]


@router.post("/api/chat", responses={
    200: {"content": {"text/event-stream": {}},
          "description": "the AI SDK UI message stream protocol (v1)"},
    **ERRORS})
async def ui_chat(body: UIChatRequest, identity: Caller, state: State) -> EventSourceResponse:
    """The reply as the Vercel AI SDK UI message stream (``useChat``'s default transport).

    The chat ``id`` names the session; the last user message's text is the new message.
    """
    started = time.perf_counter()
    sid = aisdk.session_for_chat(body.id, identity.owner)
    responses = aisdk.approval_responses(body)  # answers to a paused reply: no new message
    message = ""
    if responses is None:
        message, _, _ = check_input(aisdk.last_user_text(body), None, None,
                                    state.service.settings.max_message_chars)
    wanted = _AISDK_EVENTS | {"reasoning_chunk"} if body.sendReasoning else _AISDK_EVENTS
    # useChat's regenerate(): after a reply interrupted by a restart, its turn is replaced.
    retry = body.trigger == "regenerate-message"
    strategy = body.multitask_strategy or state.settings.multitask_strategy
    approvals = responses.approvals if responses else None

    async def begin(rollback: bool) -> tuple[Reply, StreamEvent]:
        return await state.start_reply(identity, message, sid, wanted, retry, rollback,
                                       approvals)

    def adapter(reply: Reply | None) -> aisdk.AISDKAdapter:
        made = aisdk.AISDKAdapter(lambda: reply is not None and reply.stopped,
                                  lambda: reply is not None and reply.interrupted,
                                  model=state.model, started=started)
        if responses is not None:
            made.continue_after_approvals(responses)
        return made

    return await multitask.answer(state, identity, sid, strategy, begin, adapter, aisdk.HEADERS,
                                  resume=(body.model_extra or {}).get("resume") is not False)


@router.get("/api/chat/{chat_id}/stream", responses={
    200: {"content": {"text/event-stream": {}},
          "description": "the running reply as the AI SDK UI message stream"},
    204: {"description": "no reply is running in this chat"},
    **{k: v for k, v in ERRORS.items() if k != 413}})
async def ui_resume(chat_id: str, identity: Caller, state: State) -> Any:
    """The AI SDK's resume hook (``useChat({ resume: true })``): the chat's running reply
    from its start as the UI message stream, or 204 when none runs. A reader holds one of
    the token's ``GEO_AGENT_MAX_CONCURRENT_REPLIES`` slots while it reads."""
    log = state.log
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
    release = state.reader_slot(identity)  # a reader streams as a reply does: same limit
    stopped = [False, False]  # the last entry's: stopped, cut by a restart

    async def replay() -> AsyncIterator[StreamEvent]:
        async for entry in log.read(message_id, 0):
            stopped[:] = [entry.stopped, entry.restart]
            yield entry.event

    source = replay()
    try:
        first = await anext(source)
    except StopAsyncIteration:
        release()
        return Response(status_code=204)
    except BaseException:
        release()
        raise
    frames = aisdk.AISDKAdapter(lambda: stopped[0], lambda: stopped[1],
                                model=state.model).stream(
        first, _one_at_a_time(source))
    return state.stream(frames, aisdk.HEADERS, on_close=release)
