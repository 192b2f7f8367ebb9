"""``GET`` and ``DELETE /v1/sessions/{session_id}``: a caller's stored conversations."""

from __future__ import annotations

from bailian_geo_agent.agent.server.auth import Identity
from bailian_geo_agent.agent.server.schemas import History, history_message
from bailian_geo_agent.agent.server.state import (
    ERRORS,
    Caller,
    ServerState,
    State,
    check_session,
    service_call,
)
from fastapi import APIRouter, Response

router = APIRouter(tags=["sessions"])


async def _owned(state: ServerState, session_id: str, identity: Identity) -> str:
    """The session id, if ``identity`` owns that session (else 404)."""
    sid = check_session(session_id)
    await state.require_owner(state.owners.owns(sid, identity.owner))
    return sid


@router.get("/v1/sessions/{session_id}", response_model=History, responses=ERRORS)
async def history(session_id: str, identity: Caller, state: State) -> History:
    """The session's stored messages, oldest first."""
    sid = await _owned(state, session_id, identity)
    messages = await service_call(state.service.get_history(sid))
    return History(session_id=sid, messages=[history_message(m) for m in messages])


@router.delete("/v1/sessions/{session_id}", status_code=204, responses=ERRORS)
async def delete(session_id: str, identity: Caller, state: State) -> Response:
    """Forget the session."""
    sid = await _owned(state, session_id, identity)
    await service_call(state.service.delete_session(sid))
    await state.owners_call(state.owners.forget(sid))
    return Response(status_code=204)
