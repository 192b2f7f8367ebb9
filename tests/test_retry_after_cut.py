"""A reply cut by a restart just after its answer was stored is still replaced by its retry.

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
import uuid
from typing import Any

from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.events import StreamEnd, StreamError
from bailian_geo_agent.agent.server.replies import Reply
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from tests.helpers import make_settings


class HoldAfterAnswer(InMemorySaver):
    """Stores every checkpoint; once one holds an assistant answer, stops there until cut."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_stored = asyncio.Event()
        self.hold = True

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        stored = await super().aput(config, checkpoint, metadata, new_versions)
        messages = checkpoint.get("channel_values", {}).get("messages", [])
        if self.hold and messages and isinstance(messages[-1], AIMessage):
            self.hold = False
            self.answer_stored.set()
            await asyncio.Event().wait()  # until the cut cancels the reply
        return stored


async def _events(reply: Reply) -> list[Any]:
    return [await reply.first(), *[event async for event in reply.rest()]]


async def test_a_retry_replaces_a_turn_whose_answer_was_stored_just_before_the_cut(
        fake_dashscope):
    checkpointer = HoldAfterAnswer()
    session = str(uuid.uuid4())
    settings = make_settings(fake_dashscope, "openai")
    async with StreamChatService(settings, tools=[], checkpointer=checkpointer) as service:
        cut = Reply(service.stream_events("讲个故事", session), "owner")
        await asyncio.wait_for(checkpointer.answer_stored.wait(), 10)
        cut.interrupt()  # the drain's end: the answer is stored, its stream_end not sent
        events = await asyncio.wait_for(_events(cut), 10)
        assert isinstance(events[-1], StreamError), events[-1]
        assert not any(isinstance(e, StreamEnd) for e in events)

        retried = Reply(service.stream_events("讲个故事", session, retry=True), "owner")
        events = await asyncio.wait_for(_events(retried), 10)
        history = await service.get_history(session)
    assert isinstance(events[-1], StreamEnd), events[-1]
    answer = "".join(getattr(e, "chunk", "") for e in events)
    assert answer == "ECHO[1]: 讲个故事"  # the model saw the question once
    assert [(type(m), m.content) for m in history] == [
        (HumanMessage, "讲个故事"), (AIMessage, "ECHO[1]: 讲个故事")]
