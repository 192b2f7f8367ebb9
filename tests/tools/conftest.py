"""Fixtures of the geo tools tests: the fake AMap server, providers wired to it, vcr config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers.amap import AmapProvider
from bailian_geo_agent.tools.providers.open import OpenProvider

from tests.fakes import amap_plugin
from tests.fakes.amap import FakeAmap
from tests.tools.fake_open import FakeOpenProviders

FAKE_AMAP_KEY = amap_plugin.FAKE_AMAP_KEY  # the fixtures come from tests/conftest.py's plugins


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


@pytest.fixture(scope="session")
def fake_open_server() -> Iterator[FakeOpenProviders]:
    """One loopback fake of the keyless providers for the session."""
    server = FakeOpenProviders().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_open(fake_open_server: FakeOpenProviders) -> Iterator[FakeOpenProviders]:
    """The session server, reset for this test."""
    fake_open_server.reset()
    yield fake_open_server
    fake_open_server.reset()


def open_config(fake: FakeOpenProviders | None) -> GeoConfig:
    """A config for the open providers: the fake's URLs, or the real defaults (replay)."""
    if fake is None:
        return GeoConfig(provider="open")
    return GeoConfig(
        provider="open",
        open_meteo_base_url=fake.url("open-meteo"),
        open_meteo_geocoding_url=fake.url("open-meteo-geocoding"),
        photon_base_url=fake.url("photon"),
        nominatim_base_url=fake.url("nominatim"),
        overpass_base_url=fake.url("overpass"),
        osrm_base_url=fake.url("osrm"),
        osrm_walking_base_url=fake.url("osrm-foot"),
        osrm_cycling_base_url=fake.url("osrm-bike"),
        valhalla_base_url=fake.url("valhalla"),
    )


@pytest.fixture
def open_provider(fake_open: FakeOpenProviders, http_client: HttpClient) -> OpenProvider:
    """The open provider on the fake (no Nominatim spacing, to keep tests fast)."""
    return OpenProvider.from_config(open_config(fake_open), http_client, nominatim_interval=0.0)


@pytest.fixture
def open_tools(open_provider: OpenProvider) -> dict:
    """The toolkit's tools by name, on the fake open providers."""
    toolkit = GeoToolkit(config=GeoConfig(provider="open"), provider=open_provider)
    return {tool.name: tool for tool in toolkit.get_tools()}
