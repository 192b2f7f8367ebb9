"""A model call's chunks merged as they stream, in memory linear in the text (both providers).

langchain-core's generate path keeps every streamed chunk until the call ends, then merges them:
about 3 KB per chunk, so a runaway stream of one-character chunks costs hundreds of MB. Here
each chunk is merged as it arrives; text-only chunks (the bulk of a reply) are kept as strings
and joined in batches, so a reply costs a few bytes per character of text plus a constant, and
merging stays linear in the text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bailian_geo_agent.agent._compat.langchain_core import OwnAsyncGenerate
from bailian_geo_agent.agent.errors import StreamInterruptedError
from bailian_geo_agent.prompts.catalogue import text
from langchain_core.messages import AIMessageChunk, message_chunk_to_message
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

_BATCH = 1024  # text pieces joined at a time: few merges, little garbage


class MergesAsItStreams(OwnAsyncGenerate):
    """Chat model mixin: on the async generate path (``ainvoke``, agents) the model's own
    ``_agenerate`` streams and merges with ``merge_stream``, so langchain-core does not collect
    the chunks (``agent._compat.langchain_core``); ``astream`` (which passes ``stream=True``) is
    unchanged."""


def _text_only(chunk: ChatGenerationChunk) -> bool:
    message = chunk.message
    return (
        type(message) is AIMessageChunk
        and chunk.generation_info is None
        and type(message.content) is str
        and not message.tool_call_chunks
        and not message.additional_kwargs
        and message.usage_metadata is None
        and message.chunk_position is None
    )


class _Merger:
    """The running merge: everything but the pending text, and the pending text pieces."""

    def __init__(self) -> None:
        self.merged: ChatGenerationChunk | None = None
        self.pieces: list[str] = []
        self.first_text: ChatGenerationChunk | None = None

    def add(self, chunk: ChatGenerationChunk) -> None:
        if _text_only(chunk):
            if self.first_text is None:
                self.first_text = chunk
            self.pieces.append(chunk.text)
            if len(self.pieces) >= _BATCH:
                self.flush()
            return
        self.flush()
        self.merged = chunk if self.merged is None else self.merged + chunk

    def flush(self) -> None:
        """Merge the pending text as one chunk (its metadata is that of the batch's first)."""
        if not self.pieces or self.first_text is None:
            return
        text = "".join(self.pieces)
        first = self.first_text.message
        batch = ChatGenerationChunk(
            message=AIMessageChunk(
                content=text, id=first.id, response_metadata=dict(first.response_metadata)
            )
        )
        self.pieces, self.first_text = [], None
        self.merged = batch if self.merged is None else self.merged + batch


async def merge_stream(chunks: AsyncIterator[ChatGenerationChunk]) -> ChatGenerationChunk | None:
    """All of ``chunks`` merged into one (``None`` for an empty stream)."""
    merger = _Merger()
    async for chunk in chunks:
        merger.add(chunk)
    merger.flush()
    return merger.merged


def result_of(
    final: ChatGenerationChunk | None, llm_output: dict[str, Any] | None = None
) -> ChatResult:
    """The call's result from its merged chunk (a stream that ended empty is interrupted)."""
    if final is None:  # unreachable in practice: a finished stream yields its final chunk
        raise StreamInterruptedError(text("empty_reply"))
    generation = ChatGeneration(
        message=message_chunk_to_message(final.message), generation_info=final.generation_info
    )
    return ChatResult(generations=[generation], llm_output=llm_output)
