"""The tool-binding default both providers share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ParallelToolCallsByDefault:
    """Chat model mixin: several tool calls per turn unless the caller says otherwise.

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
        return super().bind_tools(tools, **kwargs)  # type: ignore[misc]
