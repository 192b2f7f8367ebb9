"""Helpers shared by the test modules: settings and environments for the fakes, collecting and
checking a stream, waiting on a condition, a free port."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from bailian_geo_agent.agent import Settings

from tests.fakes.dashscope import FakeDashScope
from tests.fakes.pytest_plugin import FAKE_API_KEY

PROVIDERS = ["openai", "tongyi", "responses"]
ISOLATED_PREFIXES = (
    "DASHSCOPE_",
    "AMAP_",
    "GEO_",
    "SESSION_",
    "OPEN_METEO",
    "PHOTON_",
    "NOMINATIM_",
    "OVERPASS_",
    "OSRM_",
)
"""The developer's settings (every variable of ``config.variables()`` has one of these prefixes):
never seen by a test (``tests/conftest.py``) nor by a process a test starts (``clean_env``)."""
DOCUMENTED_KEYS = {
    "stream_start": {"type", "message_id", "session_id"},
    "stream_chunk": {"type", "message_id", "session_id", "chunk"},
    "stream_end": {"type", "message_id", "session_id"},
    "error": {"type", "message_id", "session_id", "error"},
}


def make_settings(fake: FakeDashScope, provider: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": FAKE_API_KEY,
        "base_url": fake.compatible_base_url,
        "native_base_url": fake.native_base_url,
        "responses_base_url": fake.responses_base_url,
        "provider": provider,
        "timeout": 5.0,
        "max_retries": 2,
        "retry_base_delay": 0.01,  # fault tests wait on events, not on real backoff
    }
    values.update(overrides)
    return Settings(**values)



def tool_name(tool: dict[str, Any]) -> str:
    """A tool schema's name as sent: Chat Completions ``{"function": {"name"}}``, Responses
    ``{"name"}``."""
    return str(tool["function"]["name"] if "function" in tool else tool["name"])


def request_options(request: Any) -> dict[str, Any]:
    """Where a recorded request carries its options: the JSON body (compatible mode, the
    Responses API) or the native ``parameters``."""
    return dict(request.body if request.protocol != "native" else request.body["parameters"])


def clean_env(**extra: str) -> dict[str, str]:
    """An environment for a child process: this one's without the developer's settings, plus
    ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_PREFIXES)}
    env.update(extra)
    return env


def dashscope_env(fake: FakeDashScope) -> dict[str, str]:
    """The variables pointing both providers at the loopback DashScope fake, with its key."""
    return {"DASHSCOPE_API_KEY": FAKE_API_KEY, "DASHSCOPE_BASE_URL": fake.compatible_base_url,
            "DASHSCOPE_HTTP_BASE_URL": fake.native_base_url,
            "DASHSCOPE_RESPONSES_BASE_URL": fake.responses_base_url}


def free_port() -> int:
    """A loopback TCP port nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def collect(stream: Any) -> list[dict[str, Any]]:
    return [event async for event in stream]


def assert_well_formed(events: list[dict[str, Any]], *, ok: bool = True) -> str:
    """Checks the documented schema and order; returns the joined chunk text."""
    assert events, "no events"
    for event in events:
        assert set(event) == DOCUMENTED_KEYS[event["type"]], event
    message_ids = {e["message_id"] for e in events}
    session_ids = {e["session_id"] for e in events}
    assert len(message_ids) == 1 and len(session_ids) == 1
    uuid.UUID(events[0]["message_id"])
    uuid.UUID(events[0]["session_id"])
    types = [e["type"] for e in events]
    assert types[0] == "stream_start"
    assert types[-1] == ("stream_end" if ok else "error")
    assert set(types[1:-1]) <= {"stream_chunk"}
    chunks = [e["chunk"] for e in events if e["type"] == "stream_chunk"]
    assert all(chunks), "empty chunk sent"
    return "".join(chunks)


async def stop_after_chunks(stream: Any, n: int) -> list[str]:
    """Read ``stream`` until ``n`` chunks arrived, then close it (a user pressing stop)."""
    shown: list[str] = []
    async for event in stream:
        if event["type"] == "stream_chunk":
            shown.append(event["chunk"])
            if len(shown) == n:
                break
    await stream.aclose()
    return shown


async def wait_until(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (checked every few milliseconds); fail after
    ``timeout`` seconds naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)
