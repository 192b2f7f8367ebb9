"""Environment, provider selection (GEO_PROVIDER), fallback outside China."""

from __future__ import annotations

import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import InvalidKeyError, NotFoundError
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers import build_provider
from bailian_geo_agent.tools.providers.amap import AmapProvider
from bailian_geo_agent.tools.providers.fallback import FallbackProvider
from bailian_geo_agent.tools.providers.open import OpenProvider

from tests.fakes.amap import FakeAmap
from tests.tools.conftest import FAKE_AMAP_KEY, open_config
from tests.tools.fake_open import FakeOpenProviders


def test_defaults_without_key_are_open(monkeypatch):
    config = GeoConfig.from_env()
    assert config.provider == "auto" and config.resolved_provider == "open"
    assert config.amap_base_url == "https://restapi.amap.com"
    assert isinstance(build_provider(config), OpenProvider)


def test_auto_with_key_is_amap_with_open_fallback(monkeypatch):
    monkeypatch.setenv("AMAP_API_KEY", "k" * 32)
    provider = build_provider(GeoConfig.from_env())
    assert isinstance(provider, FallbackProvider)
    assert isinstance(provider.primary, AmapProvider) and provider.crs == "gcj02"
    assert "k" * 32 not in repr(GeoConfig.from_env())


def test_explicit_choices(monkeypatch):
    monkeypatch.setenv("AMAP_API_KEY", "abc")
    monkeypatch.setenv("GEO_PROVIDER", "AMAP")
    assert isinstance(build_provider(GeoConfig.from_env()), AmapProvider)
    monkeypatch.setenv("GEO_PROVIDER", "open")
    assert isinstance(build_provider(GeoConfig.from_env()), OpenProvider)
    monkeypatch.delenv("AMAP_API_KEY")
    monkeypatch.setenv("GEO_PROVIDER", "amap")
    with pytest.raises(ValueError, match="AMAP_API_KEY"):
        build_provider(GeoConfig.from_env())


@pytest.mark.parametrize(
    ("name", "value"),
    [("GEO_PROVIDER", "baidu"), ("AMAP_BASE_URL", "ftp://x"), ("GEO_HTTP_TIMEOUT", "soon"),
     ("GEO_MAP_CRS", "bd09"), ("GEO_HTTP_TIMEOUT", "0")],
)
def test_invalid_values_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        GeoConfig.from_env()


def test_base_urls_from_env(monkeypatch):
    monkeypatch.setenv("AMAP_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("OSRM_BASE_URL", "http://127.0.0.1:10")
    monkeypatch.setenv("GEO_MAP_CRS", "wgs84")
    config = GeoConfig.from_env()
    assert config.amap_base_url == "http://127.0.0.1:9" and config.osrm_base_url.endswith(":10")
    assert GeoToolkit(config=config).map_crs == "wgs84"


def test_dotenv_is_loaded_without_overriding(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("GEO_PROVIDER=amap\nAMAP_API_KEY=from-dotenv\n")
    monkeypatch.setenv("GEO_PROVIDER", "open")
    config = GeoConfig.from_env()
    assert config.provider == "open" and config.amap_api_key == "from-dotenv"


async def test_fallback_outside_china(
    fake_amap: FakeAmap, fake_open: FakeOpenProviders, http_client: HttpClient
):
    amap = AmapProvider(FAKE_AMAP_KEY, http_client, base_url=fake_amap.base_url)
    open_ = OpenProvider.from_config(open_config(fake_open), http_client, nominatim_interval=0)
    provider = FallbackProvider(amap, open_)
    report = await provider.weather("Paris", None, 1)  # AMap knows no "Paris"
    assert report.source == "Open-Meteo"
    place = await provider.reverse_geocode(Coordinate(2.2945, 48.8583, "gcj02"))
    assert place.source.startswith("Nominatim")
    assert not any(r.path == "/v3/geocode/regeo" for r in fake_amap.requests)  # coverage check
    report = await provider.weather("海淀", None, 1)
    assert report.source == ""  and "海淀" in report.place  # AMap answered
    # both fail: AMap's explanation wins
    with pytest.raises(NotFoundError, match="高德地图"):
        await provider.weather("Atlantis", None, 1)
    # errors other than coverage / not found are not hidden by the fallback
    fake_amap.set_error(None, "10001")
    with pytest.raises(InvalidKeyError):
        await provider.weather("上海", None, 1)
