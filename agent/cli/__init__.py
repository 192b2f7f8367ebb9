"""``geo-agent``: the geo assistant from a terminal.

    geo-agent ask "北京今天天气怎么样？"           # one answer, streamed
    geo-agent ask --json "故宫附近的咖啡店" | jq .  # the events as JSON lines
    geo-agent chat                                # a conversation; Ctrl-C stops a reply
    geo-agent serve                               # the HTTP service
    geo-agent mcp                                 # the geo tools over MCP

One module per command (``ask``, ``chat``, ``serve``; ``mcp`` is ``agent.mcp.cli``), the parser
in ``main``. Only the standard library and the settings are imported until a command runs; the
LangChain stack comes with the first question, so ``--help`` and usage errors are fast.
"""

from __future__ import annotations

from bailian_geo_agent.agent.cli.main import build_parser, main
from bailian_geo_agent.agent.exit_codes import ExitCode

__all__ = ["ExitCode", "build_parser", "main"]
