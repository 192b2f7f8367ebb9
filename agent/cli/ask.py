"""``geo-agent ask``: one question, its answer streamed, the exit code saying how it ended."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

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


def add_ask_options(parser: argparse.ArgumentParser) -> None:
    """``ask``'s own options (beside the common ones)."""
    parser.add_argument("--map", metavar="PNG", default=None, help=text("help_map_out"))
    parser.add_argument("--map-size", metavar="WxH", type=_size_arg, default=None,
                        help=text("help_map_size"))


def _size_arg(value: str) -> tuple[int, int]:
    from bailian_geo_agent.tools.snapshot import MAX_SIDE, MIN_SIDE

    width, _, height = value.lower().partition("x")
    if not (width.isdigit() and height.isdigit()
            and MIN_SIDE <= int(width) <= MAX_SIDE and MIN_SIDE <= int(height) <= MAX_SIDE):
        raise argparse.ArgumentTypeError(text("snapshot_bad_size", low=MIN_SIDE, high=MAX_SIDE))
    return int(width), int(height)


def write_map(replies: Replies, display: Display, path: str,
              size: tuple[int, int] | None = None) -> ExitCode:
    """Save a picture of the last reply's map commands as ``path`` (PNG): ``OK`` once written,
    ``ERROR`` (no file) when the reply drew nothing or the picture could not be made."""
    from bailian_geo_agent.tools.snapshot import DEFAULT_SIZE, SnapshotError, render_png

    try:
        config = replies.service.settings.geo_config()
        png = replies.loop.run_until_complete(
            render_png(replies.map_actions, size=size or DEFAULT_SIZE, config=config))
    except (SnapshotError, ValueError) as exc:  # ValueError: the geo settings, or no command
        display.note(text("snapshot_failed", problem=exc))
        return ExitCode.ERROR
    target = Path(path)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:  # whole or not at all: a reader never sees half a picture
        partial.write_bytes(png)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        display.note(text("snapshot_write_failed", path=path, problem=exc.strerror or exc))
        return ExitCode.ERROR
    display.note(text("snapshot_written", path=path))
    return ExitCode.OK
