"""Request and response bodies, as the OpenAPI document at ``/docs`` shows them.

Request fields the service validates itself (``message``, ``session_id``, ``events``) are typed
loosely here and checked by the same functions ``stream_chat`` uses, so a wrong value gets the
same wording over HTTP as in the stream.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from bailian_geo_agent.agent.events import OPTIONAL_EVENTS
from bailian_geo_agent.agent.serving import MultitaskStrategy
from bailian_geo_agent.agent.sessions.history import is_interrupted
from pydantic import BaseModel, ConfigDict, Field

EVENT_NAMES = sorted(OPTIONAL_EVENTS)
StrategyField = Annotated[MultitaskStrategy | None, Field(
    description="when a reply is still running in the session: `reject` (409), `enqueue` "
    "(answered after it), `interrupt` (stop it, keep its partial answer) or `rollback` (stop it "
    "and remove its turn); none: the server's GEO_AGENT_MULTITASK_STRATEGY")]
"""A request's ``multitask_strategy`` (``agent.server.multitask``)."""


class ChatStreamRequest(BaseModel):
    """A message for ``POST /v1/chat/stream``."""

    model_config = ConfigDict(extra="forbid")

    message: Any = Field(
        ..., description="the user's message", json_schema_extra={"type": "string"},
        examples=["天安门附近有什么咖啡店？"])
    session_id: Any = Field(
        None, description="the session to continue (a UUID); none starts a new one",
        json_schema_extra={"type": "string", "format": "uuid"})
    events: Any = Field(
        None, description="optional event types to add to the stream",
        json_schema_extra={"type": "array", "items": {"type": "string", "enum": [*EVENT_NAMES]}})
    resume: bool = Field(
        True, description="keep the reply running when the client disconnects (resumable "
        "with GET /v1/chat/{message_id}/events); false: a disconnect cancels it")
    retry: bool = Field(
        False, description="the same message sent again after its reply was interrupted by a "
        "server restart (its `error` came with SSE `retry:`): that stored turn is replaced, "
        "not repeated")
    multitask_strategy: StrategyField = None
    approvals: dict[str, Any] | None = Field(
        None, description="answers to a reply that paused for tool approval, by the "
        "`approval_id` of its `approval_request` events: {id: {\"approved\": bool, "
        "\"reason\": str}}; send them with an empty `message` and the same `session_id`",
        examples=[{"<approval_id>": {"approved": True}}])


class UIMessagePart(BaseModel):
    """A part of a UI message; only ``text`` parts are read."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class UIMessage(BaseModel):
    """A message as ``useChat`` sends it."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    role: Literal["system", "user", "assistant"]
    parts: list[UIMessagePart] = Field(default_factory=list)


class UIChatRequest(BaseModel):
    """The body the AI SDK's ``DefaultChatTransport`` sends to ``POST /api/chat``."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(..., min_length=1, max_length=200,
                    description="the chat id (a UUID is used as the session id as is)")
    messages: list[UIMessage] = Field(..., description="the chat so far; the last user "
                                      "message's text parts are the new message")
    trigger: Literal["submit-message", "regenerate-message"] | None = None
    messageId: str | None = None  # the AI SDK's field name
    sendReasoning: bool = Field(False, description="also stream a thinking model's reasoning "
                                "(reasoning-start/-delta/-end parts)")
    multitask_strategy: StrategyField = None


class HistoryMessage(BaseModel):
    """One stored message."""

    role: Literal["user", "assistant", "tool", "system"]
    content: str
    tool_calls: list[dict[str, Any]] | None = None
    name: str | None = None
    interrupted: bool = Field(False, description="an answer that was stopped or cut off: "
                              "its content is what had been sent, or a note")


class History(BaseModel):
    """A session's stored messages, oldest first."""

    session_id: str
    messages: list[HistoryMessage]


class Stopped(BaseModel):
    """The answer of ``POST /v1/chat/{message_id}/stop``."""

    message_id: str
    session_id: str
    stopped: bool = True


class ErrorBody(BaseModel):
    """Every error answer: the same wording as the stream's ``error`` event."""

    type: Literal["error"] = "error"
    error: str


class Health(BaseModel):
    """``/healthz`` and ``/readyz``."""

    status: Literal["ok", "ready", "not ready", "draining"]
    checks: dict[str, str] = Field(default_factory=dict)


def history_message(message: Any) -> HistoryMessage:
    """A LangChain message as JSON."""
    role = {"human": "user", "ai": "assistant", "tool": "tool", "system": "system"}.get(
        getattr(message, "type", ""), "assistant")
    content = message.content
    text = content if isinstance(content, str) else getattr(message, "text", "") or ""
    calls = [{"id": c.get("id"), "name": c.get("name"), "arguments": c.get("args")}
             for c in getattr(message, "tool_calls", None) or []] or None
    name = getattr(message, "name", None) if role == "tool" else None
    return HistoryMessage(role=role, content=str(text), tool_calls=calls, name=name,
                          interrupted=is_interrupted(message))


class UIStopRequest(BaseModel):
    """The body of ``POST /api/chat/{chat_id}/stop`` (the AI SDK's documented stop call for
    resumable streams)."""

    model_config = ConfigDict(extra="allow")

    assistantMessage: UIMessage | None = Field(  # the AI SDK's field names
        None, description="the answer as the client showed it when the user stopped: the "
        "stored answer is cut back to its text (never lengthened)")
    activeStreamId: str | None = Field(
        None, description="the reply to stop (the `start` part's `messageId`); when another "
        "reply runs in the chat by now, nothing is stopped")


class UIStopped(BaseModel):
    """The answer of ``POST /api/chat/{chat_id}/stop``."""

    success: bool = True
    stopped: bool = Field(False, description="a running reply was stopped")
    messageId: str | None = Field(None, description="the reply stopped")
