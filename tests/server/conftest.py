"""Fixtures for the HTTP service: real ``geo-agent serve`` processes on loopback.

``start_server(...)`` runs ``python -m agent.cli serve --port 0`` with a clean environment
pointing at a DashScope fake (by default the session's in-process one, so tests can script its
replies), waits for its ``listening on`` line and stops it at the end. Its stderr (the logs) is
kept in a file for the tests that read it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.pytest_plugin import FAKE_API_KEY

REPO = Path(__file__).resolve().parents[2]
TOKEN_A = "tok-alice-0123456789abcdef"
TOKEN_B = "tok-bob-fedcba9876543210"
_ISOLATED = ("DASHSCOPE_", "AMAP_", "GEO_", "SESSION_", "OPEN_METEO", "PHOTON_", "NOMINATIM_",
             "OVERPASS_", "OSRM_")


@dataclass
class Server:
    """One running ``geo-agent serve``."""

    process: subprocess.Popen
    url: str
    log_path: Path
    stdout: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def logs(self) -> str:
        """Everything it wrote: stderr (its logs) and stdout (uvicorn's access log)."""
        return (self.log_path.read_text(encoding="utf-8", errors="replace")
                + "".join(self.stdout))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(base_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a server process: the fake, no developer settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED)}
    env.update({
        "DASHSCOPE_API_KEY": FAKE_API_KEY,
        "DASHSCOPE_BASE_URL": base_url,
        "DASHSCOPE_MAX_RETRIES": "0",
        "GEO_PROVIDER": "open",
        "XDG_DATA_HOME": str(workdir / "data"),
        "SESSION_STORE_URL": f"sqlite:///{workdir / 'sessions.sqlite'}",
        "GEO_AGENT_API_TOKENS": f"{TOKEN_A},{TOKEN_B}",
        "GEO_AGENT_REQUESTS_PER_MINUTE": "0",
        "GEO_AGENT_MAX_CONCURRENT_REPLIES": "0",
        "GEO_AGENT_AUTH_FAILURES_PER_MINUTE": "0",
        "GEO_AGENT_SSE_PING": "0.2",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def start_server(workdir: Path, env: dict[str, str], *args: str, timeout: float = 60) -> Server:
    """Start ``geo-agent serve`` and wait until it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"serve-{time.monotonic_ns()}.log"
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "bailian_geo_agent.agent.cli", "serve", "--port", "0", *args],
        cwd=workdir, env={**env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
        stderr=log, text=True)
    log.close()
    lines: list[str] = []
    urls: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # read stdout to its end, so the server never blocks writing it
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "listening on " in line and not urls:
                urls.append(line.rsplit("listening on ", 1)[1].strip())
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(timeout) or not urls:
        process.kill()
        process.wait()
        raise AssertionError(f"geo-agent serve did not start:\n{log_path.read_text()}")
    return Server(process, urls[0], log_path, lines, env)


@pytest.fixture(scope="module")
def server(fake_dashscope_server, tmp_path_factory) -> Iterator[Server]:
    """A server with two tokens, no rate limits, on a SQLite store, against the session fake."""
    workdir = tmp_path_factory.mktemp("serve")
    running = start_server(workdir, server_env(fake_dashscope_server.compatible_base_url, workdir))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def auth_a() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN_A}"}


@pytest.fixture
def auth_b() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN_B}"}


from tests.server.redis_server import _redis_session, redis_url  # noqa: E402, F401 - real Redis
from tests.stores.conftest import pg_url, postgres_url  # noqa: E402, F401 - real PostgreSQL


@pytest.fixture(scope="module")
def interrupting(fake_dashscope_server, tmp_path_factory):
    """A server whose default strategy is ``interrupt``."""
    tmp = tmp_path_factory.mktemp("interrupting")
    running = start_server(tmp, server_env(fake_dashscope_server.compatible_base_url, tmp,
                                           GEO_AGENT_MULTITASK_STRATEGY="interrupt"))
    try:
        yield running
    finally:
        running.stop()
