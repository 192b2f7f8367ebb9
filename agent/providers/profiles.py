"""What each model and each DashScope API accepts, as data: the Qwen quirks in one table.

``model_profile(name)`` looks a model up in ``MODEL_PROFILES`` (first match wins, default
``DEFAULT_PROFILE``); ``COMPATIBLE_MODE`` and ``NATIVE`` say where each API takes the thinking
fields. The chat models read these instead of testing model names themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal


@dataclass(frozen=True)
class ModelProfile:
    """The request rules of a model family on DashScope."""

    always_thinks: bool = False
    """Thinks on every request (and exists only in streaming mode), whatever is asked."""
    forced_tool_choice_while_thinking: bool = False
    """Accepts a forced ``tool_choice`` while thinking (DashScope answers 400 otherwise)."""
    response_format_while_thinking: bool = False
    """Accepts ``response_format`` (structured output) while thinking; otherwise structured
    output goes through a tool call."""


@dataclass(frozen=True)
class ModelMatch:
    """Which model names a profile applies to (lower-cased name)."""

    profile: ModelProfile
    prefixes: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        """Whether ``name`` (lower case) is one of these models."""
        return name.startswith(self.prefixes) or any(part in name for part in self.contains)


DEFAULT_PROFILE = ModelProfile()
"""Qwen models with optional thinking (``qwen-plus``, ``qwen3-*``, ...) and any other model."""

THINKING_ONLY = ModelProfile(always_thinks=True)
"""QwQ, QVQ and the ``*-thinking-*`` snapshots: reasoning models that cannot turn it off."""

MODEL_PROFILES: tuple[ModelMatch, ...] = (
    ModelMatch(THINKING_ONLY, prefixes=("qwq", "qvq"), contains=("-thinking",)),
)
"""Model families with rules other than the default, in lookup order."""


@lru_cache(maxsize=256)
def model_profile(model: str | None) -> ModelProfile:
    """The profile of ``model`` (``DEFAULT_PROFILE`` for an unknown or empty name)."""
    name = (model or "").lower()
    for entry in MODEL_PROFILES:
        if entry.matches(name):
            return entry.profile
    return DEFAULT_PROFILE


ThinkingPlacement = Literal["top_level", "parameters"]


@dataclass(frozen=True)
class ApiProfile:
    """Where one DashScope API takes the request options it shares with the other."""

    name: str
    thinking_fields: ThinkingPlacement
    """``top_level``: fields of the JSON body, beside ``messages`` (sent through the openai
    SDK's ``extra_body``); ``parameters``: inside the native body's ``parameters`` (passed as
    keyword arguments of the SDK call, which puts them there)."""

    def add_thinking_fields(self, request: dict[str, Any], fields: dict[str, Any]) -> None:
        """Put ``fields`` into ``request`` (a ChatOpenAI payload or the SDK call's keyword
        arguments) where this API expects them; a caller's own ``extra_body`` entries win."""
        if not fields:
            return
        if self.thinking_fields == "top_level":
            request["extra_body"] = {**fields, **(request.get("extra_body") or {})}
        else:
            request.update(fields)


COMPATIBLE_MODE = ApiProfile("openai", thinking_fields="top_level")
"""DashScope's OpenAI-compatible mode (``DASHSCOPE_BASE_URL``; the ``openai`` provider)."""

NATIVE = ApiProfile("tongyi", thinking_fields="parameters")
"""DashScope's native text-generation API (``DASHSCOPE_HTTP_BASE_URL``; ``tongyi``)."""


def thinking_fields(
    enable_thinking: bool | None, thinking_budget: int | None, preserve_thinking: bool
) -> dict[str, Any]:
    """The thinking fields for these settings; nothing when left to the model's default."""
    fields: dict[str, Any] = {}
    if enable_thinking is not None:
        fields["enable_thinking"] = enable_thinking
    if thinking_budget is not None and enable_thinking is not False:
        fields["thinking_budget"] = thinking_budget
    if preserve_thinking:
        fields["preserve_thinking"] = True
    return fields
