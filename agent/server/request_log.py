"""Request ids and the service's own log lines: one per request, one per reply.

``RequestLog`` (an ASGI middleware) gives every HTTP request an id: the client's
``X-Request-ID`` when it is sane (1-128 of ``A-Z a-z 0-9 . _ : -``), else a new one; it is
returned in the ``X-Request-ID`` response header and is ``current_request_id()`` for
everything that runs for the request, the reply it starts included (a context variable, which
the reply's task copies). ``RequestIdFilter`` puts it on every log record
(``record.request_id``, ``-`` outside a request); ``JsonFormatter`` writes records as JSON
lines (``GEO_AGENT_LOG_FORMAT=json``); ``configure`` installs both on the given loggers'
handlers beside the redactor. The middleware also counts refused requests (413, 429 by limit)
and resume reads in the app's ``Metrics``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from bailian_geo_agent.agent.server.metrics import Metrics

logger = logging.getLogger(__name__)

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
RESUME_ROUTES = {
    "/v1/chat/{message_id}/events": "sse",
    "/api/chat/{chat_id}/stream": "aisdk",
}
"""The resume routes (route template: protocol), counted as resume reads when they answer 200."""
QUIET_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})
"""Routes polled by machines: their successful requests are logged at ``DEBUG``, not ``INFO``."""
# Attributes a record may carry as ``extra``, written out by ``JsonFormatter``.
FIELDS = ("request_id", "method", "route", "status", "duration_s", "message_id", "session_id",
          "outcome", "error_type", "chunks", "input_tokens", "output_tokens", "reasoning_tokens",
          "cached_tokens", "cache_creation_tokens", "api_token")


@dataclass
class RequestInfo:
    """What is known of the request being served."""

    request_id: str
    refused: str = ""
    """Which limit refused it (set where the 429 or 413 is raised)."""


_current: ContextVar[RequestInfo | None] = ContextVar("geo_agent_request", default=None)


def current_request_id() -> str:
    """The id of the request being served, or ``-``."""
    info = _current.get()
    return info.request_id if info is not None else "-"


def refused(limit: str) -> None:
    """Note that the request being served is refused by ``limit`` (for the metrics)."""
    info = _current.get()
    if info is not None:
        info.refused = limit


def request_id(incoming: bytes | None) -> str:
    """``incoming`` (a header value) if it is a sane id, else a new one."""
    if incoming:
        value = incoming.decode("latin-1").strip()
        if _SANE.fullmatch(value):
            return value
    return uuid.uuid4().hex


class RequestLog:
    """Gives each HTTP request its id (header in, header out), logs one line when it ends and
    counts refusals and resume reads in ``metrics``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value
                break
        info = RequestInfo(request_id(incoming))
        header = (b"x-request-id", info.request_id.encode("ascii"))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = _current.set(info)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "-"
            self._count(status, info, route)
            level = logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO
            if logger.isEnabledFor(level):
                elapsed = time.perf_counter() - started
                logger.log(level, "request %s %s %s: %d in %.3f s", info.request_id,
                           scope["method"], scope.get("path", ""), status, elapsed,
                           extra={"method": scope["method"], "route": route, "status": status,
                                  "duration_s": round(elapsed, 6)})
            _current.reset(token)

    def _count(self, status: int, info: RequestInfo, route: str) -> None:
        if status == 429:
            self.metrics.limit_refusals.labels(info.refused or "other").inc()
        elif status == 413:
            self.metrics.limit_refusals.labels(info.refused or "body_bytes").inc()
        elif status == 200 and route in RESUME_ROUTES:
            self.metrics.resume_reads.labels(RESUME_ROUTES[route]).inc()


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` to the id of the request being served (``-`` outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``request_id`` and the structured fields a record carries (``FIELDS``)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(levelname)s:     %(name)s: [%(request_id)s] %(message)s"
"""The text lines' format (the request id in brackets)."""


def configure(loggers: tuple[str, ...], fmt: str) -> None:
    """Put request ids on the records of ``loggers``' handlers and format them as ``fmt``
    (``text`` or ``json``); keeps their other filters (the redactor)."""
    ids = RequestIdFilter()
    formatter = JsonFormatter() if fmt == "json" else None
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
                handler.filters.insert(0, ids)
            if formatter is not None:
                handler.setFormatter(formatter)
