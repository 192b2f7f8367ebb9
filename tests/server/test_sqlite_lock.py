"""SQLite off the event loop: while another process holds the session file's write lock for 2 s
(as a ``geo-agent ask`` writing the default file does), ``/healthz`` answers and a reply on the
memory store completes within 200 ms; the reply waiting for the file finishes once it is free."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from bailian_geo_agent.agent import StreamChatService
from httpx_sse import aconnect_sse

from tests.helpers import assert_well_formed, collect, make_settings
from tests.server.conftest import TOKEN_A, server_env, start_server
from tests.server.helpers import check_reply

LIMIT = 0.2
HELD = 2.0

# Holds the write lock of the file in argv[1] for HELD seconds, saying when it has it and when
# it let it go.
LOCKER = f"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep({HELD})
conn.execute("COMMIT")
print("released", flush=True)
"""


@pytest.fixture(autouse=True)
def frozen_heap():
    """This process's garbage collector must not count as latency: a full pass over the test
    run's heap takes 0.1-0.5 s on a busy machine. What exists now is frozen, as ``geo-agent
    serve`` does after start-up."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


async def lock_file(path: Path) -> tuple[asyncio.subprocess.Process, asyncio.Task[bytes], float]:
    """Another process holding ``path``'s write lock: the process, a task ending when it lets
    go, and when it took the lock."""
    locker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCKER, str(path), stdout=subprocess.PIPE)
    assert locker.stdout is not None
    assert await asyncio.wait_for(locker.stdout.readline(), 30) == b"locked\n"
    locked_at = time.monotonic()
    return locker, asyncio.create_task(locker.stdout.readline()), locked_at


async def test_a_locked_session_file_never_stalls_the_server(fake_dashscope, tmp_path):
    """A reply whose session lives in the locked file waits for it (its answer starts only
    once the lock is gone); meanwhile every ``/healthz``, asked back to back, answers at once."""
    workdir = tmp_path / "serve"
    server = start_server(workdir, server_env(fake_dashscope.compatible_base_url, workdir))
    headers = {"Authorization": f"Bearer {TOKEN_A}"}
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200  # the file and its tables
            locker, released, locked_at = await lock_file(workdir / "sessions.sqlite")

            async def reply() -> tuple[float, list[tuple[str, str, dict]]]:
                body = {"message": "你好", "session_id": str(uuid.uuid4())}
                async with aconnect_sse(client, "POST", "/v1/chat/stream", json=body,
                                        headers=headers) as source:
                    answered_at = time.monotonic()
                    assert source.response.status_code == 200
                    events = [(e.event, e.id, e.json()) async for e in source.aiter_sse()
                              if e.data]
                return answered_at, events

            waiting = asyncio.create_task(reply())
            latencies = []
            while not released.done():
                started = time.monotonic()
                assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {}}
                latencies.append(time.monotonic() - started)
            assert await released == b"released\n"
            await locker.wait()
            answered_at, events = await asyncio.wait_for(waiting, 30)
    finally:
        server.stop()
    assert check_reply(events) == "ECHO[1]: 你好"
    assert answered_at - locked_at > HELD / 2, "the reply never waited for the locked file"
    assert max(latencies) < LIMIT, f"{[round(t, 3) for t in latencies]}"
    assert len(latencies) >= 5  # asked throughout the lock


async def test_a_locked_session_file_never_stalls_a_memory_store_reply(fake_dashscope,
                                                                       tmp_path):
    """One event loop, two services: replies on the memory store, back to back, each complete
    within the limit while the SQLite service's reply waits for its locked file."""
    path = tmp_path / "sessions.sqlite"
    on_file = StreamChatService(
        make_settings(fake_dashscope, "openai", session_store_url=f"sqlite:///{path}"), tools=[])
    in_memory = StreamChatService(
        make_settings(fake_dashscope, "openai", session_store_url="memory://"), tools=[])
    session = str(uuid.uuid4())
    async with on_file, in_memory:
        first = await collect(on_file.stream_chat("你好", session))  # the file and its tables
        assert assert_well_formed(first) == "ECHO[1]: 你好"
        await collect(in_memory.stream_chat("热身"))  # the memory service's agent is built
        locker, released, locked_at = await lock_file(path)

        async def reply() -> tuple[float, list[dict]]:
            events = await collect(on_file.stream_chat("又来了", session))
            return time.monotonic(), events

        waiting = asyncio.create_task(reply())
        timings = []
        while not released.done():
            started = time.monotonic()
            events = await collect(in_memory.stream_chat("快"))
            timings.append(time.monotonic() - started)
            assert assert_well_formed(events) == "ECHO[1]: 快"
        assert await released == b"released\n"
        await locker.wait()
        ended_at, events = await asyncio.wait_for(waiting, 30)
    assert assert_well_formed(events) == "ECHO[2]: 又来了"
    assert ended_at - locked_at > HELD / 2, "the reply never waited for the locked file"
    assert max(timings) < LIMIT, f"{[round(t, 3) for t in timings]}"
    assert len(timings) >= 5  # replied throughout the lock


async def test_uncontended_calls_stay_on_the_loop_and_locked_ones_queue_in_order(
        fake_dashscope, tmp_path, monkeypatch):
    """A reply on a free file hands nothing to the worker thread (no hand-off before its first
    chunk); a write refused by a lock goes to the worker, the calls after it queue behind it,
    and once the queue drains the next reply runs on the loop again, history in order."""
    from bailian_geo_agent.agent.sessions.stores.sqlite import SqliteStore

    hops: list[str] = []
    original = SqliteStore._call

    async def counting(self, fn, *args):  # the checkpointer's calls (not opening, expiry)
        if getattr(fn, "__name__", "") in ("get_tuple", "list_all", "put", "put_writes"):
            hops.append(fn.__name__)
        return await original(self, fn, *args)

    monkeypatch.setattr(SqliteStore, "_call", counting)
    path = tmp_path / "sessions.sqlite"
    service = StreamChatService(
        make_settings(fake_dashscope, "openai", session_store_url=f"sqlite:///{path}"), tools=[])
    session = str(uuid.uuid4())
    async with service:
        await collect(service.stream_chat("你好", session))  # opens the file, on the worker
        hops.clear()
        assert assert_well_formed(await collect(service.stream_chat("再来", session))) == (
            "ECHO[2]: 再来")
        assert hops == []
        locker, released, _ = await lock_file(path)
        waiting = asyncio.create_task(collect(service.stream_chat("锁着", session)))
        assert await released == b"released\n"
        await locker.wait()
        assert assert_well_formed(await asyncio.wait_for(waiting, 30)) == "ECHO[3]: 锁着"
        assert "put" in hops  # the refused write, then what followed it, on the worker
        hops.clear()
        assert assert_well_formed(await collect(service.stream_chat("放开", session))) == (
            "ECHO[4]: 放开")
        assert hops == []
        history = await service.get_history(session)
    assert [m.text for m in history if m.type == "human"] == ["你好", "再来", "锁着", "放开"]
