"""The keyless providers (Open-Meteo, Photon, Nominatim, Overpass, OSRM) against the fake."""

from __future__ import annotations

import pytest
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import (
    InvalidParamsError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
)
from bailian_geo_agent.tools.providers.base import GeoProvider
from bailian_geo_agent.tools.providers.open import OpenProvider
from bailian_geo_agent.tools.providers.open_meteo import wind_text
from bailian_geo_agent.tools.providers.osm import Overpass, instruction

from tests.tools.fake_open import FakeOpenProviders

EIFFEL = Coordinate(2.2944813, 48.8582602, "wgs84")


def test_is_a_geo_provider(open_provider: OpenProvider):
    assert isinstance(open_provider, GeoProvider) and open_provider.crs == "wgs84"


async def test_weather_by_name_uses_open_meteo(open_provider, fake_open: FakeOpenProviders):
    report = await open_provider.weather("Paris", None, 3)
    assert report.source == "Open-Meteo" and "Paris" in report.place
    assert report.current is not None and report.current.text == "多云"
    assert report.current.wind == "西南风 11.2km/h"
    assert [d.date for d in report.daily] == ["2025-05-20", "2025-05-21", "2025-05-22"]
    assert report.daily[1].day_text == "小雨" and report.daily[1].precipitation_mm == 6.4
    geo, forecast = fake_open.requests
    assert geo.params["language"] == "en" and forecast.params["timezone"] == "auto"
    assert forecast.params["latitude"] == "48.8534"


async def test_chinese_names_query_in_chinese(open_provider, fake_open: FakeOpenProviders):
    await open_provider.weather("北京", None, 1)
    assert fake_open.requests[0].params == {
        "name": "北京", "count": "3", "language": "zh", "format": "json"
    }


async def test_weather_for_gcj02_point_is_converted(open_provider, fake_open: FakeOpenProviders):
    await open_provider.weather(None, Coordinate(116.38404722455657, 39.91334545536069), 1)
    params = fake_open.requests[0].params
    assert (params["latitude"], params["longitude"]) == ("39.9120", "116.3778")


async def test_unknown_place_falls_through_photon(open_provider, fake_open: FakeOpenProviders):
    with pytest.raises(NotFoundError, match="Atlantis"):
        await open_provider.weather("Atlantis", None, 3)
    assert [r.provider for r in fake_open.requests] == ["open-meteo-geocoding", "photon"]


async def test_keyword_search_biased_to_city(open_provider, fake_open: FakeOpenProviders):
    pois = await open_provider.search_poi("café", "Paris", None, 5)
    assert pois[0].name == "Café de l'Hôtel de Ville" and pois[0].category == "cafe"
    assert pois[0].distance_m is not None
    photon = next(r for r in fake_open.requests if r.provider == "photon")
    assert photon.params["lat"] == "48.85341" and photon.path == "/api"


async def test_nearby_uses_overpass_with_tags(open_provider, fake_open: FakeOpenProviders):
    pois = await open_provider.nearby_poi(EIFFEL, None, "咖啡", 500, 5)
    assert [p.name for p in pois] == ["Café Le Campanella", "Le Café du Marché"]
    assert pois[0].phone and pois[0].distance_m < pois[1].distance_m
    request = fake_open.requests[0]
    assert request.method == "POST" and '["amenity"="cafe"]' in request.params["data"]
    assert "(around:500,48.858260,2.294481)" in request.params["data"]


def test_overpass_query_escapes_keywords():
    ql = Overpass.query(EIFFEL, 'a"];out;', None, 100, 5)
    assert '"];out;' not in ql and '["name"~"aout",i]' in ql
    assert '["amenity"~"^(hospital|clinic)$"]' in Overpass.query(EIFFEL, "hospital", None, 10, 1)
    assert '["name"]' in Overpass.query(EIFFEL, None, None, 10, 1)


async def test_suggest_geocode_reverse(open_provider, fake_open: FakeOpenProviders):
    tips = await open_provider.suggest("Eiffel", None, 5)
    assert tips[0].name == "Tour Eiffel" and tips[0].location is not None
    places = await open_provider.geocode("Eiffel Tower", None)
    assert places[0].location == EIFFEL and places[0].city == "Paris"
    place = await open_provider.reverse_geocode(Coordinate(2.2945, 48.8583, "wgs84"))
    assert place.address.startswith("Tour Eiffel") and place.country == "France"
    with pytest.raises(NotFoundError):
        await open_provider.reverse_geocode(Coordinate(-30.0, 0.0, "wgs84"))
    nominatim = [r for r in fake_open.requests if r.provider == "nominatim"]
    assert all(r.params["format"] == "jsonv2" for r in nominatim)
    assert all("bailian-geo-agent" in r.user_agent for r in nominatim)


async def test_geocode_results_are_cached(open_provider, fake_open: FakeOpenProviders):
    await open_provider.geocode("Eiffel Tower", None)
    await open_provider.geocode("Eiffel Tower", None)
    assert len(fake_open.requests) == 1


@pytest.mark.parametrize(("mode", "prefix"), [("driving", "osrm"), ("walking", "osrm-foot")])
async def test_route(open_provider, fake_open: FakeOpenProviders, mode, prefix):
    route = await open_provider.route(EIFFEL, Coordinate(2.3376, 48.8606, "wgs84"), mode)
    assert route.source.startswith("OSRM") and route.distance_m > 0 and len(route.path) == 3
    assert [s.instruction for s in route.steps] == [
        "出发，沿Avenue Anatole France行驶", "左转进入Quai Branly", "到达目的地"
    ]
    assert fake_open.requests[0].provider == prefix


async def test_osrm_errors(open_provider):
    with pytest.raises(NotFoundError, match="OSRM"):
        await open_provider.route(EIFFEL, Coordinate(0.0, -70.0, "wgs84"), "driving")


def test_osrm_instructions():
    assert instruction({"maneuver": {"type": "roundabout", "exit": 2}, "name": "X"}) == (
        "进入环岛，从第2个出口驶出进入X"
    )
    assert instruction({"maneuver": {"type": "turn", "modifier": "uturn"}}) == "掉头"
    assert wind_text(None, 0) == "北风" and wind_text(5, None) == "5km/h"


@pytest.mark.parametrize(
    ("provider", "status", "error"),
    [
        ("overpass", 429, RateLimitedError),
        ("overpass", 504, ProviderUnavailableError),
        ("open-meteo", 400, InvalidParamsError),
        ("photon", 500, ProviderUnavailableError),
    ],
)
async def test_http_errors(open_provider, fake_open: FakeOpenProviders, provider, status, error):
    fake_open.override(provider, status, {"error": True, "reason": "x"})
    with pytest.raises(error):
        if provider == "overpass":
            await open_provider.nearby_poi(EIFFEL, "cafe", None, 100, 3)
        elif provider == "open-meteo":
            await open_provider.weather(None, EIFFEL, 1)
        else:
            await open_provider.suggest("Eiffel", None, 3)


async def test_overpass_runtime_error_remark(open_provider, fake_open: FakeOpenProviders):
    fake_open.override("overpass", 200, {"elements": [], "remark": "runtime error: timeout"})
    with pytest.raises(ProviderUnavailableError, match="Overpass"):
        await open_provider.nearby_poi(EIFFEL, "cafe", None, 100, 3)


def test_open_tools_end_to_end(open_tools):
    text = open_tools["get_weather"].invoke({"place": "Paris", "days": 1})
    assert "来源：Open-Meteo" in text and "21.4°C" in text
    text = open_tools["search_poi"].invoke({"near": "Eiffel Tower", "category": "cafe"})
    assert "Overpass/OpenStreetMap" in text and "(wgs84)" in text
    message = open_tools["map_set_view"].invoke(
        {"type": "tool_call", "id": "1", "name": "map_set_view", "args": {"place": "Eiffel Tower"}}
    )
    assert message.artifact["map_action"]["center"]["crs"] == "gcj02"  # the toolkit's map_crs
