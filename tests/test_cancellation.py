"""Cancellation: when the consumer stops (closes the generator, its task is cancelled), the
upstream HTTP stream and any running tool call stop promptly, nothing is left running, and the
session's next message works with a consistent history."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from bailian_geo_agent.agent import StreamChatService
from langchain_core.tools import tool

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.helpers import assert_well_formed, collect, make_settings, wait_until

PROVIDERS = ["openai", "tongyi", "responses"]
LONG = Reply(text="很长的回答" * 100, chunk_size=2, chunk_delay=0.02)  # ~5 s of streaming
LIMIT = 0.5  # "well under a second"


def client_ports(port: int) -> set[int]:
    """Local ports of this machine's ESTABLISHED TCP connections to 127.0.0.1:``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]  # noqa: SIM115
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                found.add(int(local.rsplit(":", 1)[1], 16))
    return found


async def wait_closed(port: int, ports: set[int], limit: float = LIMIT) -> float:
    """Seconds until none of ``ports`` is still connected to ``port`` (fails after ``limit``)."""
    started = time.perf_counter()
    while client_ports(port) & ports:
        assert time.perf_counter() - started < limit, "the upstream connection is still open"
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


def new_tasks(before: set[asyncio.Task]) -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() - before
            if t is not asyncio.current_task() and not t.done()]


async def no_task_left(before: set[asyncio.Task], limit: float = LIMIT) -> None:
    """Every task started since ``before`` ends within ``limit`` (each one's end awaited)."""
    left = new_tasks(before)
    if left:
        _, running = await asyncio.wait(left, timeout=limit)
        assert not running, f"still running after {limit} s: {running}"
    assert new_tasks(before) == []


@pytest.fixture(params=PROVIDERS)
def provider(request) -> str:
    return request.param


async def first_chunk(stream) -> None:
    async for event in stream:
        if event["type"] == "stream_chunk":
            return
    raise AssertionError("no chunk")


async def test_closing_the_generator_closes_the_upstream_stream(fake_dashscope, provider):
    fake_dashscope.script(LONG)
    session = str(uuid.uuid4())
    async with StreamChatService(make_settings(fake_dashscope, provider), tools=[]) as service:
        before_ports, before_tasks = client_ports(fake_dashscope.port), asyncio.all_tasks()
        stream = service.stream_chat("讲个长故事", session)
        await first_chunk(stream)
        streaming = client_ports(fake_dashscope.port) - before_ports
        assert streaming, "the reply's connection is open while it streams"

        started = time.perf_counter()
        await stream.aclose()
        closed = time.perf_counter() - started
        gone = await wait_closed(fake_dashscope.port, streaming)
        assert closed + gone < LIMIT
        await no_task_left(before_tasks)

        after = await asyncio.wait_for(collect(service.stream_chat("继续", session)), 10)
        history = await service.get_history(session)
    assert assert_well_formed(after) == "ECHO[2]: 继续"
    assert [m.content for m in history][-2:] == ["继续", "ECHO[2]: 继续"]


async def test_cancelling_the_consumer_task_closes_the_upstream_stream(fake_dashscope, provider):
    fake_dashscope.script(LONG)
    session = str(uuid.uuid4())
    async with StreamChatService(make_settings(fake_dashscope, provider), tools=[]) as service:
        before_ports, before_tasks = client_ports(fake_dashscope.port), asyncio.all_tasks()
        chunk_seen = asyncio.Event()

        async def consume() -> None:  # e.g. a web handler whose client went away
            async for event in service.stream_chat("讲个长故事", session):
                if event["type"] == "stream_chunk":
                    chunk_seen.set()

        consumer = asyncio.create_task(consume())
        await asyncio.wait_for(chunk_seen.wait(), 10)
        streaming = client_ports(fake_dashscope.port) - before_ports
        started = time.perf_counter()
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        gone = await wait_closed(fake_dashscope.port, streaming)
        assert time.perf_counter() - started < LIMIT, gone
        await no_task_left(before_tasks)

        after = await asyncio.wait_for(collect(service.stream_chat("继续", session)), 10)
    assert assert_well_formed(after) == "ECHO[2]: 继续"


async def test_a_running_tool_call_is_cancelled(fake_dashscope, provider):
    state = {"started": asyncio.Event(), "cancelled": 0.0, "finished": False}

    @tool
    async def slow_lookup(city: str) -> str:
        """Looks something up, slowly."""
        state["started"].set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            state["cancelled"] = time.perf_counter()
            raise
        state["finished"] = True
        return "done"

    fake_dashscope.responder = tool_then_answer([ToolCall("slow_lookup", {"city": "北京"})])
    session = str(uuid.uuid4())
    settings = make_settings(fake_dashscope, provider)
    async with StreamChatService(settings, tools=[slow_lookup]) as service:
        before_tasks = asyncio.all_tasks()
        stream = service.stream_chat("查一下北京", session)
        assert (await stream.__anext__())["type"] == "stream_start"
        pending = asyncio.ensure_future(stream.__anext__())
        await asyncio.wait_for(state["started"].wait(), 5)
        started = time.perf_counter()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        await stream.aclose()
        assert state["cancelled"], "the tool was not cancelled"
        assert state["cancelled"] - started < LIMIT and not state["finished"]
        await no_task_left(before_tasks)

        fake_dashscope.responder = tool_then_answer([])  # plain answers from here on
        fake_dashscope.script(Reply(text="好的"))
        after = await asyncio.wait_for(collect(service.stream_chat("算了", session)), 10)

    assert assert_well_formed(after) == "好的"
    sent = fake_dashscope.requests[-1].messages
    call_ids = [c["id"] for m in sent for c in (m.get("tool_calls") or [])]
    assert call_ids and call_ids == [m["tool_call_id"] for m in sent if m["role"] == "tool"], \
        "the interrupted call is answered (placeholder), so the provider accepts the history"


async def test_an_amap_request_in_flight_is_cancelled(fake_dashscope, fake_amap_env):
    """A geo tool waiting on a slow AMap answer: its HTTP request is dropped when the reply is
    cancelled."""
    from bailian_geo_agent.tools import GeoToolkit

    fake_amap_env.set_response("/v3/weather/weatherInfo", {"status": "1"}, delay=10)
    toolkit = GeoToolkit()
    tools = toolkit.get_tools()
    weather = next(t for t in tools if "weather" in t.name)
    fake_dashscope.responder = tool_then_answer([ToolCall(weather.name, {"place": "北京"})])
    session = str(uuid.uuid4())
    amap_port = int(fake_amap_env.base_url.rsplit(":", 1)[1])
    # Idle keep-alive connections other tests' clients left to the shared fake are not ours.
    earlier = client_ports(amap_port)
    async with StreamChatService(make_settings(fake_dashscope, "openai"), tools=tools) as service:
        stream = service.stream_chat("北京天气", session)
        assert (await stream.__anext__())["type"] == "stream_start"
        pending = asyncio.ensure_future(stream.__anext__())
        await wait_until(lambda: fake_amap_env.requests_to("/v3/weather/weatherInfo"),
                         "the weather request at the AMap fake")
        await wait_until(lambda: client_ports(amap_port) - earlier,
                         "the AMap request's connection, open while the tool runs")
        in_flight = client_ports(amap_port) - earlier
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        await stream.aclose()
        await wait_closed(amap_port, in_flight)

        fake_dashscope.responder = tool_then_answer([])
        fake_dashscope.script(Reply(text="好的"))
        after = await asyncio.wait_for(collect(service.stream_chat("算了", session)), 10)
    assert assert_well_formed(after) == "好的"
