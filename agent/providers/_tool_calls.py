"""The tool-binding defaults both providers share: parallel tool calls, and each tool's schema
converted once rather than on every model call."""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

# id(tool) -> (the tool, what its schema was built from, its OpenAI tool dict)
_CONVERTED: dict[int, tuple[weakref.ref[BaseTool], tuple[Any, ...], dict[str, Any]]] = {}


def _forget(key: int) -> Any:
    return lambda _ref: _CONVERTED.pop(key, None)


def openai_tool(tool: Any) -> Any:
    """``tool`` as the OpenAI tool dict ``convert_to_openai_tool`` makes of it, built once per
    ``BaseTool`` (and again if its name, description or argument schema is replaced, or a
    JSON-schema dict changed in place); anything
    else as it is.

    Building a tool's schema costs about 70 us (pydantic's JSON schema, dereferencing, titles
    removed), every model call binds every tool, and the geo toolkit has 15. The dict is shared
    between calls, so it must not be changed (langchain-openai and the Responses API payload
    copy what they adapt); equal input gives byte-identical output, as the context cache needs.
    A tool with ``extras`` is left to the provider's own ``bind_tools`` (which copies some of
    them into its dict).
    """
    if not isinstance(tool, BaseTool) or tool.extras:
        return tool
    schema = tool.args_schema
    # A JSON-schema dict (an MCP tool's) may be changed in place: compared by a copy's value.
    source = (tool.name, tool.description, schema, copy.deepcopy(schema)
              if isinstance(schema, dict) else None)
    key = id(tool)
    entry = _CONVERTED.get(key)
    if entry is not None and entry[0]() is tool and _same(entry[1], source):
        return entry[2]
    converted = convert_to_openai_tool(tool)
    _CONVERTED[key] = (weakref.ref(tool, _forget(key)), source, converted)
    return converted


def _same(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    return (old[0] == new[0] and old[1] == new[1] and old[2] is new[2]
            and (old[3] is None or old[3] == new[2]))


class ParallelToolCallsByDefault:
    """Chat model mixin: several tool calls per turn unless the caller says otherwise, and
    each ``BaseTool``'s schema converted once (``openai_tool``).

    DashScope sends a second call in one turn only when the request asks for it
    (``parallel_tool_calls: true``); a geo question comparing two cities needs it.
    """

    def bind_tools(
        self, tools: Sequence[Any], *, parallel_tool_calls: bool | None = None, **kwargs: Any
    ) -> Any:
        """Bind ``tools``; ``parallel_tool_calls`` defaults to on when there are any."""
        if parallel_tool_calls is None and tools:
            parallel_tool_calls = True
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        if kwargs.get("strict") is None and not kwargs.get("response_format"):
            tools = [openai_tool(tool) for tool in tools]  # strict schemas: built per call
        return super().bind_tools(tools, **kwargs)  # type: ignore[misc]
