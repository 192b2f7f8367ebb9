"""Per-reply bounds the agent graph enforces: a deadline per model call and a tool-round limit.

The reply deadline itself (``GEO_AGENT_REPLY_TIMEOUT``) is the service's; the answer size cap is
the stream handler's (it sees every token). Both settings-driven, see ``agent.config``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bailian_geo_agent.agent.errors import ReplyTimeoutError, ToolRoundsExceededError
from bailian_geo_agent.prompts.catalogue import text
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage


def tool_rounds(messages: Sequence[AnyMessage]) -> int:
    """Rounds of tool calls the model made since the last user message."""
    rounds = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage) and message.tool_calls:
            rounds += 1
    return rounds


def recursion_limit(max_tool_rounds: int) -> int:
    """A LangGraph step limit the tool-round limit always reaches first (model + tools per
    round, the final answer, and slack for middleware steps)."""
    return 2 * (max_tool_rounds + 1) + 5


class ReplyLimitsMiddleware(AgentMiddleware):
    """Ends a model call that runs past ``call_timeout`` seconds (0: none) and refuses a model
    call after ``max_tool_rounds`` rounds of tool calls, each with a message saying what to do."""

    def __init__(self, *, call_timeout: float, max_tool_rounds: int, host: str = "") -> None:
        super().__init__()
        self.call_timeout = call_timeout
        self.max_tool_rounds = max_tool_rounds
        self.host = host

    def _check_rounds(self, request: ModelRequest) -> None:
        rounds = tool_rounds(request.messages)
        if rounds >= self.max_tool_rounds:
            raise ToolRoundsExceededError(text("too_many_tool_rounds", rounds=rounds))

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> Any:
        self._check_rounds(request)
        return handler(request)

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> Any:
        self._check_rounds(request)
        if not self.call_timeout:
            return await handler(request)
        deadline = asyncio.timeout(self.call_timeout)
        try:
            async with deadline:
                return await handler(request)
        except TimeoutError:
            if not deadline.expired():  # the provider's own (silence) timeout: not ours
                raise
            seconds = f"{self.call_timeout:g}"
            raise ReplyTimeoutError(
                text("model_call_timeout", seconds=seconds, host=self.host or "?")
            ) from None
