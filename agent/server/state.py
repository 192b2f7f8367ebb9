"""What the routes share, in one typed object on ``app.state.geo_agent``: the service, the
owners table, the limits, the event log and the replies running here; and the steps every
chat route takes (authenticate, start a reply, answer with its stream)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from bailian_geo_agent.agent.errors import GeoAgentError, InvalidInputError, to_agent_error
from bailian_geo_agent.agent.events import StreamError, StreamEvent
from bailian_geo_agent.agent.server.auth import Authenticator, Identity
from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.event_log import EventLog, LogUnavailable, open_log
from bailian_geo_agent.agent.server.limits import ConcurrencyLimit, RateLimit
from bailian_geo_agent.agent.server.metrics import OBSERVED_EVENTS, Metrics, ReplyRecord
from bailian_geo_agent.agent.server.replies import Replies, Reply
from bailian_geo_agent.agent.server.request_log import refused
from bailian_geo_agent.agent.server.schemas import ErrorBody
from bailian_geo_agent.agent.server.settings import ServerSettings
from bailian_geo_agent.agent.server.sse import keep_alive
from bailian_geo_agent.agent.server.turns import open_turns
from bailian_geo_agent.agent.server.usage import open_usage, seconds_to_midnight, token_id
from bailian_geo_agent.agent.sessions.stores import Claim, SessionOwners
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

DRAIN_RETRY_AFTER = 1
"""``Retry-After`` seconds of the 503 a draining server answers new replies with."""
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 409, 413, 422, 429, 503)
}
"""The error answers the routes document."""
_bearer = HTTPBearer(auto_error=False, description="a token from GEO_AGENT_API_TOKENS")


class ServerState:
    """What the routes share: the service, the owners table, the limits, running replies."""

    def __init__(self, service: Any, settings: ServerSettings) -> None:
        self.service = service
        self.settings = settings
        self.stream_send_timeout: float | None = settings.send_timeout
        """sse-starlette's own send timeout on every stream (a timer per write); ``None`` where
        the connection itself enforces it (``geo-agent serve``: ``agent.server.connections``)."""
        self.auth = Authenticator(settings.tokens(), settings.auth_failures_per_minute)
        self.owners: SessionOwners = service.session_owners()
        self.rate = RateLimit(settings.requests_per_minute)
        self.concurrency = ConcurrencyLimit(settings.max_concurrent_replies)
        self.replies = Replies()
        url = settings.stream_url.get_secret_value() if settings.stream_url else None
        self.log: EventLog = open_log(url, settings.stream_ttl, settings.stream_lease)
        self.log.on_stop(self.replies.cancel)
        self.model: str = str(getattr(getattr(service, "settings", None), "model", "") or "")
        """The model's name ("" when the service has none): metrics and message metadata."""
        self.metrics = Metrics(self.model)
        self.usage = open_usage(url)
        self.turns = open_turns(url)  # the messages waiting for a session (``enqueue``)

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

    async def claim(self, sid: str, owner: str) -> Claim:
        """Claim ``sid`` for ``owner``: 404 when it is another's, 409 when it is new and
        ``owner`` holds ``max_sessions_per_token`` sessions already."""
        cap = self.settings.max_sessions_per_token
        claim = await self.owners_call(self.owners.claim_session(sid, owner, cap))
        if claim is Claim.REFUSED:
            raise ApiError(404, message_text("session_not_found"))
        if claim is Claim.FULL:
            raise ApiError(409, message_text("too_many_sessions", limit=cap))
        return claim

    async def unclaim(self, sid: str, owner: str) -> None:
        """Undo a new session's claim (its reply never began); a failure is only logged."""
        try:
            await asyncio.shield(self.owners.release(sid, owner))
        except Exception as exc:
            logger.warning("releasing a session claim failed: %s", type(exc).__name__)

    async def start_reply(self, identity: Identity, text: str, sid: str,
                          wanted: frozenset[str],
                          retry: bool = False,
                          rollback: bool = False,
                          approvals: dict[str, Any] | None = None,
                          ) -> tuple[Reply, StreamEvent]:
        """Start ``identity``'s reply to ``text`` in session ``sid``: the reply and its first
        event (``stream_start``); an ``ApiError`` when it cannot begin (503 while draining).
        ``retry``: ``text`` again after an interrupted reply; ``rollback``: ``text`` stopped
        the session's reply, whose turn goes; ``approvals``: the answers to a reply paused for
        tool approval (all ``stream_events``')."""
        self.refuse_if_draining()
        started = time.perf_counter()
        tid = token_id(identity.owner)
        await self.check_budget(tid)
        try:
            await self.log.ping()
        except LogUnavailable as exc:
            raise log_error(exc) from None
        # The limits first: a refused request claims nothing.
        try:
            self.concurrency.acquire(identity.limit_key)
        except ApiError:
            refused("concurrent_replies")
            raise
        claim: Claim | None = None
        maybe_begun = False  # from when the reply runs until its first event says it did not
        try:
            claim = await self.claim(sid, identity.owner)
            maybe_begun = True
            # Only what is used: a service of the caller's may not know these arguments.
            again: dict[str, Any] = {"retry": True} if retry else {}
            if rollback:
                again["rollback"] = True
            if approvals is not None:
                again["approvals"] = approvals
            source = self.service.stream_events(text, sid, events=wanted | OBSERVED_EVENTS,
                                                **again)
            reply = Reply(self.metrics.observe(source, wanted, tid, started, self._reply_ended),
                          identity.owner, self.log)
            try:
                first = await reply.first()
            except LogUnavailable as exc:
                maybe_begun = False
                await reply.stop()
                raise log_error(exc) from None
            except BaseException:  # the client left: the reply may have written already
                reply.cancel()
                raise
            if isinstance(first, StreamError):  # not begun: bad settings, store down, session busy
                maybe_begun = False
                await reply.stop()
                # An answer to an approval that is not waiting: the request's fault.
                raise ApiError(422 if first.kind == "InvalidInputError" else 503, first.error)
        except BaseException:
            self.concurrency.release(identity.limit_key)
            if claim is Claim.NEW and not maybe_begun:  # a new session whose reply never began
                await self.unclaim(sid, identity.owner)
            raise
        reply.when_done(lambda: self.concurrency.release(identity.limit_key))
        self.replies.add(reply)
        return reply, first

    @property
    def draining(self) -> bool:
        """The server is shutting down: no new replies, ``/readyz`` says 503."""
        return self.replies.draining

    def refuse_if_draining(self) -> None:
        """503 with ``Retry-After`` while the server drains (another instance can answer)."""
        if self.replies.draining:
            raise ApiError(503, message_text("server_draining", seconds=DRAIN_RETRY_AFTER),
                           {"Retry-After": str(DRAIN_RETRY_AFTER)})

    async def drain(self, seconds: float | None = None) -> None:
        """Shut down gently (``Replies.drain``; ``GEO_AGENT_DRAIN_SECONDS`` by default), then
        wait until the log has what the replies sent last."""
        await self.replies.drain(self.settings.drain_seconds if seconds is None else seconds)
        await self.log.flushed()

    async def check_budget(self, tid: str) -> None:
        """429 once API token ``tid`` has spent today's budget (``daily_token_budget``)."""
        budget = self.settings.daily_token_budget
        if not budget:
            return
        try:
            spent = await self.usage.spent_today(tid)
        except Exception as exc:  # the budget cannot be read: serve, and say so
            logger.warning("token usage unreadable, budget not checked: %s", type(exc).__name__)
            return
        if spent >= budget:
            refused("daily_token_budget")
            wait = seconds_to_midnight()
            raise ApiError(429, message_text("token_budget_spent", budget=budget, spent=spent,
                                             wait=wait), {"Retry-After": str(wait)})

    def _reply_ended(self, record: ReplyRecord) -> None:
        """Count a reply's tokens for its API token and log it."""
        self.usage.record(record.api_token, record.totals())
        record.log()

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
                reply.leave(resume)

        return self.stream(guarded(), headers)

    def stream(self, body: AsyncIterator[bytes], headers: dict[str, str] | None = None,
               on_close: Callable[[], None] | None = None) -> EventSourceResponse:
        """An SSE answer with keep-alives; ``on_close()`` once it has ended, however."""
        return _Stream(body, headers=headers, sep="\n", ping=self.settings.sse_ping_seconds,
                       ping_message_factory=keep_alive, send_timeout=self.stream_send_timeout,
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
    try:
        state.rate.hit(identity.limit_key)
    except ApiError:
        refused("requests_per_minute")
        raise
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
        if too_long:
            refused("message_chars")
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
    """The service's wording for a known failure (naming settings, never a URL, host or class);
    the internal-error text for anything else (the log keeps its type)."""
    mapped = to_agent_error(exc)
    if type(mapped) is GeoAgentError:
        logger.warning("unexpected failure: %s", type(exc).__name__)
        return message_text("server_internal_error")
    return str(mapped)
