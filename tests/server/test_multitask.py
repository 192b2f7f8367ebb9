"""A second message while a reply runs (``multitask_strategy``): two ``geo-agent serve``
processes sharing one session store (SQLite file or PostgreSQL) and one Redis; the first reply
runs on A (the slow fake model), the second message arrives on B. Each strategy's whole event
sequences, and the stored history after."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from bailian_geo_agent.prompts.catalogue import text
from httpx_sse import aconnect_sse

from tests.fakes.dashscope import Reply
from tests.server.conftest import TOKEN_A, server_env, start_server
from tests.server.helpers import check_reply
from tests.server.redis_server import flush
from tests.stores.conftest import _with_database

A = {"Authorization": f"Bearer {TOKEN_A}"}
STORY = Reply(text="".join(f"第{i}句。" for i in range(200)), chunk_size=4, chunk_delay=0.01)
"""~2 s of streaming: running when the second message arrives."""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request, fake_dashscope_server, _redis_session, tmp_path_factory):
    """Servers A and B sharing the fake, the session store and Redis."""
    tmp: Path = tmp_path_factory.mktemp(f"multitask-{request.param}")
    if request.param == "sqlite":
        store = f"sqlite:///{tmp / 'shared.sqlite'}"
    else:
        store = fresh_database(request.getfixturevalue("postgres_url"))
    flush(_redis_session)
    servers = []
    try:
        for name in ("a", "b"):
            env = server_env(fake_dashscope_server.compatible_base_url, tmp / name,
                             SESSION_STORE_URL=store, GEO_AGENT_STREAM_URL=_redis_session)
            servers.append(start_server(tmp / name, env))
        yield servers
    finally:
        for server in servers:
            server.stop()
        if request.param == "postgres":
            drop_database(request.getfixturevalue("postgres_url"), store)


def fresh_database(url: str) -> str:
    """A new database on ``url``'s server, for this module (``drop_database`` after)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True,
                         connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(url, name)


def drop_database(url: str, database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True,
                         connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stream:
    """One reply read as it comes; every event also goes to the shared ``order`` list."""

    def __init__(self, client: httpx.AsyncClient, url: str, body: dict, order: list,
                 name: str) -> None:
        self.events: list[tuple[str, str, dict]] = []
        self.times: list[float] = []  # when each event arrived
        self.opened = asyncio.get_running_loop().create_future()
        self.chunks = asyncio.Event()
        self._task = asyncio.ensure_future(self._read(client, url, body, order, name))

    async def _read(self, client, url, body, order, name) -> None:
        try:
            async with aconnect_sse(client, "POST", url, json=body, headers=A) as source:
                self.opened.set_result(source.response.status_code)
                async for sse in source.aiter_sse():
                    if not sse.data:
                        continue
                    data = json.loads(sse.data)
                    self.events.append((sse.event, sse.id, data))
                    order.append((name, data["type"]))
                    self.times.append(time.perf_counter())
                    if sse.event == "stream_chunk" and len(self.events) >= 4:
                        self.chunks.set()
        finally:
            if not self.opened.done():
                self.opened.set_result(0)
            self.chunks.set()

    async def done(self) -> list[tuple[str, str, dict]]:
        await asyncio.wait_for(self._task, 30)
        return self.events


def texts(events) -> str:
    return "".join(d.get("chunk", "") for _, _, d in events)


async def history(client, url: str, sid: str) -> list[tuple[str, str, bool]]:
    answer = await client.get(f"{url}/v1/sessions/{sid}", headers=A)
    assert answer.status_code == 200, answer.text
    return [(m["role"], m["content"], m["interrupted"]) for m in answer.json()["messages"]]


async def _running_on_a(client, a, sid: str, order: list) -> Stream:
    first = Stream(client, f"{a.url}/v1/chat/stream", {"message": "讲", "session_id": sid},
                   order, "first")
    await asyncio.wait_for(first.chunks.wait(), 10)
    assert first.events[-1][0] == "stream_chunk", first.events  # running
    return first


async def test_reject_answers_409_naming_the_running_reply(pair, fake_dashscope):
    a, b = pair
    fake_dashscope.script(STORY)
    sid, order = str(uuid.uuid4()), []
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running_on_a(client, a, sid, order)
        mid = first.events[0][2]["message_id"]
        refused = await client.post(f"{b.url}/v1/chat/stream", headers=A, json={
            "message": "再讲", "session_id": sid, "multitask_strategy": "reject"})
        assert refused.status_code == 409
        assert refused.json() == {"type": "error",
                                  "error": text("reply_running", message_id=mid)}
        events = await first.done()
        assert check_reply(events) == STORY.text  # the running reply goes on, whole
        assert await history(client, b.url, sid) == [
            ("user", "讲", False), ("assistant", STORY.text, False)]


async def test_enqueue_answers_in_arrival_order_across_instances(pair, fake_dashscope):
    a, b = pair
    fake_dashscope.script(STORY)
    sid, order = str(uuid.uuid4()), []
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running_on_a(client, a, sid, order)
        second = Stream(client, f"{b.url}/v1/chat/stream", {
            "message": "二", "session_id": sid, "multitask_strategy": "enqueue"}, order, "second")
        assert await second.opened == 200  # queued: the stream is open, nothing in it yet
        third = Stream(client, f"{a.url}/v1/chat/stream", {
            "message": "三", "session_id": sid, "multitask_strategy": "enqueue"}, order, "third")
        assert await third.opened == 200
        one, two, three = await first.done(), await second.done(), await third.done()
        assert check_reply(one) == STORY.text
        assert check_reply(two) == "ECHO[2]: 二"
        assert check_reply(three) == "ECHO[3]: 三"
        names = [name for name, kind in order if kind in ("stream_start", "stream_end")]
        assert names == ["first", "first", "second", "second", "third", "third"], order
        assert await history(client, a.url, sid) == [
            ("user", "讲", False), ("assistant", STORY.text, False),
            ("user", "二", False), ("assistant", "ECHO[2]: 二", False),
            ("user", "三", False), ("assistant", "ECHO[3]: 三", False)]


@pytest.mark.parametrize("strategy", ["interrupt", "rollback"])
async def test_interrupt_and_rollback_stop_the_reply_on_the_other_instance(
        pair, fake_dashscope, strategy):
    a, b = pair
    fake_dashscope.script(Reply(text="先前的回答"), STORY)
    sid, order = str(uuid.uuid4()), []
    async with httpx.AsyncClient(timeout=30) as client:
        before = [(e, i, d) async for e, i, d in _read(client, f"{a.url}/v1/chat/stream",
                                                        {"message": "零", "session_id": sid})]
        assert check_reply(before) == "先前的回答"
        first = await _running_on_a(client, a, sid, order)
        sent = time.perf_counter()
        second = Stream(client, f"{b.url}/v1/chat/stream", {
            "message": "改", "session_id": sid, "multitask_strategy": strategy}, order, "second")
        one, two = await first.done(), await second.done()
        stopped, began = first.times[-1] - sent, second.times[0] - sent
        print(f"\n{strategy} on B of a reply on A: A's reply ended {stopped * 1000:.0f} ms, "
              f"B's began {began * 1000:.0f} ms after the message was sent")
        assert began < 3
        assert await second.opened == 200
        # The running reply ends with its cancelled error, then the new one starts.
        assert check_reply(one) == texts(one)
        assert one[-1][2]["error"] == text("cancelled")
        assert {e for e, _, _ in one[1:-1]} == {"stream_chunk"}
        assert 0 < len(texts(one)) < len(STORY.text)
        # The fake echoes how many user messages it was sent: rollback's stopped one is gone.
        answer = "ECHO[3]: 改" if strategy == "interrupt" else "ECHO[2]: 改"
        assert check_reply(two) == answer
        assert order.index(("first", "error")) < order.index(("second", "stream_start"))
        kept = [("user", "零", False), ("assistant", "先前的回答", False)]
        if strategy == "interrupt":  # the partial answer, as the user saw it, stays
            kept += [("user", "讲", False), ("assistant", texts(one), True)]
        assert await history(client, a.url, sid) == [
            *kept, ("user", "改", False), ("assistant", answer, False)]


async def test_nothing_running_every_strategy_just_answers(pair, fake_dashscope):
    a, b = pair
    sid = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=30) as client:
        for n, strategy in enumerate(["reject", "enqueue", "interrupt", "rollback"], 1):
            events = [x async for x in _read(client, f"{(a, b)[n % 2].url}/v1/chat/stream", {
                "message": strategy, "session_id": sid, "multitask_strategy": strategy})]
            assert check_reply(events) == f"ECHO[{n}]: {strategy}"
        assert len(await history(client, a.url, sid)) == 8
        bad = await client.post(f"{a.url}/v1/chat/stream", headers=A, json={
            "message": "x", "multitask_strategy": "later"})
        assert bad.status_code == 422


async def _read(client, url: str, body: dict):
    async with aconnect_sse(client, "POST", url, json=body, headers=A) as source:
        assert source.response.status_code == 200, await source.response.aread()
        async for sse in source.aiter_sse():
            if sse.data:
                yield sse.event, sse.id, json.loads(sse.data)


async def test_an_interrupting_message_goes_before_the_queued_ones(pair, fake_dashscope):
    a, b = pair
    fake_dashscope.script(STORY)
    sid, order = str(uuid.uuid4()), []
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running_on_a(client, a, sid, order)
        queued = Stream(client, f"{b.url}/v1/chat/stream", {
            "message": "二", "session_id": sid, "multitask_strategy": "enqueue"}, order, "queued")
        assert await queued.opened == 200
        urgent = Stream(client, f"{a.url}/v1/chat/stream", {
            "message": "三", "session_id": sid, "multitask_strategy": "interrupt"}, order,
            "urgent")
        one, three, two = await first.done(), await urgent.done(), await queued.done()
        assert one[-1][2]["error"] == text("cancelled")
        assert check_reply(three) == "ECHO[2]: 三"
        assert check_reply(two) == "ECHO[3]: 二"
        ends = [(name, kind) for name, kind in order if kind != "stream_chunk"]
        assert ends == [("first", "stream_start"), ("first", "error"),
                        ("urgent", "stream_start"), ("urgent", "stream_end"),
                        ("queued", "stream_start"), ("queued", "stream_end")]
        assert await history(client, b.url, sid) == [
            ("user", "讲", False), ("assistant", texts(one), True),
            ("user", "三", False), ("assistant", "ECHO[2]: 三", False),
            ("user", "二", False), ("assistant", "ECHO[3]: 二", False)]


@pytest.fixture(scope="module")
def pg_pair(fake_dashscope_server, tmp_path_factory, request):
    """Servers A and B on one PostgreSQL and no shared event log."""
    tmp: Path = tmp_path_factory.mktemp("multitask-pg-only")
    server_url = request.getfixturevalue("postgres_url")
    store = fresh_database(server_url)
    servers = []
    try:
        for name in ("a", "b"):
            env = server_env(fake_dashscope_server.compatible_base_url, tmp / name,
                             SESSION_STORE_URL=store)
            servers.append(start_server(tmp / name, env))
        yield servers, store
    finally:
        for server in servers:
            server.stop()
        drop_database(server_url, store)


async def _tickets(store: str, sid: str, count: int) -> None:
    """Until ``count`` messages wait in ``sid``'s PostgreSQL queue (``pg_queue``)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(store, autocommit=True) as conn:
        for _ in range(500):
            cursor = await conn.execute(
                "SELECT count(*) FROM geo_agent_session_queue WHERE session_id = %s", (sid,))
            if (await cursor.fetchone())[0] >= count:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"{count} messages never waited in the queue")


async def test_enqueue_without_a_shared_log_keeps_the_order_on_postgresql(pg_pair,
                                                                         fake_dashscope):
    (a, b), store = pg_pair
    fake_dashscope.script(STORY)
    sid, order = str(uuid.uuid4()), []
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running_on_a(client, a, sid, order)
        # B cannot see A's reply: its message waits on the session's PostgreSQL queue.
        second = Stream(client, f"{b.url}/v1/chat/stream", {
            "message": "二", "session_id": sid, "multitask_strategy": "enqueue"}, order, "second")
        await _tickets(store, sid, 1)
        third = Stream(client, f"{a.url}/v1/chat/stream", {
            "message": "三", "session_id": sid, "multitask_strategy": "enqueue"}, order, "third")
        one, two, three = await first.done(), await second.done(), await third.done()
        assert check_reply(one) == STORY.text
        assert check_reply(two) == "ECHO[2]: 二"
        assert check_reply(three) == "ECHO[3]: 三"
        names = [name for name, kind in order if kind in ("stream_start", "stream_end")]
        assert names == ["first", "first", "second", "second", "third", "third"], order


async def test_a_message_right_after_the_last_reply_ended_elsewhere_is_answered(pair):
    # The client sees stream_end from A before A's log write marks the reply done: B must
    # answer the next message (reject only refuses a reply still answering), turn after turn.
    a, b = pair
    sid = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=30) as client:
        for turn in range(6):
            server = (a, b)[turn % 2]
            events = []
            async with aconnect_sse(client, "POST", f"{server.url}/v1/chat/stream", headers=A,
                                    json={"message": f"第{turn}问", "session_id": sid,
                                          "multitask_strategy": "reject"}) as source:
                assert source.response.status_code == 200, await source.response.aread()
                async for sse in source.aiter_sse():
                    events.append((sse.event, sse.id, json.loads(sse.data)))
            assert check_reply(events) == f"ECHO[{turn + 1}]: 第{turn}问"
