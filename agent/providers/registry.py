"""The model providers the service can run on: one entry each, read without importing any SDK.

A provider is one module in ``agent.providers`` plus one ``ProviderSpec`` here. Everything that
lists providers (``DASHSCOPE_PROVIDER`` validation, the CLI's ``--provider`` choices, the README
table, error messages naming the endpoint variable) reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bailian_geo_agent.agent.config import Settings
    from langchain_core.language_models import BaseChatModel


@dataclass(frozen=True)
class ProviderSpec:
    """One model provider: its name, what it reads and how its chat model is built."""

    name: str
    """The value of ``DASHSCOPE_PROVIDER`` (and ``geo-agent --provider``)."""
    summary: str
    """One line for the README and ``--help``."""
    base_url_field: str
    """The ``Settings`` field holding the endpoint this provider talks to."""
    base_url_variable: str
    """That field's environment variable, named in error messages."""
    reads: tuple[str, ...]
    """Every ``Settings`` field the provider uses."""
    factory: str
    """``module:function`` building the chat model from ``Settings`` (imported on first use)."""

    def build(self, settings: Settings) -> BaseChatModel:
        """The streaming chat model for ``settings`` (imports the provider's SDK now)."""
        module, _, function = self.factory.partition(":")
        build = getattr(import_module(module), function)
        model: BaseChatModel = build(settings)
        return model


_COMMON = (
    "api_key", "model", "timeout", "max_retries", "retry_base_delay",
    "enable_thinking", "thinking_budget", "preserve_thinking", "context_cache", "enable_search",
)  # fmt: skip

PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec(
            name="openai",
            summary="ChatOpenAI on DASHSCOPE_BASE_URL (DashScope compatible mode, vLLM, Ollama)",
            base_url_field="base_url",
            base_url_variable="DASHSCOPE_BASE_URL",
            reads=(*_COMMON, "base_url"),
            factory="bailian_geo_agent.agent.providers.openai_compatible:build_model",
        ),
        ProviderSpec(
            name="tongyi",
            summary="ChatTongyi on the native DashScope API (DASHSCOPE_HTTP_BASE_URL)",
            base_url_field="native_base_url",
            base_url_variable="DASHSCOPE_HTTP_BASE_URL",
            reads=(*_COMMON, "native_base_url"),
            factory="bailian_geo_agent.agent.providers.dashscope_native:build_model",
        ),
        ProviderSpec(
            name="responses",
            summary="ChatOpenAI on DashScope's Responses API (DASHSCOPE_RESPONSES_BASE_URL), "
            "history kept server-side",
            base_url_field="responses_base_url",
            base_url_variable="DASHSCOPE_RESPONSES_BASE_URL",
            reads=(*_COMMON, "responses_base_url", "session_cache"),
            factory="bailian_geo_agent.agent.providers.responses:build_model",
        ),
    )
}
DEFAULT_PROVIDER = "openai"


def provider_spec(name: str) -> ProviderSpec:
    """The entry for ``name`` (``KeyError`` for an unknown provider)."""
    return PROVIDERS[name]
