"""Real Redis servers for the resume tests (Debian's ``redis-server``, via tests/redis.sh).

- ``redis_url``: ``GEO_AGENT_TEST_REDIS_URL`` when set (``.ci/run`` starts one with
  ``bash tests/redis.sh start``), else one this fixture starts for the session; the database
  is flushed before each test that uses it.
- ``RedisServer``: a Redis of a test's own (for the tests that stop it).

When Redis cannot be started the tests fail if ``CI`` is set and are skipped otherwise.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores.conftest import free_port

SCRIPT = Path(__file__).resolve().parents[1] / "redis.sh"
URL_VARIABLE = "GEO_AGENT_TEST_REDIS_URL"


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Redis is required in CI: {reason}")
    pytest.skip(f"Redis not available: {reason}")


class RedisServer:
    """A Redis of its own, on a free port, files in a temporary directory."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="geo-agent-redis-")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def _run(self, command: str) -> str:
        done = subprocess.run(["bash", str(SCRIPT), command, "--dir", self.dir,
                               "--port", str(self.port)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"redis.sh {command} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout.strip()

    def start(self) -> str:
        return self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def destroy(self) -> None:
        """Stop it and delete its directory."""
        self._run("destroy")


def flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="session")
def _redis_session() -> Iterator[str]:
    url = os.environ.get(URL_VARIABLE)
    if url:
        yield url
        return
    server = RedisServer()
    try:
        server.start()
    except Exception as exc:
        unavailable(str(exc))
    try:
        yield server.url
    finally:
        server.destroy()


@pytest.fixture
def redis_url(_redis_session: str) -> str:
    """An empty Redis database."""
    try:
        flush(_redis_session)
    except Exception as exc:
        unavailable(f"{_redis_session}: {type(exc).__name__}: {exc}")
    return _redis_session
