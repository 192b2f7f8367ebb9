"""The exit status of every ``geo-agent`` command (``ask``, ``chat``, ``serve``, ``mcp``) and of
``python -m bailian_geo_agent.agent.mcp``: one set, documented in ``--help`` and the README."""

from __future__ import annotations

from enum import IntEnum

from bailian_geo_agent.prompts.catalogue import text


class ExitCode(IntEnum):
    """What a command's exit status means."""

    OK = 0
    """The answer was complete (``chat``, ``serve``, ``mcp``: ended normally)."""
    ERROR = 1
    """The reply ended with an error, or the command could not start (configuration, a
    missing dependency, the port already in use)."""
    USAGE = 2
    """The command line is wrong (unknown option, bad value, missing or empty question), or
    ``serve``/``mcp --http`` was asked to listen beyond loopback without tokens."""
    INTERRUPTED = 130
    """Interrupted with Ctrl-C (``ask``; in ``chat`` Ctrl-C only stops the current reply)."""


def meanings() -> list[tuple[int, str]]:
    """``(code, meaning)`` for every exit code, in the language in force."""
    return [(int(code), text(f"exit_{code.name.lower()}")) for code in ExitCode]
