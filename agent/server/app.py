"""``create_app``: the chat service over HTTP (SSE and the AI SDK UI message stream).

Endpoints: ``POST /v1/chat/stream``, ``POST /api/chat``, ``POST /v1/chat/{message_id}/stop``,
``GET /v1/chat/{message_id}/events`` and ``GET /api/chat/{chat_id}/stream`` (resume),
``GET``/``DELETE /v1/sessions/{session_id}``, ``GET /v1/usage``, ``GET /metrics``,
``GET /healthz``, ``GET /readyz``; OpenAPI at ``/docs`` (packaged Swagger UI,
``agent.server.docs``; off with ``GEO_AGENT_DOCS=false``); the web page at ``/``
(``agent.server.page``). The routes live in ``routes/``, one
router per concern, sharing one ``ServerState`` (``app.state.geo_agent``). Mount the app in
your own FastAPI app, or run it with ``geo-agent serve``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bailian_geo_agent.agent.server.a2a import install_a2a
from bailian_geo_agent.agent.server.docs import OPENAPI_PATH, install_docs
from bailian_geo_agent.agent.server.errors import ServiceLanguage, install_handlers
from bailian_geo_agent.agent.server.hosts import HostGuard, ProxyHeaders
from bailian_geo_agent.agent.server.limits import BodySizeLimit
from bailian_geo_agent.agent.server.page import TILE_URLS, install_page
from bailian_geo_agent.agent.server.request_log import RequestLog
from bailian_geo_agent.agent.server.routes import ROUTERS
from bailian_geo_agent.agent.server.settings import ServerSettings
from bailian_geo_agent.agent.server.state import ServerState, error_text
from bailian_geo_agent.agent.server.tracing import RequestSpans
from bailian_geo_agent.tools.infra import version
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

logger = logging.getLogger(__name__)


def create_app(
    service: Any = None, settings: ServerSettings | None = None, *, close_service: bool = False,
    prepare: bool = False,
) -> FastAPI:
    """The ASGI app serving ``service`` (a ``StreamChatService``; one from the environment
    when ``None``). ``settings``: the server's own (auth, limits, CORS), from the environment
    when ``None``. The app closes the service it made, or yours with ``close_service``; with
    ``prepare``, it builds the agent at start-up instead of at the first reply (a failure
    is logged and left to the first reply and ``/readyz`` to report).
    Raises ``ConfigurationError`` for bad settings."""
    settings = settings or ServerSettings.from_env()
    owns_service = service is None or close_service
    if service is None:
        from bailian_geo_agent.agent import StreamChatService

        service = StreamChatService()
    state = ServerState(service, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.log.start()
        if prepare:
            try:
                await service.prepare()
            except Exception as exc:
                logger.warning("the agent could not be built at start-up: %s", error_text(exc))
        try:
            yield
        finally:
            # A drain: replies still running may finish (GEO_AGENT_DRAIN_SECONDS), the rest
            # end as "restarting" (already done when ``geo-agent serve`` drained on its signal).
            await state.drain()
            await state.log.aclose()
            await state.usage.aclose()
            await state.turns.aclose()
            await state.owners.aclose()
            if owns_service:
                await service.aclose()

    app = FastAPI(
        title="bailian-geo-agent",
        summary="A streaming geographic assistant on Alibaba Cloud Bailian (Qwen).",
        version=version(),
        lifespan=lifespan,
        # FastAPI's /docs and /redoc load scripts from a CDN: ours is packaged (docs.py).
        docs_url=None, redoc_url=None, openapi_url=OPENAPI_PATH if settings.docs else None,
        **_no_native_tracing(),
    )
    app.state.geo_agent = state
    install_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After", "x-vercel-ai-ui-message-stream", "X-Request-ID"],
            max_age=600)
    # Host/Origin allow-list (421/403).
    app.add_middleware(HostGuard, hosts=settings.allowed_hosts, origins=settings.cors_origins)
    lang = getattr(getattr(service, "settings", None), "language", None)
    if lang is not None:  # the 413s of BodySizeLimit and the 421/403s speak it too
        app.add_middleware(ServiceLanguage, lang=lang)
    app.add_middleware(RequestSpans)  # the request's span covers what follows
    app.add_middleware(RequestLog, metrics=state.metrics)  # every answer has its id
    # Outermost: forwarded headers from trusted proxies only, so logs, spans and limits see
    # the real client.
    app.add_middleware(ProxyHeaders, proxies=settings.trusted_proxies)
    for router in ROUTERS:
        app.include_router(router)
    install_a2a(app)  # A2A: the agent card and POST /a2a (agent.server.a2a)
    install_page(app, tiles=_page_tiles(service))
    if settings.docs:
        install_docs(app)
    return app


def _page_tiles(service: Any) -> dict[str, str]:
    """The page's base maps: its OpenStreetMap one from the configured tile server
    (``GEO_TILE_URL``, as map pictures use)."""
    geo_config = getattr(getattr(service, "settings", None), "geo_config", None)
    if not callable(geo_config):
        return dict(TILE_URLS)
    return {**TILE_URLS, "osm": geo_config().tile_url}


def _no_native_tracing() -> dict[str, Any]:
    """FastAPI's own request spans off where it has them (``RequestSpans`` makes the one server
    span, parent of the replies; two would nest)."""
    import inspect

    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False}}
    return {}
