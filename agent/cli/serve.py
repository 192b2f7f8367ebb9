"""``geo-agent serve``: the HTTP service (``agent.server``) on uvicorn.

Binding anything but loopback requires tokens (``GEO_AGENT_API_TOKENS``). The port is bound
before the app is built, so "already in use" is one line in the configured language. Connections
are held to the header, idle and send timeouts and the connection cap
(``agent.server.connections``).

SIGTERM or SIGINT drains (``ServerState.drain``): ``/readyz`` and new replies answer 503 at
once while the socket still listens (a proxy sees it and sends the next request elsewhere),
running replies finish for ``GEO_AGENT_DRAIN_SECONDS``, the rest end with the "restarting"
``error``; then uvicorn shuts down and the process exits 0. A second signal cuts the wait.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from typing import Any

from bailian_geo_agent.agent.arguments import cannot_listen, epilog
from bailian_geo_agent.agent.cli import _startup
from bailian_geo_agent.agent.exit_codes import ExitCode
from bailian_geo_agent.prompts.catalogue import text

DEFAULT_PORT = 8000


def add_serve_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to ``geo-agent``'s subcommands."""
    serve: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help=text("help_serve"),
        description=text("help_serve_description"),
        epilog=epilog(["geo-agent serve --port 8080",
                       "GEO_AGENT_API_TOKENS=secret geo-agent serve --host 0.0.0.0"]),
    )
    serve.add_argument("--host", default="127.0.0.1", help=text("help_serve_host"))
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=text("help_port", default=DEFAULT_PORT))
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"],
                       help=text("help_log_level"))
    serve.add_argument("--env-file", metavar="PATH", default=None, help=text("help_env_file"))
    return serve


def run_serve(args: argparse.Namespace, own_process: bool = False) -> ExitCode:
    """Serve until interrupted. ``own_process``: the process is the command's own, so start-up
    may tune it (its garbage collector: see ``agent.cli._startup``)."""
    if own_process:
        _startup.begin()  # until the app has started
    try:
        import uvicorn
        from bailian_geo_agent.agent.server.app import create_app
    except ImportError as exc:
        _say(text("cli_missing_dependency", name=exc.name, extra="server"))
        return ExitCode.ERROR
    from bailian_geo_agent.agent import Settings, StreamChatService
    from bailian_geo_agent.agent.errors import ConfigurationError
    from bailian_geo_agent.agent.server.auth import is_loopback
    from bailian_geo_agent.agent.server.connections import (
        AcceptErrors,
        Guard,
        check_open_files,
    )
    from bailian_geo_agent.agent.server.settings import ServerSettings

    try:
        settings = Settings.from_env(args.env_file)
        server_settings = ServerSettings.from_env(args.env_file)
        tokens = server_settings.tokens()
    except ConfigurationError as exc:
        _say(str(exc))
        return ExitCode.ERROR
    if not tokens and not is_loopback(args.host):
        _say(text("serve_needs_tokens", host=args.host))
        return ExitCode.USAGE
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        _say(cannot_listen(args.host, args.port, exc))
        return ExitCode.ERROR
    from bailian_geo_agent.agent.telemetry import configure_from_environment

    end_tracing = configure_from_environment()  # when the OTEL_* variables ask for traces
    app = create_app(StreamChatService(settings), server_settings, close_service=True,
                     prepare=True)
    guard = Guard.from_settings(server_settings, settings.language)
    # uvicorn's keep-alive timer is a call_later: seconds as a float work (annotated int).
    idle: Any = server_settings.idle_timeout
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            lifespan="on", timeout_graceful_shutdown=5, backlog=4096,
                            http=guard.protocol(), timeout_keep_alive=idle,
                            proxy_headers=False)  # the app's own, from trusted proxies only
    secrets = [*tokens, settings.api_key.get_secret_value() if settings.api_key else ""]
    # after uvicorn set up its loggers
    _redact_logs(secrets, args.log_level.upper(), server_settings.log_format)
    logging.getLogger("asyncio").addFilter(AcceptErrors())
    if (files := check_open_files(server_settings.max_connections)) is not None:
        logging.getLogger("bailian_geo_agent.agent.server.connections").warning(files)
    from sse_starlette.sse import AppStatus

    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]  # we drain
    server = _server_class(uvicorn.Server)(config)
    server.geo_agent = app.state.geo_agent
    # The connections time out unread writes (guard): no timer per write in every stream too.
    app.state.geo_agent.stream_send_timeout = None
    server.on_exit = end_tracing
    try:
        server.run(sockets=[sock])
    finally:  # process-wide flags: as they were, for whatever runs next in this process
        AppStatus.should_exit = False
        AppStatus.enable_automatic_graceful_drain_mode()  # type: ignore[no-untyped-call]
        if end_tracing is not None:
            end_tracing()  # the last spans out (if the shutdown did not already)
    return ExitCode.OK


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (as uvicorn binds it); ``OSError`` if it cannot."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on connections of a TCP
    # socket, and an accepted one inherits it; with 0 a reply's writes after its head waited
    # ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _say(message: str) -> None:
    print(f"geo-agent serve: {message}", file=sys.stderr)


def _redact_logs(secrets: list[str], level: str, fmt: str = "text") -> None:
    """Log at ``level`` on stderr (the app's and the libraries' loggers too), never a secret;
    each record with its request id, as text or JSON lines (``fmt``)."""
    from bailian_geo_agent.agent.logs import RedactSecrets
    from bailian_geo_agent.agent.server.request_log import TEXT_FORMAT, configure

    logging.basicConfig(level=level, format=TEXT_FORMAT)
    redact = RedactSecrets(secrets)
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(redact)
    configure(("", "uvicorn", "uvicorn.error", "uvicorn.access"), fmt)


def _server_class(base: Any) -> Any:
    class Server(base):  # type: ignore[misc]
        """uvicorn's server, announcing the bound address on stdout (``--port 0`` too), and
        draining the app (``geo_agent``, its ``ServerState``) on the first exit signal."""

        geo_agent: Any = None
        _loop: asyncio.AbstractEventLoop | None = None
        _draining: asyncio.Task[None] | None = None
        _signals = 0

        on_exit: Any = None
        """Called once the server has shut down (uvicorn may then re-raise SIGTERM)."""

        async def shutdown(self, sockets: Any = None) -> None:
            try:
                await super().shutdown(sockets)
            finally:
                if self.on_exit is not None:
                    self.on_exit()

        async def startup(self, sockets: Any = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().startup(sockets)  # the app's start-up (the agent built) included
            _startup.settled(serving=True)  # only if begin() paused the collector
            for server in getattr(self, "servers", []):
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    shown = f"[{host}]" if ":" in host else host
                    print(f"geo-agent serve: listening on http://{shown}:{port}", flush=True)

        def handle_exit(self, sig: int, frame: Any) -> None:
            state, loop = self.geo_agent, self._loop
            if state is None or loop is None or self.should_exit:  # not started, or ending
                super().handle_exit(sig, frame)
                return
            self._signals += 1
            state.replies.draining = True  # /readyz and new replies: 503 from now on
            if self._signals == 1:
                loop.call_soon_threadsafe(self._begin_drain)
            else:  # a second signal: end the wait, interrupt what still runs
                loop.call_soon_threadsafe(state.replies.cut_drain)

        def _begin_drain(self) -> None:
            logging.getLogger("uvicorn.error").info(
                "Draining: %d replies running", len(self.geo_agent.replies))
            self._draining = asyncio.get_running_loop().create_task(self._drain())

        async def _drain(self) -> None:
            from sse_starlette.sse import AppStatus

            try:
                await self.geo_agent.drain()
            finally:
                AppStatus.should_exit = True  # streams still open (resume readers) end
                self.should_exit = True

    return Server
