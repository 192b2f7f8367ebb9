"""``geo-agent serve``: the HTTP service on uvicorn.

``add_serve_command(subparsers)`` adds the command to the ``geo-agent`` parser; ``run_serve``
runs it. Binding anything but loopback requires tokens (``GEO_AGENT_API_TOKENS``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from bailian_geo_agent.prompts.catalogue import text as message_text

EXIT_ERROR = 1
EXIT_USAGE = 2

_HELP = {
    "GEO_AGENT_API_TOKENS": "bearer tokens accepted, comma-separated (required off loopback)",
    "GEO_AGENT_API_TOKENS_FILE": "file with more tokens, one a line",
    "GEO_AGENT_CORS_ORIGINS": "web origins allowed by CORS, comma-separated (default: CORS off)",
    "GEO_AGENT_MAX_BODY_BYTES": "largest request body, default 1048576 (413 beyond)",
    "GEO_AGENT_MAX_CONCURRENT_REPLIES": "replies at once per token, default 8 (0: no limit)",
    "GEO_AGENT_REQUESTS_PER_MINUTE": "requests per token and minute, default 60 (0: no limit)",
    "GEO_AGENT_SSE_PING": "seconds between keep-alive comments, default 15",
    "GEO_AGENT_STREAM_URL": "redis://host:port/db: replies resumable on every instance "
    "(default: in this process)",
    "GEO_AGENT_STREAM_TTL": "seconds a finished reply can be re-read, default 600",
    "GEO_AGENT_STREAM_LEASE": "seconds until readers of a dead instance's reply hear of it, "
    "default 15 (max 30)",
}


def add_serve_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to ``geo-agent``'s subcommands."""
    width = max(map(len, _HELP))
    variables = "\n".join(f"  {name:<{width}}  {text}" for name, text in _HELP.items())
    serve: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve the assistant over HTTP (SSE and the Vercel AI SDK stream)",
        description="Serve the assistant over HTTP: POST /v1/chat/stream (SSE), POST /api/chat "
        "(AI SDK UI message stream), sessions, /healthz, /readyz; API docs at /docs.",
        epilog="server settings (environment or .env):\n" + variables,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; any other needs tokens)")
    serve.add_argument("--port", type=int, default=8000,
                       help="port to bind (default 8000; 0 picks a free one)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"],
                       help="uvicorn's log level (default info)")
    serve.add_argument("--env-file", metavar="PATH", default=None,
                       help="read configuration from this file instead of ./.env")
    return serve


def run_serve(args: argparse.Namespace, own_process: bool = False) -> int:
    """Serve until interrupted; 1 for a configuration error, 2 for a usage error.
    ``own_process``: the process is the command's own, so start-up may tune it (its garbage
    collector: see ``agent.cli._startup``)."""
    from bailian_geo_agent.agent.cli import _startup

    if own_process:
        _startup.begin()  # until the app has started
    try:
        import uvicorn
        from bailian_geo_agent.agent.server.app import create_app
    except ImportError as exc:
        print(f"geo-agent serve: missing dependency {exc.name}: "
              'pip install -e ".[server]"', file=sys.stderr)
        return EXIT_ERROR
    from bailian_geo_agent.agent import Settings, StreamChatService
    from bailian_geo_agent.agent.errors import ConfigurationError
    from bailian_geo_agent.agent.server.auth import is_loopback
    from bailian_geo_agent.agent.server.settings import ServerSettings

    try:
        settings = Settings.from_env(args.env_file)
        server_settings = ServerSettings.from_env(args.env_file)
        tokens = server_settings.tokens()
    except ConfigurationError as exc:
        print(f"geo-agent serve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not tokens and not is_loopback(args.host):
        refusal = message_text("serve_needs_tokens", host=args.host)
        print(f"geo-agent serve: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    app = create_app(StreamChatService(settings), server_settings, close_service=True,
                     prepare=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            lifespan="on", timeout_graceful_shutdown=5, backlog=4096)
    secrets = [*tokens, settings.api_key.get_secret_value() if settings.api_key else ""]
    _redact_logs(secrets, args.log_level.upper())  # after uvicorn set up its loggers
    _server_class(uvicorn.Server)(config).run()
    return 0


def _redact_logs(secrets: list[str], level: str) -> None:
    """Log at ``level`` on stderr (the app's and the libraries' loggers too), never a secret."""
    from bailian_geo_agent.agent.logs import RedactSecrets

    logging.basicConfig(level=level, format="%(levelname)s:     %(name)s: %(message)s")
    redact = RedactSecrets(secrets)
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(redact)


def _server_class(base: Any) -> Any:
    from bailian_geo_agent.agent.cli import _startup

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
