"""``StreamChatService``: one tool-calling geo agent, many concurrent sessions, streamed replies."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Mapping,
    Sequence,
)
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from bailian_geo_agent.agent import telemetry
from bailian_geo_agent.agent._compat import httpx_cli_deferred  # noqa: F401  (first: see there)
from bailian_geo_agent.agent.callbacks import ChunkStreamHandler, error_kind
from bailian_geo_agent.agent.config import Settings
from bailian_geo_agent.agent.errors import (
    ConfigurationError,
    GeoAgentError,
    InvalidInputError,
    ReplyTimeoutError,
    SessionBusyError,
    redact,
    to_agent_error,
)
from bailian_geo_agent.agent.events import StreamError, StreamEvent
from bailian_geo_agent.agent.limits import recursion_limit
from bailian_geo_agent.agent.sessions.history import (
    drop_cancelled_turn,
    drop_interrupted_turn,
    keep_partial_answer,
    trim_stopped_answer,
)
from bailian_geo_agent.agent.sessions.stores import (
    MemoryStore,
    SessionOwners,
    SessionStore,
    display_url,
    open_store,
)
from bailian_geo_agent.agent.validation import (
    normalize_session_id,
    validate_events,
    validate_message,
)
from bailian_geo_agent.prompts.catalogue import text, use_language

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool
    from langgraph.checkpoint.base import BaseCheckpointSaver

logger = logging.getLogger(__name__)

_EXPIRY_CHECK_INTERVAL = 3600.0


class StreamChatService:
    """Streams a geographic assistant's replies as the documented event dicts (``stream_chat``)
    or as the typed events they come from (``stream_events``).

    ``StreamChatService()`` reads its settings from the environment and ``./.env``. Pass
    ``settings``, your own LangChain ``model``, ``tools`` or LangGraph ``checkpointer`` to reuse
    what your app has. ``events`` opts into extra event types (``map_action``, ``tool_start``,
    ``tool_end``) for every reply; ``stream_chat(..., events=...)`` does it for one reply. The
    map tools (``map_*``) are offered to the model only in a reply asking for ``map_action``.
    Use ``async with StreamChatService() as service`` (or ``await service.aclose()``) to release
    the session store's connections.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model: BaseChatModel | None = None,
        tools: Sequence[BaseTool] | None = None,
        system_prompt: str | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        events: Collection[str] = (),
    ) -> None:
        self._config_error: GeoAgentError | None = None
        if settings is None:
            try:
                settings = Settings.from_env()
            except ConfigurationError as exc:  # reported on each reply, like a missing key
                self._config_error = exc
                settings = Settings.model_construct()
        self.settings = settings
        self._model = model
        self._owns_model = False
        self._tools = list(tools) if tools is not None else None
        if self._tools is not None:
            _check_tools(self._tools)
        self._system_prompt = system_prompt
        self._checkpointer = checkpointer
        self._events = validate_events(events)
        self._store: SessionStore | None = None
        self._compiled: tuple[Any, Any] | None = None  # (checkpointer, agent graph)
        self._background: set[asyncio.Task[Any]] = set()
        self._replies: set[asyncio.Task[None]] = set()
        self._next_expiry = 0.0

    async def __aenter__(self) -> StreamChatService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- public API --------------------------------------------------------------------------

    async def stream_chat(
        self, message: str, session_id: str | None = None, *, events: Collection[str] | None = None,
        approvals: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Stream one reply to ``message`` in session ``session_id`` (a new session if ``None``).

        Yields ``stream_start``, ``stream_chunk``s, then ``stream_end``; or ``error`` as the last
        event. Invalid input, a missing key or bad settings give a single ``error`` event and
        no model call. The generator never raises. ``approvals``: the answers to a reply that
        paused for tool approval (``{approval_id: {"approved": bool, "reason": str | None}}``,
        ids from its ``approval_request`` events), with ``message`` empty: the paused reply
        goes on (``GEO_AGENT_APPROVAL_TOOLS``, ``agent.approval``).
        """
        # stream_events' own source, not a generator over it: no extra step per chunk.
        async with self._reply(message, session_id, events, approvals=approvals) as source:
            async for event in source:
                yield event.to_dict()

    async def stream_events(
        self, message: str, session_id: str | None = None, *, events: Collection[str] | None = None,
        retry: bool = False, rollback: bool = False,
        approvals: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """``stream_chat``'s events as typed objects (``agent.events``), in the same order;
        ``event.to_dict()`` is the documented dict. ``retry``: ``message`` is sent again after
        its reply was interrupted; that stored turn is replaced, not repeated. ``rollback``:
        ``message`` stopped the session's reply; that reply's turn is removed. ``approvals``:
        as for ``stream_chat``. Never raises."""
        async with self._reply(message, session_id, events, retry, rollback,
                               approvals) as source:
            async for event in source:
                yield event

    @asynccontextmanager
    async def _reply(
        self, message: str, session_id: str | None, events: Collection[str] | None,
        retry: bool = False, rollback: bool = False,
        approvals: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AsyncIterator[AsyncIterable[StreamEvent]]:
        """One reply's events: its handler, running in a task until the block ends (a reply
        its reader left is stopped), or the single ``error`` of one that cannot begin."""
        message_id = str(uuid4())
        error: StreamError | None = None
        decisions: dict[str, dict[str, Any]] | None = None
        with use_language(self.settings.language):  # not across a yield: the caller's context
            try:
                sid = normalize_session_id(session_id) or str(uuid4())
            except GeoAgentError as exc:
                sid = str(uuid4())
                error = StreamError(message_id, sid, self._describe(exc), error_kind(exc))
            else:
                try:
                    self._check_ready()
                    if approvals is not None:  # answers to a paused reply, not a new message
                        decisions = _approval_answers(message, approvals)
                        question = ""
                    else:
                        question = validate_message(message, self.settings.max_message_chars)
                    wanted = self._events if events is None else validate_events(events)
                except Exception as exc:  # bad input or setup: one error event, no model call
                    error = StreamError(message_id, sid, self._describe(exc), error_kind(exc))
        if error is not None:
            yield _only(error)
            return

        deadline = asyncio.timeout(self.settings.reply_timeout or None)
        handler = ChunkStreamHandler(
            session_id=sid,
            message_id=message_id,
            events=wanted,
            describe_error=functools.partial(self._describe, deadline=deadline),
            max_answer_chars=self.settings.max_answer_chars,
        )
        task = asyncio.create_task(self._run(question, sid, handler, deadline, retry,
                                             rollback, decisions))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)
        try:
            yield handler
        finally:
            # Stop a reply its consumer left; one that has ended is only finishing its tail
            # (returning from the graph, the idle-session sweep): let it.
            if not task.done() and not handler.finished:
                task.cancel()
            await asyncio.wait({task})  # unlike awaiting it, never swallows our own cancellation

    async def get_history(self, session_id: str) -> list[BaseMessage]:
        """The messages stored for ``session_id`` (empty for an unknown session)."""
        sid = normalize_session_id(session_id)
        self._check_ready()
        graph = await self._graph()
        state = await graph.aget_state({"configurable": {"thread_id": sid}})
        return list(state.values.get("messages", [])) if state and state.values else []

    async def pending_approvals(self, session_id: str) -> list[dict[str, Any]]:
        """The tool calls of ``session_id`` waiting for the user's approval, as the
        ``approval_request`` events announced them (less ``type`` and ``message_id``); empty
        when none waits (``GEO_AGENT_APPROVAL_TOOLS``)."""
        from bailian_geo_agent.agent.approval import waiting

        sid = normalize_session_id(session_id)
        self._check_ready()
        pending, _ = await waiting(await self._graph(), {"configurable": {"thread_id": sid}})
        return [{"session_id": sid, "tool": p.tool, "arguments": p.arguments,
                 "tool_call_id": p.tool_call_id, "approval_id": p.approval_id}
                for p in pending]

    async def keep_seen_answer(self, session_id: str, seen: str, wait: float = 2.0) -> bool:
        """After a stopped reply: store its answer as the ``seen`` part the client showed (a
        shorter prefix of what was sent; anything else is left as it is); whether it changed.
        A session a new reply holds for more than ``wait`` seconds is left as it is."""
        sid = normalize_session_id(session_id)
        self._check_ready()
        graph = await self._graph()
        async with AsyncExitStack() as held:
            try:  # not while a new reply writes; the wait bounded, not the write
                async with asyncio.timeout(wait):
                    await held.enter_async_context(self._session_store().hold(sid))
            except (TimeoutError, SessionBusyError):
                return False
            return await trim_stopped_answer(graph, {"configurable": {"thread_id": sid}}, seen)

    async def delete_session(self, session_id: str) -> None:
        """Forget everything stored for ``session_id``."""
        sid = normalize_session_id(session_id)
        self._check_config()
        store = self._session_store()
        async with store.hold(sid):
            await (await store.checkpointer()).adelete_thread(sid)
            await store.forget_owner(sid)

    async def expire_idle_sessions(self, idle_seconds: float | None = None) -> list[str]:
        """Delete sessions idle for longer than ``idle_seconds`` (default: ``SESSION_IDLE_TTL``).

        Returns the ids deleted. Sessions with a reply in progress are left alone.
        """
        from bailian_geo_agent.agent.sessions.expiry import still_idle

        self._check_config()
        ttl = self.settings.session_idle_ttl if idle_seconds is None else idle_seconds
        store = self._session_store()
        checkpointer = await store.checkpointer()
        deleted = []
        for sid in await store.idle_sessions(ttl):
            if store.busy(sid):
                continue
            async with store.hold(sid):  # a reply may have begun since the list was made
                if await still_idle(checkpointer, sid, ttl):
                    await checkpointer.adelete_thread(sid)
                    await store.forget_owner(sid)  # the owner row goes with its session
                    deleted.append(sid)
        await store.forget_orphan_owners()
        return deleted

    def session_owners(self) -> SessionOwners:
        """Which API token owns which session, kept in the session store beside the
        sessions (for the HTTP server)."""
        return SessionOwners(self._session_store)

    async def prepare(self) -> None:
        """Build the agent now (imports, model, tools, the session store's tables) rather
        than at the first reply; raises what the first reply would report."""
        self._check_ready()
        await self._graph()

    async def aclose(self) -> None:
        """Release the session store's and this event loop's HTTP connections.

        The service can be used again afterwards; connections are reopened on demand.
        """
        # Replies still running are stopped (they store what they sent) before the store
        # closes; an idle-session sweep must not reopen it.
        for task in [*self._replies, *self._background]:
            task.cancel()
        pending = self._replies | self._background
        if pending:
            await asyncio.wait(pending)
        if self._store is not None:
            await self._store.aclose()
        self._compiled = None
        if self._owns_model and self._model is not None and hasattr(self._model, "aclose"):
            await self._model.aclose()  # DashScopeChatOpenAI's pool; a caller's model is theirs

    # -- internals ---------------------------------------------------------------------------

    async def _run(
        self,
        question: str,
        session_id: str,
        handler: ChunkStreamHandler,
        deadline: asyncio.Timeout,
        retry: bool = False,
        rollback: bool = False,
        decisions: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        settings = self.settings
        callbacks: list[Any] = [handler]
        config = {
            "callbacks": callbacks,
            "configurable": {"thread_id": session_id},
            "recursion_limit": recursion_limit(settings.max_tool_rounds),
        }
        started = time.perf_counter()
        outcome = "ok"
        trace = self._trace(session_id, question) if telemetry.enabled() else None
        if trace is not None:
            callbacks.append(trace.handler)
        with use_language(settings.language):  # this task's own context
            try:
                store = self._session_store()
                async with store.hold(session_id):  # released however the reply ends
                    graph = await self._graph()
                    turn: Any = {"messages": [{"role": "user", "content": question}]}
                    if retry:
                        await drop_interrupted_turn(graph, config, question)
                    if rollback:
                        await drop_cancelled_turn(graph, config)
                    if self.settings.approval_tools or decisions is not None:
                        from bailian_geo_agent.agent.approval import next_turn

                        turn = await next_turn(graph, config, turn, decisions)
                    try:
                        async with deadline:
                            await graph.ainvoke(turn, config, context=_reply_context(
                                handler, answering=decisions is not None))
                    except BaseException as exc:
                        # Stopped: its reader has gone; keep what it was handed, not chunks
                        # still waiting in the queue, so the history is what the user saw.
                        partial = (handler.handed_call_text()
                                   if isinstance(exc, asyncio.CancelledError)
                                   else handler.call_text)
                        await asyncio.shield(keep_partial_answer(graph, config, partial))
                        if isinstance(exc, TimeoutError) and deadline.expired():
                            raise self._reply_timeout() from None
                        raise
            except asyncio.CancelledError:
                outcome = "cancelled"
                # whoever cancelled it, the consumer hears of it
                handler.finish(text("cancelled"), kind="cancelled")
                raise
            except Exception as exc:
                outcome = f"error {type(exc).__name__}"
                handler.finish(exc)
            else:
                handler.finish()
                self._maybe_expire()
            finally:  # -v: one line per reply
                if outcome == "ok" and handler.failed:
                    outcome = "error"
                if trace is not None:
                    trace.end(None if outcome == "ok" else outcome.removeprefix("error "))
                logger.info("reply %s in session %s: %s in %.2f s", handler.message_id,
                            session_id, outcome, time.perf_counter() - started)

    def _trace(self, session_id: str, question: str) -> telemetry.ReplyTrace | None:
        """The reply's ``invoke_agent`` span (tracing is on); ``None`` if it cannot start (a
        broken tracer never fails a reply)."""
        settings = self.settings
        try:
            return telemetry.ReplyTrace(
                session_id, question, model=settings.model, content=settings.trace_content,
                provider=telemetry.PROVIDER if self._model is None or self._owns_model else None)
        except Exception as exc:
            logger.warning("tracing the reply failed: %s", type(exc).__name__)
            return None

    def _reply_timeout(self) -> ReplyTimeoutError:
        seconds = f"{self.settings.reply_timeout:g}"
        return ReplyTimeoutError(text("reply_timeout", seconds=seconds))

    def _describe(self, error: BaseException, deadline: asyncio.Timeout | None = None) -> str:
        if isinstance(error, asyncio.CancelledError):  # the graph reports how it was stopped
            expired = deadline is not None and deadline.expired()
            return str(self._reply_timeout()) if expired else text("cancelled")
        settings = self.settings
        mapped = to_agent_error(
            error,
            host=settings.host,
            model=settings.model,
            timeout=settings.timeout,
            store=display_url(self._store.url) if self._store is not None else "",
            base_url_variable=settings.base_url_variable,
        )
        return redact(str(mapped), settings.secrets())

    def _check_config(self) -> None:
        """Raise the ``ConfigurationError`` found when the settings were read, if any."""
        if self._config_error is not None:
            raise self._config_error

    def _check_ready(self) -> None:
        """Raise ``ConfigurationError`` for bad settings or a missing key (before any call)."""
        self._check_config()
        if self._model is None:
            self.settings.require_api_key()
        self._session_store()

    def _session_store(self) -> SessionStore:
        if self._store is None:
            if self._checkpointer is not None:
                self._store = MemoryStore(
                    "checkpointer://", self.settings.session_lock_timeout, self._checkpointer
                )
            else:
                self._store = open_store(
                    self.settings.session_store_url, self.settings.session_lock_timeout
                )
        return self._store

    async def _graph(self) -> Any:
        """The compiled agent for the store's checkpointer (built once per checkpointer)."""
        checkpointer = await self._session_store().checkpointer()
        if self._compiled is None or self._compiled[0] is not checkpointer:
            self._compiled = (checkpointer, self._build_graph(checkpointer))
        return self._compiled[1]

    def _build_graph(self, checkpointer: Any) -> Any:
        from bailian_geo_agent.agent.limits import ReplyLimitsMiddleware
        from bailian_geo_agent.agent.providers import build_chat_model
        from bailian_geo_agent.agent.sessions.history import ConsistentHistoryMiddleware
        from bailian_geo_agent.agent.tool_selection import ReplyContext, ToolSelectionMiddleware
        from bailian_geo_agent.prompts import geo_assistant_prompt
        from langchain.agents import create_agent

        if self._model is None:
            self._model = build_chat_model(self.settings)
            self._owns_model = True
        if self._tools is None:
            self._tools = _default_tools(self.settings)
        history = ConsistentHistoryMiddleware(
            self.settings.history_max_turns, self.settings.history_max_tokens
        )
        limits = ReplyLimitsMiddleware(
            call_timeout=self.settings.model_call_timeout,
            max_tool_rounds=self.settings.max_tool_rounds,
            host=self.settings.host,
        )
        middleware = [_model_call_chain(limits, history, ToolSelectionMiddleware())]
        if self.settings.approval_tools:  # none otherwise: the default path stays as it was
            from bailian_geo_agent.agent.approval import ApprovalMiddleware, check_tools

            check_tools(self.settings.approval_tools, self._tools)
            middleware.append(ApprovalMiddleware(self.settings.approval_tools))
        return create_agent(
            self._model,
            self._tools,
            system_prompt=self._system_prompt or geo_assistant_prompt(),
            middleware=middleware,
            context_schema=ReplyContext,
            checkpointer=checkpointer,
        )

    def _maybe_expire(self) -> None:
        """Sweep idle sessions in the background, at most once an interval."""
        ttl = self.settings.session_idle_ttl
        now = time.monotonic()
        # A checkpointer the caller passed in may hold other apps' threads: never swept here.
        if not ttl or now < self._next_expiry or self._checkpointer is not None:
            return
        self._next_expiry = now + min(_EXPIRY_CHECK_INTERVAL, ttl)
        task = asyncio.get_running_loop().create_task(self._expire_quietly())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _expire_quietly(self) -> None:
        try:
            await self.expire_idle_sessions()
        except Exception as exc:  # a failed sweep must never disturb replies
            logger.warning("expiring idle sessions failed: %s", type(exc).__name__)


def _model_call_chain(*middleware: Any) -> Any:
    """``middleware`` (model-call hooks only, outermost first) as one middleware.

    ``create_agent`` wraps each middleware's model-call hook in a LangSmith span whose set-up
    and end each run in a worker thread, traced or not: two thread hops per middleware and
    model call. As one middleware the service's three cost two hops a call instead of six
    (about 0.5 ms of each model call on a loaded 2-core machine, ``bench/fixed.py``).
    """
    from langchain.agents.middleware import AgentMiddleware

    class ModelCallChain(AgentMiddleware):
        """The model-call hooks of several middleware, applied in order (outermost first)."""

        def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            def step(index: int, req: Any) -> Any:
                if index == len(middleware):
                    return handler(req)
                return middleware[index].wrap_model_call(req, lambda r: step(index + 1, r))

            return step(0, request)

        async def awrap_model_call(
            self, request: Any, handler: Callable[[Any], Awaitable[Any]]
        ) -> Any:
            async def step(index: int, req: Any) -> Any:
                if index == len(middleware):
                    return await handler(req)
                return await middleware[index].awrap_model_call(
                    req, lambda r: step(index + 1, r)
                )

            return await step(0, request)

    return ModelCallChain()


def _reply_context(handler: ChunkStreamHandler, answering: bool = False) -> Any:
    """The agent's runtime context for the reply ``handler`` streams (``agent.tool_selection``);
    ``answering``: it carries approval answers, so its caller can answer approvals."""
    from dataclasses import replace

    from bailian_geo_agent.agent.tool_selection import ReplyContext

    context = ReplyContext.for_events(handler.events)
    return replace(context, approvals=True) if answering else context


def _approval_answers(message: str, approvals: object) -> dict[str, dict[str, Any]]:
    """The decisions of ``approvals`` (``agent.approval``); the message must be empty."""
    from bailian_geo_agent.agent.approval import parse_answers

    if isinstance(message, str) and message.strip():
        raise InvalidInputError(text("approval_with_message"))
    return parse_answers(approvals)


async def _only(event: StreamEvent) -> AsyncIterator[StreamEvent]:
    yield event


def _default_tools(settings: Settings) -> list[BaseTool]:
    from bailian_geo_agent.tools import GeoToolkit

    return GeoToolkit(config=settings.geo_config(), secrets=tuple(settings.secrets())).get_tools()


def _check_tools(tools: Sequence[Any]) -> None:
    from langchain_core.tools import BaseTool

    wrong = [type(t).__name__ for t in tools if not isinstance(t, BaseTool)]
    if wrong:
        raise TypeError(f"tools must be LangChain BaseTool instances, got {wrong}")
