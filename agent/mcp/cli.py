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

from bailian_geo_agent.agent.arguments import Parser, cannot_listen, configured_language, epilog
from bailian_geo_agent.agent.exit_codes import ExitCode
from bailian_geo_agent.prompts.catalogue import text, use_language

DEFAULT_PORT = 8765
EXAMPLES = ("geo-agent mcp --no-map-tools",
            "GEO_AGENT_API_TOKENS=secret geo-agent mcp --http --host 0.0.0.0 --port 8765")


def add_mcp_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mcp`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "mcp", help=text("help_mcp"), description=text("help_mcp_description"),
        epilog=epilog(EXAMPLES))
    configure_parser(parser)
    return parser


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The options of the ``mcp`` command."""
    parser.add_argument("--http", action="store_true", help=text("help_http"))
    parser.add_argument("--host", default="127.0.0.1", help=text("help_mcp_host"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=text("help_port", default=DEFAULT_PORT))
    parser.add_argument("--no-map-tools", action="store_true", help=text("help_no_map_tools"))
    parser.add_argument("--map-images", action="store_true", help=text("help_map_images"))
    parser.add_argument("--env-file", metavar="PATH", default=argparse.SUPPRESS,
                        help=text("help_env_file"))


def run_mcp(args: argparse.Namespace) -> ExitCode:
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
        _say(text("cli_env_file_missing", path=env_file))
        return ExitCode.USAGE
    try:  # the one reader: environment, .env and the tokens file, as for serve
        settings = ServerSettings.from_env(env_file)
        tokens = settings.tokens()
    except ConfigurationError as exc:
        _say(str(exc))
        return ExitCode.ERROR
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.http:
        try:
            check_bind(args.host, tokens)  # before anything else: a clear refusal
        except StartupError as exc:
            _say(str(exc))
            return ExitCode.USAGE  # as serve's: listening beyond loopback without tokens
    from bailian_geo_agent.tools.config import GeoConfig

    try:
        geo = GeoConfig.from_env(env_file)
        tools = default_tools(include_map_tools=not args.no_map_tools, config=geo)
    except StartupError as exc:
        _say(str(exc))
        return ExitCode.ERROR
    except ValueError as exc:  # the geo settings (GEO_PROVIDER, AMAP_*...); never a key value
        _say(text("invalid_geo_settings", problem=exc))
        return ExitCode.ERROR
    images = _map_images(env_file) if getattr(args, "map_images", False) else None
    server = build_server(tools, map_images=images, tile_url=geo.tile_url)
    from bailian_geo_agent.agent.telemetry import configure_from_environment

    end_tracing = configure_from_environment()  # when the OTEL_* variables ask for traces
    try:
        if args.http:
            anyio.run(serve_http, server, args.host, args.port, tokens,
                      settings.allowed_hosts, settings.cors_origins)
        else:
            anyio.run(serve_stdio, server)
    except KeyboardInterrupt:
        return ExitCode.OK
    except OSError as exc:  # e.g. the port is taken
        _say(cannot_listen(args.host, args.port, exc))
        return ExitCode.ERROR
    finally:
        if end_tracing is not None:
            end_tracing()  # the last spans out
        if images is not None:
            images.close()
    return ExitCode.OK


def _map_images(env_file: str | None) -> Any:
    """The ``--map-images`` helper (the geo settings were checked by ``default_tools``)."""
    from bailian_geo_agent.agent.mcp.images import MapImages
    from bailian_geo_agent.tools.config import GeoConfig

    return MapImages(GeoConfig.from_env(env_file))


def _say(message: str) -> None:
    print(f"geo-agent mcp: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bailian_geo_agent.agent.mcp``: the same as ``geo-agent mcp``."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    with use_language(configured_language(arguments)):
        parser = Parser(prog="python -m bailian_geo_agent.agent.mcp",
                        description=text("help_mcp_description"), epilog=epilog(EXAMPLES))
        configure_parser(parser)
        return int(run_mcp(parser.parse_args(arguments)))
