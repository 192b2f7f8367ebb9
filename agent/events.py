"""Typed stream events, and their documented dict form at the edge.

The four documented types (``stream_start``, ``stream_chunk``, ``stream_end``, ``error``) are
always sent. ``map_action``, ``tool_start``, ``tool_end``, ``links``, ``reasoning_chunk``,
``usage``, ``source`` and ``approval_request`` are opt-in (see ``OPTIONAL_EVENTS``; a front
end's usual choice is ``FRONT_END_EVENTS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

EventType = Literal[
    "stream_start", "stream_chunk", "stream_end", "error", "map_action", "tool_start", "tool_end",
    "reasoning_chunk", "usage", "links", "source", "approval_request",
]
FRONT_END_EVENTS: tuple[str, ...] = ("map_action", "tool_start", "tool_end", "links", "source")
"""The optional events a chat front end shows: the web page asks for them (it reads this list
from the server) and the AI SDK stream sends them (``source``: web search's pages with
``DASHSCOPE_ENABLE_SEARCH``, and a POI detail's source pages)."""
OPTIONAL_EVENTS: frozenset[str] = frozenset(
    (*FRONT_END_EVENTS, "reasoning_chunk", "usage", "source", "approval_request")
)
"""Every opt-in event type (the one list: the CLI, validation and the server derive theirs)."""


_LOCAL = {"local": True}  # a field kept out of the dict form (and the event log)


class _Event:
    """Base of the stream events: their documented dict form."""

    __slots__ = ()
    _keys: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """``type`` first, then the event's other fields."""
        return {"type": self.type, **{key: getattr(self, key) for key in self._keys}}  # type: ignore[attr-defined]


@dataclass(slots=True)
class StreamStart(_Event):
    """A reply has begun."""

    message_id: str
    session_id: str
    type: Literal["stream_start"] = "stream_start"


@dataclass(slots=True)
class StreamChunk(_Event):
    """A piece of the answer's text, as the model produced it."""

    message_id: str
    session_id: str
    chunk: str
    type: Literal["stream_chunk"] = "stream_chunk"

    def to_dict(self) -> dict[str, Any]:  # written out: it runs once per chunk
        return {
            "type": self.type,
            "message_id": self.message_id,
            "session_id": self.session_id,
            "chunk": self.chunk,
        }


@dataclass(slots=True)
class StreamEnd(_Event):
    """The reply is complete."""

    message_id: str
    session_id: str
    type: Literal["stream_end"] = "stream_end"


@dataclass(slots=True)
class StreamError(_Event):
    """The reply ended with an error; ``error`` is a message a person can act on."""

    message_id: str
    session_id: str
    error: str
    kind: str = field(default="", compare=False, metadata=_LOCAL)
    """What failed, for metrics and logs: the error's class (``RateLimitError``,
    ``NetworkError``, ...) or ``cancelled``; not part of the dict form."""
    type: Literal["error"] = "error"


@dataclass(slots=True)
class MapAction(_Event):
    """A structured command for a map front end (opt-in)."""

    message_id: str
    session_id: str
    action: dict[str, Any] = field(default_factory=dict)
    type: Literal["map_action"] = "map_action"


@dataclass(slots=True)
class Links(_Event):
    """Hand-off links of a tool's result: what a phone opens (a map app's marker, navigation
    or search, a ``geo:`` URI, an openstreetmap.org page) (opt-in).

    Each link is ``{"kind", "label", "url"}`` (``tools.links.Link``)."""

    message_id: str
    session_id: str
    tool: str
    links: list[dict[str, Any]] = field(default_factory=list)
    tool_call_id: str | None = None
    """The id of the call whose result carries them."""
    type: Literal["links"] = "links"


@dataclass(slots=True)
class ToolStart(_Event):
    """A tool began running (opt-in)."""

    message_id: str
    session_id: str
    tool: str
    arguments: dict[str, Any] | str
    tool_call_id: str | None = None
    """The model's id for this call (pairs it with its ``tool_end``); ``None`` when the tool
    ran without one."""
    type: Literal["tool_start"] = "tool_start"


@dataclass(slots=True)
class ToolEnd(_Event):
    """A tool finished; ``result`` is a short preview of what the model was given (opt-in)."""

    message_id: str
    session_id: str
    tool: str
    result: str
    tool_call_id: str | None = None
    """The id of the call this ends (the same as its ``tool_start``'s)."""
    outcome: str = field(default="ok", compare=False, metadata=_LOCAL)
    """``ok``, ``error`` or ``cancelled``, for metrics; not part of the dict form."""
    type: Literal["tool_end"] = "tool_end"


@dataclass(slots=True)
class ReasoningChunk(_Event):
    """A piece of a thinking model's reasoning, as it streams (opt-in; never in the answer)."""

    message_id: str
    session_id: str
    chunk: str
    type: Literal["reasoning_chunk"] = "reasoning_chunk"

    def to_dict(self) -> dict[str, Any]:  # written out: it runs once per chunk
        return {
            "type": self.type,
            "message_id": self.message_id,
            "session_id": self.session_id,
            "chunk": self.chunk,
        }


@dataclass(slots=True)
class Usage(_Event):
    """Tokens of the whole reply, every model call summed; sent just before ``stream_end`` (or
    ``error``, once a model call has finished) (opt-in)."""

    message_id: str
    session_id: str
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    total_tokens: int
    model_calls: int
    cached_tokens: int = 0
    """Input tokens the provider read from its prompt cache (part of ``input_tokens``)."""
    cache_creation_tokens: int = 0
    """Input tokens written to an explicit context cache (part of ``input_tokens``)."""
    type: Literal["usage"] = "usage"


@dataclass(slots=True)
class Source(_Event):
    """A web page the answer drew on (opt-in): one the model's web search used
    (``DASHSCOPE_ENABLE_SEARCH``), or one a tool's result came from (a POI detail's
    OpenStreetMap object, the place's own website); each URL once per reply."""

    message_id: str
    session_id: str
    url: str
    title: str
    type: Literal["source"] = "source"


@dataclass(slots=True)
class ApprovalRequest(_Event):
    """A tool call waits for the user's approval (``GEO_AGENT_APPROVAL_TOOLS``; opt-in): the
    reply ends after it; the next request on the session answers it by ``approval_id``."""

    message_id: str
    session_id: str
    tool: str
    arguments: dict[str, Any]
    tool_call_id: str | None
    """The model's id for the call."""
    approval_id: str
    """What the answer names (``stream_chat(..., approvals={approval_id: ...})``)."""
    type: Literal["approval_request"] = "approval_request"


for _cls in _Event.__subclasses__():  # each a dataclass
    _fields = fields(cast("type[DataclassInstance]", _cls))
    _cls._keys = tuple(f.name for f in _fields if f.name != "type" and not f.metadata.get("local"))

StreamEvent = Union[  # noqa: UP007 - a runtime alias, kept importable on Python 3.10
    StreamStart, StreamChunk, StreamEnd, StreamError, MapAction, ToolStart, ToolEnd,
    ReasoningChunk, Usage, Links, Source, ApprovalRequest,
]
"""Any event of a reply (``StreamChatService.stream_events`` yields these)."""

TERMINAL_EVENTS: tuple[type[StreamEnd], type[StreamError]] = (StreamEnd, StreamError)
"""The classes of a reply's last event (for ``isinstance``)."""

_BY_TYPE: dict[str, type[_Event]] = {
    cast(str, cls.__dataclass_fields__["type"].default): cls
    for cls in (StreamStart, StreamChunk, StreamEnd, StreamError, MapAction, ToolStart, ToolEnd,
                ReasoningChunk, Usage, Links, Source, ApprovalRequest)
}


def event_from_dict(data: dict[str, Any]) -> StreamEvent:
    """The typed event of a documented dict (the inverse of ``to_dict``); ``ValueError`` for an
    unknown ``type``."""
    cls = _BY_TYPE.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    return cast("StreamEvent", cls(**{key: data[key] for key in cls._keys if key in data}))
