"""pytest fixtures for the DashScope fake (load with ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.dashscope import FakeDashScope

FAKE_API_KEY = "sk-test-fake-key-0000000000"


@pytest.fixture(scope="session")
def fake_dashscope_server() -> Iterator[FakeDashScope]:
    """One loopback server for the whole session."""
    server = FakeDashScope().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_dashscope(fake_dashscope_server: FakeDashScope) -> Iterator[FakeDashScope]:
    """The session server, reset (empty script and log, echo responder) for this test."""
    fake_dashscope_server.reset()
    yield fake_dashscope_server
    fake_dashscope_server.reset()


@pytest.fixture
def fake_dashscope_env(
    fake_dashscope: FakeDashScope, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeDashScope]:
    """``fake_dashscope`` plus DASHSCOPE_* environment variables pointing at it."""
    monkeypatch.setenv("DASHSCOPE_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("DASHSCOPE_BASE_URL", fake_dashscope.compatible_base_url)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", fake_dashscope.native_base_url)
    yield fake_dashscope
