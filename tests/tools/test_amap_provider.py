"""The AMap provider against the loopback fake: formats, `[]` fields, errors, cache, retries."""

from __future__ import annotations

import pytest
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import (
    InvalidKeyError,
    InvalidParamsError,
    NotFoundError,
    OutOfCoverageError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitedError,
)
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers.amap import AmapProvider, text
from bailian_geo_agent.tools.providers.base import GeoProvider

from tests.fakes.amap import FakeAmap, ok
from tests.tools.conftest import FAKE_AMAP_KEY

WEATHER = "/v3/weather/weatherInfo"


def test_is_a_geo_provider(amap: AmapProvider):
    assert isinstance(amap, GeoProvider)
    assert FAKE_AMAP_KEY not in repr(amap)


def test_empty_list_fields_become_empty_strings():
    assert text([]) == "" and text(None) == "" and text(" a ") == "a" and text(["a", "b"]) == "a;b"


async def test_weather_resolves_adcode_once_and_caches(amap: AmapProvider, fake_amap: FakeAmap):
    report = await amap.weather("海淀", None, 4)
    assert report.current is not None and report.current.temperature_c == 26
    assert len(report.daily) == 4 and report.daily[0].week == "周二"
    assert fake_amap.requests_to(WEATHER)[0].params["city"] == "110108"
    assert fake_amap.requests_to(WEATHER)[0].params["key"] == FAKE_AMAP_KEY
    await amap.weather("海淀", None, 4)
    assert len(fake_amap.requests_to("/v3/config/district")) == 1
    assert len(fake_amap.requests_to(WEATHER)) == 2  # base + all, then cached


async def test_weather_falls_back_to_geocode_for_non_district_names(
    amap: AmapProvider, fake_amap: FakeAmap
):
    report = await amap.weather("故宫", None, 1)
    assert fake_amap.requests_to(WEATHER)[0].params["city"] == "110101"
    assert len(report.daily) == 1


async def test_weather_for_coordinates_uses_regeo(amap: AmapProvider, fake_amap: FakeAmap):
    await amap.weather(None, Coordinate(116.48, 39.99, "gcj02"), 2)
    assert fake_amap.requests_to(WEATHER)[0].params["city"] == "110105"


async def test_unknown_place_and_outside_china(amap: AmapProvider):
    with pytest.raises(NotFoundError, match="火星"):
        await amap.weather("火星", None, 3)
    with pytest.raises(OutOfCoverageError):
        await amap.weather(None, Coordinate(2.2945, 48.8584, "wgs84"), 3)
    with pytest.raises(OutOfCoverageError):
        await amap.nearby_poi(Coordinate(2.29, 48.85, "wgs84"), "cafe", None, 500, 5)


async def test_poi_fields_and_empty_values(amap: AmapProvider, fake_amap: FakeAmap):
    pois = await amap.nearby_poi(Coordinate(116.4587, 39.9094), "咖啡", "cafe", 500, 2)
    assert [p.name for p in pois] == ["星巴克(国贸商城店)", "Manner Coffee(国贸店)"]
    first, second = pois
    assert first.rating == 4.6 and first.distance_m == 120 and first.phone == "010-65059526"
    assert first.category == "咖啡厅" and first.location == Coordinate(116.458795, 39.909398)
    assert second.address == "" and second.phone == "" and second.rating is None
    params = fake_amap.requests_to("/v3/place/around")[0].params
    assert params["types"] == "咖啡厅" and params["radius"] == "500" and params["offset"] == "2"
    assert params["sortrule"] == "distance"


async def test_keyword_search_limits_to_city(amap: AmapProvider, fake_amap: FakeAmap):
    pois = await amap.search_poi("咖啡", "北京", None, 10)
    assert len(pois) == 3 and pois[0].distance_m is None
    params = fake_amap.requests_to("/v3/place/text")[0].params
    assert params["city"] == "北京" and params["citylimit"] == "true"


async def test_empty_poi_result_mentions_suggested_cities(amap: AmapProvider, fake_amap: FakeAmap):
    cities = [{"name": "上海市", "num": "12", "citycode": "021", "adcode": "310000"}]
    fake_amap.set_response(
        "/v3/place/text",
        ok(count="0", suggestion={"keywords": [], "cities": cities}, pois=[]),
    )
    with pytest.raises(NotFoundError, match="上海市"):
        await amap.search_poi("外滩", "北京", None, 5)


async def test_suggest_geocode_regeo_route(amap: AmapProvider):
    tips = await amap.suggest("北京西", "北京", 5)
    assert tips[0].location is not None and tips[2].location is None
    places = await amap.geocode("北京市朝阳区阜通东大街6号", None)
    assert places[0].location == Coordinate(116.482086, 39.990496) and places[0].adcode == "110105"
    place = await amap.reverse_geocode(Coordinate(116.482086, 39.990496))
    assert place.city == "北京市"  # municipality: city is [] on the wire, province used
    route = await amap.route(places[0].location, Coordinate(116.397026, 39.918058), "walking")
    assert route.distance_m > 0 and len(route.steps) == 3 and len(route.path) >= 3
    assert route.steps[2].road == ""


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        ("10001", InvalidKeyError, "API Key无效"),
        ("10003", QuotaExceededError, "今日调用次数"),
        ("10044", QuotaExceededError, "今日调用次数"),
        ("20000", InvalidParamsError, "参数无效"),
        ("10009", InvalidKeyError, "Web服务"),
    ],
)
async def test_error_infocodes_are_explained_and_not_retried(
    amap: AmapProvider, fake_amap: FakeAmap, code, error, words
):
    fake_amap.set_error(None, code)
    with pytest.raises(error, match=words) as info:
        await amap.geocode("故宫", None)
    assert FAKE_AMAP_KEY not in str(info.value)
    assert len(fake_amap.requests) == 1


async def test_wrong_key_is_rejected_by_the_fake(fake_amap: FakeAmap, http_client: HttpClient):
    provider = AmapProvider("wrong-key-0000", http_client, base_url=fake_amap.base_url)
    with pytest.raises(InvalidKeyError) as info:
        await provider.geocode("故宫", None)
    assert "wrong-key-0000" not in str(info.value)


@pytest.mark.parametrize("code", ["10004", "10021"])
async def test_too_frequent_is_retried(amap: AmapProvider, fake_amap: FakeAmap, code):
    fake_amap.set_error("/v3/geocode/geo", code, times=2)
    places = await amap.geocode("故宫", None)
    assert places and len(fake_amap.requests) == 3


async def test_too_frequent_gives_up_after_retries(amap: AmapProvider, fake_amap: FakeAmap):
    fake_amap.set_error(None, "10021")
    with pytest.raises(RateLimitedError, match="频繁"):
        await amap.geocode("故宫", None)
    assert len(fake_amap.requests) == 1 + amap.rate_limit_retries


async def test_errors_are_not_cached(amap: AmapProvider, fake_amap: FakeAmap):
    fake_amap.set_error(None, "10003", times=1)
    with pytest.raises(QuotaExceededError):
        await amap.geocode("故宫", None)
    assert await amap.geocode("故宫", None)


async def test_http_error_and_timeout(fake_amap: FakeAmap, amap: AmapProvider):
    fake_amap.set_response("/v3/geocode/geo", {"oops": True}, status=500)
    with pytest.raises(ProviderUnavailableError, match="HTTP 500"):
        await amap.geocode("故宫", None)
    slow_client = HttpClient(timeout=0.2, retries=0)
    try:
        slow = AmapProvider(FAKE_AMAP_KEY, slow_client, base_url=fake_amap.base_url)
        fake_amap.set_response("/v3/geocode/regeo", ok(regeocode={}), delay=1.0)
        with pytest.raises(ProviderTimeoutError, match="超时"):
            await slow.reverse_geocode(Coordinate(116.4, 39.9))
    finally:
        await slow_client.aclose()


async def test_route_error_codes(amap: AmapProvider, fake_amap: FakeAmap):
    far = Coordinate(121.47, 31.23)
    with pytest.raises(InvalidParamsError, match="距离太远"):
        await amap.route(Coordinate(116.4, 39.9), far, "walking")
    fake_amap.set_response("/v3/direction/driving", ok(count="0", route={"paths": []}))
    with pytest.raises(NotFoundError):
        await amap.route(Coordinate(116.4, 39.9), far, "driving")


def test_empty_key_rejected(http_client: HttpClient):
    with pytest.raises(ValueError):
        AmapProvider("  ", http_client)
