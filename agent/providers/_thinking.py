"""Qwen thinking mode, shared by both providers: which requests think, and the rules they follow.

DashScope's thinking models (``enable_thinking``) stream their reasoning as
``reasoning_content`` beside ``content``. What a model accepts while it thinks (a forced
``tool_choice``, ``response_format``) and whether it always thinks is data in its
``agent.providers.profiles.ModelProfile``; the mixin below keeps requests a profile rules out
from being made (both providers always stream).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bailian_geo_agent.agent.providers.profiles import ModelProfile, model_profile

logger = logging.getLogger(__name__)

REASONING_KEY = "reasoning_content"
"""Where reasoning text lives: ``AIMessage(Chunk).additional_kwargs`` on both providers."""

_UNFORCED = (None, "auto", "none")


def is_thinking_only(model: str | None) -> bool:
    """Whether ``model`` always thinks (its profile's ``always_thinks``)."""
    return model_profile(model).always_thinks


def thinks(enable_thinking: bool | None, model: str | None) -> bool:
    """Whether a request with this setting may think (unset: the model's default)."""
    if enable_thinking is not None:
        return enable_thinking
    return is_thinking_only(model)


def reasoning_of(message: Any) -> str | None:
    """The reasoning text stored on an ``AIMessage``, if any."""
    value = getattr(message, "additional_kwargs", {}).get(REASONING_KEY)
    return value if isinstance(value, str) and value else None


class ThinkingModeRules:
    """Chat model mixin: the model's profile, and no forced ``tool_choice`` while thinking
    unless the profile allows it.

    The model class declares ``enable_thinking`` and ``model_name``. (Structured output is
    ChatOpenAI's concern: ``DashScopeChatOpenAI.with_structured_output``; ChatTongyi's already
    goes through a tool call without a forced choice.)
    """

    enable_thinking: bool | None
    model_name: str

    @property
    def dashscope_profile(self) -> ModelProfile:
        """This model's request rules on DashScope (``agent.providers.profiles``; not
        langchain-core's ``profile``, which describes capabilities)."""
        return model_profile(self.model_name)

    @property
    def thinking(self) -> bool:
        """Whether this model's requests may think."""
        return thinks(self.enable_thinking, self.model_name)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Bind ``tools``; while thinking a forced ``tool_choice`` the profile rules out becomes
        the default (auto)."""
        if (
            self.thinking
            and kwargs.get("tool_choice") not in _UNFORCED
            and not self.dashscope_profile.forced_tool_choice_while_thinking
        ):
            dropped = kwargs.pop("tool_choice")
            logger.debug("tool_choice %r dropped: not allowed while thinking", dropped)
        return super().bind_tools(tools, **kwargs)  # type: ignore[misc]
