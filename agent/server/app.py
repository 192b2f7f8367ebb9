"""``create_app``: the chat service over HTTP (SSE and the AI SDK UI message stream).

Endpoints: ``POST /v1/chat/stream``, ``POST /api/chat``, ``POST /v1/chat/{message_id}/stop``,
``GET /v1/chat/{message_id}/events`` and ``GET /api/chat/{chat_id}/stream`` (resume),
``GET``/``DELETE /v1/sessions/{session_id}``, ``GET /healthz``, ``GET /readyz``; OpenAPI at
``/docs``; the web page at ``/`` (``agent.server.page``). Mount the app in your own FastAPI
app, or run it with ``geo-agent serve``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import uuid4

from bailian_geo_agent.agent.errors import GeoAgentError, InvalidInputError, to_agent_error
from bailian_geo_agent.agent.server import aisdk
from bailian_geo_agent.agent.server.auth import Authenticator, Identity
from bailian_geo_agent.agent.server.errors import ApiError, install_handlers
from bailian_geo_agent.agent.server.limits import BodySizeLimit, ConcurrencyLimit, RateLimit
from bailian_geo_agent.agent.server.page import install_page
from bailian_geo_agent.agent.server.replies import Replies, Reply
from bailian_geo_agent.agent.server.resume import add_resume_routes, log_error, stop_elsewhere
from bailian_geo_agent.agent.server.schemas import (
    ChatStreamRequest,
    ErrorBody,
    Health,
    History,
    Stopped,
    UIChatRequest,
    history_message,
)
from bailian_geo_agent.agent.server.settings import ServerSettings
from bailian_geo_agent.agent.server.sse import keep_alive, sse_events
from bailian_geo_agent.agent.server.streams import LogUnavailable, open_log
from bailian_geo_agent.agent.sessions.stores import SessionOwners
from bailian_geo_agent.agent.validation import (
    normalize_session_id,
    validate_events,
    validate_message,
)
from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.infra import version
from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse

logger = logging.getLogger(__name__)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 413, 422, 429, 503)
}
_bearer = HTTPBearer(auto_error=False, description="a token from GEO_AGENT_API_TOKENS")


class _State:
    """What the routes share: the service, the owners table, the limits, running replies."""

    def __init__(self, service: Any, settings: ServerSettings) -> None:
        self.service = service
        self.settings = settings
        self.auth = Authenticator(settings.tokens())
        self.owners: SessionOwners = service.session_owners()
        self.rate = RateLimit(settings.requests_per_minute)
        self.concurrency = ConcurrencyLimit(settings.max_concurrent_replies)
        self.replies = Replies()
        url = settings.stream_url.get_secret_value() if settings.stream_url else None
        self.log = open_log(url, settings.stream_ttl, settings.stream_lease)
        self.log.on_stop(self.replies.cancel)

    def store_error(self, exc: Exception) -> ApiError:
        """A 503 in the service's wording for the store failing."""
        logger.warning("session owner table failed: %s", type(exc).__name__)
        return ApiError(503, str(to_agent_error(exc)))


async def caller(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """The authenticated caller, counted against its requests-per-minute limit."""
    state: _State = request.app.state.geo_agent
    identity = state.auth.identify(request)
    state.rate.hit(identity.limit_key)
    return identity


Caller = Annotated[Identity, Depends(caller)]


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
    state = _State(service, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.log.start()
        if prepare:
            try:
                await service.prepare()
            except Exception as exc:
                logger.warning("the agent could not be built at start-up: %s",
                               _error_text(exc))
        try:
            yield
        finally:
            await state.replies.stop_all()
            await state.log.aclose()
            await state.owners.aclose()
            if owns_service:
                await service.aclose()

    app = FastAPI(
        title="bailian-geo-agent",
        summary="A streaming geographic assistant on Alibaba Cloud Bailian (Qwen).",
        version=version(),
        lifespan=lifespan,
    )
    app.state.geo_agent = state
    install_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After", "x-vercel-ai-ui-message-stream"], max_age=600)


    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"],
             responses={503: {"model": Health}})
    async def readyz() -> Any:
        """The session store answers and the model key is configured."""
        checks = {"session_store": "ok", "api_key": "ok", "event_log": "ok"}
        try:
            await service.get_history(str(uuid4()))
            await state.owners.ping()
        except Exception as exc:
            checks["session_store"] = _error_text(exc)
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

    async def open_reply(identity: Identity, message: Any, session_id: Any,
                         events: Any) -> tuple[Reply, dict[str, Any]]:
        text, sid, wanted = _check_input(message, session_id, events,
                                         service.settings.max_message_chars)
        return await start_reply(identity, text, sid or str(uuid4()), wanted)

    async def start_reply(identity: Identity, text: str, sid: str,
                          wanted: frozenset[str]) -> tuple[Reply, dict[str, Any]]:
        try:
            mine = await state.owners.claim(sid, identity.owner)
        except Exception as exc:
            raise state.store_error(exc) from None
        if not mine:
            raise ApiError(404, message_text("session_not_found"))
        try:
            await state.log.ping()
        except LogUnavailable as exc:
            raise log_error(exc) from None
        state.concurrency.acquire(identity.limit_key)
        reply = Reply(service.stream_chat(text, sid, events=wanted), identity.owner, state.log)
        try:
            first = await reply.first()
        except BaseException:
            state.concurrency.release(identity.limit_key)
            reply.cancel()
            raise
        if first["type"] == "error":  # not begun: bad settings, store down, session busy
            state.concurrency.release(identity.limit_key)
            await reply.stop()
            raise ApiError(503, first["error"])
        reply.when_done(lambda: state.concurrency.release(identity.limit_key))
        if reply.writer is not None:
            try:
                await reply.writer.opened
            except LogUnavailable as exc:
                await reply.stop()
                raise log_error(exc) from None
        state.replies.add(reply)
        return reply, first

    def stream_response(reply: Reply, body: AsyncIterator[ServerSentEvent | bytes],
                        headers: dict[str, str] | None = None,
                        resume: bool = True) -> EventSourceResponse:
        async def guarded() -> AsyncIterator[ServerSentEvent | bytes]:
            try:
                async for item in body:
                    yield item
            finally:  # also when the client went away: the reply runs on, unless told not to
                if resume:
                    reply.detach()
                else:
                    reply.cancel()

        return EventSourceResponse(guarded(), headers=headers, sep="\n",
                                   ping=state.settings.sse_ping_seconds,
                                   ping_message_factory=keep_alive)

    @app.post("/v1/chat/stream", tags=["chat"], responses={
        200: {"content": {"text/event-stream": {}},
              "description": "SSE: `event:` type, `id:` 1, 2, ..., `data:` the event dict"},
        **_ERRORS})
    async def chat_stream(body: ChatStreamRequest, identity: Caller) -> EventSourceResponse:
        """Stream the reply to ``message`` as server-sent events.

        Events: ``stream_start``, ``stream_chunk``s, then ``stream_end``, or ``error`` last;
        ``map_action``, ``tool_start``, ``tool_end`` when asked for in ``events``.
        """
        reply, first = await open_reply(identity, body.message, body.session_id, body.events)
        return stream_response(reply, sse_events(first, reply.rest_batches()), resume=body.resume)

    @app.post("/api/chat", tags=["chat"], responses={
        200: {"content": {"text/event-stream": {}},
              "description": "the AI SDK UI message stream protocol (v1)"},
        **_ERRORS})
    async def ui_chat(body: UIChatRequest, identity: Caller) -> EventSourceResponse:
        """The reply as the Vercel AI SDK UI message stream (``useChat``'s default transport).

        The chat ``id`` names the session; the last user message's text is the new message.
        """
        sid = aisdk.session_for_chat(body.id, identity.owner)
        text, _, _ = _check_input(aisdk.last_user_text(body), None, None,
                                       service.settings.max_message_chars)
        wanted = {*_ALL_EVENTS, "reasoning_chunk"} if body.sendReasoning else set(_ALL_EVENTS)
        reply, first = await start_reply(identity, text, sid, frozenset(wanted))
        parts = aisdk.ui_message_stream(first, reply.rest(), lambda: reply.stopped)
        return stream_response(reply, parts, aisdk.HEADERS,
                               resume=(body.model_extra or {}).get("resume") is not False)

    @app.post("/v1/chat/{message_id}/stop", response_model=Stopped, tags=["chat"],
              responses=_ERRORS)
    async def stop(message_id: str, identity: Caller) -> Stopped:
        """Stop a reply in progress: it ends with its ``error`` event (cancelled) and the
        model request is closed; the session stays usable."""
        reply = state.replies.get(message_id, identity.owner)
        if reply is None:  # it may run on another instance
            return await stop_elsewhere(state.log, message_id, identity.owner)
        await reply.stop()
        return Stopped(message_id=reply.message_id, session_id=reply.session_id)

    async def owned_session(session_id: str, identity: Identity) -> str:
        sid = _check_session(session_id)
        try:
            mine = await state.owners.owns(sid, identity.owner)
        except Exception as exc:
            raise state.store_error(exc) from None
        if not mine:
            raise ApiError(404, message_text("session_not_found"))
        return sid

    @app.get("/v1/sessions/{session_id}", response_model=History, tags=["sessions"],
             responses=_ERRORS)
    async def history(session_id: str, identity: Caller) -> History:
        """The session's stored messages, oldest first."""
        sid = await owned_session(session_id, identity)
        messages = await _service_call(service.get_history(sid))
        return History(session_id=sid, messages=[history_message(m) for m in messages])

    @app.delete("/v1/sessions/{session_id}", status_code=204, tags=["sessions"],
                responses=_ERRORS)
    async def delete(session_id: str, identity: Caller) -> Response:
        """Forget the session."""
        sid = await owned_session(session_id, identity)
        await _service_call(service.delete_session(sid))
        try:
            await state.owners.forget(sid)
        except Exception as exc:
            raise state.store_error(exc) from None
        return Response(status_code=204)

    install_page(app)
    add_resume_routes(app, state.log, caller, settings.sse_ping_seconds)
    return app


from bailian_geo_agent.agent.events import FRONT_END_EVENTS as _ALL_EVENTS  # noqa: E402


def _check_input(message: Any, session_id: Any, events: Any,
                 max_chars: int) -> tuple[str, str | None, frozenset[str]]:
    """The request's message, session id and events, checked as ``stream_chat`` checks them."""
    try:
        sid = normalize_session_id(session_id)
        text = validate_message(message, max_chars)
        wanted = validate_events(events)
    except InvalidInputError as exc:
        too_long = isinstance(message, str) and len(message) > max_chars
        raise ApiError(413 if too_long else 422, str(exc)) from None
    return text, sid, wanted


def _check_session(session_id: str) -> str:
    try:
        sid = normalize_session_id(session_id)
    except InvalidInputError as exc:
        raise ApiError(422, str(exc)) from None
    assert sid is not None
    return sid


async def _service_call(call: Any) -> Any:
    try:
        return await call
    except GeoAgentError as exc:
        raise ApiError(503, str(exc)) from None
    except Exception as exc:
        raise ApiError(503, _error_text(exc)) from None


def _error_text(exc: Exception) -> str:
    """The service's wording for a known failure; only the type for anything else (its text
    could carry a connection string)."""
    mapped = to_agent_error(exc)
    if type(mapped) is GeoAgentError:
        return message_text("unexpected_error", error=type(exc).__name__)
    return str(mapped)
