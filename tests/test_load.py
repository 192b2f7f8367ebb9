"""Load: one service instance streams 1,000 concurrent sessions against the DashScope fake
running in another process; every session gets exactly its own text, no error, bounded memory.
The measured numbers are printed (run with ``-s`` to see them)."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from bailian_geo_agent.agent import StreamChatService

from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import assert_well_formed

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 1000
CHUNK_SIZE = 2
MEMORY_GROWTH_LIMIT_MB = 350
"""Most the run may add to the process's RSS (its peak over the RSS before it): alone the
process starts near 110 MB and peaks near 260 MB; earlier tests of a whole-suite run leave more
behind, which is not this run's."""


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (since ``reset_peak_rss``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak_rss() -> None:
    """Start the high-water mark again from the current RSS: earlier tests in this process
    (a 100,000-chunk reply, say) must not count as this run's peak."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


@pytest.fixture
def fake_in_another_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.dashscope", "--chunk-size", str(CHUNK_SIZE)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("READY "), process.stderr.read()
        yield line.split()[1]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_a_thousand_concurrent_sessions(fake_in_another_process, tmp_path):
    from bailian_geo_agent.agent import Settings

    settings = Settings(api_key=FAKE_API_KEY, base_url=fake_in_another_process, timeout=60.0,
                        max_retries=0, session_store_url=f"sqlite:///{tmp_path / 'load.sqlite'}")
    sessions = [str(uuid.uuid4()) for _ in range(SESSIONS)]
    # ~36 characters: about 20 chunks of 2 characters, different for every session.
    messages = [f"会话{i:04d}请回答这一条只属于我的消息-{s[:8]}" for i, s in enumerate(sessions)]
    peak_before = peak_rss_mb()
    reset_peak_rss()
    rss_before = rss_mb()
    chunk_counts: list[int] = []

    async def one(service: StreamChatService, message: str, sid: str) -> str:
        events = [e async for e in service.stream_chat(message, sid)]
        assert all(e["session_id"] == sid for e in events)
        chunk_counts.append(len(events) - 2)
        return assert_well_formed(events)

    async with StreamChatService(settings, tools=[]) as service:
        await one(service, "预热", str(uuid.uuid4()))  # build the agent once, outside the clock
        started = time.perf_counter()
        texts = await asyncio.wait_for(asyncio.gather(
            *(one(service, m, s) for m, s in zip(messages, sessions, strict=True))), 120)
        wall = time.perf_counter() - started
        history = await service.get_history(sessions[-1])

    assert texts == [f"ECHO[1]: {m}" for m in messages], "each session got exactly its text"
    assert [m.content for m in history] == [messages[-1], f"ECHO[1]: {messages[-1]}"]
    peak = peak_rss_mb()
    print(f"\nload: {SESSIONS} concurrent sessions, {sum(chunk_counts[1:]) // SESSIONS} chunks "
          f"each, wall {wall:.2f} s; RSS before {rss_before:.0f} MB, peak {peak:.0f} MB "
          f"(peak before the run {peak_before:.0f} MB)")
    assert min(chunk_counts[1:]) >= 18
    assert peak - rss_before < MEMORY_GROWTH_LIMIT_MB
    assert wall < 60
