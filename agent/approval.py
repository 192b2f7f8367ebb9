"""Tool approval: the tools named in ``GEO_AGENT_APPROVAL_TOOLS`` run only once the user says so.

Built on LangChain's ``HumanInTheLoopMiddleware`` (batched: one pause per model turn, covering
that turn's gated calls). The pause is a LangGraph interrupt kept in the session's
checkpointer, so it survives a reload and is answered on any instance sharing the store. The
paused reply announces each waiting call (a LangChain custom event that the reply's
``ChunkStreamHandler`` turns into an ``approval_request`` event) and ends. The next request
on the session answers by approval id (``Command(resume={"decisions": [...]})``: approved,
the tool runs and the reply goes on; refused, the model is told and explains); a new
message instead refuses the waiting calls with a note, then is answered. A reply whose caller
cannot answer (it did not ask for ``approval_request``: ``ReplyContext.approvals``) is not
paused: its gated calls are refused at once, with a note the model explains.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bailian_geo_agent.agent.callbacks import APPROVAL_EVENT
from bailian_geo_agent.agent.errors import ConfigurationError, InvalidInputError
from bailian_geo_agent.prompts.catalogue import text
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.errors import GraphInterrupt
from langgraph.types import Command

NEW_MESSAGE_NOTE = (
    "The tool `{tool}` was not run: this turn's tool calls waited for the user's approval, and "
    "the user sent a new message instead of answering. Do not call it again unless the user "
    "asks for it."
)
"""The tool result a waiting call gets when a new message comes instead of an answer (for the
model, in the language of the other tool protocol texts)."""
CANNOT_ASK_NOTE = (
    "The tool `{tool}` was not run: it needs the user's approval, and the app the user is "
    "talking through cannot ask for it. Tell the user so, and answer without it if you can."
)
"""The tool result of a gated call in a reply whose caller cannot answer approvals (it did not
ask for ``approval_request``): refused at once rather than paused for an answer never coming."""


@dataclass(frozen=True)
class PendingApproval:
    """One tool call waiting for the user's answer."""

    approval_id: str
    tool: str
    arguments: dict[str, Any]
    tool_call_id: str | None
    interrupt_id: str


def check_tools(names: Collection[str], tools: Sequence[Any]) -> None:
    """``ConfigurationError`` naming the known tools when ``names`` has an unknown one."""
    known = [tool.name for tool in tools]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigurationError(text("approval_unknown_tools", unknown=", ".join(unknown),
                                      known=", ".join(known) or "-"))


def _pending(interrupt_id: str, value: Any, messages: Sequence[Any]) -> list[PendingApproval]:
    """The calls one ``HITLRequest`` interrupt waits on, paired with the model's calls (its
    action requests follow the last assistant message's gated calls, in order)."""
    requests = value.get("action_requests") if isinstance(value, dict) else None
    if not isinstance(requests, list):
        return []
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    names = {r.get("name") for r in requests}
    calls = [c for c in (last.tool_calls if last is not None else []) if c["name"] in names]
    pending = []
    for index, request in enumerate(requests):
        call = calls[index] if index < len(calls) else None
        if call is not None and call["name"] != request.get("name"):
            call = None  # not the call it asks about: no id rather than a wrong one
        pending.append(PendingApproval(
            approval_id=f"{interrupt_id}-{index}", tool=str(request.get("name")),
            arguments=dict(request.get("args") or {}),
            tool_call_id=call.get("id") if call is not None else None,
            interrupt_id=interrupt_id))
    return pending


class ApprovalMiddleware(HumanInTheLoopMiddleware):
    """``HumanInTheLoopMiddleware`` for ``tools`` (approve or reject), announcing each pause."""

    def __init__(self, tools: Collection[str]) -> None:
        super().__init__({name: {"allowed_decisions": ["approve", "reject"]} for name in tools})

    @staticmethod
    def _announced(exc: GraphInterrupt, state: Any) -> dict[str, Any]:
        messages = state.get("messages", []) if isinstance(state, Mapping) else []
        pending = [p for i in (exc.args[0] if exc.args else ())
                   for p in _pending(i.id, i.value, messages)]
        return {"approvals": [asdict(p) for p in pending]}

    def _refused_at_once(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Results refusing the gated calls of a reply whose caller cannot answer (its
        ``ReplyContext``), else ``None`` (then the middleware pauses as usual)."""
        from bailian_geo_agent.agent.tool_selection import ReplyContext

        context = getattr(runtime, "context", None)
        if not isinstance(context, ReplyContext) or context.approvals:
            return None
        messages = state.get("messages", []) if isinstance(state, Mapping) else []
        last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        gated = [c for c in (last.tool_calls if last is not None else [])
                 if c["name"] in self.interrupt_on]
        return {"messages": [ToolMessage(CANNOT_ASK_NOTE.format(tool=c["name"]),
                                         tool_call_id=c.get("id") or "", name=c["name"],
                                         status="error") for c in gated]} if gated else None

    def after_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        refused = self._refused_at_once(state, runtime)
        if refused is not None:
            return refused
        try:
            return super().after_model(state, runtime)
        except GraphInterrupt as exc:
            dispatch_custom_event(APPROVAL_EVENT, self._announced(exc, state))
            raise

    async def aafter_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        refused = self._refused_at_once(state, runtime)
        if refused is not None:
            return refused
        try:
            return super().after_model(state, runtime)
        except GraphInterrupt as exc:
            await adispatch_custom_event(APPROVAL_EVENT, self._announced(exc, state))
            raise


def parse_answers(approvals: object) -> dict[str, dict[str, Any]]:
    """``{approval_id: {"approved": bool, "reason": str | None}}`` as the middleware's
    decisions, or ``InvalidInputError``."""
    if not isinstance(approvals, Mapping) or not approvals:
        raise InvalidInputError(text("approvals_invalid"))
    decisions: dict[str, dict[str, Any]] = {}
    for key, answer in approvals.items():
        approved = answer.get("approved") if isinstance(answer, Mapping) else None
        reason = answer.get("reason") if isinstance(answer, Mapping) else None
        if not isinstance(key, str) or not isinstance(approved, bool) or not (
            reason is None or isinstance(reason, str)
        ):
            raise InvalidInputError(text("approvals_invalid"))
        if approved:
            decisions[key] = {"type": "approve"}
        else:
            decisions[key] = {"type": "reject", **({"message": reason} if reason else {})}
    return decisions


async def waiting(graph: Any, config: Mapping[str, Any]) -> tuple[list[PendingApproval],
                                                                   list[Any]]:
    """The calls waiting for an answer in the session of ``config``, and its messages."""
    state = await graph.aget_state({"configurable": config["configurable"]})
    messages = state.values.get("messages", []) if state and state.values else []
    interrupts = state.interrupts if state else ()
    return [p for i in interrupts for p in _pending(i.id, i.value, messages)], messages


def resume(pending: Sequence[PendingApproval],
           decisions: Mapping[str, dict[str, Any]]) -> Command[Any]:
    """The command answering every waiting call, or ``InvalidInputError`` naming the ids that
    are not waiting (or the waiting ones left unanswered); nothing is changed then."""
    ids = [p.approval_id for p in pending]
    unknown = sorted(set(decisions) - set(ids))
    if unknown:
        raise InvalidInputError(text("approval_unknown", ids=", ".join(unknown),
                                     waiting=", ".join(ids) or "-"))
    missing = [a for a in ids if a not in decisions]
    if missing:
        raise InvalidInputError(text("approval_missing", ids=", ".join(missing)))
    by_interrupt: dict[str, list[dict[str, Any]]] = {}
    for p in pending:
        by_interrupt.setdefault(p.interrupt_id, []).append(decisions[p.approval_id])
    return Command(resume={iid: {"decisions": d} for iid, d in by_interrupt.items()})


def refusals(pending: Sequence[PendingApproval], messages: Sequence[Any]) -> list[ToolMessage]:
    """Results for the calls of the paused turn, when a new message comes instead of an
    answer: none of them ran (the gated ones waited; the others wait with them)."""
    if not pending:
        return []
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    calls = [c for c in (last.tool_calls if last is not None else [])
             if c.get("id") not in answered]
    return [ToolMessage(NEW_MESSAGE_NOTE.format(tool=c["name"]), tool_call_id=c.get("id") or "",
                        name=c["name"], status="error") for c in calls]


async def next_turn(graph: Any, config: Mapping[str, Any], turn: dict[str, Any],
                    decisions: Mapping[str, dict[str, Any]] | None) -> Any:
    """What the reply sends the graph: the answers to the waiting calls (``decisions``), or
    ``turn`` (a new message) after refusals of any calls still waiting."""
    pending, messages = await waiting(graph, config)
    if decisions is not None:
        return resume(pending, decisions)
    if pending:
        return {"messages": [*refusals(pending, messages), *turn["messages"]]}
    return turn
