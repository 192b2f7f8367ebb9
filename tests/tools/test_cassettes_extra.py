"""The endpoints of the tools of issue 14, replayed from cassettes against the real hosts
(``https://restapi.amap.com``, ``https://routing.openstreetmap.de/routed-bike``,
``https://nominatim.openstreetmap.org``). Recorded from the loopback fakes like the other
cassettes (``tests/tools/cassettes/README.md``); in replay a test passes only by replaying."""

from __future__ import annotations

from typing import Any

import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import DEFAULT_AMAP_BASE_URL
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers.open import OpenProvider

from tests.tools.conftest import open_config
from tests.tools.fake_open import PREFIXES
from tests.tools.recording import replaying, vcr_config_for
from tests.tools.test_cassettes_amap import Endpoint


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    prefixes = {f"/{prefix}": real for prefix, real in PREFIXES.items()}
    return vcr_config_for({"": DEFAULT_AMAP_BASE_URL, **prefixes})


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, vcr: Any, http_client: HttpClient) -> Endpoint:
    fake = None if replaying(vcr) else request.getfixturevalue("fake_amap")
    return Endpoint(fake, http_client)


@pytest.fixture
def open_tools(request: pytest.FixtureRequest, vcr: Any, http_client: HttpClient) -> dict:
    fake = None if replaying(vcr) else request.getfixturevalue("fake_open")
    config = open_config(fake)
    provider = OpenProvider.from_config(config, http_client, nominatim_interval=0.0)
    return {t.name: t for t in GeoToolkit(config=config, provider=provider).get_tools()}


def played_all(vcr: Any, count: int) -> None:
    assert vcr.play_count == count and vcr.all_played
    for req in vcr.requests:
        assert req.uri.startswith(("https://restapi.amap.com/v3/", "https://restapi.amap.com/v5/"))
        assert "key=" not in req.uri


def call(tools: dict, name: str, args: dict) -> Any:
    return tools[name].invoke({"type": "tool_call", "id": "c1", "name": name, "args": args})


@pytest.mark.vcr
def test_distance(endpoint: Endpoint, vcr: Any):
    args = {"origins": ["116.378517,39.865246", "116.397755,39.908743"],
            "destination": "116.397026,39.918058", "mode": "walking"}
    lines = endpoint.call("measure_distance", args).content.splitlines()
    assert len(lines) == 3 and lines[1].startswith("1. 116.378517,39.865246：") and "约" in lines[1]
    if replaying(vcr):
        played_all(vcr, 1)
        assert "type=3" in vcr.requests[0].uri and "%7C" in vcr.requests[0].uri  # origins a|b


@pytest.mark.vcr
def test_cycling(endpoint: Endpoint, vcr: Any):
    args = {"origin": "116.378517,39.865246", "destination": "116.397026,39.918058"}
    text = endpoint.call("cycling_route", args).content
    assert "（骑行，高德地图）：全程" in text and "骑行向北到达目的地" in text
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
@pytest.mark.parametrize("cityd", [None, "上海"])
def test_transit(endpoint: Endpoint, vcr: Any, cityd: str | None):
    args = {"origin": "116.378517,39.865246", "destination": "121.320,31.194" if cityd else
            "116.397026,39.918058", "city": "北京", **({"cityd": cityd} if cityd else {})}
    text = endpoint.call("transit_route", args).content
    assert ("G101 京沪高速线" in text) is bool(cityd) and "方案1：" in text
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
def test_ip_location(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("ip_location", {"ip": "114.247.50.2"}).content
    assert text.startswith("IP 114.247.50.2 位于北京市（高德地图）；adcode：110000")
    foreign = endpoint.call("ip_location", {"ip": "8.8.8.8"})
    assert foreign.status == "error" and "境外或未知地址没有结果" in foreign.content
    if replaying(vcr):
        played_all(vcr, 2)


@pytest.mark.vcr
def test_poi_detail(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("poi_detail", {"id": "B0FFG3MGDB"}).content
    assert "商圈：国贸" in text and "营业时间：07:00-22:00" in text
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
def test_quota_exceeded_10044(endpoint: Endpoint, vcr: Any):
    endpoint.script(lambda fake: fake.set_error("/v3/direction/transit/integrated", "10044"))
    args = {"origin": "116.378517,39.865246", "destination": "116.397026,39.918058",
            "city": "北京"}
    message = endpoint.call("transit_route", args)
    assert message.status == "error" and "今日调用次数已用完" in message.content
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
def test_open_cycling_and_poi_detail(open_tools: dict, vcr: Any):
    args = {"origin": "2.2945,48.8582", "destination": "2.3376,48.8606", "crs": "wgs84"}
    assert "（骑行，OSRM/OpenStreetMap）" in call(open_tools, "cycling_route", args).content
    detail = call(open_tools, "poi_detail", {"id": "W5013364"}).content
    assert detail.startswith("Tour Eiffel（Nominatim/OpenStreetMap，ID W5013364）")
    if replaying(vcr):
        assert vcr.all_played and [r.uri.split("?")[0] for r in vcr.requests] == [
            "https://routing.openstreetmap.de/routed-bike/route/v1/bike/"
            "2.294500,48.858200;2.337600,48.860600",
            "https://nominatim.openstreetmap.org/lookup",
        ]
