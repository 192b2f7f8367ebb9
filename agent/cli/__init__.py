"""``geo-agent``: the geo assistant from a terminal.

    geo-agent ask "北京今天天气怎么样？"           # one answer, streamed
    geo-agent ask --json "故宫附近的咖啡店" | jq .  # the events as JSON lines
    geo-agent chat                                # a conversation; Ctrl-C stops a reply

Only the standard library is used here; the LangChain stack is imported when the first question
is asked, so ``--help`` and usage errors are fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from contextlib import suppress
from typing import Any
from uuid import uuid4

from bailian_geo_agent.agent import events
from bailian_geo_agent.agent.cli import _startup
from bailian_geo_agent.agent.cli.display import Display
from bailian_geo_agent.agent.errors import InvalidInputError
from bailian_geo_agent.agent.providers.registry import PROVIDERS
from bailian_geo_agent.agent.validation import normalize_session_id
from bailian_geo_agent.prompts.catalogue import text, use_language

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

OPTIONAL_EVENTS = tuple(sorted(events.OPTIONAL_EVENTS))

def _variables_help() -> str:
    from bailian_geo_agent.agent.config import variables  # every setting, the geo tools' included

    rows = variables()
    width = max(len(name) for name, _, _ in rows)
    lines = []
    for name, default, meaning in rows:
        shown = f"{meaning} (default {default})" if default and len(default) < 24 else meaning
        lines.append(f"  {name:<{width}}  {shown.replace('``', '')}")
    return "\n".join(lines)


EPILOG = """\
configuration (environment variables, or a .env file in the working directory;
variables already set in the environment win):
{variables}

exit status:
  0    the answer was complete (chat: the conversation ended normally)
  1    the reply ended with an error event, or the configuration is invalid (e.g. no key)
  2    usage error (unknown option, bad --session, missing or empty question)
  130  interrupted with Ctrl-C (ask); in chat, Ctrl-C only stops the current reply

examples:
  geo-agent ask "北京今天天气怎么样？"
  geo-agent ask --json --events all "天安门附近有什么咖啡店？" | jq -c .
  geo-agent chat --show-tools --model qwen-max
"""


def _events_arg(value: str) -> frozenset[str]:
    names = {part.strip() for part in value.split(",") if part.strip()}
    if "all" in names:
        return frozenset(OPTIONAL_EVENTS)
    unknown = names - set(OPTIONAL_EVENTS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown event {sorted(unknown) or value!r}; choose from "
            f"{', '.join(OPTIONAL_EVENTS)} or all (comma-separated)"
        )
    return frozenset(names)


def _session_arg(value: str) -> str:
    try:
        return normalize_session_id(value) or ""
    except InvalidInputError:
        raise argparse.ArgumentTypeError(f"not a UUID: {value!r}") from None


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """The same options on the main parser and on each command (``geo-agent --json ask`` and
    ``geo-agent ask --json`` both work); a command's copy only sets what was given."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("options for ask and chat")
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="write every event as one JSON object per line on stdout (for "
        "piping); types stream_start, stream_chunk (chunk), stream_end, error "
        "(error), plus those chosen with --events",
    )
    group.add_argument(
        "--session",
        metavar="UUID",
        type=_session_arg,
        default=default(None),
        help="continue the conversation with this session id (a UUID; printed "
        "by chat and in every JSON event); default: a new session",
    )
    group.add_argument(
        "--model",
        metavar="NAME",
        default=default(None),
        help="model to use, e.g. qwen-max (overrides DASHSCOPE_MODEL)",
    )
    group.add_argument(
        "--provider",
        choices=tuple(PROVIDERS),
        default=default(None),
        help="openai: DashScope's OpenAI-compatible mode; tongyi: the native "
        "DashScope API (overrides DASHSCOPE_PROVIDER)",
    )
    group.add_argument(
        "--events",
        metavar="LIST",
        type=_events_arg,
        default=default(frozenset()),
        help="also stream these optional events: comma-separated from "
        f"{', '.join(OPTIONAL_EVENTS)}, or all (shown as notes on stderr, "
        "or as JSON lines with --json)",
    )
    group.add_argument(
        "--thinking",
        action="store_true",
        default=default(False),
        help="let the model think (DASHSCOPE_ENABLE_THINKING=true unless set) and show its "
        "reasoning dimmed on stderr as it streams (implies --events reasoning_chunk)",
    )
    group.add_argument(
        "--usage",
        action="store_true",
        default=default(False),
        help="print the reply's token usage (every model call summed) after the answer "
        "(implies --events usage)",
    )
    group.add_argument(
        "--show-tools",
        action="store_true",
        default=default(False),
        help="show each tool the assistant runs, with its arguments and a preview "
        "of its result (implies --events tool_start,tool_end)",
    )
    group.add_argument(
        "--env-file",
        metavar="PATH",
        default=default(None),
        help="read configuration from this file instead of ./.env",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="log what the assistant does (loggers agent.* and tools.*) on stderr",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="log everything at DEBUG, the libraries too (HTTP requests, retries); keys masked",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geo-agent",
        description="Ask the Bailian (Qwen) geographic assistant: weather, places, routes, maps. "
        "Answers stream live as the model writes them.",
        epilog=EPILOG.format(variables=_variables_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    ask = commands.add_parser(
        "ask",
        help="ask one question and print the answer as it streams",
        description="Ask one question and print the answer as it streams. "
        "With no QUESTION (or -), the question is read from stdin.",
        epilog=EPILOG.format(variables=_variables_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument(
        "question",
        nargs="*",
        metavar="QUESTION",
        help="the question (several words are joined with spaces)",
    )
    _add_common(ask, top=False)
    chat = commands.add_parser(
        "chat",
        help="an interactive conversation that keeps its session",
        description="An interactive conversation in one session. "
        + text("cli_chat_commands")
        + "; Ctrl-C or Ctrl-D at the prompt exits.",
        epilog=EPILOG.format(variables=_variables_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(chat, top=False)
    # stdlib only until the command runs
    from bailian_geo_agent.agent.mcp.cli import add_mcp_command
    from bailian_geo_agent.agent.server.cli import add_serve_command

    add_serve_command(commands)
    add_mcp_command(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bailian-geo-agent")
    except PackageNotFoundError:
        return "unknown"


class _Replies:
    """Runs replies on one event loop; SIGINT during a reply cancels just that reply."""

    def __init__(self, service: Any, display: Display, events: frozenset[str]) -> None:
        self.service = service
        self.display = display
        self.events = events
        self.loop = asyncio.new_event_loop()

    def ask(self, message: str, session_id: str) -> int:
        return self._run(self._reply(message, session_id))

    def show_history(self, session_id: str) -> None:
        """Print the session's stored turns (questions and answers, not tool traffic)."""
        from bailian_geo_agent.agent.sessions.history import is_interrupted

        messages = self.loop.run_until_complete(self.service.get_history(session_id))
        shown = [m for m in messages if m.type in ("human", "ai") and m.text]
        if not shown:
            self.display.note(text("cli_history_empty"))
        for message in shown:
            who = text("cli_prompt") if message.type == "human" else "geo> "
            mark = text("cli_interrupted") if is_interrupted(message) else ""
            self.display.note(f"{who}{message.text}{mark}")

    async def _reply(self, message: str, session_id: str) -> int:
        stream = self.service.stream_chat(message, session_id, events=self.events)
        status = EXIT_ERROR
        try:
            async for event in stream:
                if event["type"] != "stream_start":  # the stack is imported by now
                    _startup.settled()
                self.display.show(event)
                if event["type"] == "stream_end":
                    status = EXIT_OK
        finally:
            _startup.settled()
            await stream.aclose()  # cancels the model request if the reply was stopped
        return status

    def _run(self, coro: Coroutine[Any, Any, int]) -> int:
        task = self.loop.create_task(coro)
        try:
            self.loop.add_signal_handler(signal.SIGINT, task.cancel)
            handled = True
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not main thread
            handled = False
        try:
            return self.loop.run_until_complete(task)
        except asyncio.CancelledError:
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:
            task.cancel()
            with suppress(BaseException):
                self.loop.run_until_complete(task)
            return EXIT_INTERRUPTED
        finally:
            if handled:
                self.loop.remove_signal_handler(signal.SIGINT)

    def close(self) -> None:
        aclose = getattr(self.service, "aclose", None)  # the session store, HTTP pools
        with suppress(Exception):
            if aclose is not None:
                self.loop.run_until_complete(aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


def _load_service(args: argparse.Namespace, display: Display, session_id: str) -> Any:
    """The service, or ``None`` after reporting a configuration error (like a missing key)."""
    from bailian_geo_agent.agent.config import Settings
    from bailian_geo_agent.agent.errors import ConfigurationError

    overrides = {k: v for k, v in (("model", args.model), ("provider", args.provider)) if v}
    try:
        settings = Settings.from_env(args.env_file, **overrides)
        settings.require_api_key()
        if getattr(args, "thinking", False) and settings.enable_thinking is None:
            settings = settings.model_copy(update={"enable_thinking": True})
    except ConfigurationError as exc:
        _report_setup_error(display, session_id, str(exc))
        return None
    if args.verbose or args.debug:
        from bailian_geo_agent.agent.logs import configure_logging

        level = logging.DEBUG if args.debug else logging.INFO
        configure_logging(level, settings.secrets(), libraries=args.debug)
    from bailian_geo_agent.agent.service import StreamChatService

    return StreamChatService(settings)


def _report_setup_error(display: Display, session_id: str, error: str) -> None:
    display.show(
        {"type": "error", "message_id": str(uuid4()), "session_id": session_id, "error": error}
    )


def _read_question(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    words = args.question
    if words and words != ["-"]:
        return " ".join(words)
    if not words and sys.stdin.isatty():
        parser.error("ask: a QUESTION is required (or pipe it on stdin)")
    question = sys.stdin.read().strip()
    if not question:
        parser.error("ask: the question read from stdin is empty")
    return question


def _chat(replies: _Replies, display: Display, session_id: str) -> int:
    if not display.json_lines:
        commands = text("cli_chat_commands")
        display.note(text("cli_chat_banner", session=session_id, commands=commands))
    prompt = "" if display.json_lines else text("cli_prompt")
    if sys.stdin.isatty():
        with suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
    while True:
        try:
            line = input(prompt)
        except (EOFError, KeyboardInterrupt):
            if not display.json_lines:
                display.out.write("\n")
            return EXIT_OK
        question = line.strip()
        if not question:
            continue
        if question.startswith("/"):
            command = question.split()[0].lower()
            if command in ("/exit", "/quit"):
                return EXIT_OK
            if command == "/new":
                session_id = str(uuid4())
                display.note(text("cli_new_session", session=session_id))
            elif command == "/session":
                display.note(text("cli_session", session=session_id))
            elif command == "/help":
                display.note(text("cli_chat_commands"))
            elif command == "/history":
                replies.show_history(session_id)
            else:
                display.note(text("cli_unknown_command", command=command[:40]))
            continue
        if replies.ask(question, session_id) == EXIT_INTERRUPTED:
            display.interrupted(text("cli_stopped"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``geo-agent`` with ``argv`` (``None``: this process's own command line, which also
    lets start-up tune the process; see ``agent.cli._startup``); the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on a usage error
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "serve":
        from bailian_geo_agent.agent.server.cli import run_serve

        return run_serve(args, own_process=argv is None)
    if args.env_file and not os.path.isfile(args.env_file):
        parser.error(f"--env-file: no such file: {args.env_file}")
    if args.command == "mcp":
        from bailian_geo_agent.agent.mcp.cli import run_mcp

        return run_mcp(args)
    question = _read_question(args, parser) if args.command == "ask" else ""
    if argv is None:  # the process is this command's own (not a caller's)
        _startup.begin()
    events = set(args.events)
    if args.show_tools:
        events |= {"tool_start", "tool_end"}
    if args.thinking:
        events.add("reasoning_chunk")
    if args.usage:
        events.add("usage")
    display = Display(
        json_lines=args.json,
        show_tools=args.show_tools or "tool_start" in events,
        show_thinking="reasoning_chunk" in events,
        show_usage="usage" in events,
    )
    session_id = args.session or str(uuid4())
    try:
        service = _load_service(args, display, session_id)
        if service is None:
            return EXIT_ERROR
        replies = _Replies(service, display, frozenset(events))
        try:
            with use_language(service.settings.language):
                if args.command == "chat":
                    return _chat(replies, display, session_id)
                status = replies.ask(question, session_id)
                if status == EXIT_INTERRUPTED:
                    display.interrupted(text("cli_interrupted"))
                return status
        finally:
            replies.close()
    except KeyboardInterrupt:  # while starting up
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into `head`
        with suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
