"""``POST /api/chat``: the Vercel AI SDK's UI message stream protocol (v1), for ``useChat``.

Our events become the protocol's parts: ``start`` (with ``messageMetadata.sessionId``),
``start-step``, ``reasoning-start`` / ``reasoning-delta`` / ``reasoning-end`` (a thinking model's
reasoning, when the request sets ``sendReasoning``), ``text-start`` / ``text-delta`` /
``text-end``, ``tool-input-available`` /
``tool-output-available``, ``data-map-action``, ``error`` or ``abort``, ``finish-step``,
``finish``; then ``[DONE]``. Parts carry only fields of the protocol's schema.
"""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from typing import Any

from bailian_geo_agent.agent.server.schemas import UIChatRequest
from bailian_geo_agent.agent.server.sse import dumps
from sse_starlette import ServerSentEvent

HEADERS = {"x-vercel-ai-ui-message-stream": "v1", "Cache-Control": "no-cache"}
"""Headers of the response (sse-starlette adds ``X-Accel-Buffering: no`` and keep-alive)."""
_CHAT_NAMESPACE = uuid.UUID("6f0d3c1e-7a43-4c55-9b3e-2a1f5b8e9d10")


def session_for_chat(chat_id: str, owner: str) -> str:
    """Our session id for an AI SDK chat id: the id itself when it is a UUID, else one derived
    from it and the caller (the same chat id of two tokens never meets)."""
    try:
        return str(uuid.UUID(chat_id))
    except ValueError:
        return str(uuid.uuid5(_CHAT_NAMESPACE, f"{owner}:{chat_id}"))


def last_user_text(request: UIChatRequest) -> str:
    """The text parts of the last user message, joined ("" when there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return "".join(p.text or "" for p in message.parts if p.type == "text")
    return ""


class _Translator:
    """Turns one reply's events into UI message stream parts."""

    def __init__(self, stopped: Any) -> None:
        self._stopped = stopped  # () -> bool: whether the reply was stopped (abort, not error)
        self._text_id: str | None = None
        self._texts = 0
        self._reasoning_id: str | None = None
        self._reasonings = 0
        self._calls = 0
        self._after_tool = False
        self._open_calls: defaultdict[str, deque[str]] = defaultdict(deque)

    def _end_text(self, parts: list[dict[str, Any]]) -> None:
        if self._text_id is not None:
            parts.append({"type": "text-end", "id": self._text_id})
            self._text_id = None

    def _end_reasoning(self, parts: list[dict[str, Any]]) -> None:
        if self._reasoning_id is not None:
            parts.append({"type": "reasoning-end", "id": self._reasoning_id})
            self._reasoning_id = None

    def _new_step(self, parts: list[dict[str, Any]]) -> None:
        if self._after_tool:  # the model writes again after its tools: a new step
            parts += [{"type": "finish-step"}, {"type": "start-step"}]
            self._after_tool = False

    def parts(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event["type"]
        if kind == "reasoning_chunk":
            if self._reasoning_id is not None:
                return [{"type": "reasoning-delta", "id": self._reasoning_id,
                         "delta": event["chunk"]}]
            parts: list[dict[str, Any]] = []
            self._end_text(parts)
            self._new_step(parts)
            self._reasonings += 1
            self._reasoning_id = f"reasoning-{self._reasonings}"
            parts.append({"type": "reasoning-start", "id": self._reasoning_id})
            parts.append({"type": "reasoning-delta", "id": self._reasoning_id,
                          "delta": event["chunk"]})
            return parts
        if kind == "stream_chunk":
            if self._text_id is not None:
                return [{"type": "text-delta", "id": self._text_id, "delta": event["chunk"]}]
            parts = []
            self._end_reasoning(parts)
            if self._after_tool:  # the model writes again after its tools: a new step
                parts += [{"type": "finish-step"}, {"type": "start-step"}]
                self._after_tool = False
            self._texts += 1
            self._text_id = f"text-{self._texts}"
            parts.append({"type": "text-start", "id": self._text_id})
            parts.append({"type": "text-delta", "id": self._text_id, "delta": event["chunk"]})
            return parts
        parts = []
        self._end_reasoning(parts)
        if kind == "stream_start":
            parts.append({"type": "start", "messageId": event["message_id"],
                          "messageMetadata": {"sessionId": event["session_id"]}})
            parts.append({"type": "start-step"})
        elif kind == "tool_start":
            self._end_text(parts)
            self._calls += 1
            call_id = f"call-{self._calls}"
            self._open_calls[event["tool"]].append(call_id)
            parts.append({"type": "tool-input-available", "toolCallId": call_id,
                          "toolName": event["tool"], "input": event["arguments"]})
        elif kind == "tool_end":
            waiting = self._open_calls.get(event["tool"])
            if waiting:  # tools of one name finish in the order they started
                parts.append({"type": "tool-output-available", "toolCallId": waiting.popleft(),
                              "output": event["result"]})
            self._after_tool = True
        elif kind == "map_action":
            parts.append({"type": "data-map-action", "data": event["action"]})
        elif kind == "stream_end":
            self._end_text(parts)
            parts += [{"type": "finish-step"}, {"type": "finish", "finishReason": "stop"}]
        elif kind == "error":
            self._end_text(parts)
            if self._stopped():
                parts.append({"type": "abort", "reason": event["error"]})
            else:
                parts += [{"type": "error", "errorText": event["error"]},
                          {"type": "finish", "finishReason": "error"}]
        return parts


async def ui_message_stream(
    first: dict[str, Any], rest: AsyncIterator[dict[str, Any]], stopped: Any
) -> AsyncIterator[ServerSentEvent]:
    """The reply as UI message stream parts, each one ``data:`` SSE event, then ``[DONE]``."""
    translate = _Translator(stopped).parts
    for part in translate(first):
        yield ServerSentEvent(dumps(part))
    async for event in rest:
        for part in translate(event):
            yield ServerSentEvent(dumps(part))
    yield ServerSentEvent("[DONE]")
