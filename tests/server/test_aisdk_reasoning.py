"""A thinking model's reasoning as the AI SDK's reasoning-start/-delta/-end parts."""

from __future__ import annotations

from bailian_geo_agent.agent.events import event_from_dict
from bailian_geo_agent.agent.server.aisdk import AISDKAdapter
from bailian_geo_agent.agent.server.schemas import UIChatRequest


def test_reasoning_becomes_reasoning_parts_before_each_step_text() -> None:
    ids = {"message_id": "m", "session_id": "s"}
    events = [
        {"type": "stream_start", **ids},
        {"type": "reasoning_chunk", "chunk": "先查", **ids},
        {"type": "reasoning_chunk", "chunk": "天气", **ids},
        {"type": "tool_start", "tool": "get_weather", "arguments": {"city": "北京"}, **ids},
        {"type": "tool_end", "tool": "get_weather", "result": "晴", **ids},
        {"type": "reasoning_chunk", "chunk": "好", **ids},
        {"type": "stream_chunk", "chunk": "北京晴", **ids},
        {"type": "stream_end", **ids},
    ]
    adapter = AISDKAdapter(lambda: False)
    parts = [part for event in events for part in adapter.frames(event_from_dict(event))]
    assert parts == [
        {"type": "start", "messageId": "m", "messageMetadata": {"sessionId": "s"}},
        {"type": "start-step"},
        {"type": "reasoning-start", "id": "reasoning-1"},
        {"type": "reasoning-delta", "id": "reasoning-1", "delta": "先查"},
        {"type": "reasoning-delta", "id": "reasoning-1", "delta": "天气"},
        {"type": "reasoning-end", "id": "reasoning-1"},
        {"type": "tool-input-available", "toolCallId": "call-1", "toolName": "get_weather",
         "input": {"city": "北京"}},
        {"type": "data-tool-progress", "transient": True,
         "data": {"tool": "get_weather", "toolCallId": "call-1", "state": "running"}},
        {"type": "tool-output-available", "toolCallId": "call-1", "output": "晴"},
        {"type": "data-tool-progress", "transient": True,
         "data": {"tool": "get_weather", "toolCallId": "call-1", "state": "done"}},
        {"type": "finish-step"},
        {"type": "start-step"},
        {"type": "reasoning-start", "id": "reasoning-2"},
        {"type": "reasoning-delta", "id": "reasoning-2", "delta": "好"},
        {"type": "reasoning-end", "id": "reasoning-2"},
        {"type": "text-start", "id": "text-1"},
        {"type": "text-delta", "id": "text-1", "delta": "北京晴"},
        {"type": "text-end", "id": "text-1"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
    ]


def test_reasoning_is_sent_only_when_asked() -> None:
    body = {"id": "c", "messages": [{"id": "1", "role": "user",
                                     "parts": [{"type": "text", "text": "hi"}]}]}
    assert UIChatRequest.model_validate(body).sendReasoning is False
    assert UIChatRequest.model_validate({**body, "sendReasoning": True}).sendReasoning is True
