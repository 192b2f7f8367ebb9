"""``POST /api/chat``: the Vercel AI SDK's UI message stream protocol (v1), for ``useChat``.

Our events become the protocol's parts: ``start`` (with ``messageMetadata`` ``sessionId`` and
``model``; ``replyId`` after tool approvals),
``start-step``, ``reasoning-start`` / ``reasoning-delta`` / ``reasoning-end`` (a thinking model's
reasoning, when the request sets ``sendReasoning``), ``text-start`` / ``text-delta`` /
``text-end``, ``tool-input-available`` /
``tool-output-available``, ``data-map-action``, ``source-url`` (web search sources),
``error`` or ``abort``, ``finish-step``,
``finish``; then ``[DONE]``. Parts carry only fields of the protocol's schema.

A reply pausing for tool approval (``GEO_AGENT_APPROVAL_TOOLS``) sends each waiting call as
``tool-input-available`` + ``tool-approval-request`` and finishes; ``useChat``'s
``addToolApprovalResponse`` (with ``sendAutomaticallyWhen:
lastAssistantMessageIsCompleteWithApprovalResponses``) posts the answers in the tool parts'
``approval``, and the reply goes on in the same assistant message (``tool-output-available``
or ``tool-output-denied`` for those calls, then the rest).
Beside the answer: ``data-tool-progress`` parts (transient: ``useChat``'s ``onData`` sees
them, the message keeps none) as each tool starts and ends, ``{"tool", "toolCallId",
"state": "running" | "done" | "error", "ms"?}``; and the reply's ``usage`` (the shape of the
AI SDK's ``LanguageModelUsage``), ``modelCalls`` and ``timings`` (``firstChunkMs``,
``totalMs``: from the request, live replies only) as ``finish``'s ``messageMetadata`` (a
``message-metadata`` part before an ``abort``), which the client merges into
``message.metadata``.

A reply cut by a server restart sends ``data-interrupted`` (transient, ``{"reason":
"restart", "retry": true}``) before its ``error``: a ``useChat`` app's ``onData`` calls
``regenerate()``, which the server takes as a retry (the stored turn is replaced).
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from bailian_geo_agent.agent.events import (
    ApprovalRequest,
    Links,
    MapAction,
    ReasoningChunk,
    Source,
    StreamChunk,
    StreamEnd,
    StreamError,
    StreamStart,
    ToolEnd,
    ToolStart,
    Usage,
)
from bailian_geo_agent.agent.server.protocol import EventStreamAdapter
from bailian_geo_agent.agent.server.schemas import UIChatRequest, UIMessage
from bailian_geo_agent.agent.server.sse import dumps

HEADERS = {"x-vercel-ai-ui-message-stream": "v1", "Cache-Control": "no-cache"}
REPLY_ID = "replyId"
"""The ``messageMetadata`` key naming the reply running in a message that is not its first
(one going on after tool approvals, in the message that paused)."""
"""Headers of the response (sse-starlette adds ``X-Accel-Buffering: no`` and keep-alive)."""
Part: TypeAlias = dict[str, Any] | str
"""One part of the stream: a part object, or a raw ``data:`` value (``[DONE]``)."""
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


@dataclass(frozen=True)
class ApprovalResponses:
    """The answers a ``useChat`` request carries to a reply paused for tool approval."""

    message_id: str | None
    """The paused assistant message (the reply goes on in it)."""
    approvals: dict[str, dict[str, Any]]
    """``{approvalId: {"approved", "reason"}}`` (``StreamChatService.stream_chat``'s)."""
    calls: dict[str, bool]
    """``{toolCallId: approved}``."""


def approval_responses(request: UIChatRequest) -> ApprovalResponses | None:
    """The tool approval answers of ``request`` (its last message is the paused assistant
    message with ``approval-responded`` tool parts), or ``None`` for a new message."""
    last = request.messages[-1] if request.messages else None
    if last is None or last.role != "assistant":
        return None
    approvals: dict[str, dict[str, Any]] = {}
    calls: dict[str, bool] = {}
    for part in last.parts:
        extra = part.model_extra or {}
        approval = extra.get("approval")
        if extra.get("state") != "approval-responded" or not isinstance(approval, dict):
            continue
        approved = approval.get("approved")
        reason = approval.get("reason")
        approvals[str(approval.get("id"))] = {
            "approved": approved, "reason": reason if isinstance(reason, str) else None}
        if isinstance(extra.get("toolCallId"), str):
            calls[extra["toolCallId"]] = approved is True
    return ApprovalResponses(last.id, approvals, calls) if approvals else None
def seen_answer(message: UIMessage) -> str:
    """The text of ``message``'s last step (its text parts after the last ``step-start``):
    what a client showed of the answer being written when it stopped."""
    parts = message.parts
    starts = [i for i, part in enumerate(parts) if part.type == "step-start"]
    step = parts[starts[-1] + 1:] if starts else parts
    return "".join(part.text or "" for part in step if part.type == "text")


def usage_metadata(event: Usage) -> dict[str, Any]:
    """A ``usage`` event as the AI SDK's ``LanguageModelUsage`` (its token counts)."""
    return {
        "inputTokens": event.input_tokens,
        "inputTokenDetails": {
            "noCacheTokens": event.input_tokens - event.cached_tokens
            - event.cache_creation_tokens,
            "cacheReadTokens": event.cached_tokens,
            "cacheWriteTokens": event.cache_creation_tokens,
        },
        "outputTokens": event.output_tokens,
        "outputTokenDetails": {
            "textTokens": event.output_tokens - event.reasoning_tokens,
            "reasoningTokens": event.reasoning_tokens,
        },
        "totalTokens": event.total_tokens,
    }


class AISDKAdapter(EventStreamAdapter[Part]):
    """The UI message stream protocol: our events as its parts, ``[DONE]`` after the last.

    ``stopped()`` tells whether the reply was stopped (its ``error`` is then an ``abort``);
    ``interrupted()`` whether a server restart cut it (``data-interrupted`` before its
    ``error``: send it again).
    Tool parts are paired by the events' ``tool_call_id`` (by name, in order, without one).
    ``model`` goes into ``start``'s metadata; ``started`` (``time.perf_counter()`` at the
    request, for a live reply, not a replay) gives the timings.
    """

    NEEDS: frozenset[str] = frozenset({"source", "usage"})
    """The optional events it asks for beside the front end's: web sources (``source-url``
    parts) and the reply's usage (``finish``'s ``messageMetadata.usage``)."""

    def __init__(self, stopped: Callable[[], bool],
                 interrupted: Callable[[], bool] | None = None, *, model: str = "",
                 started: float | None = None) -> None:
        super().__init__()
        self._stopped = stopped
        self._interrupted = interrupted or (lambda: False)
        self._model = model
        self._started = started
        self._first_chunk: float | None = None
        self._usage: Usage | None = None
        self._tool_began: dict[str, float] = {}
        self._text_id: str | None = None
        self._texts = 0
        self._reasoning_id: str | None = None
        self._reasonings = 0
        self._calls = 0
        self._after_tool = False
        self._calls_by_id: dict[str, str] = {}
        self._calls_by_name: defaultdict[str, deque[str]] = defaultdict(deque)
        self._sources = 0

    def encode(self, frame: Part) -> bytes:
        """``data: <part as JSON>`` (a string goes as is), sse-starlette's default framing."""
        data = frame if isinstance(frame, str) else dumps(frame)
        return f"data: {data}\r\n\r\n".encode()

    def _end_text(self, parts: list[Part]) -> None:
        if self._text_id is not None:
            parts.append({"type": "text-end", "id": self._text_id})
            self._text_id = None

    def _end_reasoning(self, parts: list[Part]) -> None:
        if self._reasoning_id is not None:
            parts.append({"type": "reasoning-end", "id": self._reasoning_id})
            self._reasoning_id = None

    def _new_step(self, parts: list[Part]) -> None:
        if self._after_tool:  # the model writes again after its tools: a new step
            parts += [{"type": "finish-step"}, {"type": "start-step"}]
            self._after_tool = False

    def on_reasoning(self, event: ReasoningChunk) -> Sequence[Part]:
        if self._reasoning_id is not None:
            return [{"type": "reasoning-delta", "id": self._reasoning_id, "delta": event.chunk}]
        parts: list[Part] = []
        self._end_text(parts)
        self._new_step(parts)
        self._reasonings += 1
        self._reasoning_id = f"reasoning-{self._reasonings}"
        parts.append({"type": "reasoning-start", "id": self._reasoning_id})
        parts.append({"type": "reasoning-delta", "id": self._reasoning_id, "delta": event.chunk})
        return parts

    def on_chunk(self, event: StreamChunk) -> Sequence[Part]:
        if self._text_id is not None:
            return [{"type": "text-delta", "id": self._text_id, "delta": event.chunk}]
        if self._first_chunk is None and self._started is not None:
            self._first_chunk = time.perf_counter()
        parts: list[Part] = []
        self._end_reasoning(parts)
        self._new_step(parts)
        self._texts += 1
        self._text_id = f"text-{self._texts}"
        parts.append({"type": "text-start", "id": self._text_id})
        parts.append({"type": "text-delta", "id": self._text_id, "delta": event.chunk})
        return parts

    def on_start(self, event: StreamStart) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        metadata = {"sessionId": event.session_id}
        if self._model:
            metadata["model"] = self._model
        parts.append({"type": "start", "messageId": event.message_id,
                      "messageMetadata": metadata})
        parts.append({"type": "start-step"})
        return parts

    def on_tool_start(self, event: ToolStart) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        self._end_text(parts)
        self._calls += 1
        call_id = f"call-{self._calls}"
        if event.tool_call_id is not None:
            self._calls_by_id[event.tool_call_id] = call_id
        else:
            self._calls_by_name[event.tool].append(call_id)
        parts.append({"type": "tool-input-available", "toolCallId": call_id,
                      "toolName": event.tool, "input": event.arguments})
        parts.append(self._progress(event.tool, call_id, "running"))
        if self._started is not None:
            self._tool_began[call_id] = time.perf_counter()
        return parts

    def _progress(self, tool: str, call_id: str, state: str,
                  ms: float | None = None) -> dict[str, Any]:
        """A transient ``data-tool-progress`` part (``onData`` only, not kept in the message)."""
        data: dict[str, Any] = {"tool": tool, "toolCallId": call_id, "state": state}
        if ms is not None:
            data["ms"] = round(ms, 1)
        return {"type": "data-tool-progress", "data": data, "transient": True}

    def on_tool_end(self, event: ToolEnd) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        if event.tool_call_id is not None:
            call_id = self._calls_by_id.pop(event.tool_call_id, None)
        else:  # tools of one name finish in the order they started
            waiting = self._calls_by_name.get(event.tool)
            call_id = waiting.popleft() if waiting else None
        if call_id is not None:
            parts.append({"type": "tool-output-available", "toolCallId": call_id,
                          "output": event.result})
            began = self._tool_began.pop(call_id, None)
            ms = None if began is None else (time.perf_counter() - began) * 1000
            parts.append(self._progress(event.tool, call_id,
                                        "done" if event.outcome == "ok" else "error", ms))
        self._after_tool = True
        return parts

    def on_map_action(self, event: MapAction) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        parts.append({"type": "data-map-action", "data": event.action})
        return parts

    def on_links(self, event: Links) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        parts.append({"type": "data-links", "data": {"tool": event.tool, "links": event.links}})
        return parts

    def on_source(self, event: Source) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        self._sources += 1
        parts.append({"type": "source-url", "sourceId": f"source-{self._sources}",
                      "url": event.url, "title": event.title})
        return parts

    def on_usage(self, event: Usage) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        self._usage = event
        return parts

    def _end_metadata(self) -> dict[str, Any] | None:
        """What is known once the reply has ended: usage, model calls, timings."""
        metadata: dict[str, Any] = {}
        if self._usage is not None:
            metadata["usage"] = usage_metadata(self._usage)
            metadata["modelCalls"] = self._usage.model_calls
        if self._started is not None:
            now = time.perf_counter()
            timings = {"totalMs": round((now - self._started) * 1000, 1)}
            if self._first_chunk is not None:
                timings["firstChunkMs"] = round((self._first_chunk - self._started) * 1000, 1)
            metadata["timings"] = timings
        return metadata or None

    def _finish(self, reason: str) -> dict[str, Any]:
        part: dict[str, Any] = {"type": "finish", "finishReason": reason}
        metadata = self._end_metadata()
        if metadata is not None:
            part["messageMetadata"] = metadata
        return part

    def on_end(self, event: StreamEnd) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        self._end_text(parts)
        parts += [{"type": "finish-step"}, self._finish("stop")]
        return parts

    def on_error(self, event: StreamError) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        self._end_text(parts)
        if self._stopped():
            metadata = self._end_metadata()
            if metadata is not None:
                parts.append({"type": "message-metadata", "messageMetadata": metadata})
            parts.append({"type": "abort", "reason": event.error})
        else:
            if self._interrupted():
                parts.append({"type": "data-interrupted", "transient": True,
                              "data": {"reason": "restart", "retry": True}})
            parts += [{"type": "error", "errorText": event.error}, self._finish("error")]
        return parts

    def on_approval_request(self, event: ApprovalRequest) -> Sequence[Part]:
        parts: list[Part] = []
        self._end_reasoning(parts)
        self._end_text(parts)
        call_id = event.tool_call_id or event.approval_id
        parts.append({"type": "tool-input-available", "toolCallId": call_id,
                      "toolName": event.tool, "input": event.arguments})
        parts.append({"type": "tool-approval-request", "approvalId": event.approval_id,
                      "toolCallId": call_id})
        return parts

    def continue_after_approvals(self, responses: ApprovalResponses) -> None:
        """This reply goes on in the assistant message that paused for ``responses``: its
        ``start`` names that message, refused calls end ``tool-output-denied``, approved ones
        keep their ``toolCallId`` (no second input part)."""
        start, tool_start = self.on_start, self.on_tool_start
        approved = {call for call, yes in responses.calls.items() if yes}

        def on_start(event: StreamStart) -> Sequence[Part]:
            # The message keeps the paused reply's id; its metadata names this reply, the one
            # a stop must name (``POST /api/chat/{id}/stop``).
            parts = [dict(p, messageId=responses.message_id, messageMetadata={
                         **p["messageMetadata"], REPLY_ID: event.message_id})
                     if isinstance(p, dict) and p["type"] == "start" and responses.message_id
                     else p for p in start(event)]
            parts += [{"type": "tool-output-denied", "toolCallId": call}
                      for call, yes in responses.calls.items() if not yes]
            return parts

        def on_tool_start(event: ToolStart) -> Sequence[Part]:
            if event.tool_call_id in approved:
                approved.discard(event.tool_call_id)
                call_id = self._calls_by_id[event.tool_call_id] = event.tool_call_id
                parts: list[Part] = []
                self._end_reasoning(parts)
                self._end_text(parts)
                parts.append(self._progress(event.tool, call_id, "running"))
                if self._started is not None:
                    self._tool_began[call_id] = time.perf_counter()
                return parts
            return tool_start(event)

        self._hooks[StreamStart] = on_start
        self._hooks[ToolStart] = on_tool_start

    def on_close(self) -> Sequence[Part]:
        return ("[DONE]",)
