"""Issue 16 item 10 on every persistent store (SQLite and PostgreSQL): a stopped reply keeps what
it had sent, marked interrupted, and a process killed mid-answer (SIGKILL) leaves a history whose
next model request is consistent (the turn closed with the interrupted note, never two user
turns in a row). Checked through the model's next request body."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from itertools import pairwise

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.sessions.history import INTERRUPTED

from tests.fakes.dashscope import Reply, echo_responder
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import assert_well_formed, collect, make_settings, stop_after_chunks
from tests.stores.helpers import chat_in_subprocess, child_env, start_chat_process

STORES = ["sqlite", "postgres"]


@pytest.fixture(params=STORES)
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


def _drip(request):
    if request.messages[-1].get("content") == "慢":
        return Reply(text="一点一点地" * 40, chunk_size=1, chunk_delay=0.1)
    return echo_responder(request)


def _sent(fake) -> list[tuple[str, str]]:
    return [(m["role"], m.get("content") or "") for m in fake.requests[-1].messages
            if m["role"] != "system"]


async def test_a_stopped_reply_keeps_what_was_sent(fake_dashscope, store_url):
    fake_dashscope.responder = _drip
    settings = make_settings(fake_dashscope, "openai", session_store_url=store_url)
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        shown = await stop_after_chunks(service.stream_chat("慢", session), 5)
        after = await asyncio.wait_for(collect(service.stream_chat("继续", session)), 10)
        stored = (await service.get_history(session))[1]
    assert assert_well_formed(after).endswith("继续")
    sent = _sent(fake_dashscope)
    assert [role for role, _ in sent] == ["user", "assistant", "user"]
    assert sent[1][1].startswith("".join(shown)) and sent[1][1]
    assert stored.response_metadata.get(INTERRUPTED) is True


async def test_a_process_killed_mid_answer_leaves_a_consistent_history(fake_dashscope,
                                                                       store_url):
    """SIGKILL while the answer streams (after the user saw a few chunks): nothing of the reply
    could be stored, so the next message, from another process, sends the user turn closed by
    the interrupted note, not two user turns in a row."""
    fake_dashscope.responder = _drip
    base = fake_dashscope.compatible_base_url
    session = str(uuid.uuid4())
    started = time.monotonic()
    killed = await start_chat_process(base, store_url, session, "慢")
    try:
        assert killed.stdout is not None
        chunks = 0
        while chunks < 3:  # the user has seen part of the answer
            line = await asyncio.wait_for(killed.stdout.readline(), 30)
            assert line, "the process ended before streaming"
            chunks += json.loads(line)["type"] == "stream_chunk"
    finally:
        killed.kill()  # SIGKILL: no cleanup of any kind runs
        await killed.wait()
    asked = len(fake_dashscope.requests)

    events = await asyncio.to_thread(chat_in_subprocess, base, store_url, session, "继续")

    assert assert_well_formed(events).endswith("继续")
    assert len(fake_dashscope.requests) == asked + 1
    sent = _sent(fake_dashscope)
    roles = [role for role, _ in sent]
    assert roles == ["user", "assistant", "user"], sent
    assert not any(a == b == "user" for a, b in pairwise(roles))
    assert sent[0][1] == "慢" and sent[2][1] == "继续" and sent[1][1]
    assert time.monotonic() - started < 40


async def test_chat_history_shows_a_stopped_answer_marked(fake_dashscope, tmp_path):
    """``geo-agent chat``'s ``/history``, in a new process after the stop, marks the stopped
    answer (and only it) interrupted."""
    fake_dashscope.responder = _drip
    store = f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    settings = make_settings(fake_dashscope, "openai", session_store_url=store)
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        await stop_after_chunks(service.stream_chat("慢", session), 5)
        assert_well_formed(await collect(service.stream_chat("继续", session)))
        stored = [m.text for m in await service.get_history(session)]
    env = {k: v for k, v in child_env().items() if not k.startswith(("DASHSCOPE_", "SESSION_"))}
    env.update(DASHSCOPE_API_KEY=FAKE_API_KEY, SESSION_STORE_URL=store, NO_COLOR="1",
               DASHSCOPE_BASE_URL=fake_dashscope.compatible_base_url, GEO_AGENT_LANGUAGE="zh",
               PYTHONIOENCODING="utf-8")
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bailian_geo_agent.agent.cli", "chat", "--json",
                         "--session", session],
        input="/history\n/quit\n", capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stderr
    turns = [line for line in done.stderr.splitlines() if line.startswith(("你> ", "geo> "))]
    assert turns == [f"你> {stored[0]}", f"geo> {stored[1]}（已中断）",
                     f"你> {stored[2]}", f"geo> {stored[3]}"]
