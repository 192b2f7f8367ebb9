"""``GET /healthz`` (the process is up) and ``GET /readyz`` (it can answer)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from bailian_geo_agent.agent.server.event_log import LogUnavailable
from bailian_geo_agent.agent.server.schemas import Health
from bailian_geo_agent.agent.server.state import State, error_text
from bailian_geo_agent.prompts.catalogue import text as message_text
from fastapi import APIRouter
from starlette.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(state: State) -> Any:
    """The session store answers and the model key is configured; 503 at once while the
    server drains (shutting down), so a proxy sends it nothing new."""
    if state.draining:
        body = Health(status="draining",
                      checks={"draining": message_text("server_draining_check")})
        return JSONResponse(body.model_dump(), status_code=503)
    service = state.service
    checks = {"session_store": "ok", "api_key": "ok", "event_log": "ok"}
    try:
        await service.get_history(str(uuid4()))
        await state.owners.ping()
    except Exception as exc:
        checks["session_store"] = error_text(exc)
    try:
        await state.log.ping(fresh=True)
    except LogUnavailable:
        checks["event_log"] = message_text("stream_log_unavailable")
    # A service built with the caller's own model needs no key of ours.
    if service.settings.api_key is None and getattr(service, "_model", None) is None:
        checks["api_key"] = message_text("missing_key")
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
