"""The lean stream's text-only fast path builds exactly what langchain-openai would."""

from __future__ import annotations

import pytest
from bailian_geo_agent.agent.providers._chunks import text_chunk
from bailian_geo_agent.agent.providers.openai_compatible import (
    _TEXT_FIELDS,
    DashScopeChatOpenAI,
    _text_delta,
)
from langchain_core.messages import AIMessageChunk

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
        "model": "qwen-plus", "system_fingerprint": None}


def event(delta: dict | None, finish_reason: str | None = None, **extra: object) -> dict:
    choices = [] if delta is None else [
        {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
    return {**BASE, "choices": choices, "usage": None, **extra}


@pytest.fixture
def model() -> DashScopeChatOpenAI:
    return DashScopeChatOpenAI(model="qwen-plus", api_key="sk-test", base_url="http://127.0.0.1:1")


@pytest.mark.parametrize("text", ["北", "a", " ", "多字符的片段", "\n", "\"quoted\""])
def test_text_events_match_langchain_openai(model: DashScopeChatOpenAI, text: str) -> None:
    raw = event({"content": text})
    reference = model._convert_chunk_to_generation_chunk(raw, AIMessageChunk, None)
    assert _text_delta(raw) == text
    fast = text_chunk(text, {"model_provider": "openai"}, _TEXT_FIELDS)
    assert fast == reference
    assert fast.message.model_fields_set == reference.message.model_fields_set
    assert fast.message == reference.message
    assert fast.text == reference.text == text
    assert fast.message.tool_call_chunks == [] and fast.message.tool_calls == []
    assert fast.message.response_metadata == reference.message.response_metadata
    # Merging behaves the same (what the agent does with the chunks).
    assert (fast + fast).message == (reference + reference).message


@pytest.mark.parametrize(
    "raw",
    [
        event({"content": "", "role": "assistant"}),  # the role chunk
        event({"content": "x", "role": "assistant"}),
        event({"content": ""}),
        event({"content": None}),
        event({"content": "x"}, finish_reason="stop"),
        event({}, finish_reason="stop"),
        event(None, usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
        event({"content": "x"}, usage={"prompt_tokens": 1, "completion_tokens": 1,
                                       "total_tokens": 2}),
        event({"tool_calls": [{"index": 0, "id": "c", "type": "function",
                               "function": {"name": "f", "arguments": ""}}]}),
        event({"content": "x", "reasoning_content": "y"}),
        {**event({"content": "x"}), "choices": [
            {"index": 0, "delta": {"content": "x"}, "finish_reason": None,
             "logprobs": {"content": []}}]},
        {**event({"content": "x"}), "error": {"message": "boom"}},
        {**BASE, "choices": [{"index": 0, "delta": {"content": "a"}},
                             {"index": 1, "delta": {"content": "b"}}]},
    ],
)
def test_other_events_take_the_full_conversion(raw: dict) -> None:
    assert _text_delta(raw) is None
