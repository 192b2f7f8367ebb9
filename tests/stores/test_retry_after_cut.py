"""A reply cut by a restart just after its answer was stored is still replaced by its retry,
on every store (memory, SQLite, PostgreSQL; on the persistent ones the retry is answered by a
second service, as by another instance after a rolling restart).

The race behind the rolling-restart test's rare ``[2]`` (the model saw the question twice):
the drain interrupts a reply whose model call has finished and whose answer the checkpointer
has already stored, before its ``stream_end`` reached the client. The client is told the
server is restarting (SSE ``retry:``) and sends the message again with ``"retry": true``;
the stored turn (the question and its complete answer) must be replaced, not repeated.
The cut is placed deterministically: the checkpointer holds the reply right after storing
the answer, and the drain's interrupt is sent then.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.events import StreamEnd, StreamError
from bailian_geo_agent.agent.server.replies import Reply
from langchain_core.messages import AIMessage, HumanMessage

from tests.helpers import make_settings

STORES = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=STORES)
def store_url(request, tmp_path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


async def hold_after_answer(service: StreamChatService) -> asyncio.Event:
    """Make ``service``'s checkpointer stop the reply right after it stores an assistant
    answer (until the reply is cut); the event is set then."""
    saver = await service._session_store().checkpointer()
    stored_answer = asyncio.Event()
    put = saver.aput

    async def aput(config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        result = await put(config, checkpoint, metadata, new_versions)
        messages = checkpoint.get("channel_values", {}).get("messages", [])
        if not stored_answer.is_set() and messages and isinstance(messages[-1], AIMessage):
            stored_answer.set()
            await asyncio.Event().wait()  # until the cut cancels the reply
        return result

    saver.aput = aput  # type: ignore[method-assign]
    return stored_answer


async def _events(reply: Reply) -> list[Any]:
    return [await reply.first(), *[event async for event in reply.rest()]]


async def test_a_retry_replaces_a_turn_whose_answer_was_stored_just_before_the_cut(
        fake_dashscope, store_url):
    settings = make_settings(fake_dashscope, "openai", session_store_url=store_url)
    session = str(uuid.uuid4())
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(StreamChatService(settings, tools=[]))
        second = first if store_url == "memory://" else await stack.enter_async_context(
            StreamChatService(settings, tools=[]))
        stored_answer = await hold_after_answer(first)
        cut = Reply(first.stream_events("讲个故事", session), "owner")
        await asyncio.wait_for(stored_answer.wait(), 10)
        cut.interrupt()  # the drain's end: the answer is stored, its stream_end not sent
        events = await asyncio.wait_for(_events(cut), 10)
        assert isinstance(events[-1], StreamError), events[-1]
        assert not any(isinstance(e, StreamEnd) for e in events)

        retried = Reply(second.stream_events("讲个故事", session, retry=True), "owner")
        events = await asyncio.wait_for(_events(retried), 10)
        history = await second.get_history(session)
    assert isinstance(events[-1], StreamEnd), events[-1]
    answer = "".join(getattr(e, "chunk", "") for e in events)
    assert answer == "ECHO[1]: 讲个故事"  # the model saw the question once
    assert [(type(m), m.content) for m in history] == [
        (HumanMessage, "讲个故事"), (AIMessage, "ECHO[1]: 讲个故事")]
