"""Every keyless-provider endpoint the tools use, replayed against the real default URLs.

Recorded from ``tests/tools/fake_open.py`` (documented formats, protocols.md section 4) with the
loopback URLs rewritten to the real hosts; see ``tests/tools/cassettes/README.md``.
"""

from __future__ import annotations

from typing import Any

import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers.open import OpenProvider
from langchain_core.messages import ToolMessage

from tests.tools.conftest import open_config
from tests.tools.fake_open import PREFIXES
from tests.tools.recording import replaying, vcr_config_for


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return vcr_config_for({f"/{prefix}": real for prefix, real in PREFIXES.items()})


class Endpoint:
    def __init__(self, fake: Any, http: HttpClient) -> None:
        config = open_config(fake)
        provider = OpenProvider.from_config(config, http, nominatim_interval=0.0)
        self.tools = {t.name: t for t in GeoToolkit(config=config, provider=provider).get_tools()}

    def call(self, name: str, args: dict[str, Any]) -> ToolMessage:
        return self.tools[name].invoke({"type": "tool_call", "id": "c1", "name": name,
                                        "args": args})


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, vcr: Any, http_client: HttpClient) -> Endpoint:
    fake = None if replaying(vcr) else request.getfixturevalue("fake_open")
    return Endpoint(fake, http_client)


def played_all(vcr: Any, hosts: list[str]) -> None:
    assert vcr.all_played and vcr.play_count == len(hosts)
    assert [r.uri.split("?")[0] for r in vcr.requests] == hosts
    assert all(not r.uri.startswith("http://127.0.0.1") for r in vcr.requests)


@pytest.mark.vcr
def test_weather(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("get_weather", {"place": "Paris", "days": 2}).content
    assert "Paris" in text and "来源：Open-Meteo" in text and "2025-05-21：小雨" in text
    if replaying(vcr):
        played_all(vcr, ["https://geocoding-api.open-meteo.com/v1/search",
                         "https://api.open-meteo.com/v1/forecast"])


@pytest.mark.vcr
def test_keyword_poi_and_autocomplete(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("search_poi", {"keywords": "café", "city": "Paris", "limit": 2}).content
    assert "Café de Flore" in text
    text = endpoint.call("suggest_places", {"text": "Eiffel"}).content
    assert "Tour Eiffel" in text
    if replaying(vcr):
        played_all(vcr, ["https://geocoding-api.open-meteo.com/v1/search",
                         "https://photon.komoot.io/api", "https://photon.komoot.io/api"])


@pytest.mark.vcr
def test_nearby_poi(endpoint: Endpoint, vcr: Any):
    text = endpoint.call(
        "search_poi", {"near": "Eiffel Tower", "category": "cafe", "radius": 500}
    ).content
    assert "Café Le Campanella" in text and "距" in text
    if replaying(vcr):
        played_all(vcr, ["https://nominatim.openstreetmap.org/search",
                         "https://overpass-api.de/api/interpreter"])
        assert vcr.requests[1].method == "POST"


@pytest.mark.vcr
def test_geocode_and_reverse(endpoint: Endpoint, vcr: Any):
    assert "2.294481,48.858260 (wgs84)" in endpoint.call(
        "geocode", {"address": "Eiffel Tower"}
    ).content
    text = endpoint.call("reverse_geocode", {"lng": 2.2945, "lat": 48.8583, "crs": "wgs84"})
    assert "Avenue Anatole France" in text.content
    if replaying(vcr):
        played_all(vcr, ["https://nominatim.openstreetmap.org/search",
                         "https://nominatim.openstreetmap.org/reverse"])


@pytest.mark.vcr
@pytest.mark.parametrize("mode", ["driving", "walking"])
def test_route(endpoint: Endpoint, vcr: Any, mode: str):
    args = {"origin": "2.294481,48.85826", "destination": "2.3376,48.8606", "mode": mode,
            "crs": "wgs84"}
    text = endpoint.call("plan_route", args).content
    assert "OSRM" in text and "左转进入Quai Branly" in text
    if replaying(vcr):
        host = ("https://router.project-osrm.org/route/v1/driving" if mode == "driving"
                else "https://routing.openstreetmap.de/routed-foot/route/v1/foot")
        played_all(vcr, [f"{host}/2.294481,48.858260;2.337600,48.860600"])
