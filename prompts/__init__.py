"""System prompts, kept as Markdown files next to this module."""

from __future__ import annotations

if __name__ == "prompts":  # the short name: become the real package, never a second copy
    from bailian_geo_agent.tools._alias import become_alias

    become_alias(__name__)

from functools import cache
from importlib import resources


@cache
def load_prompt(name: str) -> str:
    """The text of ``prompts/<name>.md``."""
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8").strip()


def geo_assistant_prompt() -> str:
    """The geographic assistant's system prompt."""
    return load_prompt("geo_assistant")
