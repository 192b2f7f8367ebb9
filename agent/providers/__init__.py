"""Chat model providers: settings in, a streaming LangChain chat model for the chosen one out.

``openai`` (default) is ``ChatOpenAI`` on DashScope's OpenAI-compatible mode (or any compatible
server); ``tongyi`` is ``ChatTongyi`` on the native DashScope API, the only path that imports
langchain-community and dashscope. See ``agent.providers.registry`` for the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bailian_geo_agent.agent.providers.registry import PROVIDERS, ProviderSpec, provider_spec

if TYPE_CHECKING:
    from bailian_geo_agent.agent.config import Settings
    from langchain_core.language_models import BaseChatModel

__all__ = ["PROVIDERS", "ProviderSpec", "build_chat_model", "provider_spec"]


def build_chat_model(settings: Settings) -> BaseChatModel:
    """A streaming chat model for ``settings.provider``.

    Raises ``ConfigurationError`` without a key.
    """
    settings.require_api_key()
    return provider_spec(settings.provider).build(settings)

