"""How ``geo-agent`` shows a reply: live text on a terminal, plain text in a pipe, or JSON lines.

The answer text goes to stdout; notes (tools, map commands, errors, interruptions, a thinking
model's reasoning with ``--thinking``, token usage with ``--usage`` (the context cache's share
too), and the hand-off links of the tools' results and the web search's sources, one per line
after the answer) go to stderr,
so ``geo-agent ask "..." > answer.txt`` keeps only the answer. ``--json`` writes every event, as
the documented dict, one JSON object per line on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from bailian_geo_agent.prompts.catalogue import text
from bailian_geo_agent.tools.links import link_line

_DIM, _RED, _RESET = "\x1b[2m", "\x1b[31m", "\x1b[0m"
_CLEAR_LINE = "\r\x1b[K"
_WAITING = "…"


def _compact(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _printable(value: str) -> str:
    """``value`` without control characters (a web page's title must not drive the terminal)."""
    return "".join(ch if ch.isprintable() else " " for ch in value).strip()


class Display:
    """Renders one reply's events at a time; ``live`` (default: stdout is a terminal) adds a
    waiting mark until the first text arrives and colours the notes (unless ``NO_COLOR``)."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        json_lines: bool = False,
        show_tools: bool = False,
        show_thinking: bool = False,
        show_usage: bool = False,
        live: bool | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.json_lines = json_lines
        self.show_tools = show_tools
        self.show_thinking = show_thinking
        self.show_usage = show_usage
        self.live = self.out.isatty() if live is None else live
        self.color = self.live and not os.environ.get("NO_COLOR")
        self._waiting = False  # the waiting mark is on screen
        self._replying = False  # between stream_start and stream_end/error
        self._mid_line = False  # stdout's cursor is not at the start of a line
        self._thinking = False  # a line of reasoning is open on stderr
        self._links: dict[str, dict[str, Any]] = {}  # this reply's links by URL, in order
        self._sources: dict[str, str] = {}  # this reply's web sources: URL -> title, in order

    # -- events --------------------------------------------------------------------------------

    def show(self, event: dict[str, Any]) -> None:
        """Render one event dict from ``stream_chat``."""
        if self.json_lines:
            self.out.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
            self.out.flush()
            return
        kind = event.get("type")
        if kind == "stream_start":
            self._replying = True
            self._show_waiting()
        elif kind == "stream_chunk":
            self._clear_waiting()
            self._end_thinking()
            chunk = event["chunk"]
            self._write(chunk)
            self._mid_line = not chunk.endswith("\n")
        elif kind == "stream_end":
            self._replying = False
            self._clear_waiting()
            self._end_thinking()
            self._end_line()
            self._show_links()
        elif kind == "error":
            self._replying = False
            self.note(text("cli_error", error=event["error"]), _RED)
            self._show_links()  # what the tools found before the error is still the user's
        elif kind == "source":
            url = event.get("url")
            if isinstance(url, str):
                self._sources.setdefault(url, str(event.get("title") or ""))
        elif kind == "links":
            for link in event.get("links", []):
                if isinstance(link, dict) and isinstance(link.get("url"), str):
                    self._links.setdefault(link["url"], link)
        elif kind == "tool_start" and self.show_tools:
            arguments = _compact(event.get("arguments", ""))
            self.note(text("cli_tool", tool=event["tool"], arguments=arguments))
            self._show_waiting()
        elif kind == "tool_end" and self.show_tools:
            self.note(f"  ✓ {event['tool']} → {_compact(event.get('result', ''))}")
            self._show_waiting()
        elif kind == "reasoning_chunk" and self.show_thinking:
            self._clear_waiting()
            if not self._thinking:
                self._end_line()
                self.err.write(self._style(text("cli_thinking"), _DIM))
                self._thinking = True
            self.err.write(self._style(event["chunk"], _DIM))
            self.err.flush()
        elif kind == "usage" and self.show_usage:
            self.note(
                text(
                    "cli_usage",
                    input=event["input_tokens"],
                    output=event["output_tokens"],
                    reasoning=event["reasoning_tokens"],
                    total=event["total_tokens"],
                    calls=event["model_calls"],
                )
            )
            cached, created = event.get("cached_tokens", 0), event.get("cache_creation_tokens", 0)
            if cached or created:
                self.note(text("cli_usage_cache", cached=cached, created=created))
        elif kind == "map_action":
            self.note(text("cli_map", action=_compact(event.get("action", {}), 160)))
            self._show_waiting()

    def _show_links(self) -> None:
        """The reply's links, one per line (after its answer), once each."""
        for link in self._links.values():
            self.note(text("cli_link", line=link_line(link)))
        self._links.clear()
        for url, title in self._sources.items():
            self.note(text("cli_source", title=_printable(title), url=_printable(url)))
        self._sources.clear()

    def note(self, text: str, style: str = _DIM) -> None:
        """A line on stderr, after finishing the answer's current line."""
        self._clear_waiting()
        self._end_thinking()
        self._end_line()
        self.err.write(self._style(text, style) + "\n")
        self.err.flush()

    def interrupted(self, text: str) -> None:
        """The reply was stopped by the user (in JSON mode too, as a note on stderr)."""
        self._replying = False
        if self.json_lines:
            self.err.write(text + "\n")
            self.err.flush()
        else:
            self.note(text)

    # -- plumbing ------------------------------------------------------------------------------

    def _style(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self.color else text

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _show_waiting(self) -> None:
        """The waiting mark, while the reply has no text on the current line yet."""
        if self.live and self._replying and not self._waiting and not self._mid_line:
            self._write(self._style(_WAITING, _DIM))
            self._waiting = True

    def _clear_waiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self._write(_CLEAR_LINE)

    def _end_thinking(self) -> None:
        if self._thinking:
            self._thinking = False
            self.err.write("\n")
            self.err.flush()

    def _end_line(self) -> None:
        if self._mid_line:
            self._mid_line = False
            self._write("\n")
