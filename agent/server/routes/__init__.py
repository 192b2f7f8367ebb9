"""The HTTP routes, one ``APIRouter`` per concern; ``ROUTERS`` in the order ``create_app``
includes them. Each reads the shared ``ServerState`` through the ``State`` dependency."""

from __future__ import annotations

from bailian_geo_agent.agent.server.routes import (
    agui,
    approvals,
    chat,
    health,
    metrics,
    sessions,
    stop,
    ui,
    usage,
)
from fastapi import APIRouter

ROUTERS: tuple[APIRouter, ...] = (
    health.router, chat.router, ui.router, stop.router, sessions.router, metrics.router,
    usage.router, approvals.router, agui.router,
)
