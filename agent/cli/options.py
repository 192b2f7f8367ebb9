"""The options ``ask`` and ``chat`` share, and the optional events they turn on."""

from __future__ import annotations

import argparse
from typing import Any

from bailian_geo_agent.agent import events
from bailian_geo_agent.agent.errors import InvalidInputError
from bailian_geo_agent.agent.providers.registry import PROVIDERS
from bailian_geo_agent.agent.validation import normalize_session_id
from bailian_geo_agent.prompts.catalogue import text

OPTIONAL_EVENTS = tuple(sorted(events.OPTIONAL_EVENTS - {"approval_request"}))
"""The optional events the command line shows (it cannot answer a tool approval: its replies
get the refusal at once, ``agent.approval``)."""


def _events_arg(value: str) -> frozenset[str]:
    names = {part.strip() for part in value.split(",") if part.strip()}
    if "all" in names:
        return frozenset(OPTIONAL_EVENTS)
    unknown = names - set(OPTIONAL_EVENTS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(text(
            "cli_events_unknown", unknown=", ".join(sorted(unknown)) or repr(value),
            known=", ".join(OPTIONAL_EVENTS)))
    return frozenset(names)


def _session_arg(value: str) -> str:
    try:
        return normalize_session_id(value) or ""
    except InvalidInputError:
        raise argparse.ArgumentTypeError(text("cli_session_not_uuid", value=repr(value))) from None


def add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """The same options on the main parser and on each command (``geo-agent --json ask`` and
    ``geo-agent ask --json`` both work); a command's copy only sets what was given."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group(text("help_common"))
    group.add_argument("--json", action="store_true", default=default(False),
                       help=text("help_json"))
    group.add_argument("--session", metavar="UUID", type=_session_arg, default=default(None),
                       help=text("help_session"))
    group.add_argument("--model", metavar="NAME", default=default(None), help=text("help_model"))
    group.add_argument("--provider", choices=tuple(PROVIDERS), default=default(None),
                       help=text("help_provider"))
    group.add_argument("--events", metavar="LIST", type=_events_arg, default=default(frozenset()),
                       help=text("help_events", events=", ".join(OPTIONAL_EVENTS)))
    group.add_argument("--thinking", action="store_true", default=default(False),
                       help=text("help_thinking"))
    group.add_argument("--usage", action="store_true", default=default(False),
                       help=text("help_usage"))
    group.add_argument("--show-tools", action="store_true", default=default(False),
                       help=text("help_show_tools"))
    group.add_argument("--env-file", metavar="PATH", default=default(None),
                       help=text("help_env_file"))
    group.add_argument("-v", "--verbose", action="store_true", default=default(False),
                       help=text("help_verbose"))
    group.add_argument("--debug", action="store_true", default=default(False),
                       help=text("help_debug"))


def chosen_events(args: argparse.Namespace) -> frozenset[str]:
    """The optional events asked for with ``--events``, ``--show-tools``, ``--thinking``,
    ``--usage``; shown as text (not ``--json``), the tools' hand-off links and the web
    search's sources too."""
    chosen = set(args.events)
    if not args.json:
        chosen |= {"links", "source"}
    if args.show_tools:
        chosen |= {"tool_start", "tool_end"}
    if args.thinking:
        chosen.add("reasoning_chunk")
    if args.usage:
        chosen.add("usage")
    return frozenset(chosen)
