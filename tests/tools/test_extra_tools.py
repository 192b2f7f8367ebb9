"""The tools of issue 14 (distance, cycling, transit, IP location, POI detail) on the fake AMap
and on the fake keyless providers: whole results, the requests sent, errors, keys kept out."""

from __future__ import annotations

import logging

import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.providers.fallback import FallbackProvider
from langchain_core.messages import ToolMessage

from tests.fakes.amap import FakeAmap
from tests.tools.conftest import FAKE_AMAP_KEY
from tests.tools.fake_open import FakeOpenProviders


def call(tools: dict, name: str, args: dict) -> ToolMessage:
    return tools[name].invoke({"type": "tool_call", "id": "call-1", "name": name, "args": args})


# --------------------------------------------------------------------------- AMap


def test_distance_from_several_origins(amap_tools, fake_amap: FakeAmap):
    args = {"origins": ["北京南站", "116.397755,39.908743", "不存在的地方"], "destination": "故宫"}
    message = call(amap_tools, "measure_distance", args)
    assert message.status == "success"
    assert message.content.splitlines() == [
        "各起点到北京市东城区故宫博物院（116.397026,39.918058 (gcj02)）的驾车距离（高德地图）：",
        "1. 北京市丰台区北京南站：7.9公里，约16分钟",
        "2. 116.397755,39.908743：1.3公里，约3分钟",
        "3. 不存在的地方：高德地图找不到地址“不存在的地方”。",
    ]
    [sent] = fake_amap.requests_to("/v3/distance")
    assert sent.params == {"origins": "116.378517,39.865246|116.397755,39.908743",
                           "destination": "116.397026,39.918058", "type": "1",
                           "key": FAKE_AMAP_KEY}


@pytest.mark.parametrize(("mode", "kind", "line"), [
    ("straight", "0", "1. 北京市丰台区北京南站：6.1公里"),
    # AMap measures walks up to 5 km; this one (7.3 km) comes back with AMap's reason
    ("walking", "3", "1. 北京市丰台区北京南站：未规划出步行路线"),
])
def test_distance_modes(amap_tools, fake_amap: FakeAmap, mode, kind, line):
    args = {"origins": ["北京南站"], "destination": "故宫", "mode": mode}
    assert call(amap_tools, "measure_distance", args).content.splitlines()[1] == line
    assert fake_amap.requests_to("/v3/distance")[0].params["type"] == kind


def test_distance_converts_wgs84_input(amap_tools, fake_amap: FakeAmap):
    args = {"origins": ["116.391,39.9165"], "destination": "116.391,39.9165", "crs": "wgs84",
            "mode": "straight"}
    assert call(amap_tools, "measure_distance", args).status == "success"
    expected = Coordinate(116.391, 39.9165, "wgs84").to("gcj02").lnglat()
    assert fake_amap.requests_to("/v3/distance")[0].params["origins"] == expected


def test_cycling_route(amap_tools, fake_amap: FakeAmap):
    message = call(amap_tools, "cycling_route", {"origin": "北京南站", "destination": "故宫"})
    assert message.content.splitlines() == [
        "北京市丰台区北京南站 → 北京市东城区故宫博物院（骑行，高德地图）：全程8.6公里，约34分钟",
        "起点116.378517,39.865246 (gcj02)，终点116.397026,39.918058 (gcj02)",
        "1. 骑行向东到达路口左转（1.8公里）",
        "2. 骑行向北到达目的地（6.8公里）",
    ]
    [sent] = fake_amap.requests_to("/v5/direction/bicycling")
    assert sent.params["origin"] == "116.378517,39.865246"
    assert sent.params["show_fields"] == "cost,polyline"


def test_transit_within_a_city(amap_tools, fake_amap: FakeAmap):
    args = {"origin": "北京南站", "destination": "故宫", "city": "北京"}
    assert call(amap_tools, "transit_route", args).content.splitlines() == [
        "北京市丰台区北京南站 → 北京市东城区故宫博物院"
        "（公共交通，北京市内，高德地图，共2个方案）：",
        "起点116.378517,39.865246 (gcj02)，终点116.397026,39.918058 (gcj02)",
        "方案1：约24分钟，票价4元，步行1.0公里：步行320米 → 地铁4号线大兴线(天宫院--安河桥北)"
        "（北京南站→西单，5站） → 步行680米",
        "方案2：约35分钟，票价2元，步行540米：步行320米 → 特2路(北京南站--东直门外)"
        "（北京南站→西单，10站） → 步行680米",
        "打车约30元",
    ]
    [sent] = fake_amap.requests_to("/v3/direction/transit/integrated")
    assert sent.params["city"] == "北京" and "cityd" not in sent.params


def test_transit_across_cities(amap_tools, fake_amap: FakeAmap):
    args = {"origin": "北京南站", "destination": "121.320,31.194", "city": "北京",
            "cityd": "上海"}
    lines = call(amap_tools, "transit_route", args).content.splitlines()
    assert lines[0] == (
        "北京市丰台区北京南站 → 121.320,31.194（公共交通，北京→上海，高德地图，共1个方案）："
    )
    assert lines[2] == "方案1：约4小时47分钟，票价553元：G101 京沪高速线（北京南→上海虹桥）"
    [sent] = fake_amap.requests_to("/v3/direction/transit/integrated")
    assert (sent.params["city"], sent.params["cityd"]) == ("北京", "上海")


def test_ip_location(amap_tools, fake_amap: FakeAmap):
    assert call(amap_tools, "ip_location", {"ip": "114.247.50.2"}).content == (
        "IP 114.247.50.2 位于北京市（高德地图）；adcode：110000；"
        "城市中心约116.397459,39.938884 (gcj02)；"
        "范围：116.011934,39.661271 (gcj02) 至 116.782984,40.216496 (gcj02)。（IP定位只精确到城市）"
    )
    foreign = call(amap_tools, "ip_location", {"ip": "8.8.8.8"})
    assert foreign.status == "error" and foreign.content.startswith("高德地图无法定位IP 8.8.8.8")


@pytest.mark.parametrize(("ip", "start"), [
    ("192.168.1.1", "192.168.1.1是局域网、本机或保留地址"),
    ("2001:4860::8888", "2001:4860::8888是IPv6地址"),
    ("not-an-ip", "工具参数无效（invalid arguments）：ip"),
])
def test_ip_location_rejects_what_cannot_be_located(amap_tools, fake_amap: FakeAmap, ip, start):
    message = call(amap_tools, "ip_location", {"ip": ip})
    assert message.status == "error" and message.content.startswith(start)
    assert fake_amap.requests == []


def test_poi_detail_by_the_id_search_returned(amap_tools, fake_amap: FakeAmap):
    search = call(amap_tools, "search_poi", {"keywords": "咖啡", "city": "北京", "limit": 1})
    poi_id = search.content.rsplit("ID：", 1)[1]
    assert poi_id == "B0FFG3MGDB"
    assert call(amap_tools, "poi_detail", {"id": poi_id}).content.splitlines() == [
        "星巴克(国贸商城店)（高德地图，ID B0FFG3MGDB）",
        "类别：咖啡厅",
        "地址：建国门外大街1号国贸商城B1层",
        "行政区：北京市朝阳区",
        "商圈：国贸",
        "电话：010-65059526",
        "评分：4.6",
        "人均消费：38元",
        "营业时间：07:00-22:00",
        "坐标：116.458795,39.909398 (gcj02)",
        "照片：http://store.is.autonavi.com/showpic/starbucks-guomao",
    ]
    missing = call(amap_tools, "poi_detail", {"id": "B0NOPE0000"})
    assert missing.status == "error" and "找不到ID为“B0NOPE0000”的地点" in missing.content


CASES = [
    ("measure_distance", {"origins": ["北京南站"], "destination": "故宫"}, "/v3/distance"),
    ("cycling_route", {"origin": "北京南站", "destination": "故宫"}, "/v5/direction/bicycling"),
    ("transit_route", {"origin": "北京南站", "destination": "故宫", "city": "北京"},
     "/v3/direction/transit/integrated"),
    ("ip_location", {"ip": "114.247.50.2"}, "/v3/ip"),
    ("poi_detail", {"id": "B0FFG3MGDB"}, "/v3/place/detail"),
]


@pytest.mark.parametrize(("infocode", "text"), [
    ("10044", "高德地图今日调用次数已用完（明天恢复），暂时无法查询。"),
    ("20000", "高德地图认为请求参数无效（INVALID_PARAMS）。"),
    ("10001", "高德地图API Key无效：请检查AMAP_API_KEY配置（需要“Web服务”类型的Key）。"),
])
@pytest.mark.parametrize(("name", "args", "path"), CASES)
def test_provider_errors_are_short_results(amap_tools, fake_amap: FakeAmap, caplog, name, args,
                                           path, infocode, text):
    caplog.set_level(logging.DEBUG)
    fake_amap.set_error(path, infocode)
    message = call(amap_tools, name, args)
    assert (message.status, message.content) == ("error", text)
    assert FAKE_AMAP_KEY not in caplog.text and fake_amap.requests_to(path)


@pytest.mark.parametrize(("name", "args", "path"), CASES)
def test_timeouts_are_short_results(amap_tools, fake_amap: FakeAmap, name, args, path):
    fake_amap.set_response(path, {"status": "1"}, delay=2.5)  # the client's timeout is 2 s
    message = call(amap_tools, name, args)
    assert (message.status, message.content) == ("error", "高德地图响应超时，请稍后再试。")


# --------------------------------------------------------------------------- open providers


def test_open_distance_straight_needs_no_request(open_tools, fake_open: FakeOpenProviders):
    args = {"origins": ["2.2945,48.8582", "2.3376,48.8606"], "destination": "2.2945,48.8582",
            "mode": "straight", "crs": "wgs84"}
    assert call(open_tools, "measure_distance", args).content.splitlines() == [
        "各起点到2.2945,48.8582（2.294500,48.858200 (wgs84)）的直线距离（本地计算（球面距离））：",
        "1. 2.2945,48.8582：0米",
        "2. 2.3376,48.8606：3.2公里",
    ]
    assert fake_open.requests == []


def test_open_distance_by_road_asks_osrm_per_origin(open_tools, fake_open: FakeOpenProviders):
    args = {"origins": ["2.2945,48.8582", "2.3376,48.8606"], "destination": "2.3522,48.8566",
            "mode": "walking", "crs": "wgs84"}
    lines = call(open_tools, "measure_distance", args).content.splitlines()
    assert lines[0].endswith("的步行距离（OSRM/OpenStreetMap）：") and len(lines) == 3
    assert [(r.provider, r.path) for r in fake_open.requests] == [
        ("osrm-foot", "/route/v1/foot/2.294500,48.858200;2.352200,48.856600"),
        ("osrm-foot", "/route/v1/foot/2.337600,48.860600;2.352200,48.856600"),
    ]


def test_open_cycling_route_on_the_bike_server(open_tools, fake_open: FakeOpenProviders):
    args = {"origin": "2.2945,48.8582", "destination": "2.3376,48.8606", "crs": "wgs84"}
    lines = call(open_tools, "cycling_route", args).content.splitlines()
    assert lines[0] == (
        "2.2945,48.8582 → 2.3376,48.8606（骑行，OSRM/OpenStreetMap）：全程4.1公里，约15分钟"
    )
    assert lines[1] == "起点2.294500,48.858200 (wgs84)，终点2.337600,48.860600 (wgs84)"
    assert [(r.provider, r.path) for r in fake_open.requests] == [
        ("osrm-bike", "/route/v1/bike/2.294500,48.858200;2.337600,48.860600")]


def test_open_poi_detail_from_nominatim_lookup(open_tools, fake_open: FakeOpenProviders):
    assert call(open_tools, "poi_detail", {"id": "way/5013364"}).content.splitlines() == [
        "Tour Eiffel（Nominatim/OpenStreetMap，ID W5013364）",
        "类别：tower",
        "地址：Tour Eiffel, 5, Avenue Anatole France, Quartier du Gros-Caillou, Paris 7e Arron…",
        "行政区：Paris 7e Arrondissement, Paris, Île-de-France",
        "营业时间：Mo-Su 09:30-23:45",
        "网站：https://www.toureiffel.paris/",
        "坐标：2.294481,48.858260 (wgs84)",
        "wikipedia：fr:Tour Eiffel",
    ]
    [sent] = fake_open.requests
    assert (sent.provider, sent.path) == ("nominatim", "/lookup")
    assert sent.params["osm_ids"] == "W5013364" and sent.params["extratags"] == "1"
    amap_id = call(open_tools, "poi_detail", {"id": "B0FFG3MGDB"})
    assert amap_id.status == "error" and "不是OpenStreetMap的地点ID" in amap_id.content


@pytest.mark.parametrize(("name", "args", "start"), [
    ("transit_route", {"origin": "2.29,48.85", "destination": "2.33,48.86", "city": "Paris"},
     "公交/地铁换乘规划需要高德地图（设置AMAP_API_KEY"),
    ("ip_location", {"ip": "114.247.50.2"}, "IP定位需要高德地图（设置AMAP_API_KEY"),
])
def test_open_provider_says_what_needs_amap(open_tools, fake_open, name, args, start):
    message = call(open_tools, name, args)
    assert message.status == "error" and message.content.startswith(start)
    assert fake_open.requests == []


def test_auto_falls_back_to_open_for_cycling_abroad(amap, open_provider, fake_amap, fake_open):
    provider = FallbackProvider(amap, open_provider)
    tools = {t.name: t for t in GeoToolkit(config=GeoConfig(), provider=provider).get_tools()}
    args = {"origin": "2.2945,48.8582", "destination": "2.3376,48.8606", "crs": "wgs84"}
    message = call(tools, "cycling_route", args)
    assert "（骑行，OSRM/OpenStreetMap）" in message.content
    assert fake_amap.requests == [] and [r.provider for r in fake_open.requests] == ["osrm-bike"]


def test_a_provider_without_the_capability_is_explained(fake_amap):
    class Minimal:
        name, crs = "测试服务", "gcj02"

    tools = {t.name: t for t in GeoToolkit(config=GeoConfig(), provider=Minimal()).get_tools()}
    message = call(tools, "ip_location", {"ip": "114.247.50.2"})
    assert (message.status, message.content) == ("error", "测试服务不提供IP定位。")
