"""pytest fixtures for the fake AMap server (load with ``pytest_plugins``).

- ``fake_amap_server``: one loopback server per session.
- ``fake_amap``: that server, reset (default answers, empty request log) for the test.
- ``fake_amap_env``: ``fake_amap`` plus ``AMAP_API_KEY``/``AMAP_BASE_URL``/``GEO_PROVIDER=amap``
  set, so ``GeoToolkit()`` built inside the test talks to the fake.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.amap import FakeAmap

FAKE_AMAP_KEY = "test-amap-key"


@pytest.fixture(scope="session")
def fake_amap_server() -> Iterator[FakeAmap]:
    """One loopback AMap fake for the whole session."""
    server = FakeAmap(api_key=FAKE_AMAP_KEY).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_amap(fake_amap_server: FakeAmap) -> Iterator[FakeAmap]:
    """The session server, reset for this test."""
    fake_amap_server.reset()
    yield fake_amap_server
    fake_amap_server.reset()


@pytest.fixture
def fake_amap_env(fake_amap: FakeAmap, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAmap]:
    """``fake_amap`` plus the environment variables pointing the geo tools at it."""
    monkeypatch.setenv("AMAP_API_KEY", FAKE_AMAP_KEY)
    monkeypatch.setenv("AMAP_BASE_URL", fake_amap.base_url)
    monkeypatch.setenv("GEO_PROVIDER", "amap")
    yield fake_amap
