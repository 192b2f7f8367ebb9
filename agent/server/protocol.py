"""The base of the wire protocols: one reply's typed events in, one protocol's bytes out.

Each protocol (the seed SSE stream in ``sse.py``, the AI SDK UI message stream in
``aisdk.py``) is one ``EventStreamAdapter`` subclass: a hook per event kind returns that event's
wire frames, ``encode`` turns a frame into bytes, ``on_close`` adds what follows the last
event. A new protocol is a new subclass; the replies, the event log and the routes stay as
they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from bailian_geo_agent.agent.events import (
    ApprovalRequest,
    Links,
    MapAction,
    ReasoningChunk,
    Source,
    StreamChunk,
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    ToolEnd,
    ToolStart,
    Usage,
)

FrameT = TypeVar("FrameT")
_NONE: tuple[()] = ()


class EventStreamAdapter(Generic[FrameT]):
    """One reply's events as one protocol's frames; override the hooks of the events the
    protocol shows (each returns the event's frames; by default none)."""

    def __init__(self) -> None:
        # The hook of each event class, looked up once per event (no string dispatch).
        self._hooks: dict[type[Any], Callable[[Any], Sequence[FrameT]]] = {
            StreamStart: self.on_start,
            StreamChunk: self.on_chunk,
            ReasoningChunk: self.on_reasoning,
            ToolStart: self.on_tool_start,
            ToolEnd: self.on_tool_end,
            MapAction: self.on_map_action,
            Links: self.on_links,
            Usage: self.on_usage,
            Source: self.on_source,
            StreamEnd: self.on_end,
            StreamError: self.on_error,
            ApprovalRequest: self.on_approval_request,
        }

    # -- hooks, one per event kind -----------------------------------------------------------

    def on_start(self, event: StreamStart) -> Sequence[FrameT]:
        """The reply began."""
        return _NONE

    def on_chunk(self, event: StreamChunk) -> Sequence[FrameT]:
        """A piece of the answer."""
        return _NONE

    def on_reasoning(self, event: ReasoningChunk) -> Sequence[FrameT]:
        """A piece of the model's reasoning (opt-in)."""
        return _NONE

    def on_tool_start(self, event: ToolStart) -> Sequence[FrameT]:
        """A tool began (opt-in)."""
        return _NONE

    def on_tool_end(self, event: ToolEnd) -> Sequence[FrameT]:
        """A tool finished (opt-in)."""
        return _NONE

    def on_map_action(self, event: MapAction) -> Sequence[FrameT]:
        """A command for the map (opt-in)."""
        return _NONE

    def on_links(self, event: Links) -> Sequence[FrameT]:
        """Hand-off links of a tool's result (opt-in)."""
        return _NONE

    def on_usage(self, event: Usage) -> Sequence[FrameT]:
        """The reply's token counts (opt-in)."""
        return _NONE

    def on_source(self, event: Source) -> Sequence[FrameT]:
        """A web page the model's search used (opt-in)."""
        return _NONE

    def on_approval_request(self, event: ApprovalRequest) -> Sequence[FrameT]:
        """A tool call waits for the user's approval (opt-in)."""
        return _NONE

    def on_end(self, event: StreamEnd) -> Sequence[FrameT]:
        """The reply is complete."""
        return _NONE

    def on_error(self, event: StreamError) -> Sequence[FrameT]:
        """The reply ended with an error."""
        return _NONE

    def on_close(self) -> Sequence[FrameT]:
        """What follows the reply's last event."""
        return _NONE

    # -- encoding ----------------------------------------------------------------------------

    def encode(self, frame: FrameT) -> bytes:
        """One frame's bytes on the wire."""
        raise NotImplementedError

    def frames(self, event: StreamEvent) -> Sequence[FrameT]:
        """``event``'s frames (its hook's answer)."""
        return self._hooks[type(event)](event)

    def to_bytes(self, events: Iterable[StreamEvent]) -> bytes:
        """Several events' frames as one write."""
        encode, hooks = self.encode, self._hooks
        return b"".join([encode(f) for event in events for f in hooks[type(event)](event)])

    async def stream(self, first: StreamEvent,
                     rest: AsyncIterator[Sequence[StreamEvent]]) -> AsyncIterator[bytes]:
        """The reply's bytes: ``first``, then each batch of ``rest`` (the events already
        waiting when the response asked) as one write, then ``on_close``'s."""
        data = self.to_bytes((first,))
        if data:
            yield data
        async for batch in rest:
            data = self.to_bytes(batch)
            if data:
                yield data
        closing = self.on_close()
        if closing:
            yield b"".join([self.encode(f) for f in closing])
