"""Whom the front doors believe: forwarded headers from trusted proxies only, and requests only
for the host names this server answers for (DNS rebinding) and from the web origins it knows.

Used by ``create_app`` (so ``geo-agent serve`` and any other ASGI server behave the same) and by
``geo-agent mcp --http``; it needs only Starlette and uvicorn (both in the ``server`` and the
``mcp`` extras).

- ``trust_proxies``: ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are read only when the peer is
  one of ``GEO_AGENT_TRUSTED_PROXIES`` (uvicorn's ``ProxyHeadersMiddleware``: the client is the
  rightmost address that is not a trusted proxy); by default no one is trusted.
- ``HostGuard``: a ``Host`` outside the allow-list gets 421; an ``Origin`` outside it and the CORS
  origins gets 403 on a state-changing request (every request with ``all_origins``, as MCP
  asks). The allow-list is ``GEO_AGENT_ALLOWED_HOSTS``, or by default the loopback names plus the
  address the connection arrived on (a rebinding page always sends its own *name*).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from bailian_geo_agent.prompts.catalogue import text
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
"""Host names a loopback client uses (``[::1]`` is ``::1`` once its brackets are off)."""
UNCHECKED_PATHS = frozenset({"/healthz", "/readyz"})
"""Paths a proxy's or an orchestrator's health check reaches by any Host (they show nothing
about sessions and change nothing)."""
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOGGED_MAX = 100


def host_name(value: str) -> str:
    """The host of a ``Host`` header value or an origin's netloc, lower case, without port or
    brackets (``[::1]:8000`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value  # a bare IPv6 address or a plain name


def trust_proxies(app: ASGIApp, proxies: Iterable[str]) -> ASGIApp:
    """``app`` reading the client's address and scheme from ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` when the peer is one of ``proxies``; ``app`` itself when there are
    none."""
    trusted = list(proxies)
    if not trusted:
        return app
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type,return-value]


class ProxyHeaders:
    """ASGI middleware form of ``trust_proxies`` (for ``app.add_middleware``)."""

    def __init__(self, app: ASGIApp, proxies: Iterable[str]) -> None:
        self.app = trust_proxies(app, proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class HostAllowList:
    """The host names a server answers for: ``hosts`` (``*`` any, ``*.example.com`` its
    subdomains), or when empty the loopback names plus the local address a request came in on."""

    def __init__(self, hosts: Iterable[str] = (), origins: Iterable[str] = ()) -> None:
        names = [host_name(h) if not h.startswith("*") else h.lower() for h in hosts]
        self.any_host = "*" in names
        self.names = frozenset(n for n in names if not n.startswith("*"))
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*.") and len(n) > 2)
        self.configured = bool(names)
        cleaned = [o.rstrip("/").lower() for o in origins]
        self.any_origin = "*" in cleaned
        self.origins = frozenset(cleaned)

    def allows_host(self, name: str, local: str | None) -> bool:
        """Whether ``name`` (a ``host_name``) is one this server answers for, on a connection
        that arrived at address ``local``."""
        if not name:
            return False
        if self.configured:
            return self.any_host or name in self.names or name.endswith(self.suffixes)
        if name in LOOPBACK_NAMES:
            return True
        if local is None:
            return False
        # A server's local address is an IP (a rebinding page sends its own name); in-process
        # transports name the URL's host there.
        local = host_name(local)
        return name == local or (_address(name) or name) == (_address(local) or local)

    def allows_origin(self, origin: str, local: str | None) -> bool:
        """Whether a request from web origin ``origin`` may change anything here."""
        origin = origin.strip().rstrip("/").lower()
        if self.any_origin or origin in self.origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (a sandboxed or file page) and anything odd
        return self.allows_host(host_name(parts.netloc), local)


class HostGuard:
    """ASGI middleware: 421 for a ``Host`` not on the allow-list, 403 for an ``Origin`` not on
    it (nor a CORS origin) on a state-changing request, or on any with ``all_origins``.
    ``UNCHECKED_PATHS`` skip the Host check (``skip_paths`` replaces them)."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str] = (), origins: Iterable[str] = (),
                 *, all_origins: bool = False,
                 skip_paths: Iterable[str] = UNCHECKED_PATHS) -> None:
        self.app = app
        self.allow = HostAllowList(hosts, origins)
        self.all_origins = all_origins
        self.skip_paths = frozenset(skip_paths)
        self._logged: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"type": "error", "error": message}, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """The status and text refusing ``scope``, or ``None`` when it may pass."""
        host = origin = None
        for name, value in scope.get("headers") or ():
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        server = scope.get("server")
        local = str(server[0]) if server else None
        if scope.get("path") not in self.skip_paths and not self.allow.allows_host(
                host_name(host or ""), local):
            self._log_once("refused requests for host %r", (host or "")[:100])
            return 421, text("host_not_allowed")
        checked = self.all_origins or scope.get("method", "GET") in STATE_CHANGING
        if origin is not None and checked and not self.allow.allows_origin(origin, local):
            self._log_once("refused state-changing requests from origin %r", origin[:100])
            return 403, text("origin_not_allowed")
        return None

    def _log_once(self, message: str, value: str) -> None:
        """Warn about ``value`` the first time only (a flood of refusals is not a flood of
        lines); at most ``_LOGGED_MAX`` values are remembered."""
        if value in self._logged or len(self._logged) >= _LOGGED_MAX:
            return
        self._logged.add(value)
        logger.warning(message, value)


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``name`` as an IP address (an IPv4-mapped IPv6 one as IPv4), else ``None``."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address
