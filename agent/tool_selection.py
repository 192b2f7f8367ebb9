"""Tools offered to the model only when they apply: the map tools (``map_*``) only in a reply
whose caller consumes map commands (it asked for the ``map_action`` event).

Every tool's schema is sent with every model call (issue 22 caps their total size), and a map
tool whose commands nobody receives only costs tokens and invites a pointless call. The reply
says what its caller consumes in the agent's runtime context (``ReplyContext``, passed as
``graph.ainvoke(..., context=...)``); without one (a graph invoked directly) every tool is
offered. The tools offered keep their registered order: a request's tool list is the full list
less the map tools, so the lookups before them stay a byte-identical prefix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.tools import BaseTool

MAP_TOOL_PREFIX = "map_"
"""Tools named so send commands to the user's map (``tools.map_ops``)."""


@dataclass(frozen=True)
class ReplyContext:
    """What the agent graph knows of one reply's caller (its LangGraph runtime context)."""

    map_commands: bool = True
    """The caller consumes map commands (asked for ``map_action``)."""
    approvals: bool = True
    """The caller can answer tool approvals (asked for ``approval_request``; ``agent.approval``)."""

    @classmethod
    def for_events(cls, events: Collection[str]) -> ReplyContext:
        """The context of a reply asking for the optional ``events``."""
        return cls(map_commands="map_action" in events, approvals="approval_request" in events)


def tool_name(tool: BaseTool | dict[str, Any]) -> str:
    """The name of a LangChain tool or of a provider's tool dict."""
    if isinstance(tool, BaseTool):
        return tool.name
    function = tool.get("function")
    return str((function if isinstance(function, dict) else tool).get("name", ""))


def offered_tools(
    tools: list[BaseTool | dict[str, Any]], context: object
) -> list[BaseTool | dict[str, Any]]:
    """``tools`` less those that do not apply in ``context``, in their order."""
    if not isinstance(context, ReplyContext) or context.map_commands:
        return tools
    return [t for t in tools if not tool_name(t).startswith(MAP_TOOL_PREFIX)]


class ToolSelectionMiddleware(AgentMiddleware):
    """Offers each model call only the tools that apply to the reply (``offered_tools``)."""

    def _select(self, request: ModelRequest) -> ModelRequest:
        context = request.runtime.context if request.runtime is not None else None
        tools = offered_tools(request.tools, context)
        return request if tools is request.tools else request.override(tools=tools)

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> Any:
        return handler(self._select(request))

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> Any:
        return await handler(self._select(request))
