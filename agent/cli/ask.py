"""``geo-agent ask``: one question, its answer streamed, the exit code saying how it ended."""

from __future__ import annotations

import argparse
import sys

from bailian_geo_agent.agent.cli.display import Display
from bailian_geo_agent.agent.cli.replies import Replies
from bailian_geo_agent.agent.exit_codes import ExitCode
from bailian_geo_agent.prompts.catalogue import text


def read_question(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The question from the command line, else stdin; a usage error (exit 2) when there is
    none or it is blank, the same message wherever it came from."""
    words = args.question
    if not words and sys.stdin.isatty():
        parser.error(text("cli_question_required"))
    question = sys.stdin.read() if not words or words == ["-"] else " ".join(words)
    if not question.strip():
        parser.error(text("cli_question_empty"))
    return question.strip()


def run_ask(replies: Replies, display: Display, question: str, session_id: str) -> ExitCode:
    """Ask ``question`` in ``session_id``; ``INTERRUPTED`` after Ctrl-C."""
    status = replies.ask(question, session_id)
    if status == ExitCode.INTERRUPTED:
        display.interrupted(text("cli_interrupted"))
    return status
