"""Serving the MCP server: stdio, or streamable HTTP behind the bearer-token rule.

HTTP rule (as the project's HTTP service): bound to a loopback address it may run open; bound
beyond loopback it refuses to start unless ``GEO_AGENT_API_TOKENS`` (comma-separated) is set.
When tokens are set, every request needs ``Authorization: Bearer <one of them>``.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from mcp.server.lowlevel import Server

logger = logging.getLogger(__name__)

TOKENS_VARIABLE = "GEO_AGENT_API_TOKENS"
MCP_PATH = "/mcp"

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


class StartupError(Exception):
    """The server must not start (e.g. no tokens on a public bind)."""


def api_tokens(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """The accepted bearer tokens from ``GEO_AGENT_API_TOKENS`` (empty entries dropped)."""
    raw = (environ if environ is not None else os.environ).get(TOKENS_VARIABLE, "")
    return [token.strip() for token in raw.split(",") if token.strip()]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: list[str]) -> None:
    """Raise ``StartupError`` for a non-loopback bind without tokens."""
    if not is_loopback(host) and not tokens:
        raise StartupError(
            f"refusing to serve MCP on {host} (beyond loopback) without {TOKENS_VARIABLE}: "
            f"set it to one or more comma-separated bearer tokens, or bind to 127.0.0.1"
        )


class BearerAuth:
    """ASGI middleware: 401 unless ``Authorization: Bearer <token>`` matches one token."""

    def __init__(self, app: ASGIApp, tokens: list[str]) -> None:
        self.app = app
        self._tokens = [t.encode() for t in tokens]

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or []:
            if name.lower() == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() != b"bearer":
                    return False
                token = token.strip()
                # Compare against every token so timing does not tell which one matched.
                return any([hmac.compare_digest(token, t) for t in self._tokens])
        return False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = b'{"error":"unauthorized","message":"Authorization: Bearer <token> required"}'
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"),
            (b"www-authenticate", b'Bearer realm="geo-agent-mcp"'),
            (b"content-length", str(len(body)).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})


def http_app(server: Server, *, host: str, tokens: list[str]) -> Any:
    """The Starlette app serving streamable HTTP at ``/mcp`` (tokens enforced when given)."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Route

    security = None
    if is_loopback(host):  # DNS-rebinding protection: only local Host/Origin headers
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=hosts,
            allowed_origins=[f"http://{h}" for h in hosts],
        )
    manager = StreamableHTTPSessionManager(app=server, security_settings=security)
    handle = _Endpoint(manager)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with manager.run():
            yield

    inner: ASGIApp = BearerAuth(handle, tokens) if tokens else handle
    # A Route, not a Mount: ``/mcp`` itself answers (a Mount redirects it to ``/mcp/``).
    return Starlette(routes=[Route(MCP_PATH, endpoint=inner, methods=["GET", "POST", "DELETE"])],
                     lifespan=lifespan)


class _Endpoint:
    """The session manager as a plain ASGI app (Starlette passes classes through as apps)."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.manager.handle_request(scope, receive, send)


async def serve_stdio(server: Server) -> None:
    """Serve on stdin/stdout until the client closes them."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: an ephemeral port)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    return sock


async def serve_http(server: Server, host: str, port: int, tokens: list[str]) -> None:
    """Serve streamable HTTP; prints ``READY <url>`` on stderr once the port is bound."""
    import uvicorn

    check_bind(host, tokens)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    config = uvicorn.Config(http_app(server, host=host, tokens=tokens), log_level="warning",
                            access_log=False, lifespan="on")
    print(f"READY http://{shown}:{bound}{MCP_PATH}", file=sys.stderr, flush=True)
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        sock.close()
