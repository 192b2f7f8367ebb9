"""What the routes share, in one typed object on ``app.state.geo_agent``: the service, the
owners table, the limits, the event log and the replies running here; and the steps every
chat route takes (authenticate, start a reply, answer with its stream)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from bailian_geo_agent.agent.errors import GeoAgentError, InvalidInputError, to_agent_error
from bailian_geo_agent.agent.events import StreamError, StreamEvent
from bailian_geo_agent.agent.server.auth import Authenticator, Identity
from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.event_log import EventLog, LogUnavailable, open_log
from bailian_geo_agent.agent.server.limits import ConcurrencyLimit, RateLimit
from bailian_geo_agent.agent.server.replies import Replies, Reply
from bailian_geo_agent.agent.server.schemas import ErrorBody
from bailian_geo_agent.agent.server.settings import ServerSettings
from bailian_geo_agent.agent.server.sse import keep_alive
from bailian_geo_agent.agent.sessions.stores import SessionOwners
from bailian_geo_agent.agent.validation import (
    normalize_session_id,
    validate_events,
    validate_message,
)
from bailian_geo_agent.prompts.catalogue import text as message_text
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

logger = logging.getLogger(__name__)
T = TypeVar("T")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 413, 422, 429, 503)
}
"""The error answers the routes document."""
_bearer = HTTPBearer(auto_error=False, description="a token from GEO_AGENT_API_TOKENS")


class ServerState:
    """What the routes share: the service, the owners table, the limits, running replies."""

    def __init__(self, service: Any, settings: ServerSettings) -> None:
        self.service = service
        self.settings = settings
        self.auth = Authenticator(settings.tokens(), settings.auth_failures_per_minute)
        self.owners: SessionOwners = service.session_owners()
        self.rate = RateLimit(settings.requests_per_minute)
        self.concurrency = ConcurrencyLimit(settings.max_concurrent_replies)
        self.replies = Replies()
        url = settings.stream_url.get_secret_value() if settings.stream_url else None
        self.log: EventLog = open_log(url, settings.stream_ttl, settings.stream_lease)
        self.log.on_stop(self.replies.cancel)

    def store_error(self, exc: Exception) -> ApiError:
        """A 503 in the service's wording for the store failing."""
        logger.warning("session owner table failed: %s", type(exc).__name__)
        return ApiError(503, str(to_agent_error(exc)))

    async def owners_call(self, call: Awaitable[T]) -> T:
        """``call`` on the owners table; its failure answers 503."""
        try:
            return await call
        except Exception as exc:
            raise self.store_error(exc) from None

    async def require_owner(self, call: Awaitable[bool]) -> None:
        """An owners-table check (claim or lookup) that must say yes, else 404."""
        if not await self.owners_call(call):
            raise ApiError(404, message_text("session_not_found"))

    async def start_reply(self, identity: Identity, text: str, sid: str,
                          wanted: frozenset[str]) -> tuple[Reply, StreamEvent]:
        """Start ``identity``'s reply to ``text`` in session ``sid``: the reply and its first
        event (``stream_start``); an ``ApiError`` when it cannot begin."""
        await self.require_owner(self.owners.claim(sid, identity.owner))
        try:
            await self.log.ping()
        except LogUnavailable as exc:
            raise log_error(exc) from None
        self.concurrency.acquire(identity.limit_key)
        reply = Reply(self.service.stream_events(text, sid, events=wanted), identity.owner,
                      self.log)
        try:
            first = await reply.first()
        except LogUnavailable as exc:
            self.concurrency.release(identity.limit_key)
            await reply.stop()
            raise log_error(exc) from None
        except BaseException:
            self.concurrency.release(identity.limit_key)
            reply.cancel()
            raise
        if isinstance(first, StreamError):  # not begun: bad settings, store down, session busy
            self.concurrency.release(identity.limit_key)
            await reply.stop()
            raise ApiError(503, first.error)
        reply.when_done(lambda: self.concurrency.release(identity.limit_key))
        self.replies.add(reply)
        return reply, first

    def response(self, reply: Reply, body: AsyncIterator[bytes],
                 headers: dict[str, str] | None = None,
                 resume: bool = True) -> EventSourceResponse:
        """The reply's stream as the HTTP answer; a client that leaves only detaches (with
        ``resume``) or stops the reply."""
        async def guarded() -> AsyncIterator[bytes]:
            try:
                async for item in body:
                    yield item
            finally:  # also when the client went away: the reply runs on, unless told not to
                if resume:
                    reply.detach()
                else:
                    reply.cancel()

        return self.stream(guarded(), headers)

    def stream(self, body: AsyncIterator[bytes], headers: dict[str, str] | None = None,
               on_close: Callable[[], None] | None = None) -> EventSourceResponse:
        """An SSE answer with keep-alives; ``on_close()`` once it has ended, however."""
        return _Stream(body, headers=headers, sep="\n", ping=self.settings.sse_ping_seconds,
                       ping_message_factory=keep_alive, send_timeout=self.settings.send_timeout,
                       on_close=on_close)

    def reader_slot(self, identity: Identity) -> Callable[[], None]:
        """A concurrency slot for a reader resuming a reply (it streams, as a reply does), or
        ``ApiError`` 429; call the answer to give it back."""
        return self.concurrency.hold(identity.limit_key)


class _Stream(EventSourceResponse):
    """sse-starlette's response, calling ``on_close`` at its end; a client that left a send
    unread for ``send_timeout`` ends it with a log line, not a traceback (``geo-agent serve``
    drops such a connection itself first: ``agent.server.connections``)."""

    def __init__(self, *args: Any, on_close: Callable[[], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            logger.info("a client read nothing for %s s: its stream is dropped",
                        self.send_timeout)
        finally:
            if self._on_close is not None:
                self._on_close()


def log_error(exc: Exception) -> ApiError:
    """A 503 in the stream's wording for the event log failing."""
    cause = exc.args[0] if isinstance(exc, LogUnavailable) and exc.args else ""
    logger.warning("event log failed: %s", cause or type(exc).__name__)
    return ApiError(503, message_text("stream_log_unavailable"))


def get_state(request: Request) -> ServerState:
    """The app's shared state."""
    state: ServerState = request.app.state.geo_agent
    return state


State = Annotated[ServerState, Depends(get_state)]


async def caller(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """The authenticated caller, counted against its requests-per-minute limit."""
    state = get_state(request)
    identity = state.auth.identify(request)
    state.rate.hit(identity.limit_key)
    return identity


Caller = Annotated[Identity, Depends(caller)]


def check_input(message: Any, session_id: Any, events: Any,
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


def check_session(session_id: str) -> str:
    """A session id from a path, normalized (422 when it is not one)."""
    try:
        sid = normalize_session_id(session_id)
    except InvalidInputError as exc:
        raise ApiError(422, str(exc)) from None
    assert sid is not None
    return sid


async def service_call(call: Any) -> Any:
    """Await a service call; its failure as a 503 in the service's wording."""
    try:
        return await call
    except GeoAgentError as exc:
        raise ApiError(503, str(exc)) from None
    except Exception as exc:
        raise ApiError(503, error_text(exc)) from None


def error_text(exc: Exception) -> str:
    """The service's wording for a known failure; only the type for anything else (its text
    could carry a connection string)."""
    mapped = to_agent_error(exc)
    if type(mapped) is GeoAgentError:
        return message_text("unexpected_error", error=type(exc).__name__)
    return str(mapped)
