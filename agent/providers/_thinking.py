"""Qwen thinking mode, shared by both providers: which requests think, and the rules they follow.

DashScope's thinking models (``enable_thinking``; thinking-only ``qwq-*``, ``qvq-*`` and
``qwen3-*-thinking-*``) stream their reasoning as ``reasoning_content`` beside ``content``.
While a request thinks the service rejects a forced ``tool_choice``, a non-streaming call and
structured output (``response_format``) with HTTP 400: the mixin below keeps those requests
from being made (both providers always stream).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

REASONING_KEY = "reasoning_content"
"""Where reasoning text lives: ``AIMessage(Chunk).additional_kwargs`` on both providers."""

_THINKING_ONLY_PREFIXES = ("qwq", "qvq")
_UNFORCED = (None, "auto", "none")


def is_thinking_only(model: str | None) -> bool:
    """Whether ``model`` always thinks (and exists only in streaming mode)."""
    name = (model or "").lower()
    return name.startswith(_THINKING_ONLY_PREFIXES) or "-thinking" in name


def thinks(enable_thinking: bool | None, model: str | None) -> bool:
    """Whether a request with this setting may think (unset: the model's default)."""
    if enable_thinking is not None:
        return enable_thinking
    return is_thinking_only(model)


def thinking_parameters(
    enable_thinking: bool | None, thinking_budget: int | None, preserve_thinking: bool
) -> dict[str, Any]:
    """The request fields for these settings (top-level in compatible mode, ``parameters``
    natively); nothing when left to the model's default."""
    params: dict[str, Any] = {}
    if enable_thinking is not None:
        params["enable_thinking"] = enable_thinking
    if thinking_budget is not None and enable_thinking is not False:
        params["thinking_budget"] = thinking_budget
    if preserve_thinking:
        params["preserve_thinking"] = True
    return params


def reasoning_of(message: Any) -> str | None:
    """The reasoning text stored on an ``AIMessage``, if any."""
    value = getattr(message, "additional_kwargs", {}).get(REASONING_KEY)
    return value if isinstance(value, str) and value else None


class ThinkingModeRules:
    """Chat model mixin: no forced ``tool_choice`` while thinking.

    The model class declares ``enable_thinking`` and ``model_name``. (Structured output is
    ChatOpenAI's concern: ``DashScopeChatOpenAI.with_structured_output``; ChatTongyi's already
    goes through a tool call without a forced choice.)
    """

    enable_thinking: bool | None
    model_name: str

    @property
    def thinking(self) -> bool:
        """Whether this model's requests may think."""
        return thinks(self.enable_thinking, self.model_name)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Bind ``tools``; while thinking a forced ``tool_choice`` becomes the default (auto)."""
        if self.thinking and kwargs.get("tool_choice") not in _UNFORCED:
            # DashScope answers 400 to a forced tool choice in thinking mode.
            dropped = kwargs.pop("tool_choice")
            logger.debug("tool_choice %r dropped: not allowed while thinking", dropped)
        return super().bind_tools(tools, **kwargs)  # type: ignore[misc]
