"""The A2A side of the server, made at the first A2A request (``a2a-sdk`` and what it imports
cost a second, which a server that never speaks A2A does not pay): the card, the SDK's request
handler with ``GeoAgentExecutor`` (one reply per message), ``A2AAdapter`` (our events as A2A
events) and ``ExpiringTaskStore``. What goes over the wire is described in the package
(``agent.server.a2a``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from a2a.auth.user import User
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.owner_resolver import resolve_user_scope
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Artifact,
    HTTPAuthSecurityScheme,
    Message,
    Part,
    Role,
    SecurityRequirement,
    SecurityScheme,
    StringList,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.constants import (
    PROTOCOL_VERSION_0_3,
    PROTOCOL_VERSION_1_0,
    TransportProtocol,
)
from a2a.utils.proto_utils import to_stream_response
from bailian_geo_agent.agent.events import (
    FRONT_END_EVENTS,
    Links,
    MapAction,
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
from bailian_geo_agent.agent.server import multitask
from bailian_geo_agent.agent.server.auth import Identity
from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.protocol import EventStreamAdapter
from bailian_geo_agent.agent.server.replies import Reply
from bailian_geo_agent.agent.server.state import ServerState, check_input
from bailian_geo_agent.agent.serving import DEFAULT_A2A_TEXT_WINDOW
from bailian_geo_agent.agent.tool_selection import MAP_TOOL_PREFIX
from bailian_geo_agent.prompts.catalogue import language, text
from bailian_geo_agent.tools.infra import version
from fastapi import Request, Response
from google.protobuf import json_format, struct_pb2

logger = logging.getLogger(__name__)

AGENT_NAME = "bailian-geo-agent"
BEARER_SCHEME = "bearer"
"""The card's name for the API's bearer tokens."""
ANSWER, MAP_COMMANDS, LINKS, SOURCES = "answer", "map_commands", "links", "sources"
"""The artifacts of a task: the answer's text, the map commands, hand-off links, web sources."""
WANTED_EVENTS = frozenset(FRONT_END_EVENTS) | {"usage"}
"""The optional events a reply asks for: map commands, tool progress, links, sources, usage."""
A2AEvent: TypeAlias = Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent
"""One frame of the adapter: an event for the SDK's event queue."""

_CONTEXT_NAMESPACE = uuid.UUID("0c6f3a5e-2b1d-4e8f-a7c4-5d9b1e3f2a60")
_IDENTITY = "geo_agent_identity"  # where the route leaves the caller for the context builder
TEXT_WINDOW = DEFAULT_A2A_TEXT_WINDOW
"""Seconds over which the answer's text chunks are joined into one artifact update (the first
chunk goes at once; ``GEO_AGENT_A2A_TEXT_WINDOW``). Each A2A event costs the SDK ~0.2-0.3 ms of
CPU (its event queue and consumer tasks, task store update, tracing decorators, protobuf to
JSON), more than the text costs us. A calling agent reads the answer as a whole or passes it
on; a person behind it sees ten updates a second at most, as chat pages that throttle their
rendering do; the end of the answer is never held (the reply's last event sends it)."""
_CANCEL_WAIT = 10.0  # seconds CancelTask waits for the stopped reply's last event


def session_for_context(context_id: str, owner: str) -> str:
    """Our session id for an A2A context id of ``owner`` (two tokens' same context id are two
    sessions)."""
    return str(uuid.uuid5(_CONTEXT_NAMESPACE, f"{owner}:{context_id}"))


def _now() -> datetime:
    return datetime.now(UTC)


def _data(value: Any) -> Part:
    """A data part (JSON in a ``google.protobuf.Value``; what JSON lacks as its text)."""
    try:
        data = json_format.ParseDict(value, struct_pb2.Value())
    except (json_format.ParseError, TypeError, ValueError):
        data = json_format.ParseDict(json.loads(json.dumps(value, default=str)),
                                     struct_pb2.Value())
    return Part(data=data, media_type="application/json")


class A2AAdapter(EventStreamAdapter[A2AEvent]):
    """A reply's events as the A2A events of task ``task_id`` in context ``context_id``.

    ``request``: the caller's message (the task's history); ``stopped()``: whether the reply was
    stopped (its ``error`` is then ``canceled``, not ``failed``)."""

    def __init__(self, task_id: str, context_id: str, request: Message | None,
                 stopped: Callable[[], bool] = lambda: False) -> None:
        super().__init__()
        self.task_id = task_id
        self.context_id = context_id
        self._request = request
        self._stopped = stopped
        self._begun: set[str] = set()  # the artifacts sent so far (later chunks append)
        self._usage: dict[str, int] | None = None

    def encode(self, frame: A2AEvent) -> bytes:
        """The frame as the JSON of a ``StreamResponse`` (a JSON-RPC stream's ``result``)."""
        return json_format.MessageToJson(to_stream_response(frame), indent=None).encode("utf-8")

    # -- building blocks ---------------------------------------------------------------------

    def _status(self, state: TaskState, parts: Sequence[Part] = (),
                metadata: dict[str, Any] | None = None) -> TaskStatusUpdateEvent:
        status = TaskStatus(state=state, timestamp=_now())
        if parts:
            status.message.CopyFrom(self._message(parts))
        event = TaskStatusUpdateEvent(task_id=self.task_id, context_id=self.context_id,
                                      status=status)
        if metadata:
            event.metadata.update(metadata)
        return event

    def _message(self, parts: Sequence[Part]) -> Message:
        return Message(message_id=str(uuid.uuid4()), role=Role.ROLE_AGENT, parts=parts,
                       task_id=self.task_id, context_id=self.context_id)

    def _artifact(self, artifact_id: str, parts: Sequence[Part],
                  last: bool = False) -> TaskArtifactUpdateEvent:
        append = artifact_id in self._begun
        self._begun.add(artifact_id)
        return TaskArtifactUpdateEvent(
            task_id=self.task_id, context_id=self.context_id,
            artifact=Artifact(artifact_id=artifact_id, name=artifact_id, parts=parts),
            append=append, last_chunk=last)

    def task(self, state: TaskState, parts: Sequence[Part] = (),
             metadata: dict[str, Any] | None = None) -> Task:
        """The task as it begins (its first event), in ``state``."""
        status = TaskStatus(state=state, timestamp=_now())
        if parts:
            status.message.CopyFrom(self._message(parts))
        task = Task(id=self.task_id, context_id=self.context_id, status=status)
        if self._request is not None:
            task.history.append(self._request)
        if metadata:
            task.metadata.update(metadata)
        return task

    def refused(self, error: ApiError) -> Sequence[A2AEvent]:
        """The task of a request whose reply never began: rejected (4xx) or failed (5xx),
        saying why."""
        state = TaskState.TASK_STATE_REJECTED if error.status < 500 else TaskState.TASK_STATE_FAILED
        return (self.task(state, [Part(text=error.text)], {"status": error.status}),)

    # -- hooks -------------------------------------------------------------------------------

    def on_start(self, event: StreamStart) -> Sequence[A2AEvent]:
        return (self.task(TaskState.TASK_STATE_WORKING, metadata={
            "sessionId": event.session_id, "messageId": event.message_id}),)

    def on_chunk(self, event: StreamChunk) -> Sequence[A2AEvent]:
        return (self._artifact(ANSWER, [Part(text=event.chunk)]),)

    def on_tool_start(self, event: ToolStart) -> Sequence[A2AEvent]:
        return (self._status(TaskState.TASK_STATE_WORKING, [_data(_tool_dict(event))]),)

    def on_tool_end(self, event: ToolEnd) -> Sequence[A2AEvent]:
        return (self._status(TaskState.TASK_STATE_WORKING, [_data(_tool_dict(event))]),)

    def on_map_action(self, event: MapAction) -> Sequence[A2AEvent]:
        return (self._artifact(MAP_COMMANDS, [_data(event.action)]),)

    def on_links(self, event: Links) -> Sequence[A2AEvent]:
        return (self._artifact(LINKS, [_data({"tool": event.tool, "links": event.links})]),)

    def on_source(self, event: Source) -> Sequence[A2AEvent]:
        part = Part(url=event.url, media_type="text/html")
        part.metadata.update({"title": event.title})
        return (self._artifact(SOURCES, [part]),)

    def on_usage(self, event: Usage) -> Sequence[A2AEvent]:
        self._usage = {k: v for k, v in event.to_dict().items()
                       if k not in ("type", "message_id", "session_id")}
        return ()

    def on_end(self, event: StreamEnd) -> Sequence[A2AEvent]:
        frames: list[A2AEvent] = []
        if ANSWER in self._begun:  # the answer's last chunk: nothing more follows
            frames.append(self._artifact(ANSWER, [Part(text="")], last=True))
        usage = {"usage": self._usage} if self._usage is not None else None
        frames.append(self._status(TaskState.TASK_STATE_COMPLETED, metadata=usage))
        return frames

    def on_error(self, event: StreamError) -> Sequence[A2AEvent]:
        state = (TaskState.TASK_STATE_CANCELED if self._stopped()
                 else TaskState.TASK_STATE_FAILED)
        usage = {"usage": self._usage} if self._usage is not None else None
        return (self._status(state, [Part(text=event.error)], usage),)


def _tool_dict(event: ToolStart | ToolEnd) -> dict[str, Any]:
    """A tool event's documented dict form, without the ids the task already carries."""
    return {k: v for k, v in event.to_dict().items() if k not in ("message_id", "session_id")}


async def coalesced(batches: AsyncIterator[list[StreamEvent]],
                    window: float = TEXT_WINDOW) -> AsyncGenerator[StreamEvent, None]:
    """The events of ``batches``, text chunks coalesced: a chunk after ``window`` seconds
    without text goes on at once (the answer's first chunk always does); the chunks that come
    within ``window`` of the last text sent are joined into one, sent when the window ends or
    before the next event that is not text, whichever is first. The text is the same, and every
    other event keeps its place relative to it; ``window`` 0 only joins the chunks already
    waiting together."""
    loop = asyncio.get_running_loop()
    source = aiter(batches)
    pending: list[StreamChunk] = []  # text held back, to go as one chunk
    sent = -math.inf  # when text last went on
    waiting: asyncio.Future[list[StreamEvent]] | None = None  # the next batch, while text waits

    def joined() -> StreamChunk:
        head = pending[0]
        chunk = head if len(pending) == 1 else StreamChunk(
            head.message_id, head.session_id, "".join(c.chunk for c in pending))
        pending.clear()
        return chunk

    try:
        while True:
            if pending:
                if waiting is None:
                    waiting = asyncio.ensure_future(anext(source))
                due = sent + window - loop.time()
                if due > 0:
                    await asyncio.wait((waiting,), timeout=due)
                if not waiting.done():  # the window is over: the text goes on
                    sent = loop.time()
                    yield joined()
                    continue
            try:
                batch = await (waiting if waiting is not None else anext(source))
            except StopAsyncIteration:
                if pending:
                    yield joined()
                return
            finally:
                waiting = None
            for event in batch:
                if type(event) is StreamChunk:
                    pending.append(event)
                    if len(pending) == 1 and 0 < window <= loop.time() - sent:
                        sent = loop.time()  # the first text after a quiet window: at once
                        yield joined()
                    continue
                if pending:
                    sent = loop.time()
                    yield joined()
                yield event
            if pending and window <= 0:
                sent = loop.time()
                yield joined()
    finally:  # closed early (the reply's reading cancelled): the read of the next batch too
        if waiting is not None:
            waiting.cancel()
            if waiting.done() and not waiting.cancelled():
                waiting.exception()  # seen: not logged as an exception never retrieved


class GeoAgentExecutor(AgentExecutor):
    """Runs one reply per A2A message: the caller, limits and session as the chat routes have
    them; ``cancel`` stops the reply. The answer's text chunks are coalesced over ``window``
    seconds (``coalesced``)."""

    def __init__(self, state: ServerState, window: float = TEXT_WINDOW) -> None:
        self._state = state
        self._window = window
        self._running: dict[str, tuple[Reply, asyncio.Event]] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Answer the context's message: the task's events, from our reply's."""
        identity: Identity = context.call_context.state[_IDENTITY]
        task_id, context_id = context.task_id or "", context.context_id or ""
        state = self._state
        try:
            message, _, _ = check_input(context.get_user_input(), None, None,
                                        state.service.settings.max_message_chars)
            sid = session_for_context(context_id, identity.owner)

            async def begin(rollback: bool) -> tuple[Reply, StreamEvent]:
                return await state.start_reply(identity, message, sid, WANTED_EVENTS,
                                               rollback=rollback)

            # A message while the context's reply runs: the server's multitask strategy.
            reply, first = await multitask.start(state, identity, sid, begin)
        except ApiError as error:
            for frame in A2AAdapter(task_id, context_id, context.message).refused(error):
                await event_queue.enqueue_event(frame)
            return
        adapter = A2AAdapter(task_id, context_id, context.message, lambda: reply.stopped)
        done = asyncio.Event()
        self._running[task_id] = (reply, done)
        try:
            for frame in adapter.frames(first):
                await event_queue.enqueue_event(frame)
            async with contextlib.aclosing(
                    coalesced(reply.rest_batches(), self._window)) as events:
                async for event in events:
                    for frame in adapter.frames(event):
                        await event_queue.enqueue_event(frame)
        except BaseException:  # cancelled (shutdown) or the queue failed: the reply stops too
            reply.cancel()
            raise
        finally:
            done.set()
            if self._running.get(task_id, (None,))[0] is reply:  # not a later message's
                del self._running[task_id]

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Stop the task's reply (its model request is closed); its last event, ``canceled``,
        is sent before this returns."""
        running = self._running.get(context.task_id or "")
        if running is None:  # already ended: the SDK marks the task canceled if it must
            return
        reply, done = running
        await reply.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), _CANCEL_WAIT)


class _CallerUser(User):
    """The API token behind a call, as the SDK's user (tasks are kept per ``user_name``)."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self.identity.owner


class _ContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context, with the caller our route authenticated."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        # The SDK keeps the request's headers (its A2A-Version check reads them) and may log
        # the context at debug level: never with the token.
        context.state["headers"] = {k: v for k, v in context.state.get("headers", {}).items()
                                    if k.lower() not in ("authorization", "cookie")}
        identity: Identity = getattr(request.state, _IDENTITY)
        context.user = _CallerUser(identity)
        context.state[_IDENTITY] = identity
        return context


class ExpiringTaskStore(InMemoryTaskStore):
    """Tasks in memory, per token (the SDK's store); a finished task is forgotten ``ttl``
    seconds after it ended, as the replies' event logs are (``GEO_AGENT_STREAM_TTL``)."""

    def __init__(self, ttl: float) -> None:
        super().__init__(owner_resolver=resolve_user_scope)
        self._ttl = ttl
        self._ended: dict[str, tuple[float, str]] = {}  # task id -> (forget at, owner), by end

    async def save(self, task: Task, context: ServerCallContext) -> None:
        """Save ``task``; forget the finished tasks whose time is up."""
        await super().save(task, context)
        now = time.monotonic()
        if task.status.state in _TERMINAL:
            self._ended.pop(task.id, None)
            self._ended[task.id] = (now + self._ttl, resolve_user_scope(context))
        while self._ended:
            task_id, (until, owner) = next(iter(self._ended.items()))
            if until > now:
                break
            del self._ended[task_id]
            await super().delete(task_id, _owner_context(owner))


def _owner_context(owner: str) -> ServerCallContext:
    return ServerCallContext(user=_CallerUser(Identity(owner, "")))


_TERMINAL = frozenset({TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
                       TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED})


def skills(tools: Sequence[Any]) -> list[AgentSkill]:
    """One skill per tool: its name and description (without tools, the one skill of
    answering)."""
    if not tools:
        return [AgentSkill(id="ask", name="ask", description=text("a2a_description"),
                           tags=["geo"])]
    out = []
    for tool in tools:
        tags = ["map"] if tool.name.startswith(MAP_TOOL_PREFIX) else ["geo"]
        out.append(AgentSkill(id=tool.name, name=tool.name,
                              description=" ".join((tool.description or tool.name).split()),
                              tags=tags))
    return out


def agent_card(url: str, tools: Sequence[Any], auth: bool) -> AgentCard:
    """The agent card for the JSON-RPC endpoint at ``url``; with ``auth``, it names the bearer
    scheme every call needs."""
    card = AgentCard(
        name=AGENT_NAME, description=text("a2a_description"), version=version(),
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding=TransportProtocol.JSONRPC.value,
                           protocol_version=PROTOCOL_VERSION_1_0),
            AgentInterface(url=url, protocol_binding=TransportProtocol.JSONRPC.value,
                           protocol_version=PROTOCOL_VERSION_0_3),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain", "application/json"],
        skills=skills(tools),
    )
    if auth:
        card.security_schemes[BEARER_SCHEME].CopyFrom(SecurityScheme(
            http_auth_security_scheme=HTTPAuthSecurityScheme(
                scheme="Bearer", description=text("a2a_bearer"))))
        card.security_requirements.append(
            SecurityRequirement(schemes={BEARER_SCHEME: StringList()}))
    return card


class A2AService:
    """The A2A side of one app: the SDK's request handler (our executor, tasks kept in memory
    per token for ``GEO_AGENT_STREAM_TTL`` after they end) and its JSON-RPC dispatcher, made at
    the first A2A request (the skills need the geo tools, built once, off the event loop)."""

    def __init__(self, state: ServerState, path: str) -> None:
        self.state = state
        self.path = path
        self.executor = GeoAgentExecutor(state, state.settings.a2a_text_window)
        self._tools: list[Any] | None = None
        self._handler: DefaultRequestHandler | None = None
        self._dispatcher: JsonRpcDispatcher | None = None
        self._lock = asyncio.Lock()
        self._making = asyncio.Lock()
        self._card_cache: tuple[str, str, dict[str, Any]] | None = None  # (url, language, card)

    async def tools(self) -> list[Any]:
        """The geo tools the skills list (from the service's settings; none when they cannot
        be built: a reply would say why)."""
        if self._tools is None:
            async with self._lock:
                if self._tools is None:
                    self._tools = await asyncio.to_thread(_geo_tools, self.state.service)
        return self._tools

    async def dispatcher(self) -> JsonRpcDispatcher:
        """The JSON-RPC dispatcher (made once)."""
        if self._dispatcher is None:
            tools = await self.tools()
            async with self._making:  # one handler, however many first requests waited
                if self._dispatcher is None:
                    url = (self.state.settings.public_url or "http://localhost") + self.path
                    self._handler = DefaultRequestHandler(
                        agent_executor=self.executor,
                        task_store=ExpiringTaskStore(self.state.settings.stream_ttl),
                        agent_card=agent_card(url, tools, self.state.auth.enabled))
                    self._dispatcher = JsonRpcDispatcher(
                        self._handler, context_builder=_ContextBuilder(),
                        enable_v0_3_compat=True)
        return self._dispatcher

    async def card(self, request: Request) -> dict[str, Any]:
        """The card's JSON for ``request`` (its endpoint URL from ``GEO_AGENT_PUBLIC_URL``, else
        from the request as the proxies and host checks let it through)."""
        base = self.state.settings.public_url or str(request.base_url)
        url = base.rstrip("/") + self.path
        lang = language()
        cached = self._card_cache
        if cached is None or cached[:2] != (url, lang):
            card = agent_card(url, await self.tools(), self.state.auth.enabled)
            cached = self._card_cache = (url, lang, agent_card_to_dict(card))
        return cached[2]

    async def rpc(self, request: Request, identity: Identity) -> Response:
        """Answer one JSON-RPC request of ``identity`` (authenticated by the route)."""
        setattr(request.state, _IDENTITY, identity)
        dispatcher = await self.dispatcher()
        return await dispatcher.handle_requests(request)

    async def aclose(self) -> None:
        """End the SDK's task machinery (after the replies have drained)."""
        if self._handler is not None:
            await self._handler.aclose()


def _geo_tools(service: Any) -> list[Any]:
    given = getattr(service, "_tools", None)  # a service made with its own tools lists those
    if given is not None:
        return list(given)
    geo_config = getattr(getattr(service, "settings", None), "geo_config", None)
    if not callable(geo_config):
        return []
    try:
        from bailian_geo_agent.tools import GeoToolkit

        return list(GeoToolkit(config=geo_config()).get_tools())
    except Exception as exc:  # bad geo settings: the card lists no skills, a reply says why
        logger.warning("the A2A card lists no skills: %s", type(exc).__name__)
        return []
