"""Fixtures of the geo tools tests: the fake AMap server, providers wired to it, vcr config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import amap_plugin
from tests.fakes.amap import FakeAmap
from tools import GeoToolkit
from tools.config import GeoConfig
from tools.http import HttpClient
from tools.providers.amap import AmapProvider

FAKE_AMAP_KEY = amap_plugin.FAKE_AMAP_KEY

# pytest refuses ``pytest_plugins`` in a non-root conftest: re-export the fixtures instead.
fake_amap_server = amap_plugin.fake_amap_server
fake_amap = amap_plugin.fake_amap
fake_amap_env = amap_plugin.fake_amap_env


@pytest.fixture(scope="session")
def http_client() -> Iterator[HttpClient]:
    """One shared client for the tests, with short timeouts and retry delays."""
    client = HttpClient(timeout=2.0, retry_delay=0.01)
    yield client
    client.close()


@pytest.fixture
def amap(fake_amap: FakeAmap, http_client: HttpClient) -> AmapProvider:
    """An AMap provider talking to the fake server (fast rate-limit retries)."""
    return AmapProvider(
        FAKE_AMAP_KEY, http_client, base_url=fake_amap.base_url, rate_limit_delay=0.01
    )


@pytest.fixture
def amap_tools(amap: AmapProvider) -> dict:
    """The toolkit's tools by name, on the fake AMap."""
    config = GeoConfig(provider="amap", amap_api_key=FAKE_AMAP_KEY)
    toolkit = GeoToolkit(config=config, provider=amap)
    return {tool.name: tool for tool in toolkit.get_tools()}
