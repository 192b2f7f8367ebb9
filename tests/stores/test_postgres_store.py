"""The PostgreSQL store, against a real server: sessions shared between processes and instances,
one writer per session across instances (advisory locks), and a server that goes away."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.sessions.stores import PostgresStore

from tests.fakes.dashscope import FakeDashScope, Reply, echo_responder
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import assert_well_formed, collect
from tests.stores.helpers import chat_in_subprocess, parse, start_chat_process

SLOW = "慢慢回答"


def settings_for(fake: FakeDashScope, url: str, **overrides) -> Settings:
    values = {"api_key": FAKE_API_KEY, "base_url": fake.compatible_base_url,
              "session_store_url": url, "timeout": 10.0, "max_retries": 0}
    values.update(overrides)
    return Settings(**values)


def slow_for(message: str, seconds: float = 1.0):
    """Echo, but ``message`` is answered slowly (20 chunks over ``seconds``)."""

    def responder(request):
        reply = echo_responder(request)
        if request.messages[-1]["content"] == message:
            reply.chunk_size, reply.chunk_delay = max(1, len(reply.text) // 20), seconds / 20
        return reply

    return responder


def turns(fake: FakeDashScope, index: int) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in fake.requests[index].messages
            if m["role"] != "system"]


async def wait_for_requests(fake: FakeDashScope, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, "the other process never called the model"
        await asyncio.sleep(0.02)


async def test_a_second_process_continues_the_conversation(fake_dashscope, pg_url):
    session = str(uuid.uuid4())
    base = fake_dashscope.compatible_base_url

    async with StreamChatService(settings_for(fake_dashscope, pg_url), tools=[]) as here:
        first = await collect(here.stream_chat("我叫小明", session))
    second = await asyncio.to_thread(chat_in_subprocess, base, pg_url, session, "我叫什么？")

    assert assert_well_formed(first) == "ECHO[1]: 我叫小明"
    assert assert_well_formed(second) == "ECHO[2]: 我叫什么？"
    assert turns(fake_dashscope, 1) == [
        ("user", "我叫小明"), ("assistant", "ECHO[1]: 我叫小明"), ("user", "我叫什么？")]
    async with StreamChatService(settings_for(fake_dashscope, pg_url), tools=[]) as third:
        history = await third.get_history(session)
    assert [m.content for m in history][-1] == "ECHO[2]: 我叫什么？"


async def test_one_writer_per_session_across_processes(fake_dashscope, pg_url):
    """While another process is writing a reply to the session, this instance waits for it,
    then answers with that reply in its history: never two writers at once."""
    fake_dashscope.responder = slow_for(SLOW, seconds=1.5)
    session = str(uuid.uuid4())
    other = await start_chat_process(fake_dashscope.compatible_base_url, pg_url, session, SLOW)
    try:
        await wait_for_requests(fake_dashscope, 1)  # the other process holds the session now
        async with StreamChatService(settings_for(fake_dashscope, pg_url), tools=[]) as here:
            mine = await collect(here.stream_chat("第二条", session))
            history = await here.get_history(session)
        out, err = await asyncio.wait_for(other.communicate(), 30)
    finally:
        if other.returncode is None:
            other.kill()
            await other.wait()

    assert other.returncode == 0, err.decode()[-2000:]
    theirs = parse(out.decode())
    assert assert_well_formed(theirs) == f"ECHO[1]: {SLOW}"
    assert assert_well_formed(mine) == "ECHO[2]: 第二条"
    assert turns(fake_dashscope, 1) == [
        ("user", SLOW), ("assistant", f"ECHO[1]: {SLOW}"), ("user", "第二条")]
    assert [m.content for m in history] == [SLOW, f"ECHO[1]: {SLOW}", "第二条", "ECHO[2]: 第二条"]


async def test_two_instances_sending_to_one_session_at_once(fake_dashscope, pg_url):
    """Two instances (own pools, own lock connections) and five messages each, all at once:
    the history is ten whole turns, each reply saw every earlier one."""
    session = str(uuid.uuid4())
    fake_dashscope.responder = lambda r: Reply(
        text=echo_responder(r).text, chunk_size=3, chunk_delay=0.005)
    a = StreamChatService(settings_for(fake_dashscope, pg_url), tools=[])
    b = StreamChatService(settings_for(fake_dashscope, pg_url), tools=[])
    async with a, b:
        replies = await asyncio.gather(*(
            collect(service.stream_chat(f"{name}{i}", session))
            for i in range(5) for name, service in (("a", a), ("b", b))))
        history = await a.get_history(session)

    texts = sorted(assert_well_formed(events) for events in replies)
    assert sorted(int(t.split("]")[0][5:]) for t in texts) == list(range(1, 11))
    contents = [m.content for m in history]
    assert len(contents) == 20
    for i in range(0, 20, 2):  # user, then the answer to exactly that user message
        assert contents[i + 1] == f"ECHO[{i // 2 + 1}]: {contents[i]}"


async def test_busy_session_across_instances_is_a_clear_error(fake_dashscope, pg_url):
    fake_dashscope.responder = slow_for(SLOW, seconds=1.5)
    session = str(uuid.uuid4())
    a = StreamChatService(settings_for(fake_dashscope, pg_url), tools=[])
    b = StreamChatService(settings_for(fake_dashscope, pg_url, session_lock_timeout=0.3),
                          tools=[])
    async with a, b:
        slow = asyncio.create_task(collect(a.stream_chat(SLOW, session)))
        await wait_for_requests(fake_dashscope, 1)
        started = time.monotonic()
        busy = await collect(b.stream_chat("插队", session))
        waited = time.monotonic() - started
        assert assert_well_formed(await slow) == f"ECHO[1]: {SLOW}"
        after = await collect(b.stream_chat("现在可以了", session))

    assert [e["type"] for e in busy] == ["error"]
    assert "该会话正在处理另一条消息" in busy[0]["error"]
    assert 0.25 < waited < 1.2
    assert len(fake_dashscope.requests) == 2, "the busy message never reached the model"
    assert assert_well_formed(after) == "ECHO[2]: 现在可以了"


async def test_many_sessions_never_wait_on_each_other(fake_dashscope, pg_url):
    """Twice as many concurrent sessions as pooled connections: every one reaches the model
    before the first reply ends (the advisory locks share one connection instead of holding
    one each, which made the 21st session wait for the first to finish)."""
    slow = slow_for("慢", seconds=1.5)
    arrivals: list[float] = []

    def responder(request):
        arrivals.append(time.monotonic())
        return slow(request)

    fake_dashscope.responder = responder
    async with StreamChatService(settings_for(fake_dashscope, pg_url), tools=[]) as service:
        store = service._session_store()
        assert isinstance(store, PostgresStore)
        count = 2 * store.pool_size
        replies = await asyncio.gather(*(collect(service.stream_chat("慢")) for _ in range(count)))
    assert all(assert_well_formed(events) == "ECHO[1]: 慢" for events in replies)
    assert len(arrivals) == count
    assert max(arrivals) - min(arrivals) < 1.2, "some sessions waited for others to finish"


async def test_store_down_is_a_clear_error_and_history_survives(
    fake_dashscope, private_postgres, monkeypatch
):
    """PostgreSQL stops between two messages: that reply is one clear error event, the model
    is not called; after the restart the same instance goes on with the history intact."""
    monkeypatch.setattr(PostgresStore, "pool_timeout", 1.5)
    url = private_postgres.url
    session = str(uuid.uuid4())
    async with StreamChatService(settings_for(fake_dashscope, url), tools=[]) as service:
        assert_well_formed(await collect(service.stream_chat("我叫小明", session)))
        await asyncio.to_thread(private_postgres.stop)

        started = time.monotonic()
        down = await collect(service.stream_chat("我叫什么？", session))
        other = await collect(service.stream_chat("另一个会话"))
        elapsed = time.monotonic() - started

        await asyncio.to_thread(private_postgres.start)
        again = await collect(service.stream_chat("我叫什么？", session))
        history = await service.get_history(session)

    for events in (down, other):
        assert events[-1]["type"] == "error"
        assert "会话存储不可用" in events[-1]["error"]
        assert "SESSION_STORE_URL" in events[-1]["error"]  # the setting, not its host
        assert "127.0.0.1" not in events[-1]["error"]
    assert elapsed < 8
    assert len(fake_dashscope.requests) == 2, "no model call without a store"
    assert assert_well_formed(again) == "ECHO[2]: 我叫什么？"
    assert [m.content for m in history] == [
        "我叫小明", "ECHO[1]: 我叫小明", "我叫什么？", "ECHO[2]: 我叫什么？"]


async def test_expire_and_delete_on_postgres(fake_dashscope, pg_url):
    async with StreamChatService(settings_for(fake_dashscope, pg_url), tools=[]) as service:
        sessions = [str(uuid.uuid4()) for _ in range(3)]
        for sid in sessions:
            await collect(service.stream_chat("你好", sid))
        assert await service.expire_idle_sessions(3600) == []
        await service.delete_session(sessions[0])
        assert await service.get_history(sessions[0]) == []
        assert sorted(await service.expire_idle_sessions(0)) == sorted(sessions[1:])
        assert await service.get_history(sessions[1]) == []


@pytest.mark.parametrize("url", ["postgresql://nobody@127.0.0.1:1/none"])
async def test_unreachable_database_is_a_clear_error(fake_dashscope, url, monkeypatch):
    monkeypatch.setattr(PostgresStore, "pool_timeout", 0.5)
    async with StreamChatService(settings_for(fake_dashscope, url), tools=[]) as service:
        events = await collect(service.stream_chat("你好"))
    assert [e["type"] for e in events] == ["error"]
    assert "会话存储不可用" in events[-1]["error"]
    assert fake_dashscope.requests == []


async def _queued(url: str, session: str) -> int:
    """How many tickets wait in ``session``'s queue."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM geo_agent_session_queue WHERE session_id = %s", (session,))
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def wait_for_queue(url: str, session: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while await _queued(url, session) < count:
        assert time.monotonic() < deadline, f"never {count} waiting in the session's queue"
        await asyncio.sleep(0.02)


async def test_messages_to_two_instances_are_answered_in_arrival_order(fake_dashscope, pg_url):
    """Issue 16 item 11. While instance A answers a first message, the session gets a message
    on instance B (another process), then two more on A: they are answered B, A, A, in the
    order they arrived, not A, A, B (the lock race, where A's own waiters took the lock
    the moment A let it go). Arrival is observed as the waiter's ticket in the queue."""
    gate = threading.Event()

    async def responder(request):
        if request.messages[-1]["content"] == "先":
            while not gate.is_set():
                await asyncio.sleep(0.01)
        return Reply(text=echo_responder(request).text, chunk_size=4, chunk_delay=0.005)

    fake_dashscope.responder = responder
    session = str(uuid.uuid4())
    started = time.monotonic()
    other = None
    async with StreamChatService(settings_for(fake_dashscope, pg_url), tools=[]) as a:
        try:
            first = asyncio.create_task(collect(a.stream_chat("先", session)))
            await wait_for_requests(fake_dashscope, 1)  # A holds the session
            other = await start_chat_process(
                fake_dashscope.compatible_base_url, pg_url, session, "乙")
            await wait_for_queue(pg_url, session, 1)  # B's message arrived (t)
            second = asyncio.create_task(collect(a.stream_chat("甲1", session)))
            await wait_for_queue(pg_url, session, 2)  # then A's (t + 0.1)
            await asyncio.sleep(0.2)
            third = asyncio.create_task(collect(a.stream_chat("甲2", session)))
            await wait_for_queue(pg_url, session, 3)  # and A's again (t + 0.3)
            gate.set()
            replies = await asyncio.wait_for(asyncio.gather(first, second, third), 30)
            out, err = await asyncio.wait_for(other.communicate(), 30)
            history = await a.get_history(session)
        finally:
            gate.set()
            if other is not None and other.returncode is None:
                other.kill()
                await other.wait()

    assert other.returncode == 0, err.decode()[-2000:]
    assert assert_well_formed(parse(out.decode())) == "ECHO[2]: 乙"
    assert [assert_well_formed(r) for r in replies] == [
        "ECHO[1]: 先", "ECHO[3]: 甲1", "ECHO[4]: 甲2"]
    asked = [request.messages[-1]["content"] for request in fake_dashscope.requests]
    assert asked == ["先", "乙", "甲1", "甲2"]
    assert [m.content for m in history][::2] == ["先", "乙", "甲1", "甲2"]
    assert await _queued(pg_url, session) == 0, "every ticket left the queue"
    assert time.monotonic() - started < 45


async def test_a_dead_waiters_ticket_does_not_block_the_queue(fake_dashscope, pg_url):
    """A ticket whose instance is gone (its lock connection closed, as after a crash) is
    skipped at once, and removed by the next waiter that leaves the queue."""
    import psycopg

    session = str(uuid.uuid4())
    async with StreamChatService(settings_for(fake_dashscope, pg_url), tools=[]) as service:
        assert_well_formed(await collect(service.stream_chat("建表", session)))
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute(  # a crashed waiter's row: its lock is gone
                "INSERT INTO geo_agent_session_queue (session_id) VALUES (%s)", (session,))
        started = time.monotonic()
        after = await collect(service.stream_chat("还在吗", session))
        assert time.monotonic() - started < 2
    assert assert_well_formed(after) == "ECHO[2]: 还在吗"
    assert await _queued(pg_url, session) == 0


async def test_a_busy_wait_leaves_the_queue(fake_dashscope, pg_url):
    """SESSION_LOCK_TIMEOUT still holds with the queue: the busy error comes after the timeout,
    and the ticket is gone (the next message does not wait behind it)."""
    fake_dashscope.responder = slow_for(SLOW, seconds=1.0)
    session = str(uuid.uuid4())
    a = StreamChatService(settings_for(fake_dashscope, pg_url), tools=[])
    b = StreamChatService(settings_for(fake_dashscope, pg_url, session_lock_timeout=0.3),
                          tools=[])
    async with a, b:
        slow = asyncio.create_task(collect(a.stream_chat(SLOW, session)))
        await wait_for_requests(fake_dashscope, 1)
        busy = await collect(b.stream_chat("插队", session))
        assert await _queued(pg_url, session) == 0
        assert_well_formed(await slow)
    assert [e["type"] for e in busy] == ["error"]
