"""``POST /v1/chat/{message_id}/stop``: stop a reply in progress, here or on another
instance."""

from __future__ import annotations

from bailian_geo_agent.agent.server.resume import stop_elsewhere
from bailian_geo_agent.agent.server.schemas import Stopped
from bailian_geo_agent.agent.server.state import ERRORS, Caller, State
from fastapi import APIRouter

router = APIRouter(tags=["chat"])


@router.post("/v1/chat/{message_id}/stop", response_model=Stopped, responses=ERRORS)
async def stop(message_id: str, identity: Caller, state: State) -> Stopped:
    """Stop a reply in progress: it ends with its ``error`` event (cancelled) and the
    model request is closed; the session stays usable."""
    reply = state.replies.get(message_id, identity.owner)
    if reply is None:  # it may run on another instance
        return await stop_elsewhere(state.log, message_id, identity.owner)
    await reply.stop()
    return Stopped(message_id=reply.message_id, session_id=reply.session_id)
