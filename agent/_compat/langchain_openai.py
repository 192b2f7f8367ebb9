"""langchain-openai's private ``ChatOpenAI`` methods that the lean stream reuses.

Reused rather than copied so that the request body and the chunk conversion stay exactly what
``ChatOpenAI`` itself sends and builds (tools, history, usage, reasoning fields, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import ChatOpenAI

ChunkConverter = Callable[
    [dict[str, Any], type, "dict[str, Any] | None"], "ChatGenerationChunk | None"
]


def request_payload(
    model: ChatOpenAI, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
) -> dict[str, Any]:
    """The JSON body ``ChatOpenAI`` would post for ``messages``."""
    payload: dict[str, Any] = model._get_request_payload(messages, stop=stop, **kwargs)
    return payload


def chunk_converter(model: ChatOpenAI) -> ChunkConverter:
    """``ChatOpenAI``'s converter of one streamed chunk dict into a ``ChatGenerationChunk``."""
    converter: ChunkConverter = model._convert_chunk_to_generation_chunk
    return converter


def should_stream_usage(model: ChatOpenAI, stream_usage: bool | None, **kwargs: Any) -> bool:
    """Whether ``ChatOpenAI`` would ask for the usage chunk."""
    return bool(model._should_stream_usage(stream_usage, **kwargs))


def uses_gateway(model: ChatOpenAI) -> bool:
    """Whether the model routes through a LangChain gateway (then the SDK path is kept)."""
    return bool(getattr(model, "_uses_gateway", False))
