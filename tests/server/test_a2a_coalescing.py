"""The A2A answer's text chunks coalesced (``executor.coalesced``): the first at once, the text
and the order of every other event exact, held text sent when its window ends; and over the
wire, read by ``a2a-sdk``'s own client, a paced reply's text in far fewer artifact updates."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
from a2a.types.a2a_pb2 import TaskState
from bailian_geo_agent.agent.events import MapAction, StreamChunk, StreamEvent, ToolStart
from bailian_geo_agent.agent.server.a2a.executor import TEXT_WINDOW, coalesced

from tests.fakes.dashscope import Reply
from tests.server.test_a2a import answer_text, ask, client_for, converse, final_status

IDS = ("m1", "s1")
NEVER = 3600.0  # a window no test waits out: text goes on at the next event or the end


def chunk(text: str) -> StreamChunk:
    return StreamChunk(*IDS, text)


class Feed:
    """Batches handed over one at a time, when the test says (``put``; ``None`` ends)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[StreamEvent] | None] = asyncio.Queue()
        self.drained = asyncio.Event()  # every batch put has been taken
        self.closed = asyncio.Event()  # the source's reading ended

    def put(self, *events: StreamEvent) -> None:
        self.queue.put_nowait(list(events))

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def batches(self) -> AsyncIterator[list[StreamEvent]]:
        try:
            while True:
                if self.queue.empty():
                    self.drained.set()
                batch = await self.queue.get()
                self.drained.clear()
                if batch is None:
                    return
                yield batch
        finally:
            self.closed.set()


def shape(events: list[StreamEvent]) -> list[str]:
    return [e.chunk if isinstance(e, StreamChunk) else e.type for e in events]


async def test_text_is_joined_and_every_other_event_keeps_its_place():
    feed = Feed()
    tool = ToolStart(*IDS, "geocode", {"address": "天安门"})
    move = MapAction(*IDS, {"op": "set_view"})
    for batch in ([chunk("你")], [chunk("好")], [chunk("，")], [move], [chunk("北"), chunk("京")],
                  [tool, chunk("到")], [chunk("了")]):
        feed.put(*batch)
    feed.end()
    out = [event async for event in coalesced(feed.batches(), NEVER)]
    assert shape(out) == ["你", "好，", "map_action", "北京", "tool_start", "到了"]
    assert out[2] is move and out[4] is tool  # the same events, not copies


async def test_the_first_chunk_goes_at_once_and_held_text_when_the_window_ends():
    loop = asyncio.get_running_loop()
    feed = Feed()
    events = aiter(coalesced(feed.batches(), NEVER))
    feed.put(chunk("第一"))
    # The first chunk is not held, although the window is an hour and nothing else came.
    assert shape([await asyncio.wait_for(anext(events), 5)]) == ["第一"]
    feed.put(chunk("二"))
    feed.end()
    assert shape([e async for e in events]) == ["二"]  # held until the end, then sent

    window = 0.05
    feed = Feed()
    events = aiter(coalesced(feed.batches(), window))
    feed.put(chunk("a"))
    first = await asyncio.wait_for(anext(events), 5)
    sent = loop.time()
    feed.put(chunk("b"))
    feed.put(chunk("c"))
    # The source says nothing more: the held text goes on when its window ends.
    held = await asyncio.wait_for(anext(events), 5)
    assert loop.time() - sent >= window * 0.9
    assert (first.chunk, held.chunk) == ("a", "bc")
    feed.end()
    assert [e async for e in events] == []


async def test_a_cancelled_reading_leaves_no_read_of_the_source_behind():
    feed = Feed()
    events = aiter(coalesced(feed.batches(), NEVER))
    feed.put(chunk("a"))
    assert (await anext(events)).chunk == "a"
    feed.put(chunk("b"))  # held: the next batch is read meanwhile
    reading = asyncio.ensure_future(anext(events))
    await asyncio.wait_for(feed.drained.wait(), 5)
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    await events.aclose()
    await asyncio.wait_for(feed.closed.wait(), 5)  # the source's read ended with it


async def test_window_zero_joins_only_what_waits_together():
    feed = Feed()
    feed.put(chunk("a"), chunk("b"))
    feed.put(chunk("c"))
    feed.end()
    assert shape([e async for e in coalesced(feed.batches(), 0)]) == ["ab", "c"]


async def test_a_paced_reply_arrives_whole_in_fewer_updates(server, fake_dashscope):
    text = "一字一字慢慢说出来的回答" * 4  # 48 chunks, ~5 ms apart: ~0.25 s
    fake_dashscope.script(Reply(text=text, chunk_size=1, chunk_delay=0.005))
    async with httpx.AsyncClient(timeout=60) as http:
        client = await client_for(server.url, http)
        began = time.monotonic()
        events = await converse(client, ask("慢慢讲"))
        took = time.monotonic() - began
    assert answer_text(events) == text
    updates = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")
               and e.artifact_update.artifact.artifact_id == "answer"]
    assert updates[0].parts[0].text == text[0]  # the first chunk on its own, at once
    # One update per window at most (and the first, and the empty last chunk), not one per
    # chunk.
    assert len(updates) <= took / TEXT_WINDOW + 3, (len(updates), took)
    assert final_status(events).state == TaskState.TASK_STATE_COMPLETED


def test_the_sdk_tracing_decorators_are_off_only_while_tracing_is(monkeypatch):
    import os

    from a2a.utils import telemetry as sdk_telemetry
    from bailian_geo_agent.agent import telemetry
    from bailian_geo_agent.agent.server import a2a
    from opentelemetry.sdk.trace import TracerProvider

    variable = "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED"
    assert variable == sdk_telemetry.ENABLED_ENV_VAR  # the SDK's own switch, by that name
    monkeypatch.setattr(os, "environ", {})
    a2a._import_executor()
    assert os.environ == {variable: "false"}  # no tracer provider: nothing to record

    os.environ.clear()
    telemetry.use_tracer_provider(TracerProvider())
    try:
        a2a._import_executor()
    finally:
        telemetry.use_tracer_provider(None)
    assert os.environ == {}  # tracing on: the SDK's spans stay
    os.environ[variable] = "true"
    a2a._import_executor()
    assert os.environ == {variable: "true"}  # an operator's value stands


def test_the_window_is_the_operators_setting(monkeypatch):
    from types import SimpleNamespace

    from bailian_geo_agent.agent.server.a2a.executor import A2AService
    from bailian_geo_agent.agent.serving import ServerSettings

    assert ServerSettings().a2a_text_window == TEXT_WINDOW == 0.1
    monkeypatch.setenv("GEO_AGENT_A2A_TEXT_WINDOW", "0.2")
    service = A2AService(SimpleNamespace(settings=ServerSettings()), "/a2a")  # type: ignore[arg-type]
    assert service.executor._window == 0.2
