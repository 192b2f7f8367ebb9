"""Serving the MCP server: stdio, or streamable HTTP behind the bearer-token rule.

HTTP rule (the HTTP service's, with the same settings reader and the same check): bound to a
loopback address it may run open; bound beyond loopback it refuses to start unless tokens are
configured (``GEO_AGENT_API_TOKENS`` or ``GEO_AGENT_API_TOKENS_FILE``, in the environment or the
``.env`` file). When tokens are set, every request needs ``Authorization: Bearer <one of them>``,
else it gets the service's 401 answer. Whatever the bind, a ``Host`` outside
``GEO_AGENT_ALLOWED_HOSTS`` gets 421 and an ``Origin`` outside it and ``GEO_AGENT_CORS_ORIGINS``
gets 403 (``agent.server.hosts``, the check ``serve`` uses).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from bailian_geo_agent.agent.access import BearerCheck, Refused
from bailian_geo_agent.agent.serving import ServerSettings
from bailian_geo_agent.prompts.catalogue import text
from bailian_geo_agent.tools.security import is_loopback as is_loopback
from mcp.server.lowlevel import Server

logger = logging.getLogger(__name__)

TOKENS_VARIABLE = "GEO_AGENT_API_TOKENS"
MCP_PATH = "/mcp"

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


class StartupError(Exception):
    """The server must not start (e.g. no tokens on a public bind)."""


def api_tokens(env_file: str | os.PathLike[str] | None = None) -> list[str]:
    """The accepted bearer tokens, read as ``geo-agent serve`` reads them: the environment and
    ``env_file`` (default ``./.env``), ``GEO_AGENT_API_TOKENS`` then the tokens file.

    Raises ``ConfigurationError`` for invalid settings or an unreadable tokens file.
    """
    return ServerSettings.from_env(env_file).tokens()


def check_bind(host: str, tokens: list[str]) -> None:
    """Raise ``StartupError`` for a non-loopback bind without tokens."""
    if not is_loopback(host) and not tokens:
        raise StartupError(text("mcp_needs_tokens", host=host))


SESSION_HEADER = b"mcp-session-id"
MAX_SESSION_OWNERS = 10_000
"""Sessions whose owner is remembered (the oldest forgotten first; the SDK ends idle ones)."""
_NO_SESSION = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}'
"""The SDK's own answer to a session it does not know (``streamable_http_manager``)."""


class BearerAuth:
    """ASGI middleware: the service's 401 unless ``Authorization: Bearer <token>`` matches;
    a 2025-11-25 session (``Mcp-Session-Id``) answers only the token that opened it (another
    token gets the SDK's 404 for an unknown session)."""

    def __init__(self, app: ASGIApp, tokens: list[str]) -> None:
        self.app = app
        self._check = BearerCheck(tokens)
        self._owners: OrderedDict[bytes, str] = OrderedDict()

    def _caller(self, scope: Scope) -> tuple[str | None, Refused | None, bytes | None]:
        header = session = None
        for name, value in scope.get("headers") or []:
            lowered = name.lower()
            if lowered == b"authorization":
                header = value.decode("latin-1")
            elif lowered == SESSION_HEADER:
                session = value
        client = scope.get("client")
        try:
            return self._check.check(header, client[0] if client else "unknown"), None, session
        except Refused as refused:
            return None, refused, session

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        owner, refused, session = self._caller(scope)
        if refused is not None:
            body = refused.body_bytes()
            extra = [(k.lower().encode(), v.encode()) for k, v in refused.headers.items()]
            await _answer(send, refused.status, body, extra)
            return
        if session is not None and self._owners.get(session, owner) != owner:
            await _answer(send, 404, _NO_SESSION)
            return
        if session is not None and scope.get("method") == "DELETE":
            self._owners.pop(session, None)
        await self.app(scope, receive, self._recording(send, owner or ""))

    def _recording(self, send: Any, owner: str) -> Any:
        """``send``, noting the owner of a session the response opens."""
        owners = self._owners

        async def recording(message: Any) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers") or []:
                    if name.lower() == SESSION_HEADER and value not in owners:
                        owners[value] = owner
                        if len(owners) > MAX_SESSION_OWNERS:
                            owners.popitem(last=False)
            await send(message)

        return recording


async def _answer(send: Any, status: int, body: bytes,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole JSON response."""
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def http_app(server: Server[Any], *, host: str, tokens: list[str],
             allowed_hosts: Sequence[str] = (), origins: Sequence[str] = ()) -> Any:
    """The Starlette app serving streamable HTTP at ``/mcp`` (tokens enforced when given).

    Every request's ``Host`` and ``Origin`` are checked as ``geo-agent serve`` checks them
    (``agent.server.hosts``; the MCP spec says servers MUST validate ``Origin``):
    ``allowed_hosts`` (default: the loopback names and the address a request arrived on) and
    ``origins`` (the CORS origins); ``host`` is the address bound."""
    from bailian_geo_agent.agent.server.hosts import HostGuard
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route

    # The SDK's own DNS-rebinding check stays off: HostGuard (outermost) is the one check.
    manager = StreamableHTTPSessionManager(app=server, security_settings=None)
    handle = _Endpoint(manager)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with manager.run():
            yield

    inner: ASGIApp = BearerAuth(handle, tokens) if tokens else handle
    # A Route, not a Mount: ``/mcp`` itself answers (a Mount redirects it to ``/mcp/``).
    app = Starlette(routes=[Route(MCP_PATH, endpoint=inner, methods=["GET", "POST", "DELETE"])],
                    lifespan=lifespan)
    app.add_middleware(HostGuard, hosts=allowed_hosts, origins=origins, all_origins=True,
                       skip_paths=())
    return app


class _Endpoint:
    """The session manager as a plain ASGI app (Starlette passes classes through as apps)."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.manager.handle_request(scope, receive, send)


async def serve_stdio(server: Server[Any]) -> None:
    """Serve on stdin/stdout until the client closes them."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: an ephemeral port)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on connections of a TCP socket (see
    # agent.cli.serve.bind)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    return sock


async def serve_http(server: Server[Any], host: str, port: int, tokens: list[str],
                     allowed_hosts: Sequence[str] = (), origins: Sequence[str] = ()) -> None:
    """Serve streamable HTTP; prints ``READY <url>`` on stderr once the port is bound
    (``allowed_hosts``, ``origins``: as ``http_app``'s)."""
    import uvicorn

    check_bind(host, tokens)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    app = http_app(server, host=host, tokens=tokens, allowed_hosts=allowed_hosts,
                   origins=origins)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            proxy_headers=False)
    print(f"READY http://{shown}:{bound}{MCP_PATH}", file=sys.stderr, flush=True)
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        sock.close()
