"""A second message while a reply runs in its session: what happens is the caller's choice
(``multitask_strategy`` in the request; ``GEO_AGENT_MULTITASK_STRATEGY`` by default), as in
LangGraph's server:

- ``reject``: 409 naming the running reply;
- ``enqueue``: the message waits its turn (the stream opens at once, with keep-alives) and is
  answered after the running reply and those queued before it, in arrival order;
- ``interrupt``: the running reply is stopped (it ends with its cancelled ``error``, its
  partial answer kept in history), then this one starts;
- ``rollback``: as ``interrupt``, and the stopped reply's turn is removed from history.

The running reply is found in the event log (``active``) and stopped as ``POST
/v1/chat/{message_id}/stop`` stops it, so with ``GEO_AGENT_STREAM_URL`` all of this works
whichever instance runs it; the queue is then in Redis too (``agent.server.turns``).

A route calls ``answer`` (the seed SSE, the AI SDK stream), or, where its stream is open
already (another protocol's adapter), ``start`` with the server's default strategy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, get_args
from uuid import uuid4

from bailian_geo_agent.agent.events import StreamError, StreamEvent
from bailian_geo_agent.agent.server.auth import Identity
from bailian_geo_agent.agent.server.errors import ApiError
from bailian_geo_agent.agent.server.protocol import EventStreamAdapter
from bailian_geo_agent.agent.server.replies import Reply
from bailian_geo_agent.agent.server.resume import reply_info, stop_elsewhere
from bailian_geo_agent.agent.server.state import ServerState, log_error
from bailian_geo_agent.agent.serving import MultitaskStrategy
from bailian_geo_agent.prompts.catalogue import text
from sse_starlette import EventSourceResponse

logger = logging.getLogger(__name__)

Strategy = MultitaskStrategy
"""What a message to a session whose reply still runs does."""
STRATEGIES: tuple[str, ...] = get_args(Strategy)
POLL_SECONDS = 0.05
"""How often a queued message looks whether its turn has come."""
ENDING_SECONDS = 1.0
"""How long ``reject`` waits for a reply that is ending (its last event sent, or stopped, and
on another instance not yet marked done in the shared log) before it answers 409: a message
sent right after the last one's end is answered, not refused."""

Begin = Callable[[bool], Awaitable[tuple[Reply, StreamEvent]]]
"""Starts the reply (``ServerState.start_reply``); its argument: ``rollback``."""
Adapter = Callable[[Reply | None], EventStreamAdapter[Any]]
"""The protocol's adapter for a reply (``None``: a queued message that never began)."""


async def running(state: ServerState, session_id: str, owner: str) -> str | None:
    """The id of ``owner``'s reply running in ``session_id`` (here or, with a shared log, on
    another instance), if any."""
    try:
        message_id = await state.log.active(session_id)
    except Exception as exc:
        raise log_error(exc) from None
    if message_id is None:
        return None
    info = await reply_info(state.log, message_id)
    if info is None or info.done or info.owner != owner:
        return None  # ended meanwhile; another owner's session is refused by the claim
    return message_id


async def make_way(state: ServerState, identity: Identity, session_id: str,
                   strategy: Strategy) -> bool:
    """Apply ``strategy`` (not ``enqueue``) to the reply running in ``session_id``: 409 for
    ``reject``, else stop it and wait until it has ended. Whether its turn must go
    (``rollback`` of a reply that was running)."""
    message_id = await running(state, session_id, identity.owner)
    if message_id is None:
        return False
    reply = state.replies.get(message_id, identity.owner)
    if strategy == "reject":
        if not await _ends(state, identity, session_id, reply):
            raise ApiError(409, text("reply_running", message_id=message_id))
        return False
    await stop_reply(state, message_id, identity.owner, reply)
    logger.info("reply %s stopped by a new message (%s)", message_id, strategy)
    return strategy == "rollback"


async def stop_reply(state: ServerState, message_id: str, owner: str,
                     reply: Reply | None = None) -> bool:
    """Stop ``owner``'s reply ``message_id`` (``reply``, when it runs here) wherever it runs,
    once its model request is closed and its partial answer stored; whether it was still
    running (not: it ended meanwhile, or is not ``owner``'s)."""
    reply = reply or state.replies.get(message_id, owner)
    if reply is not None:
        await reply.stop()
        return True
    try:
        await stop_elsewhere(state.log, message_id, owner)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return False
    return True


async def _ends(state: ServerState, identity: Identity, session_id: str,
                reply: Reply | None) -> bool:
    """Whether the session's running reply is only ending: one of this instance that has sent
    its last event or was stopped (waited for), or one elsewhere the shared log marks done
    within ``ENDING_SECONDS``. A reply here that is still answering is not waited for."""
    if reply is not None:
        return reply.ending and await reply.ended(ENDING_SECONDS)
    waited = 0.0
    while waited < ENDING_SECONDS:
        await asyncio.sleep(POLL_SECONDS)
        waited += POLL_SECONDS
        if await running(state, session_id, identity.owner) is None:
            return True
    return False


async def start(state: ServerState, identity: Identity, session_id: str, begin: Begin,
                strategy: Strategy | None = None) -> tuple[Reply, StreamEvent]:
    """Start a reply in ``session_id`` (``begin``) once ``strategy`` (the server's default when
    ``None``) has made way for it: the reply and its first event, or an ``ApiError``. With
    ``enqueue`` it waits for its turn: call it where the caller's stream is open already."""
    strategy = strategy or state.settings.multitask_strategy
    state.refuse_if_draining()  # before stopping anything for a reply that cannot start
    if strategy == "reject":
        await make_way(state, identity, session_id, strategy)
        return await begin(False)
    # In the queue (an interrupting message first of all): no queued message starts between
    # the running reply's end and this one's start.
    try:
        ticket = await state.turns.take(session_id, front=strategy != "enqueue")
    except Exception as exc:
        raise log_error(exc) from None
    try:
        rollback = False
        try:
            if strategy == "enqueue":
                while not await _my_turn(state, identity, session_id, ticket):
                    await asyncio.sleep(POLL_SECONDS)
            else:
                rollback = await make_way(state, identity, session_id, strategy)
        except ApiError:
            raise
        except Exception as exc:  # the queue failed: as the log failing
            raise log_error(exc) from None
        return await begin(rollback)
    finally:  # its reply is the session's running one now, or it failed
        await _leave(state, session_id, ticket)


async def answer(state: ServerState, identity: Identity, session_id: str, strategy: Strategy,
                 begin: Begin, adapter: Adapter, headers: dict[str, str] | None = None,
                 resume: bool = True) -> EventSourceResponse:
    """The HTTP answer to a message for ``session_id``, after ``strategy`` has made way for
    it: ``begin`` starts its reply, ``adapter`` writes it in the route's protocol. A message
    that must wait its turn (``enqueue``) gets its stream at once, with keep-alives only
    until its reply begins."""
    state.refuse_if_draining()
    if strategy == "enqueue" and not await _free(state, identity, session_id):
        return state.stream(_queued(state, identity, session_id, begin, adapter, resume),
                            headers)
    reply, first = await start(state, identity, session_id, begin, strategy)
    return state.response(reply, adapter(reply).stream(first, reply.rest_batches()),
                          headers, resume)


async def _queued(state: ServerState, identity: Identity, session_id: str, begin: Begin,
                  adapter: Adapter, resume: bool) -> AsyncIterator[bytes]:
    """A queued message's stream: nothing (keep-alives) until its turn, then its reply; an
    ``error`` event when the reply cannot begin then (as the answer's status would say)."""
    reply: Reply | None = None
    try:
        try:
            reply, first = await start(state, identity, session_id, begin, "enqueue")
        except ApiError as exc:
            failed = StreamError(str(uuid4()), session_id, exc.text)
            async for data in adapter(None).stream(failed, _nothing()):
                yield data
            return
        async for data in adapter(reply).stream(first, reply.rest_batches()):
            yield data
    finally:  # also when the client went away: the reply runs on, unless told not to
        if reply is not None:
            reply.leave(resume)


async def _free(state: ServerState, identity: Identity, session_id: str) -> bool:
    """Whether no message waits for ``session_id`` and no reply runs there."""
    try:
        waiting = await state.turns.first(session_id)
    except Exception as exc:
        raise log_error(exc) from None
    return waiting is None and await running(state, session_id, identity.owner) is None


async def _my_turn(state: ServerState, identity: Identity, session_id: str,
                   ticket: str) -> bool:
    """Whether ``ticket`` is first in its queue and no reply runs in the session."""
    await state.turns.renew(ticket)
    if await state.turns.first(session_id) != ticket:
        return False
    return await running(state, session_id, identity.owner) is None


async def _leave(state: ServerState, session_id: str, ticket: str) -> None:
    """Give the ticket back (shielded: a cancelled wait must not leave it queued)."""
    try:
        await asyncio.shield(state.turns.leave(session_id, ticket))
    except Exception as exc:  # an expiring ticket is skipped by the next waiter
        logger.warning("leaving the session queue failed: %s", type(exc).__name__)


async def _nothing() -> AsyncIterator[list[StreamEvent]]:
    return
    yield  # an async generator with no items
