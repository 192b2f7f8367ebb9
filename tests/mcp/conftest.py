"""Fixtures of the MCP tests: the environment a ``geo-agent mcp`` subprocess gets, and a real
streamable-HTTP server process on an ephemeral loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY

GEO_AGENT = str(Path(sys.executable).with_name("geo-agent"))
# The 2.x SDK client's modes and the revision each must end on: the handshake, and discover.
MODES = {"legacy": "2025-11-25", "auto": "2026-07-28"}
ROOT = Path(__file__).resolve().parents[2]


def server_env(fake: FakeAmap, **extra: str) -> dict[str, str]:
    """A minimal environment pointing the server's geo tools at the fake AMap."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
        "AMAP_API_KEY": FAKE_AMAP_KEY,
        "AMAP_BASE_URL": fake.base_url,
        "GEO_PROVIDER": "amap",
        "GEO_HTTP_TIMEOUT": "1",
        "GEO_AGENT_LOG_LEVEL": "DEBUG",  # httpx logs every request URL: the key must not show
        "NO_PROXY": "127.0.0.1,localhost",
    }
    return env | extra


@dataclass
class HttpServer:
    """A ``geo-agent mcp --http`` process; ``url`` once it printed READY."""

    process: subprocess.Popen
    url: str = ""
    stderr: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            if line.startswith("READY "):
                self.url = line.split()[1]
                self.ready.set()
        self.ended.set()
        self.ready.set()

    def log(self) -> str:
        return "".join(self.stderr)


def start_http_server(env: dict[str, str], *args: str, wait: float = 30,
                      cwd: Path = ROOT) -> HttpServer:
    """Start the server in ``cwd`` and wait for its READY line (or its exit)."""
    process = subprocess.Popen(
        [GEO_AGENT, "mcp", "--http", "--port", "0", *args], env=env, cwd=cwd,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    server = HttpServer(process)
    threading.Thread(target=server._read, daemon=True).start()
    assert server.ready.wait(wait), "no READY line from geo-agent mcp --http"
    return server


def stop(server: HttpServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)
    server.ended.wait(10)


@pytest.fixture
def http_server(fake_amap: FakeAmap) -> Iterator[HttpServer]:
    """A streamable-HTTP MCP server on 127.0.0.1 (no tokens), tools on the fake AMap."""
    server = start_http_server(server_env(fake_amap))
    assert server.url, server.log()
    yield server
    stop(server)
