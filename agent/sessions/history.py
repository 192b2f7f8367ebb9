"""What the model is sent of a session: the stored history, made consistent and bounded.

A reply cut off between a tool call and its result (cancelled, or failed mid-tool) leaves an
assistant message whose tool calls have no answers; providers reject such a history. Before
each model call the history is repaired (unanswered calls get a placeholder result, stray tool
results are dropped) and trimmed to whole turns within a budget, so a tool call is never
separated from its result. The stored history itself is left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from itertools import pairwise
from typing import Any

from bailian_geo_agent.prompts.catalogue import text
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately

logger = logging.getLogger(__name__)


def cancelled_tool_result() -> str:
    """The result stored for a tool call whose reply was cut before it finished."""
    return text("tool_not_finished")


def repair_tool_calls(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """``messages`` with every tool call answered and every tool result attached to a call."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    repaired: list[AnyMessage] = []
    open_calls: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage):
            if message.tool_call_id in open_calls:
                open_calls.discard(message.tool_call_id)
                repaired.append(message)
            continue
        repaired.append(message)
        if isinstance(message, AIMessage) and message.tool_calls:
            for call in message.tool_calls:
                call_id = call.get("id") or ""
                if call_id in answered:
                    open_calls.add(call_id)
                else:
                    result = cancelled_tool_result()
                    repaired.append(ToolMessage(result, tool_call_id=call_id, name=call["name"]))
    return repaired


INTERRUPTED = "interrupted"
"""``response_metadata`` key (``True``) of an assistant message stored for a reply that was
stopped, cut, timed out or crashed: its content is what had been sent, or a note."""


def interrupted_answer(partial: str) -> AIMessage:
    """The assistant message stored for an interrupted reply that had sent ``partial``."""
    return AIMessage(
        content=partial or text("answer_interrupted"),
        response_metadata={INTERRUPTED: True, "finish_reason": INTERRUPTED},
    )


def is_interrupted(message: BaseMessage) -> bool:
    """Whether ``message`` is an assistant answer stored for an interrupted reply (stopped, cut,
    timed out or crashed): shown as such after a reload and in a session's history."""
    metadata = message.response_metadata if isinstance(message, AIMessage) else None
    return bool(metadata and metadata.get(INTERRUPTED) is True)


def close_open_turns(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """``messages`` with a note between two user messages in a row (a turn whose reply never
    got stored, as after a SIGKILL), so the model never sees an unanswered turn."""
    closed: list[AnyMessage] = []
    for message in messages:
        if isinstance(message, HumanMessage) and closed and isinstance(closed[-1], HumanMessage):
            closed.append(interrupted_answer(""))
        closed.append(message)
    return closed


async def keep_partial_answer(graph: Any, config: dict[str, Any], partial: str) -> None:
    """After a reply failed or was stopped: store what it had sent as the assistant's answer,
    marked interrupted, when the stored turn has no answer (never raises)."""
    try:
        state = await graph.aget_state(config)
        messages = state.values.get("messages", []) if state and state.values else []
        last = messages[-1] if messages else None
        if not isinstance(last, (HumanMessage, ToolMessage)):
            return  # nothing of this turn stored, or it has its answer
        if isinstance(last, ToolMessage) and not partial:
            return  # the tool results stand; the note is added when the next turn is sent
        await graph.aupdate_state(config, {"messages": [interrupted_answer(partial)]}, "model")
    except Exception as exc:  # the store failed too: the error already reported says so
        logger.warning("keeping a partial answer failed: %s", type(exc).__name__)


async def trim_stopped_answer(graph: Any, config: dict[str, Any], seen: str) -> bool:
    """After a stop: cut the stored interrupted answer back to ``seen``, the part of it the
    client had shown when it stopped (the note when nothing), so the session keeps what the
    user saw. Only ever shortens: ``seen`` must begin the stored answer, which must be the
    session's last message and marked interrupted; whether it was cut."""
    state = await graph.aget_state(config)
    messages = state.values.get("messages", []) if state and state.values else []
    last = messages[-1] if messages else None
    if last is None or not is_interrupted(last) or not isinstance(last.content, str):
        return False
    if last.content == seen or not last.content.startswith(seen) or last.id is None:
        return False
    cut = interrupted_answer(seen)
    cut.id = last.id  # same id: the reducer replaces the message
    await graph.aupdate_state(config, {"messages": [cut]}, "model")
    return True


async def drop_interrupted_turn(graph: Any, config: dict[str, Any], question: str) -> None:
    """Before ``question`` is sent again (a retry of a reply interrupted by a restart): remove
    the stored turn it repeats (the latest, when it is ``question``), so the session keeps the
    question once (never raises). Whatever answer that turn holds goes too: a restart may cut
    a reply just after its complete answer was stored, before the client saw it end, and the
    client was told to retry; the caller holds the session, so the cut reply's writes are
    all in."""
    await _drop_latest_turn(graph, config, lambda turn: turn[0].content == question,
                            "an interrupted")


async def _drop_latest_turn(graph: Any, config: dict[str, Any],
                            goes: Callable[[list[AnyMessage]], bool], what: str) -> None:
    """Remove the session's latest turn (its user message and all after it) when ``goes``
    says so (never raises; a failing store is logged as dropping ``what`` turn)."""
    config = {"configurable": config["configurable"]}  # not the reply's callbacks: not its run
    try:
        state = await graph.aget_state(config)
        messages = state.values.get("messages", []) if state and state.values else []
        starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
        if not starts:
            return
        turn = messages[starts[-1]:]
        if goes(turn):
            await graph.aupdate_state(
                config, {"messages": [RemoveMessage(id=m.id) for m in turn if m.id]}, "model")
    except Exception as exc:  # the store failed: the reply reports it when it stores its turn
        logger.warning("dropping %s turn failed: %s", what, type(exc).__name__)


def _is_consistent(messages: Sequence[AnyMessage]) -> bool:
    calls = {call.get("id") for m in messages if isinstance(m, AIMessage) for call in m.tool_calls}
    results = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    return calls == results


def trim_history(
    messages: Sequence[AnyMessage], max_turns: int, max_tokens: int
) -> list[AnyMessage]:
    """The most recent whole turns (a user message and all that follows it) within budget.

    The current turn is always kept, however long; older turns go first.
    """
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if not starts:
        return list(messages)
    keep_from = starts[-1]
    used = count_tokens_approximately(messages[keep_from:])
    for turn, start in enumerate(reversed(starts[:-1]), start=2):
        end = keep_from
        cost = count_tokens_approximately(messages[start:end])
        if turn > max_turns or used + cost > max_tokens:
            break
        keep_from, used = start, used + cost
    return list(messages[keep_from:])


class ConsistentHistoryMiddleware(AgentMiddleware):
    """Sends the model a bounded history in which tool calls and results always pair up."""

    def __init__(self, max_turns: int = 20, max_tokens: int = 16000) -> None:
        super().__init__()
        self.max_turns = max_turns
        self.max_tokens = max_tokens

    def _prepare(self, request: ModelRequest) -> ModelRequest:
        messages = request.messages
        repaired = not _is_consistent(messages)
        if repaired:
            messages = repair_tool_calls(messages)
        human = HumanMessage
        if any(isinstance(a, human) and isinstance(b, human) for a, b in pairwise(messages)):
            messages, repaired = close_open_turns(messages), True
        trimmed = trim_history(messages, self.max_turns, self.max_tokens)
        if not repaired and len(trimmed) == len(messages):
            return request
        return request.override(messages=trimmed)

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> Any:
        return handler(self._prepare(request))

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> Any:
        return await handler(self._prepare(request))


async def drop_cancelled_turn(graph: Any, config: dict[str, Any]) -> None:
    """Before a message that interrupted the reply running in its session (``rollback``):
    remove that reply's stored turn (the latest, when its answer is marked interrupted or it has
    none), so the session reads as if it had not been sent (never raises). The caller holds
    the session, so the stopped reply's writes (its partial answer) are all in. A turn that
    had ended with its answer before it could be stopped is kept."""
    await _drop_latest_turn(
        graph, config,
        lambda turn: is_interrupted(turn[-1]) or isinstance(turn[-1], (HumanMessage, ToolMessage)),
        "a cancelled")
