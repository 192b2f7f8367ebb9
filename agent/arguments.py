"""What the command lines share (``geo-agent`` and ``python -m bailian_geo_agent.agent.mcp``):
argparse in the configured language (``GEO_AGENT_LANGUAGE``) exiting with the documented codes,
the end of every ``--help`` and the words for an address that cannot be listened on."""

from __future__ import annotations

import argparse
import errno
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from bailian_geo_agent.agent.exit_codes import ExitCode, meanings
from bailian_geo_agent.prompts.catalogue import Language, language, parse_language, text

# argparse's own messages (Python 3.10-3.13) and their catalogue keys; another one stays as
# argparse wrote it, under the translated "error:" line.
_ARGPARSE_MESSAGES = (
    (re.compile(r"unrecognized arguments: (?P<args>.+)", re.S), "arg_unrecognized"),
    (re.compile(r"argument (?P<argument>\S+): (?P<message>.+)", re.S), "arg_problem"),
    (re.compile(r"invalid choice: (?P<value>.+) \(choose from (?P<choices>.+)\)", re.S),
     "arg_choice"),
    (re.compile(r"invalid (?P<type>\S+) value: (?P<value>.+)", re.S), "arg_value"),
    (re.compile(r"expected one argument"), "arg_expected_one"),
    (re.compile(r"the following arguments are required: (?P<args>.+)", re.S), "arg_required"),
    (re.compile(r"ambiguous option: (?P<option>\S+) could match (?P<matches>.+)", re.S),
     "arg_ambiguous"),
)


def translate(message: str) -> str:
    """An argparse error message in the language in force."""
    for pattern, key in _ARGPARSE_MESSAGES:
        match = pattern.fullmatch(message)
        if match:
            params = match.groupdict()
            if "message" in params:
                params["message"] = translate(params["message"])
            return text(key, **params)
    return message


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with a translated ``usage:`` line; descriptions and epilogs keep their lines."""

    def add_usage(self, usage: str | None, actions: Iterable[argparse.Action],
                  groups: Iterable[Any], prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, text("arg_usage") if prefix is None else prefix)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` speaking the language in force when it is built (its subcommands'
    parsers too); a usage error exits with ``ExitCode.USAGE``."""

    def __init__(self, **kwargs: Any) -> None:
        add_help = kwargs.pop("add_help", True)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(add_help=False, **kwargs)
        self._positionals.title = text("arg_positionals")
        self._optionals.title = text("arg_options")
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                              help=text("arg_help"))

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, text("arg_error", prog=self.prog, message=translate(message))
                  + "\n")


def epilog(examples: Sequence[str] = ()) -> str:
    """The end of a command's ``--help``: every configuration variable (from
    ``config.variables()``), the exit codes and ``examples``."""
    from bailian_geo_agent.agent.config import variables

    rows = variables()
    width = max(len(name) for name, _, _ in rows)
    lines = [text("help_variables")]
    for name, default, meaning in rows:
        shown = meaning.replace("``", "")
        if default:
            shown = f"{shown} {text('help_default', default=default)}"
        lines.append(f"  {name:<{width}}  {shown}")
    lines += ["", text("help_exit_status")]
    lines += [f"  {code:<4} {meaning}" for code, meaning in meanings()]
    if examples:
        lines += ["", text("help_examples"), *(f"  {example}" for example in examples)]
    return "\n".join(lines) + "\n"


def env_file_in(argv: Sequence[str]) -> str | None:
    """The value of the last ``--env-file`` in ``argv`` (before parsing it)."""
    found = None
    for index, arg in enumerate(argv):
        if arg == "--env-file" and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith("--env-file="):
            found = arg.split("=", 1)[1]
    return found


def configured_language(argv: Sequence[str]) -> Language:
    """``GEO_AGENT_LANGUAGE`` as the command will read it: the environment, else the env file
    ``argv`` names with ``--env-file`` (else ``./.env``); an invalid configuration (reported
    later, by the command) falls back to the environment alone."""
    import os
    from pathlib import Path

    from bailian_geo_agent.agent.config import Settings
    from bailian_geo_agent.agent.errors import ConfigurationError

    if os.environ.get("GEO_AGENT_LANGUAGE", "").strip():  # the environment wins over any file
        return parse_language(os.environ["GEO_AGENT_LANGUAGE"])
    env_file = env_file_in(argv)
    if env_file is not None and not Path(env_file).is_file():
        env_file = None  # the command reports it, in the language of the rest
    try:
        return Settings.from_env(env_file).language
    except ConfigurationError:
        return language()


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """Why ``host``:``port`` cannot be listened on, in the language in force."""
    if exc.errno == errno.EADDRINUSE:
        return text("cli_port_in_use", host=host, port=port)
    return text("cli_cannot_listen", host=host, port=port, error=exc.strerror or exc)
