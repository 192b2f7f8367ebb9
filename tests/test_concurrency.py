"""One session, one writer: same-session messages in order (or "session busy"), different
sessions never waiting on each other. (Across instances on PostgreSQL: tests/stores.)"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.sessions.locks import SessionLocks

from tests.fakes.dashscope import Reply, echo_responder
from tests.helpers import assert_well_formed, collect, make_settings, wait_until

STORES = ["memory://", "sqlite"]


@pytest.fixture(params=STORES)
def store_url(request, tmp_path) -> str:
    return request.param if request.param != "sqlite" else f"sqlite:///{tmp_path / 's.sqlite'}"


def slow_echo(seconds: float, only: str | None = None):
    def responder(request):
        reply = echo_responder(request)
        if only is None or request.messages[-1]["content"] == only:
            reply.chunk_size, reply.chunk_delay = 2, seconds / max(1, len(reply.text) // 2)
        return reply

    return responder


async def test_same_session_messages_are_handled_in_order(fake_dashscope, store_url):
    fake_dashscope.responder = slow_echo(0.1)
    settings = make_settings(fake_dashscope, "openai", session_store_url=store_url)
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        replies = await asyncio.gather(
            *(collect(service.stream_chat(f"第{i}条", session)) for i in range(1, 7)))
        history = await service.get_history(session)

    # In the order sent, each reply seeing all the earlier ones, never interleaved.
    assert [assert_well_formed(r) for r in replies] == [f"ECHO[{i}]: 第{i}条" for i in range(1, 7)]
    assert [m.content for m in history] == [
        text for i in range(1, 7) for text in (f"第{i}条", f"ECHO[{i}]: 第{i}条")]
    for i, request in enumerate(fake_dashscope.requests):
        users = [m["content"] for m in request.messages if m["role"] == "user"]
        assert users == [f"第{k}条" for k in range(1, i + 2)]


async def test_different_sessions_never_wait_on_each_other(fake_dashscope, store_url):
    fake_dashscope.responder = slow_echo(1.5, only="慢")
    settings = make_settings(fake_dashscope, "openai", session_store_url=store_url)
    async with StreamChatService(settings, tools=[]) as service:
        slow = asyncio.create_task(collect(service.stream_chat("慢")))
        await wait_until(lambda: fake_dashscope.requests, "the slow reply's model request")
        started = time.monotonic()
        fast = await asyncio.gather(*(collect(service.stream_chat(f"快{i}")) for i in range(10)))
        fast_time = time.monotonic() - started
        assert not slow.done()  # it was under way all along: 1.5 s of streaming
        assert assert_well_formed(await slow) == "ECHO[1]: 慢"
    assert [assert_well_formed(r) for r in fast] == [f"ECHO[1]: 快{i}" for i in range(10)]
    assert fast_time < 1.0


async def test_busy_session_is_a_clear_error_without_a_model_call(fake_dashscope):
    fake_dashscope.responder = slow_echo(1.0, only="慢")
    settings = make_settings(fake_dashscope, "openai", session_lock_timeout=0.2)
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        slow = asyncio.create_task(collect(service.stream_chat("慢", session)))
        await wait_until(lambda: fake_dashscope.requests, "the slow reply's model request")
        started = time.monotonic()
        busy = await collect(service.stream_chat("插队", session))
        waited = time.monotonic() - started
        first = await slow
        after = await collect(service.stream_chat("好了吗", session))
        history = await service.get_history(session)

    assert [e["type"] for e in busy] == ["error"]
    assert busy[0]["session_id"] == session
    assert "该会话正在处理另一条消息" in busy[0]["error"] and "0.2秒" in busy[0]["error"]
    assert 0.15 < waited < 0.8
    assert assert_well_formed(first) == "ECHO[1]: 慢"
    assert assert_well_formed(after) == "ECHO[2]: 好了吗"
    assert [m.content for m in history] == ["慢", "ECHO[1]: 慢", "好了吗", "ECHO[2]: 好了吗"]
    assert len(fake_dashscope.requests) == 2


async def test_a_waiting_message_whose_consumer_leaves_frees_its_place(fake_dashscope):
    fake_dashscope.responder = slow_echo(0.5, only="慢")
    settings = make_settings(fake_dashscope, "openai")
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        slow = asyncio.create_task(collect(service.stream_chat("慢", session)))
        waiting = asyncio.create_task(collect(service.stream_chat("等着", session)))
        locks = service._session_store()._local
        # "等着" queued behind "慢", which holds the session and is at the model
        await wait_until(lambda: fake_dashscope.requests and locks._users.get(session) == 2,
                         "the second message queued behind the first")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await slow
        after = await collect(service.stream_chat("下一条", session))
        store = service._session_store()
    assert assert_well_formed(after) == "ECHO[2]: 下一条"
    assert [m["content"] for m in fake_dashscope.requests[-1].messages if m["role"] == "user"] \
        == ["慢", "下一条"], "the abandoned message was never sent nor stored"
    assert store._local._locks == {} and store._local._users == {}


async def test_session_locks_are_fifo_bounded_and_forgotten():
    locks = SessionLocks()
    order: list[int] = []

    async def writer(i: int) -> None:
        async with locks.hold("s", timeout=5):
            order.append(i)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(writer(i) for i in range(20)))
    assert order == list(range(20))
    assert locks._locks == {} and locks._users == {}

    async with locks.hold("s"):
        assert locks.busy("s") and not locks.busy("other")
        with pytest.raises(asyncio.TimeoutError):
            async with locks.hold("s", timeout=0.05):
                pass
        async with locks.hold("other", timeout=0.05):  # another session: no wait
            pass
    assert locks._locks == {} and not locks.busy("s")


async def test_many_interleaved_sessions_keep_their_histories_apart(fake_dashscope):
    fake_dashscope.responder = lambda r: Reply(text=echo_responder(r).text, chunk_size=1,
                                               chunk_delay=0.001)
    settings = make_settings(fake_dashscope, "openai")
    sessions = [str(uuid.uuid4()) for _ in range(10)]
    async with StreamChatService(settings, tools=[]) as service:
        for turn in range(1, 4):
            replies = await asyncio.gather(*(
                collect(service.stream_chat(f"{s[:4]}-{turn}", s)) for s in sessions))
            for s, events in zip(sessions, replies, strict=True):
                assert assert_well_formed(events) == f"ECHO[{turn}]: {s[:4]}-{turn}"
        for s in sessions:
            contents = [m.content for m in await service.get_history(s)]
            assert all(c.endswith((f"{s[:4]}-1", f"{s[:4]}-2", f"{s[:4]}-3")) for c in contents)
