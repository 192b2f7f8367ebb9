"""Typed stream events, and their documented dict form at the edge.

The four documented types (``stream_start``, ``stream_chunk``, ``stream_end``, ``error``) are
always sent. ``map_action``, ``tool_start`` and ``tool_end`` are opt-in (see ``OPTIONAL_EVENTS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

EventType = Literal[
    "stream_start", "stream_chunk", "stream_end", "error", "map_action", "tool_start", "tool_end"
]
OPTIONAL_EVENTS: frozenset[str] = frozenset({"map_action", "tool_start", "tool_end"})


@dataclass(slots=True)
class StreamStart:
    """A reply has begun."""

    message_id: str
    session_id: str
    type: Literal["stream_start"] = "stream_start"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message_id": self.message_id, "session_id": self.session_id}


@dataclass(slots=True)
class StreamChunk:
    """A piece of the answer's text, as the model produced it."""

    message_id: str
    session_id: str
    chunk: str
    type: Literal["stream_chunk"] = "stream_chunk"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message_id": self.message_id,
            "session_id": self.session_id,
            "chunk": self.chunk,
        }


@dataclass(slots=True)
class StreamEnd:
    """The reply is complete."""

    message_id: str
    session_id: str
    type: Literal["stream_end"] = "stream_end"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message_id": self.message_id, "session_id": self.session_id}


@dataclass(slots=True)
class StreamError:
    """The reply ended with an error; ``error`` is a message a person can act on."""

    message_id: str
    session_id: str
    error: str
    type: Literal["error"] = "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message_id": self.message_id,
            "session_id": self.session_id,
            "error": self.error,
        }


@dataclass(slots=True)
class MapAction:
    """A structured command for a map front end (opt-in)."""

    message_id: str
    session_id: str
    action: dict[str, Any] = field(default_factory=dict)
    type: Literal["map_action"] = "map_action"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message_id": self.message_id,
            "session_id": self.session_id,
            "action": self.action,
        }


@dataclass(slots=True)
class ToolStart:
    """A tool began running (opt-in)."""

    message_id: str
    session_id: str
    tool: str
    arguments: dict[str, Any] | str
    type: Literal["tool_start"] = "tool_start"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message_id": self.message_id,
            "session_id": self.session_id,
            "tool": self.tool,
            "arguments": self.arguments,
        }


@dataclass(slots=True)
class ToolEnd:
    """A tool finished; ``result`` is a short preview of what the model was given (opt-in)."""

    message_id: str
    session_id: str
    tool: str
    result: str
    type: Literal["tool_end"] = "tool_end"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message_id": self.message_id,
            "session_id": self.session_id,
            "tool": self.tool,
            "result": self.result,
        }


StreamEvent = Union[  # noqa: UP007 - a runtime alias, kept importable on Python 3.10
    StreamStart, StreamChunk, StreamEnd, StreamError, MapAction, ToolStart, ToolEnd
]
