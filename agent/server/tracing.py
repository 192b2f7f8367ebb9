"""A server span per HTTP request (OpenTelemetry HTTP semantic conventions), parent of the
replies it starts: an incoming ``traceparent`` is honoured (the global propagator), and the
span is current while the routes run, so a reply's task (created inside the request) carries
it. Only while tracing is on (``agent.telemetry.enabled``); otherwise the request passes
through untouched."""

from __future__ import annotations

from typing import Any

from bailian_geo_agent.agent import telemetry
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _Headers:
    """The propagator's getter over ASGI headers."""

    def get(self, carrier: dict[str, list[str]], key: str) -> list[str] | None:
        return carrier.get(key.lower())

    def keys(self, carrier: dict[str, list[str]]) -> list[str]:
        return list(carrier)


class RequestSpans:
    """ASGI middleware: one ``SERVER`` span per HTTP request while tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not telemetry.enabled():
            await self.app(scope, receive, send)
            return
        from opentelemetry import context, propagate, trace
        from opentelemetry.trace import SpanKind, StatusCode

        headers: dict[str, list[str]] = {}
        for name, value in scope.get("headers") or ():
            headers.setdefault(name.decode("latin-1").lower(), []).append(
                value.decode("latin-1"))
        parent = propagate.extract(headers, getter=_Headers())  # type: ignore[arg-type]
        method = str(scope.get("method", "GET"))
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
        }
        if scope.get("http_version"):
            attributes["network.protocol.version"] = scope["http_version"]
        span = telemetry.tracer().start_span(method, context=parent, kind=SpanKind.SERVER,
                                             attributes=attributes)
        token = context.attach(trace.set_span_in_context(span, parent))
        status = 0

        async def traced_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(StatusCode.ERROR)
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.set_attribute("http.route", route)
                span.update_name(f"{method} {route}")
            if status:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_attribute("error.type", str(status))
                    span.set_status(StatusCode.ERROR)
            span.end()
            context.detach(token)
