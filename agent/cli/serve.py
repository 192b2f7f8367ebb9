"""``geo-agent serve``: the HTTP service (``agent.server``) on uvicorn.

Binding anything but loopback requires tokens (``GEO_AGENT_API_TOKENS``). The port is bound
before the app is built, so "already in use" is one line in the configured language. Connections
are held to the header, idle and send timeouts and the connection cap
(``agent.server.connections``).
"""

from __future__ import annotations

import argparse
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
    app = create_app(StreamChatService(settings), server_settings, close_service=True,
                     prepare=True)
    guard = Guard.from_settings(server_settings, settings.language)
    # uvicorn's keep-alive timer is a call_later: seconds as a float work (annotated int).
    idle: Any = server_settings.idle_timeout
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            lifespan="on", timeout_graceful_shutdown=5, backlog=4096,
                            http=guard.protocol(), timeout_keep_alive=idle)
    secrets = [*tokens, settings.api_key.get_secret_value() if settings.api_key else ""]
    _redact_logs(secrets, args.log_level.upper())  # after uvicorn set up its loggers
    logging.getLogger("asyncio").addFilter(AcceptErrors())
    if (files := check_open_files(server_settings.max_connections)) is not None:
        logging.getLogger("bailian_geo_agent.agent.server.connections").warning(files)
    _server_class(uvicorn.Server)(config).run(sockets=[sock])
    return ExitCode.OK


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (as uvicorn binds it); ``OSError`` if it cannot."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
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


def _redact_logs(secrets: list[str], level: str) -> None:
    """Log at ``level`` on stderr (the app's and the libraries' loggers too), never a secret."""
    from bailian_geo_agent.agent.logs import RedactSecrets

    logging.basicConfig(level=level, format="%(levelname)s:     %(name)s: %(message)s")
    redact = RedactSecrets(secrets)
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(redact)


def _server_class(base: Any) -> Any:
    class Server(base):  # type: ignore[misc]
        """uvicorn's server, announcing the bound address on stdout (``--port 0`` too)."""

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)  # the app's start-up (the agent built) included
            _startup.settled(serving=True)  # only if begin() paused the collector
            for server in getattr(self, "servers", []):
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    shown = f"[{host}]" if ":" in host else host
                    print(f"geo-agent serve: listening on http://{shown}:{port}", flush=True)

    return Server
