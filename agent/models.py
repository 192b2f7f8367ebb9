"""Chat model factory: settings in, a streaming LangChain chat model for the chosen provider out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.config import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def build_chat_model(settings: Settings) -> BaseChatModel:
    """A streaming chat model for ``settings.provider``.

    ``openai`` (default): ``ChatOpenAI`` on ``settings.base_url`` (DashScope compatible mode or any
    OpenAI-compatible server). ``tongyi``: ``ChatTongyi`` on the native DashScope API; only this
    path imports langchain-community and dashscope. Raises ``ConfigurationError`` without a key.
    """
    api_key = settings.require_api_key()
    if settings.provider == "tongyi":
        from agent.tongyi import build_tongyi_model

        return build_tongyi_model(
            api_key=api_key,
            model=settings.model,
            base_url=settings.native_base_url,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )

    from agent.openai_model import DashScopeChatOpenAI

    return DashScopeChatOpenAI(
        model=settings.model,
        api_key=api_key,
        base_url=settings.base_url,
        streaming=True,
        stream_usage=True,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
    )
