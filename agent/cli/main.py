"""``geo-agent``'s parser and dispatch to its commands: ``ask``, ``chat``, ``serve``, ``mcp``.

Everything speaks the configured language (``GEO_AGENT_LANGUAGE``), argparse's own messages
included, and exits with the codes of ``agent.exit_codes``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from uuid import uuid4

from bailian_geo_agent.agent.arguments import Parser, configured_language, epilog
from bailian_geo_agent.agent.cli import _startup
from bailian_geo_agent.agent.cli.ask import add_ask_options, read_question, run_ask, write_map
from bailian_geo_agent.agent.cli.chat import run_chat
from bailian_geo_agent.agent.cli.display import Display
from bailian_geo_agent.agent.cli.options import add_common, chosen_events
from bailian_geo_agent.agent.cli.replies import Replies, load_service
from bailian_geo_agent.agent.exit_codes import ExitCode
from bailian_geo_agent.prompts.catalogue import text, use_language

EXAMPLES = (
    'geo-agent ask "北京今天天气怎么样？"',
    'geo-agent ask --json --events all "天安门附近有什么咖啡店？" | jq -c .',
    "geo-agent chat --show-tools --model qwen-max",
)


def build_parser() -> argparse.ArgumentParser:
    """``geo-agent``'s parser, in the language in force."""
    parser = Parser(prog="geo-agent", description=text("help_description"),
                    epilog=epilog(EXAMPLES))
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help=text("arg_version"))
    add_common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    ask = commands.add_parser("ask", help=text("help_ask"),
                              description=text("help_ask_description"), epilog=epilog(EXAMPLES))
    ask.add_argument("question", nargs="*", metavar="QUESTION", help=text("help_question"))
    add_ask_options(ask)
    add_common(ask, top=False)
    chat = commands.add_parser(
        "chat", help=text("help_chat"),
        description=text("help_chat_description", commands=text("cli_chat_commands")),
        epilog=epilog(EXAMPLES[2:]))
    add_common(chat, top=False)
    # stdlib only until the command runs
    from bailian_geo_agent.agent.cli.serve import add_serve_command
    from bailian_geo_agent.agent.mcp.cli import add_mcp_command

    add_serve_command(commands)
    add_mcp_command(commands)
    return parser


def _version() -> str:
    from bailian_geo_agent.tools.infra import version

    return version()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``geo-agent`` with ``argv`` (``None``: this process's own command line, which also
    lets start-up tune the process; see ``agent.cli._startup``); the exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    with use_language(configured_language(arguments)):
        return int(_run(arguments, own_process=argv is None))


def _run(arguments: list[str], own_process: bool) -> ExitCode:
    parser = build_parser()
    args = parser.parse_args(arguments)  # exits with ExitCode.USAGE on a usage error
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    if args.env_file and not os.path.isfile(args.env_file):
        parser.error(text("cli_env_file_missing", path=args.env_file))
    if args.command == "serve":
        from bailian_geo_agent.agent.cli.serve import run_serve

        return run_serve(args, own_process=own_process)
    if args.command == "mcp":
        from bailian_geo_agent.agent.mcp.cli import run_mcp

        return run_mcp(args)
    question = read_question(args, parser) if args.command == "ask" else ""
    if own_process:  # the process is this command's own (not a caller's)
        _startup.begin()
    events = chosen_events(args)
    display = Display(
        json_lines=args.json,
        show_tools=args.show_tools or "tool_start" in events,
        show_thinking="reasoning_chunk" in events,
        show_usage="usage" in events,
    )
    session_id = args.session or str(uuid4())
    try:
        service = load_service(args, display, session_id)
        if service is None:
            return ExitCode.ERROR
        map_path = getattr(args, "map", None)
        replies = Replies(service, display, events, collect_map=bool(map_path))
        try:
            with use_language(service.settings.language):
                if args.command == "chat":
                    return run_chat(replies, display, session_id)
                status = run_ask(replies, display, question, session_id)
                if map_path and status == ExitCode.OK:
                    return write_map(replies, display, map_path, args.map_size)
                return status
        finally:
            replies.close()
    except KeyboardInterrupt:  # while starting up
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # e.g. piped into `head`
        with suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return ExitCode.OK
