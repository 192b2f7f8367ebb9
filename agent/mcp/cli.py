"""The ``mcp`` subcommand: ``geo-agent mcp`` (stdio) or ``geo-agent mcp --http``.

``add_mcp_command(subparsers)`` adds it to a parser; ``run_mcp(args)`` runs it. Logs go to
stderr (stdout is the stdio transport); tool results and logs never contain a key.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

DESCRIPTION = """\
Serve the geo tools (weather, POI search and details, geocoding, driving/walking/cycling/
transit routes, distances, IP location, map commands) over the Model Context Protocol.
stdio by default (for desktop MCP clients); --http serves streamable HTTP at /mcp.
GEO_PROVIDER, AMAP_API_KEY and the other geo settings work as everywhere else.
Bound beyond loopback, --http refuses to start without GEO_AGENT_API_TOKENS
(comma-separated bearer tokens) or GEO_AGENT_API_TOKENS_FILE, read from the environment or
.env as by serve; when set, every request needs Authorization: Bearer <token>."""


def add_mcp_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mcp`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "mcp",
        help="serve the geo tools over MCP (stdio, or --http streamable HTTP)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    return parser


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The options of the ``mcp`` command."""
    parser.add_argument("--http", action="store_true",
                        help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind with --http (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port with --http (default 8765; 0 picks a free port)")
    parser.add_argument("--no-map-tools", action="store_true",
                        help="leave out the map_* tools (for clients without a map)")
    parser.add_argument("--env-file", metavar="PATH", default=argparse.SUPPRESS,
                        help="read configuration from this file instead of ./.env")


def run_mcp(args: argparse.Namespace) -> int:
    """Run the server until the client disconnects (stdio) or SIGINT/SIGTERM (HTTP)."""
    import anyio
    from bailian_geo_agent.agent.errors import ConfigurationError
    from bailian_geo_agent.agent.mcp.server import build_server, default_tools
    from bailian_geo_agent.agent.mcp.transports import (
        StartupError,
        check_bind,
        serve_http,
        serve_stdio,
    )
    from bailian_geo_agent.agent.serving import ServerSettings

    env_file = getattr(args, "env_file", None)
    if env_file and not os.path.isfile(env_file):
        print(f"geo-agent mcp: --env-file: no such file: {env_file}", file=sys.stderr)
        return EXIT_USAGE
    try:  # the one reader: environment, .env and the tokens file, as for serve
        settings = ServerSettings.from_env(env_file)
        tokens = settings.tokens()
    except ConfigurationError as exc:
        print(f"geo-agent mcp: {exc}", file=sys.stderr)
        return EXIT_ERROR
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.http:
            check_bind(args.host, tokens)  # before anything else: a clear refusal
        tools = default_tools(env_file, include_map_tools=not args.no_map_tools)
    except StartupError as exc:
        print(f"geo-agent mcp: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as exc:  # the geo settings (GEO_PROVIDER, AMAP_*...); never a key value
        print(f"geo-agent mcp: invalid geo configuration: {exc}", file=sys.stderr)
        return EXIT_ERROR
    server = build_server(tools)
    try:
        if args.http:
            anyio.run(serve_http, server, args.host, args.port, tokens)
        else:
            anyio.run(serve_stdio, server)
    except KeyboardInterrupt:
        return EXIT_OK
    except OSError as exc:  # e.g. the port is taken
        print(f"geo-agent mcp: cannot serve: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent.mcp``."""
    parser = argparse.ArgumentParser(prog="python -m agent.mcp", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(parser)
    return run_mcp(parser.parse_args(argv))
