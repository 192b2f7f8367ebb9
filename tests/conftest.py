"""Shared test setup: the loopback fakes, and isolation from the developer's own environment."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import settings as hypothesis_settings

# Fuzzing keeps no example database in the working tree (every run starts fresh, CI included).
hypothesis_settings.register_profile("geo-agent", database=None)
hypothesis_settings.load_profile("geo-agent")

pytest_plugins = ["tests.fakes.pytest_plugin", "tests.fakes.amap_plugin"]


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real key, setting or .env file of the developer's leaks into a test."""
    from tests.helpers import ISOLATED_PREFIXES  # not at import: pytest_plugins come first

    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default SQLite store
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
async def _close_http_pools():
    """Close the per-loop HTTP pools of both model paths in the loop that opened them."""
    yield
    # imported by either provider
    pools = sys.modules.get("bailian_geo_agent.agent.providers._pools")
    if pools is not None:
        await pools.close_all_loop_pools()
