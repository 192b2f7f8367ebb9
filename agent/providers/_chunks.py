"""The fast builders of text-only and reasoning-only stream chunks, shared by both providers.

Most events of a reply carry only text. Their ``ChatGenerationChunk`` is built directly instead
of through pydantic validation (a third of the cost); ``tests/test_fast_chunks.py`` checks that
it equals what each provider's general path validates for the same event.
"""

from __future__ import annotations

from typing import Any

from bailian_geo_agent.agent._compat.pydantic import construct
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

_GENERATION_SET = frozenset({"message", "text"})


def text_chunk(
    text: str, response_metadata: dict[str, Any], fields_set: frozenset[str]
) -> ChatGenerationChunk:
    """The chunk of an event that carries only ``text``: ``response_metadata`` is kept as is,
    ``fields_set`` names the message fields the provider's general path sets."""
    return _chunk(text, {}, response_metadata, fields_set)


def reasoning_chunk(
    reasoning: str, response_metadata: dict[str, Any], fields_set: frozenset[str]
) -> ChatGenerationChunk:
    """The chunk of an event that carries only reasoning text (no answer text): ``content`` is
    empty and the text is in ``additional_kwargs["reasoning_content"]``, as on both providers'
    general paths."""
    return _chunk("", {"reasoning_content": reasoning}, response_metadata, fields_set)


def _chunk(
    text: str,
    additional_kwargs: dict[str, Any],
    response_metadata: dict[str, Any],
    fields_set: frozenset[str],
) -> ChatGenerationChunk:
    message = construct(
        AIMessageChunk,
        set(fields_set),
        {
            "content": text,
            "additional_kwargs": additional_kwargs,
            "response_metadata": response_metadata,
            "type": "AIMessageChunk",
            "name": None,
            "id": None,
            "tool_calls": [],
            "invalid_tool_calls": [],
            "usage_metadata": None,
            "tool_call_chunks": [],
            "chunk_position": None,
        },
    )
    return construct(
        ChatGenerationChunk,
        set(_GENERATION_SET),
        {"text": text, "generation_info": None, "type": "ChatGenerationChunk", "message": message},
    )
