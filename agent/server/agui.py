"""``POST /v1/agui``: the AG-UI protocol (CopilotKit's Agent-User Interaction protocol, 1.0).

Our events become the protocol's events, built from its own Python types (``ag_ui.core``) and
framed by its ``EventEncoder``:

- ``stream_start`` -> ``RUN_STARTED`` (the request's ``threadId`` and ``runId``; ``metadata``:
  our ``sessionId`` and ``messageId``, the id the stop endpoint takes);
- ``stream_chunk`` -> ``TEXT_MESSAGE_START`` / ``_CONTENT`` / ``_END`` (role ``assistant``; the
  first text message's id is our ``message_id``, text after a tool a new message);
- ``reasoning_chunk`` (``forwardedProps.reasoning``) -> ``REASONING_START``,
  ``REASONING_MESSAGE_START`` / ``_CONTENT`` / ``_END``, ``REASONING_END``;
- ``tool_start`` -> ``TOOL_CALL_START`` / ``_ARGS`` (the arguments as JSON) / ``_END``, its
  ``parentMessageId`` the assistant message it belongs to; ``tool_end`` -> ``TOOL_CALL_RESULT``;
- ``map_action`` -> ``CUSTOM`` named ``map_action`` (``value``: the command, as in the SSE
  stream), then a ``STATE_SNAPSHOT``: the run's input ``state`` with ``map.actions`` the
  commands so far (the input's own ``map.actions`` first), for clients that render state;
- ``links`` / ``source`` -> ``CUSTOM`` named ``links`` / ``source``;
- ``stream_end`` -> ``RUN_FINISHED`` (with the run's token ``usage``);
- ``error`` -> ``RUN_ERROR`` (``message``: our error text; ``code``: ``cancelled`` for a stopped
  reply, ``interrupted`` for one cut by a restart (send it again), else ``error``).
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TokenUsage,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from bailian_geo_agent.agent.events import (
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
from bailian_geo_agent.agent.server.sse import dumps

Frame: TypeAlias = BaseEvent | bytes
"""An event of the SDK's types, or a content event already encoded (``AGUIAdapter._content``)."""
HEADERS = {"Cache-Control": "no-cache"}
"""Headers of the response (sse-starlette adds ``X-Accel-Buffering: no`` and keep-alive)."""
MAP_ACTION = "map_action"
"""The ``CUSTOM`` event name of a map command (its ``value``: the command)."""
_EMPTY_DELTA = b'""}\n\n'
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def last_user_text(body: RunAgentInput) -> str:
    """The text of the last user message (its text parts, joined); "" when there is none."""
    for message in reversed(body.messages):
        if getattr(message, "role", None) != "user":
            continue
        content = getattr(message, "content", "")
        if isinstance(content, str):
            return content
        return "".join(getattr(part, "text", "") for part in content
                       if getattr(part, "type", None) == "text")
    return ""


def map_state(state: Any) -> tuple[dict[str, Any], list[Any]]:
    """The run's input ``state`` as an object, and the map commands it already holds
    (``state.map.actions``)."""
    base = dict(state) if isinstance(state, dict) else {}
    held = base.get("map")
    actions = held.get("actions") if isinstance(held, dict) else None
    return base, list(actions) if isinstance(actions, list) else []


class AGUIAdapter(EventStreamAdapter[Frame]):
    """The AG-UI protocol: our events as its events (see the module).

    ``thread_id`` / ``run_id``: the request's; ``state``: its input state (the base of the
    map's ``STATE_SNAPSHOT``); ``model``: named in ``RUN_FINISHED.usage``; ``stopped()`` and
    ``interrupted()`` tell a stopped reply and one cut by a restart (``RUN_ERROR.code``).
    """

    def __init__(self, thread_id: str, run_id: str, *, state: Any = None, model: str = "",
                 stopped: Callable[[], bool] | None = None,
                 interrupted: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self._thread_id = thread_id
        self._run_id = run_id
        self._state, self._actions = map_state(state)
        self._model = model
        self._stopped = stopped or (lambda: False)
        self._interrupted = interrupted or (lambda: False)
        self._encoder = EventEncoder()
        self._message_id = ""
        self._assistant = ""  # the assistant message text and tool calls belong to now
        self._messages = 0
        self._text: Callable[[str], Frame] | None = None  # the open text message's content
        self._reasoning: Callable[[str], Frame] | None = None
        self._reasoning_id = ""
        self._reasonings = 0
        self._after_tool = False
        self._calls = 0
        self._calls_by_id: dict[str, str] = {}
        self._calls_by_name: defaultdict[str, deque[str]] = defaultdict(deque)
        self._usage: list[TokenUsage] | None = None

    def encode(self, frame: Frame) -> bytes:
        """The SDK's SSE framing: ``data: <event as JSON>`` and a blank line (the three
        characters some line splitters break at escaped, as ``sse.dumps`` does)."""
        if isinstance(frame, bytes):
            return frame
        data = self._encoder.encode(frame)
        if "\u2028" in data or "\u2029" in data or "\x85" in data:
            data = data.translate(_LINE_BREAKS)
        return data.encode()

    def _content(self, cls: type[TextMessageContentEvent] | type[ReasoningMessageContentEvent],
                 message_id: str) -> Callable[[str], Frame]:
        """The content events of one message: the SDK's own encoding of the first, reused as
        a template for the rest (one JSON string in, per chunk; the pydantic serializer costs
        several times the whole seed SSE encoding)."""
        probe = self.encode(cls(message_id=message_id, delta=""))
        head, tail = probe[:-len(_EMPTY_DELTA)], probe[-len(_EMPTY_DELTA):]
        if tail != _EMPTY_DELTA or not head.endswith(b'"delta":'):  # not the expected shape
            return lambda delta: cls(message_id=message_id, delta=delta)
        end = tail[2:]
        return lambda delta: b"".join((head, dumps(delta).encode(), end))

    # -- the open messages ---------------------------------------------------------------

    def _close(self, frames: list[Frame]) -> None:
        """Close the open text message or reasoning (what must end before anything else)."""
        if self._text is not None:
            frames.append(TextMessageEndEvent(message_id=self._assistant))
            self._text = None
        if self._reasoning is not None:
            frames.append(ReasoningMessageEndEvent(message_id=self._reasoning_id))
            frames.append(ReasoningEndEvent(message_id=self._reasoning_id))
            self._reasoning = None

    def _next_assistant(self) -> None:
        """After a tool's result the model writes a new assistant message."""
        if self._after_tool:
            self._after_tool = False
            self._messages += 1
            self._assistant = f"{self._message_id}-{self._messages}"

    # -- hooks ---------------------------------------------------------------------------

    def on_start(self, event: StreamStart) -> Sequence[Frame]:
        self._message_id = self._assistant = event.message_id
        self._messages = 1
        return [RunStartedEvent(
            thread_id=self._thread_id, run_id=self._run_id,
            metadata={"sessionId": event.session_id, "messageId": event.message_id})]

    def on_chunk(self, event: StreamChunk) -> Sequence[Frame]:
        if self._text is not None:
            return (self._text(event.chunk),)
        frames: list[Frame] = []
        self._close(frames)
        self._next_assistant()
        self._text = self._content(TextMessageContentEvent, self._assistant)
        frames.append(TextMessageStartEvent(message_id=self._assistant, role="assistant"))
        frames.append(self._text(event.chunk))
        return frames

    def on_reasoning(self, event: ReasoningChunk) -> Sequence[Frame]:
        if self._reasoning is not None:
            return (self._reasoning(event.chunk),)
        frames: list[Frame] = []
        self._close(frames)
        self._next_assistant()
        self._reasonings += 1
        rid = self._reasoning_id = f"{self._message_id}-reasoning-{self._reasonings}"
        self._reasoning = self._content(ReasoningMessageContentEvent, rid)
        frames.append(ReasoningStartEvent(message_id=rid))
        frames.append(ReasoningMessageStartEvent(message_id=rid, role="reasoning"))
        frames.append(self._reasoning(event.chunk))
        return frames

    def on_tool_start(self, event: ToolStart) -> Sequence[Frame]:
        frames: list[Frame] = []
        self._close(frames)
        self._next_assistant()
        self._calls += 1
        call_id = f"{self._message_id}-call-{self._calls}"  # unique in the thread
        if event.tool_call_id is not None:
            self._calls_by_id[event.tool_call_id] = call_id
        else:
            self._calls_by_name[event.tool].append(call_id)
        arguments = event.arguments if isinstance(event.arguments, str) else json.dumps(
            event.arguments, ensure_ascii=False)
        frames.append(ToolCallStartEvent(tool_call_id=call_id, tool_call_name=event.tool,
                                         parent_message_id=self._assistant))
        frames.append(ToolCallArgsEvent(tool_call_id=call_id, delta=arguments))
        frames.append(ToolCallEndEvent(tool_call_id=call_id))
        return frames

    def on_tool_end(self, event: ToolEnd) -> Sequence[Frame]:
        frames: list[Frame] = []
        self._close(frames)
        if event.tool_call_id is not None:
            call_id = self._calls_by_id.pop(event.tool_call_id, None)
        else:  # tools of one name finish in the order they started
            waiting = self._calls_by_name.get(event.tool)
            call_id = waiting.popleft() if waiting else None
        if call_id is not None:
            frames.append(ToolCallResultEvent(message_id=f"{call_id}-result", tool_call_id=call_id,
                                              content=event.result, role="tool"))
        self._after_tool = True
        return frames

    def on_map_action(self, event: MapAction) -> Sequence[Frame]:
        frames: list[Frame] = []
        self._close(frames)
        self._actions.append(event.action)
        frames.append(CustomEvent(name=MAP_ACTION, value=event.action))
        snapshot = {**self._state, "map": {"actions": list(self._actions)}}
        frames.append(StateSnapshotEvent(snapshot=snapshot))
        return frames

    def on_links(self, event: Links) -> Sequence[Frame]:
        frames: list[Frame] = []
        self._close(frames)
        frames.append(CustomEvent(name="links", value={"tool": event.tool,
                                                       "links": event.links}))
        return frames

    def on_source(self, event: Source) -> Sequence[Frame]:
        frames: list[Frame] = []
        self._close(frames)
        frames.append(CustomEvent(name="source", value={"url": event.url,
                                                        "title": event.title}))
        return frames

    def on_usage(self, event: Usage) -> Sequence[Frame]:
        self._usage = [TokenUsage(
            model=self._model or None,
            input_tokens=event.input_tokens, output_tokens=event.output_tokens,
            total_tokens=event.total_tokens, reasoning_tokens=event.reasoning_tokens,
            cached_input_tokens=event.cached_tokens,
            cache_write_input_tokens=event.cache_creation_tokens)]
        return ()

    def on_end(self, event: StreamEnd) -> Sequence[Frame]:
        frames: list[Frame] = []
        self._close(frames)
        frames.append(RunFinishedEvent(thread_id=self._thread_id, run_id=self._run_id,
                                       usage=self._usage))
        return frames

    def on_error(self, event: StreamError) -> Sequence[Frame]:
        frames: list[Frame] = []
        self._close(frames)
        code = ("cancelled" if self._stopped() else
                "interrupted" if self._interrupted() else "error")
        frames.append(RunErrorEvent(message=event.error, code=code, usage=self._usage))
        return frames
