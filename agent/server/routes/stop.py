"""``POST /v1/chat/{message_id}/stop``: stop a reply in progress, here or on another
instance; ``POST /api/chat/{chat_id}/stop``: the same for an AI SDK chat (the stop endpoint
the AI SDK documents for resumable streams, where ``stop()`` only closes the connection)."""

from __future__ import annotations

import asyncio

from bailian_geo_agent.agent.server import aisdk, multitask
from bailian_geo_agent.agent.server.resume import stop_elsewhere
from bailian_geo_agent.agent.server.schemas import (
    Stopped,
    UIMessage,
    UIStopped,
    UIStopRequest,
)
from bailian_geo_agent.agent.server.state import (
    ERRORS,
    Caller,
    ServerState,
    State,
    log_error,
    service_call,
)
from fastapi import APIRouter

router = APIRouter(tags=["chat"])
START_WAIT_SECONDS = 2.0
"""How long a stop that names no reply waits for one to begin: the stop button pressed just
after sending, before the reply has started (it would run on, unseen, after ``stop()``)."""
_POLL_SECONDS = 0.05


@router.post("/v1/chat/{message_id}/stop", response_model=Stopped, responses=ERRORS)
async def stop(message_id: str, identity: Caller, state: State) -> Stopped:
    """Stop a reply in progress: it ends with its ``error`` event (cancelled) and the
    model request is closed; the session stays usable."""
    reply = state.replies.get(message_id, identity.owner)
    if reply is None:  # it may run on another instance
        return await stop_elsewhere(state.log, message_id, identity.owner)
    await reply.stop()
    return Stopped(message_id=reply.message_id, session_id=reply.session_id)


async def _active(state: ServerState, sid: str, wait: float) -> str | None:
    """The reply running in session ``sid``, waiting up to ``wait`` seconds for one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        try:
            message_id = await state.log.active(sid)
        except Exception as exc:
            raise log_error(exc) from None
        if message_id is not None or loop.time() >= deadline:
            return message_id
        await asyncio.sleep(_POLL_SECONDS)


def _reply_of(message: UIMessage) -> str | None:
    """The reply running in an assistant message: its metadata's after tool approvals (the
    message keeps the paused reply's id), else the message's id."""
    metadata = (message.model_extra or {}).get("metadata")
    running = metadata.get(aisdk.REPLY_ID) if isinstance(metadata, dict) else None
    return running if isinstance(running, str) else message.id


@router.post("/api/chat/{chat_id}/stop", response_model=UIStopped, responses=ERRORS)
async def ui_stop(chat_id: str, identity: Caller, state: State,
                  body: UIStopRequest | None = None) -> UIStopped:
    """Stop the chat's running reply (``useChat``'s stop button: this call, then ``stop()``):
    its model request is closed, and with ``assistantMessage`` its stored answer is what the
    client showed. Nothing running (or a newer reply than ``activeStreamId``): nothing
    happens; a stop naming no reply waits ``START_WAIT_SECONDS`` for one to begin."""
    sid = aisdk.session_for_chat(chat_id, identity.owner)
    shown = body.assistantMessage if body is not None else None
    asked = (body.activeStreamId if body is not None else None) or (
        _reply_of(shown) if shown is not None and shown.role == "assistant" else None)
    message_id = await _active(state, sid, START_WAIT_SECONDS if asked is None else 0.0)
    if message_id is None or (asked is not None and asked != message_id):
        return UIStopped()
    if not await multitask.stop_reply(state, message_id, identity.owner):
        return UIStopped()
    if shown is not None and shown.role == "assistant":
        await service_call(state.service.keep_seen_answer(sid, aisdk.seen_answer(shown)))
    return UIStopped(stopped=True, messageId=message_id)
