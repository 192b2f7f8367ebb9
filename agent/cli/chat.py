"""``geo-agent chat``: the conversation REPL. Lines starting with ``/`` are commands, never sent
to the model; Ctrl-C stops the current reply, Ctrl-C or Ctrl-D at the prompt ends the chat."""

from __future__ import annotations

import sys
from contextlib import suppress
from uuid import uuid4

from bailian_geo_agent.agent.cli.display import Display
from bailian_geo_agent.agent.cli.replies import Replies
from bailian_geo_agent.agent.exit_codes import ExitCode
from bailian_geo_agent.prompts.catalogue import text


def run_chat(replies: Replies, display: Display, session_id: str) -> ExitCode:
    """Read questions until the user quits; ``OK``."""
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
            return ExitCode.OK
        question = line.strip()
        if not question:
            continue
        if question.startswith("/"):
            command = question.split()[0].lower()
            if command in ("/exit", "/quit"):
                return ExitCode.OK
            session_id = _command(command, replies, display, session_id)
            continue
        if replies.ask(question, session_id) == ExitCode.INTERRUPTED:
            display.interrupted(text("cli_stopped"))


def _command(command: str, replies: Replies, display: Display, session_id: str) -> str:
    """Run a ``/`` command other than ``/quit``; the session id from now on."""
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
    return session_id
