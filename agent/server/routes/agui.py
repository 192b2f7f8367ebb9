"""The AG-UI protocol: ``POST /v1/agui`` (an ``HttpAgent`` of ``@ag-ui/client``, CopilotKit)."""

from __future__ import annotations

from typing import Any

from ag_ui.core import RunAgentInput
from bailian_geo_agent.agent.events import FRONT_END_EVENTS, StreamEvent
from bailian_geo_agent.agent.server import agui, multitask
from bailian_geo_agent.agent.server.aisdk import session_for_chat
from bailian_geo_agent.agent.server.errors import ApiError, describe_validation
from bailian_geo_agent.agent.server.replies import Reply
from bailian_geo_agent.agent.server.state import ERRORS, Caller, State, check_input
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, ValidationError
from sse_starlette import EventSourceResponse

router = APIRouter(tags=["chat"])
_EVENTS = frozenset(FRONT_END_EVENTS) | {"usage"}  # usage: RUN_FINISHED.usage


class AGUIOptions(BaseModel):
    """What ``forwardedProps`` may carry for us (other keys are ignored)."""

    model_config = ConfigDict(extra="ignore")

    reasoning: bool = False
    """Also stream a thinking model's reasoning (``REASONING_*`` events)."""
    resume: bool = False
    """Keep the reply running when the client disconnects (``abortRun``), readable with
    ``GET /v1/chat/{message_id}/events``; by default a disconnect stops it."""
    retry: bool = False
    """The same message sent again after a ``RUN_ERROR`` with code ``interrupted``: the
    stored turn is replaced, not repeated."""
    multitask_strategy: multitask.Strategy | None = None
    """While a reply runs in the thread: ``reject`` (409), ``enqueue``, ``interrupt`` or
    ``rollback`` (none: the server's ``GEO_AGENT_MULTITASK_STRATEGY``)."""


def options(forwarded: Any) -> AGUIOptions:
    """``forwardedProps``'s options (422 when one has a wrong type)."""
    if not isinstance(forwarded, dict):
        return AGUIOptions()
    try:
        return AGUIOptions.model_validate(forwarded)
    except ValidationError as exc:
        errors = [{**e, "loc": ("forwardedProps", *e["loc"])} for e in exc.errors()]
        raise ApiError(422, describe_validation(errors)) from None


@router.post("/v1/agui", responses={
    200: {"content": {"text/event-stream": {}},
          "description": "the AG-UI protocol's events (SSE `data:` lines, 1.0)"},
    **ERRORS})
async def agui_run(body: RunAgentInput, identity: Caller, state: State) -> EventSourceResponse:
    """Run the geo agent for an AG-UI client: the reply as AG-UI events.

    ``threadId`` names the session (of this token); the last user message's text is the new
    message (the session keeps the history); ``forwardedProps`` may set ``reasoning``,
    ``resume``, ``retry`` and ``multitask_strategy``. Map commands come as ``CUSTOM`` events
    named ``map_action`` and as the ``map.actions`` of a ``STATE_SNAPSHOT``.
    """
    opts = options(body.forwarded_props)
    sid = session_for_chat(body.thread_id, identity.owner)
    message, _, _ = check_input(agui.last_user_text(body), None, None,
                                state.service.settings.max_message_chars)
    wanted = _EVENTS | {"reasoning_chunk"} if opts.reasoning else _EVENTS
    strategy = opts.multitask_strategy or state.settings.multitask_strategy

    async def begin(rollback: bool) -> tuple[Reply, StreamEvent]:
        return await state.start_reply(identity, message, sid, wanted, opts.retry, rollback)

    def adapter(reply: Reply | None) -> agui.AGUIAdapter:
        return agui.AGUIAdapter(body.thread_id, body.run_id, state=body.state,
                                model=state.metrics.model,
                                stopped=lambda: reply is not None and reply.stopped,
                                interrupted=lambda: reply is not None and reply.interrupted)

    return await multitask.answer(state, identity, sid, strategy, begin, adapter, agui.HEADERS,
                                  resume=opts.resume)
