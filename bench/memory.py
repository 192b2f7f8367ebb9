"""Peak memory of one long reply: N one-character chunks through ``StreamChatService``, with no
answer cap, the fake DashScope in its own process and the service in a fresh one (so its peak
RSS is its own). Used by ``bench/run.py`` (section ``memory``) and ``tests/test_reply_memory.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import asyncio, resource, sys
from bailian_geo_agent.agent import Settings, StreamChatService

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

async def main(base, native, provider):
    responses = base.replace("/compatible-mode/v1", "/api/v2/apps/protocols/compatible-mode/v1")
    settings = Settings(api_key="sk-memory", base_url=base, native_base_url=native,
                        responses_base_url=responses,
                        provider=provider, session_store_url="memory://",
                        max_answer_chars=0, timeout=60)
    async with StreamChatService(settings, tools=[]) as service:
        import langchain.agents, langgraph.checkpoint.memory  # what the first reply imports
        before = peak_mb()
        chars = 0
        async for event in service.stream_chat("long"):
            if event["type"] == "stream_chunk":
                chars += len(event["chunk"])
            elif event["type"] == "error":
                sys.exit(event["error"])
    print(chars, peak_mb() - before)

asyncio.run(main(*sys.argv[1:]))
"""


@contextmanager
def long_reply_fake(chunks: int) -> Iterator[tuple[str, str]]:
    """A fake answering every request with ``chunks`` one-character chunks: its two base URLs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.dashscope", "--chunks", str(chunks),
         "--chunk-size", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(process.stderr.read() if process.stderr else "no READY line")
        _, base, native = line.split()[:3]
        yield base, native
    finally:
        process.terminate()
        process.wait(10)


def reply_memory(base: str, native: str, provider: str) -> tuple[int, float]:
    """(characters received, MB the service's peak RSS grew by) for one long reply."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, base, native, provider], cwd=REPO,
        capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    chars, grown = result.stdout.split()
    return int(chars), float(grown)
