"""``GET /metrics``: the service's metrics in the Prometheus text format
(``agent.server.metrics``), behind the API's tokens unless ``GEO_AGENT_METRICS`` says
``public`` (or ``off``: 404)."""

from __future__ import annotations

from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.state import State
from bailian_geo_agent.prompts.catalogue import text
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
    401: {"description": "a token is needed (GEO_AGENT_METRICS=auth)"},
    404: {"description": "metrics are off (GEO_AGENT_METRICS=off)"}})
async def metrics(request: Request, state: State) -> Response:
    """The service's metrics (replies, time to first chunk, tokens, tools, refusals) for a
    Prometheus scrape."""
    mode = state.settings.metrics
    if mode == "off":
        raise ApiError(404, text("metrics_off"))
    if mode == "auth":
        state.auth.identify(request)  # 401 without a valid token; not rate-limited
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
