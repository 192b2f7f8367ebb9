"""Pure conversion between LangChain messages and DashScope's native text-generation format.

No I/O and no import of ``dashscope`` or ``langchain_community``: this module only knows the
JSON shapes (see docs/protocols: ``output.choices[0].message`` with ``content``,
``reasoning_content`` and ``tool_calls`` fragments, ``finish_reason`` the string ``"null"``
until the end, running ``usage`` on every event).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bailian_geo_agent.agent.providers._cache import add_cache_details
from bailian_geo_agent.agent.providers._chunks import reasoning_chunk as fast_reasoning_chunk
from bailian_geo_agent.agent.providers._chunks import text_chunk as fast_text_chunk
from bailian_geo_agent.agent.providers._thinking import REASONING_KEY
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk


def _text(content: Any) -> str:
    """Plain text of a message content (a string, or a list of text blocks/strings)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    return str(content)


def _arguments(args: Any) -> str:
    if isinstance(args, str):
        return args
    return json.dumps(args or {}, ensure_ascii=False)


def message_to_native(message: BaseMessage, keep_reasoning: bool = False) -> dict[str, Any]:
    """One LangChain message as a native ``input.messages`` entry.

    An AIMessage's tool calls are taken from ``message.tool_calls`` (parsed, one entry per
    call), never from ``additional_kwargs`` where streamed fragments may have been merged; its
    reasoning is sent only with ``keep_reasoning``.
    """
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": _text(message.content)}
    if isinstance(message, HumanMessage):
        content = message.content
        # Multimodal content lists are passed through; text-only lists become a string.
        if isinstance(content, list) and all(
            isinstance(b, str) or (isinstance(b, Mapping) and b.get("type") == "text")
            for b in content
        ):
            content = _text(content)
        return {"role": "user", "content": content}
    if isinstance(message, AIMessage):
        native: dict[str, Any] = {"role": "assistant", "content": _text(message.content)}
        calls = [
            {
                "id": call.get("id") or "",
                "type": "function",
                "function": {"name": call["name"], "arguments": _arguments(call.get("args"))},
            }
            for call in message.tool_calls
        ]
        # A call whose arguments were not valid JSON still has to be answered by its
        # ToolMessage, so it is sent back as the model wrote it.
        calls += [
            {
                "id": call.get("id") or "",
                "type": "function",
                "function": {"name": call.get("name") or "", "arguments": call.get("args") or ""},
            }
            for call in message.invalid_tool_calls
        ]
        if calls:
            native["tool_calls"] = calls
        if isinstance(message.additional_kwargs.get("partial"), bool):
            native["partial"] = message.additional_kwargs["partial"]
        reasoning = message.additional_kwargs.get(REASONING_KEY) if keep_reasoning else None
        if isinstance(reasoning, str) and reasoning:
            native[REASONING_KEY] = reasoning
        return native
    if isinstance(message, ToolMessage):
        native = {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": message.content
            if isinstance(message.content, str)
            else json.dumps(message.content, ensure_ascii=False),
        }
        name = message.name or message.additional_kwargs.get("name")
        if name:
            native["name"] = name
        return native
    if isinstance(message, FunctionMessage):
        return {
            "role": "tool",
            "tool_call_id": "",
            "content": _text(message.content),
            "name": message.name,
        }
    if isinstance(message, ChatMessage):
        return {"role": message.role, "content": _text(message.content)}
    raise TypeError(f"Unsupported message type for DashScope: {type(message).__name__}")


def messages_to_native(
    messages: Sequence[BaseMessage], keep_reasoning: bool = False
) -> list[dict[str, Any]]:
    """All messages; the native API accepts a system message only in first position."""
    native = [message_to_native(m, keep_reasoning) for m in messages]
    if any(m["role"] == "system" for m in native[1:]):
        raise ValueError("System message can only be the first message.")
    return native


@dataclass
class StreamState:
    """What one streamed answer has shown so far (per HTTP request)."""

    finish_reason: str | None = None
    request_id: str | None = None
    events: int = 0
    # Tool-call indexes whose id / name were already emitted: a repeated id or name on a
    # later fragment must not be concatenated onto the first one.
    ids_seen: set[int] = field(default_factory=set)
    names_seen: set[int] = field(default_factory=set)

    @property
    def finished(self) -> bool:
        return self.finish_reason not in (None, "", "null")


def _tool_call_chunks(fragments: Sequence[Mapping[str, Any]], state: StreamState) -> list[Any]:
    chunks = []
    for position, fragment in enumerate(fragments):
        index = fragment.get("index")
        index = position if not isinstance(index, int) else index
        function = fragment.get("function") or {}
        call_id = fragment.get("id") or None
        name = function.get("name") or None
        args = function.get("arguments") or ""
        if call_id and index in state.ids_seen:
            call_id = None
        if name and index in state.names_seen:
            name = None
        if call_id:
            state.ids_seen.add(index)
        if name:
            state.names_seen.add(index)
        if call_id or name or args:
            chunks.append(tool_call_chunk(name=name, args=args, id=call_id, index=index))
    return chunks


def _usage(usage: Mapping[str, Any] | None) -> UsageMetadata | None:
    """LangChain's usage from a native ``usage`` (``*_tokens_details`` kept as token details)."""
    if not usage:
        return None
    input_tokens = int(usage.get("input_tokens") or 0)
    output_tokens = int(usage.get("output_tokens") or 0)
    total = int(usage.get("total_tokens") or input_tokens + output_tokens)
    metadata = UsageMetadata(
        input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=total
    )
    add_cache_details(metadata, usage)  # cache_read, and cache_creation when explicit
    output_details = usage.get("output_tokens_details")
    if isinstance(output_details, Mapping) and output_details.get("reasoning_tokens") is not None:
        metadata["output_token_details"] = {"reasoning": int(output_details["reasoning_tokens"])}
    return metadata


_TEXT_FIELDS = frozenset({"content", "additional_kwargs", "tool_call_chunks", "usage_metadata"})


def text_chunk(text: str) -> ChatGenerationChunk:
    """The chunk of a text-only event (equal to what the general path below builds for it)."""
    return fast_text_chunk(text, {}, _TEXT_FIELDS)


def reasoning_chunk(reasoning: str) -> ChatGenerationChunk:
    """The chunk of a reasoning-only event (equal to what the general path builds for it)."""
    return fast_reasoning_chunk(reasoning, {}, _TEXT_FIELDS)


def chunk_from_event(
    output: Mapping[str, Any] | None,
    usage: Mapping[str, Any] | None,
    request_id: str | None,
    state: StreamState,
    model_name: str,
) -> ChatGenerationChunk | None:
    """One incremental stream event as a ChatGenerationChunk, or None if it carries nothing.

    Text goes to ``content`` (so ``chunk.text`` is exactly the new text, "" for tool-call-only
    events); each tool-call fragment becomes a ``tool_call_chunks`` entry keyed by its
    ``index``. Usage and ``finish_reason`` are attached once, to the final event's chunk
    (usage is cumulative on every event, and chunk addition would sum it).
    """
    state.events += 1
    if request_id:
        state.request_id = request_id
    choices = output.get("choices") if output else None
    if choices:
        choice = choices[0]
        message = choice.get("message") or {}
        finish_reason = choice.get("finish_reason")
        if finish_reason == "null" and not message.get("tool_calls"):
            # The bulk of a stream, not the end: text only, or reasoning only.
            content = message.get("content")
            reasoning = message.get(REASONING_KEY)
            if not reasoning:
                state.finish_reason = finish_reason
                if type(content) is str:
                    return text_chunk(content) if content else None
            elif type(reasoning) is str and type(content) is str and not content:
                state.finish_reason = finish_reason
                return reasoning_chunk(reasoning)
    else:  # result_format "text" shape, tolerated
        message = {"content": (output or {}).get("text")}
        finish_reason = (output or {}).get("finish_reason")
    content = _text(message.get("content"))
    reasoning = _text(message.get("reasoning_content"))
    tool_chunks = _tool_call_chunks(message.get("tool_calls") or [], state)
    state.finish_reason = finish_reason
    last = state.finished
    if not (content or reasoning or tool_chunks or last):
        return None
    additional_kwargs = {"reasoning_content": reasoning} if reasoning else {}
    chunk = AIMessageChunk(
        content=content,
        additional_kwargs=additional_kwargs,
        tool_call_chunks=tool_chunks,
        usage_metadata=_usage(usage) if last else None,
    )
    generation_info = None
    if last:
        generation_info = {
            "finish_reason": finish_reason,
            "request_id": state.request_id,
            "token_usage": dict(usage or {}),
            "model_name": model_name,
        }
    return ChatGenerationChunk(message=chunk, generation_info=generation_info)
