"""``StreamChatService``: one tool-calling geo agent, many concurrent sessions, streamed replies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from agent.callbacks import ChunkStreamHandler
from agent.config import Settings
from agent.errors import ConfigurationError, GeoAgentError, redact, to_agent_error
from agent.events import StreamError
from agent.sessions import SessionLocks
from agent.validation import normalize_session_id, validate_events, validate_message

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.tools import BaseTool
    from langgraph.types import Checkpointer

logger = logging.getLogger(__name__)

RECURSION_LIMIT = 25


class StreamChatService:
    """Streams a geographic assistant's replies as the documented event dicts.

    ``StreamChatService()`` reads its settings from the environment and ``./.env``. Pass
    ``settings``, your own LangChain ``model`` and/or ``tools`` to reuse what your app has.
    ``events`` opts into extra event types (``map_action``, ``tool_start``, ``tool_end``) for
    every reply; ``stream_chat(..., events=...)`` does it for one reply.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model: BaseChatModel | None = None,
        tools: Sequence[BaseTool] | None = None,
        system_prompt: str | None = None,
        checkpointer: Checkpointer | None = None,
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
        self._tools = list(tools) if tools is not None else None
        if self._tools is not None:
            _check_tools(self._tools)
        self._system_prompt = system_prompt
        self._checkpointer = checkpointer
        self._events = validate_events(events)
        self._agent: Any = None
        self._sessions = SessionLocks()

    # -- public API --------------------------------------------------------------------------

    async def stream_chat(
        self, message: str, session_id: str | None = None, *, events: Collection[str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream one reply to ``message`` in session ``session_id`` (a new session if ``None``).

        Yields ``stream_start``, ``stream_chunk``s, then ``stream_end``; or ``error`` as the last
        event. Invalid input, a missing key or bad settings give a single ``error`` event and
        no model call. The generator never raises.
        """
        message_id = str(uuid4())
        try:
            sid = normalize_session_id(session_id) or str(uuid4())
        except GeoAgentError as exc:
            yield StreamError(message_id, str(uuid4()), str(exc)).to_dict()
            return
        try:
            agent = self._get_agent()
            text = validate_message(message, self.settings.max_message_chars)
            wanted = self._events if events is None else validate_events(events)
        except Exception as exc:  # bad input or setup: one error event, no model call
            yield StreamError(message_id, sid, self._describe(exc)).to_dict()
            return

        handler = ChunkStreamHandler(
            session_id=sid, message_id=message_id, events=wanted, describe_error=self._describe
        )
        async with self._sessions.hold(sid):
            task = asyncio.create_task(self._run(agent, text, sid, handler))
            try:
                async for event in handler:
                    yield event.to_dict()
            finally:
                if not task.done():
                    task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    async def get_history(self, session_id: str) -> list[Any]:
        """The messages stored for ``session_id`` (empty for an unknown session)."""
        sid = normalize_session_id(session_id)
        state = await self._get_agent().aget_state({"configurable": {"thread_id": sid}})
        return list(state.values.get("messages", [])) if state and state.values else []

    async def delete_session(self, session_id: str) -> None:
        """Forget everything stored for ``session_id``."""
        sid = normalize_session_id(session_id)
        self._get_agent()
        await self._checkpointer.adelete_thread(sid)

    # -- internals ---------------------------------------------------------------------------

    async def _run(
        self, agent: Any, text: str, session_id: str, handler: ChunkStreamHandler
    ) -> None:
        config = {
            "callbacks": [handler],
            "configurable": {"thread_id": session_id},
            "recursion_limit": RECURSION_LIMIT,
        }
        try:
            await agent.ainvoke({"messages": [{"role": "user", "content": text}]}, config)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.info("reply %s failed: %s", handler.message_id, type(exc).__name__)
            handler.finish(exc)
        else:
            handler.finish()

    def _describe(self, error: BaseException) -> str:
        mapped = to_agent_error(
            error, host=self.settings.host, model=self.settings.model, timeout=self.settings.timeout
        )
        secret = self.settings.api_key.get_secret_value() if self.settings.api_key else None
        return redact(str(mapped), [secret])

    def _get_agent(self) -> Any:
        """The compiled agent graph, built on first use (raises ``ConfigurationError``)."""
        if self._agent is not None:
            return self._agent
        if self._config_error is not None:
            raise self._config_error
        from langchain.agents import create_agent
        from langgraph.checkpoint.memory import InMemorySaver

        from agent.history import ConsistentHistoryMiddleware
        from agent.models import build_chat_model
        from prompts import geo_assistant_prompt

        model = self._model if self._model is not None else build_chat_model(self.settings)
        tools = self._tools if self._tools is not None else _default_tools()
        if self._checkpointer is None:
            self._checkpointer = InMemorySaver()
        self._agent = create_agent(
            model,
            tools,
            system_prompt=self._system_prompt or geo_assistant_prompt(),
            middleware=[ConsistentHistoryMiddleware()],
            checkpointer=self._checkpointer,
        )
        return self._agent


def _default_tools() -> list[BaseTool]:
    try:
        from tools import GeoToolkit
    except ImportError:
        return []
    return GeoToolkit().get_tools()


def _check_tools(tools: Sequence[Any]) -> None:
    from langchain_core.tools import BaseTool

    wrong = [type(t).__name__ for t in tools if not isinstance(t, BaseTool)]
    if wrong:
        raise TypeError(f"tools must be LangChain BaseTool instances, got {wrong}")
