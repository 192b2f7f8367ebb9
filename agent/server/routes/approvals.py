"""``GET /v1/sessions/{session_id}/approvals``: the tool calls of a session waiting for the
user's approval (``GEO_AGENT_APPROVAL_TOOLS``), for a client that reloaded."""

from __future__ import annotations

from typing import Any

from bailian_geo_agent.agent.server.state import (
    ERRORS,
    Caller,
    State,
    check_session,
    service_call,
)
from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["sessions"])


class PendingApproval(BaseModel):
    """A tool call waiting for the user's answer, as its ``approval_request`` event said."""

    tool: str
    arguments: dict[str, Any]
    tool_call_id: str | None
    approval_id: str


class PendingApprovals(BaseModel):
    """What waits in a session; answer with ``POST /v1/chat/stream``'s ``approvals``."""

    session_id: str
    approvals: list[PendingApproval]


@router.get("/v1/sessions/{session_id}/approvals", response_model=PendingApprovals,
            responses=ERRORS)
async def pending(session_id: str, identity: Caller, state: State) -> PendingApprovals:
    """The session's tool calls waiting for approval (empty when none waits)."""
    sid = check_session(session_id)
    await state.require_owner(state.owners.owns(sid, identity.owner))
    waiting = getattr(state.service, "pending_approvals", None)  # a caller's own service
    found = await service_call(waiting(sid)) if waiting is not None else []
    return PendingApprovals(session_id=sid, approvals=[PendingApproval(**a) for a in found])
