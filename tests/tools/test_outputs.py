"""The lookups' typed results (``tools.outputs``): every lookup tool names its ``output_model``;
on the fake AMap and the fake open providers its artifact's ``"data"`` validates against that
model (and its JSON Schema, the MCP ``outputSchema``) and carries the figures the fakes answered,
typed; errors carry no data; the data stays compact and keyless."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from bailian_geo_agent.agent.tool_selection import MAP_TOOL_PREFIX
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.common import GeoTool
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.outputs import LOOKUP_OUTPUTS
from bailian_geo_agent.tools.providers.base import Place
from bailian_geo_agent.tools.providers.fallback import FallbackProvider
from bailian_geo_agent.tools.toolkit import LOOKUP_TOOLS
from langchain_core.messages import ToolMessage
from pydantic import BaseModel

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_areas import along_around_answer
from tests.tools.conftest import FAKE_AMAP_KEY

Check = Callable[[dict[str, Any]], None]


def call(tool: Any, args: dict[str, Any]) -> ToolMessage:
    message = tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": args})
    assert isinstance(message, ToolMessage)
    return message


def checked_data(tool: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The tool's ``data``, after checking it against its model and the model's JSON Schema."""
    message = call(tool, args)
    assert message.status == "success", message.content
    data = message.artifact["data"]
    model: type[BaseModel] = tool.output_model
    # the wire form: JSON types, unknowns left out, the same again after a round trip
    assert json.loads(json.dumps(data)) == data
    assert model.model_validate(data).model_dump(mode="json", exclude_none=True) == data
    jsonschema.validate(data, model.model_json_schema())
    assert not _nulls(data)
    # compact (stored with the tool message in the history): no outline, no route line
    encoded = json.dumps(data, ensure_ascii=False)
    assert len(encoded) < 6000 and "polygons" not in encoded and '"path"' not in encoded
    return data


def _nulls(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_nulls(v) for v in value.values())
    if isinstance(value, list):
        return any(_nulls(v) for v in value)
    return False


def _point(value: dict[str, Any], lng: float, lat: float, crs: str) -> None:
    assert value["crs"] == crs
    assert value["lng"] == pytest.approx(lng, abs=1e-6)
    assert value["lat"] == pytest.approx(lat, abs=1e-6)


# ------------------------------------------------------------------------------ the contract


def test_every_lookup_tool_of_the_toolkit_has_an_output_model(amap):
    tools = GeoToolkit(config=GeoConfig(provider="amap", amap_api_key=FAKE_AMAP_KEY),
                       provider=amap).get_tools()
    lookups = [t for t in tools if not t.name.startswith(MAP_TOOL_PREFIX)]
    assert len(lookups) == len(LOOKUP_TOOLS) == 15
    for tool in lookups:
        model = getattr(tool, "output_model", None)
        assert isinstance(model, type) and issubclass(model, BaseModel), tool.name
        assert model in LOOKUP_OUTPUTS, tool.name
        assert tool.response_format == "content_and_artifact", tool.name
        # the artifact's other keys stay their own: no model repeats them
        assert not {"links", "map_actions", "map_action"} & set(model.model_fields), tool.name
    for tool in tools:
        if tool.name.startswith(MAP_TOOL_PREFIX):
            assert isinstance(tool, GeoTool) and tool.output_model is None


@pytest.mark.parametrize("model", LOOKUP_OUTPUTS, ids=lambda m: m.__name__)
def test_output_schemas_describe_every_field_briefly_and_never_say_null(model):
    schema = model.model_json_schema()
    assert "null" not in json.dumps(schema)  # unknowns are left out, not null
    for part in [schema, *schema.get("$defs", {}).values()]:
        for name, field in part.get("properties", {}).items():
            description = field.get("description", "")
            assert 0 < len(description) <= 100, (part.get("title"), name)
            assert "default" not in field or field["default"] not in (None, "")


def test_the_schemas_sent_to_the_model_do_not_change(amap_tools):
    # output_model is a class attribute, not an argument: tool_call_schema is the arguments'
    weather = amap_tools["get_weather"].tool_call_schema.model_json_schema()
    assert set(weather["properties"]) == {"place", "lng", "lat", "crs", "days"}
    assert "output_model" not in json.dumps(weather)


# ------------------------------------------------------------------------------ AMap


def _weather(data: dict[str, Any]) -> None:
    assert data["place"] == "北京 海淀区" and data["source"] == "高德地图"
    current = data["current"]
    assert current["temperature_c"] == 26.0 and isinstance(current["temperature_c"], float)
    assert current["humidity_pct"] == 35.0 and current["text"] == "晴"
    assert [(d["date"], d["temp_min_c"], d["temp_max_c"]) for d in data["daily"]] == [
        ("2025-05-20", 16.0, 29.0), ("2025-05-21", 17.0, 27.0)]


def _nearby(data: dict[str, Any]) -> None:
    _point(data["center"], 116.397755, 39.908743, "gcj02")
    assert data["center"]["label"] == "北京市东城区天安门" and data["radius_m"] == 500
    assert data["query"] == "咖啡" and "city" not in data
    first = data["pois"][0]
    assert first["name"] == "星巴克(国贸商城店)" and first["id"] == "B0FFG3MGDB"
    assert first["distance_m"] == 120.0 and first["rating"] == 4.6
    assert first["phone"] == "010-65059526"
    _point(first["location"], 116.458795, 39.909398, "gcj02")
    assert [p["distance_m"] for p in data["pois"]] == sorted(p["distance_m"] for p in data["pois"])


def _keyword(data: dict[str, Any]) -> None:
    assert data["city"] == "北京" and "center" not in data and "radius_m" not in data
    assert len(data["pois"]) == 1 and data["pois"][0]["category"] == "咖啡厅"


def _suggest(data: dict[str, Any]) -> None:
    assert data["query"] == "北京西" and data["places"][0]["name"] == "北京西站"
    _point(data["places"][0]["location"], 116.321592, 39.894793, "gcj02")
    assert "location" not in data["places"][-1]  # a keyword suggestion has no point


def _geocode(data: dict[str, Any]) -> None:
    [place] = data["places"]
    _point(place["location"], 116.482086, 39.990496, "gcj02")
    assert (place["district"], place["adcode"], place["country"]) == ("朝阳区", "110105", "中国")


def _reverse(data: dict[str, Any]) -> None:
    _point(data["location"], 116.482086, 39.990496, "gcj02")
    assert data["place"]["adcode"] == "110105"
    assert "方恒国际中心" in data["place"]["address"]


def _route(data: dict[str, Any]) -> None:
    assert data["mode"] == "walking" and data["distance_m"] == 8196.0
    assert data["duration_s"] == 6830.0
    assert data["origin"]["label"] == "北京市丰台区北京南站"
    _point(data["destination"], 116.397026, 39.918058, "gcj02")
    assert data["steps_total"] == len(data["steps"]) == 3
    assert data["steps"][0] == {"instruction": "沿辅路向北行驶到达路口右转", "road": "建国路",
                                "distance_m": 3230.0, "duration_s": 2692.0}


def _distance(data: dict[str, Any]) -> None:
    assert data["mode"] == "driving" and data["destination"]["label"] == "北京市东城区故宫博物院"
    first, second, missing = data["results"]  # in the order given, the unfound one too
    assert (first["origin"], first["distance_m"], first["duration_s"]) == (
        "北京市丰台区北京南站", 7905.0, 952.0)
    _point(second["location"], 116.397755, 39.908743, "gcj02")
    assert second["distance_m"] == 1349.0
    assert missing == {"origin": "不存在的地方", "note": "高德地图找不到地址“不存在的地方”。"}


def _cycling(data: dict[str, Any]) -> None:
    assert data["mode"] == "cycling" and data["distance_m"] == 8570.0
    assert data["duration_s"] == 2040.0 and data["steps_total"] == 2


def _transit(data: dict[str, Any]) -> None:
    assert (data["city"], data["cityd"], data["taxi_cost_yuan"]) == ("北京", "北京", 30.0)
    first, second = data["plans"]
    assert (first["duration_s"], first["cost_yuan"], first["walking_m"]) == (1458.0, 4.0, 1000.0)
    subway = first["segments"][1]
    assert subway["kind"] == "subway" and subway["stops"] == 5
    assert (subway["departure"], subway["arrival"]) == ("北京南站", "西单")
    assert second["cost_yuan"] == 2.0 and second["segments"][1]["kind"] == "bus"


def _ip(data: dict[str, Any]) -> None:
    assert (data["ip"], data["city"], data["adcode"]) == ("114.247.50.2", "北京市", "110000")
    _point(data["center"], 116.397459, 39.938884, "gcj02")
    _point(data["southwest"], 116.011934, 39.661271, "gcj02")
    _point(data["northeast"], 116.782984, 40.216496, "gcj02")


def _detail(data: dict[str, Any]) -> None:
    assert data["id"] == "B0FFG3MGDB" and data["cost_yuan"] == 38.0
    assert data["opening_hours"] == "07:00-22:00" and data["business_area"] == "国贸"
    assert data["rating"] == 4.6 and len(data["photos"]) == 1


def _trip(data: dict[str, Any]) -> None:
    assert (data["mode"], data["method"], data["round_trip"]) == ("driving", "exact", False)
    assert data["order"] == [0, 1, 2]
    assert [(s["number"], s["label"]) for s in data["stops"]] == [
        (1, "故宫"), (2, "景山公园"), (3, "南锣鼓巷")]
    # the legs are the matrix's figures (tests/tools/test_trip.py), and add up to the totals
    assert data["legs"][0] == {"from_index": 0, "to_index": 1, "distance_m": 1063.0,
                               "duration_s": 128.0}
    assert data["distance_m"] == sum(leg["distance_m"] for leg in data["legs"]) == 2894.0
    assert data["duration_s"] == 349.0 and data["days"] == []


def _boundary(data: dict[str, Any]) -> None:
    assert (data["name"], data["kind"], data["adcode"]) == ("朝阳区", "district", "110105")
    assert data["vertices"] == 3001 and data["parts"] == 1 and data["same_name"] == 1
    assert 300 < data["area_km2"] < 400
    check = data["check"]
    assert check["inside"] is True and check["on_boundary"] is False
    assert check["place"]["label"] == "北京市朝阳区阜通东大街6号" and check["distance_m"] > 30


def _reach(data: dict[str, Any]) -> None:
    assert (data["minutes"], data["mode"], data["method"]) == (15, "driving", "grid")
    assert data["center"]["label"] == "北京市东城区天安门"
    assert data["cell_m"] == 1818.0 and 80 <= data["probed"] <= 100
    assert 0 < data["reachable"] < data["probed"] and 60 < data["area_km2"] < 140


AMAP_CASES: list[tuple[str, dict[str, Any], Check]] = [
    ("get_weather", {"place": "海淀", "days": 2}, _weather),
    ("search_poi", {"keywords": "咖啡", "near": "天安门", "radius": 500}, _nearby),
    ("search_poi", {"keywords": "咖啡", "city": "北京", "limit": 1}, _keyword),
    ("suggest_places", {"text": "北京西"}, _suggest),
    ("geocode", {"address": "北京市朝阳区阜通东大街6号"}, _geocode),
    ("reverse_geocode", {"lng": 116.482086, "lat": 39.990496}, _reverse),
    ("plan_route", {"origin": "北京南站", "destination": "故宫", "mode": "walking"}, _route),
    ("measure_distance", {"origins": ["北京南站", "116.397755,39.908743", "不存在的地方"],
                          "destination": "故宫"}, _distance),
    ("cycling_route", {"origin": "北京南站", "destination": "故宫"}, _cycling),
    ("transit_route", {"origin": "北京南站", "destination": "故宫", "city": "北京"}, _transit),
    ("ip_location", {"ip": "114.247.50.2"}, _ip),
    ("poi_detail", {"id": "B0FFG3MGDB"}, _detail),
    ("plan_trip", {"places": ["故宫", "景山公园", "南锣鼓巷"], "start": True}, _trip),
    ("area_boundary", {"area": "朝阳区", "check": "北京市朝阳区阜通东大街6号"}, _boundary),
    ("reachable_area", {"place": "天安门", "minutes": 15, "mode": "driving"}, _reach),
]


@pytest.mark.parametrize(("name", "args", "check"), AMAP_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(AMAP_CASES)])
def test_amap_lookups_give_typed_figures(amap_tools, name, args, check):
    check(checked_data(amap_tools[name], args))


def test_amap_search_along_route_gives_the_stops_with_their_detours(amap_tools, fake_amap):
    fake_amap.set_response("/v3/place/around", along_around_answer)
    data = checked_data(amap_tools["search_along_route"],
                        {"origin": "北京南站", "destination": "故宫", "keywords": "加油站"})
    assert (data["keywords"], data["within_m"]) == ("加油站", 500)
    assert data["route"]["mode"] == "driving" and data["route"]["distance_m"] > 8000
    names = [p["name"] for p in data["pois"]]
    assert names[:3] == ["中国石化(开阳路加油站)", "壳牌(西华门加油站)", "中国石油(右安门加油站)"]
    first = data["pois"][0]
    assert first["detour_m"] == pytest.approx(2 * first["off_route_m"], abs=0.1)
    assert 95 < first["off_route_m"] < 105  # the text: 离路线101米
    assert [p["detour_m"] for p in data["pois"]] == sorted(p["detour_m"] for p in data["pois"])


def test_amap_trip_split_into_days_says_each_days_places_and_times(amap_tools):
    data = checked_data(amap_tools["plan_trip"], {
        "places": ["故宫", "798艺术区", "景山公园", "天坛公园", "南锣鼓巷"], "start": True,
        "day_hours": 3, "stay_minutes": 90})
    days = data["days"]
    assert len(days) >= 2 and [d["day"] for d in days] == list(range(1, len(days) + 1))
    assert days[0]["places"][0] == 0  # the trip starts at the first place
    for day in days:
        assert day["total_s"] >= day["travel_s"] > 0
    assert sum(d["travel_s"] for d in days) == pytest.approx(data["duration_s"])


# ------------------------------------------------------------------------------ open data


def _open_weather(data: dict[str, Any]) -> None:
    assert "Paris" in data["place"] and data["source"] == "Open-Meteo"
    assert data["current"]["temperature_c"] == 21.4
    assert data["location"]["crs"] == "wgs84" and len(data["daily"]) == 1


def _open_nearby(data: dict[str, Any]) -> None:
    assert data["center"]["crs"] == "wgs84" and data["query"] == "cafe"
    assert [p["name"] for p in data["pois"]] == ["Café Le Campanella", "Le Café du Marché"]
    assert all(p["location"]["crs"] == "wgs84" for p in data["pois"])


def _open_geocode(data: dict[str, Any]) -> None:
    _point(data["places"][0]["location"], 2.2944813, 48.8582602, "wgs84")
    assert data["places"][0]["city"] == "Paris"


def _open_suggest(data: dict[str, Any]) -> None:
    assert data["places"][0]["name"] == "Tour Eiffel"
    assert data["places"][0]["location"]["crs"] == "wgs84"


def _open_reverse(data: dict[str, Any]) -> None:
    assert data["location"] == {"lng": 2.2945, "lat": 48.8583, "crs": "wgs84"}
    assert data["place"]["country"] == "France"
    assert data["place"]["address"].startswith("Tour Eiffel")


def _open_route(data: dict[str, Any]) -> None:
    assert data["source"].startswith("OSRM") and data["distance_m"] > 0
    assert [s["instruction"] for s in data["steps"]] == [
        "出发，沿Avenue Anatole France行驶", "左转进入Quai Branly", "到达目的地"]
    assert data["origin"]["crs"] == "wgs84"


def _open_straight(data: dict[str, Any]) -> None:
    assert data["mode"] == "straight"
    near, far = data["results"]
    assert near["distance_m"] == 0.0 and "duration_s" not in near
    assert 3100 < far["distance_m"] < 3300  # the text: 3.2公里


def _open_cycling(data: dict[str, Any]) -> None:
    assert data["mode"] == "cycling" and 4000 < data["distance_m"] < 4200
    _point(data["origin"], 2.2945, 48.8582, "wgs84")


def _open_detail(data: dict[str, Any]) -> None:
    assert (data["id"], data["name"], data["category"]) == ("W5013364", "Tour Eiffel", "tower")
    assert data["website"] == "https://www.toureiffel.paris/"
    assert data["opening_hours"] == "Mo-Su 09:30-23:45"
    assert data["tags"] == {"wikipedia": "fr:Tour Eiffel"}
    _point(data["location"], 2.294481, 48.85826, "wgs84")


def _open_trip(data: dict[str, Any]) -> None:
    assert data["round_trip"] is True and data["method"] == "exact"
    assert data["mode"] == "walking" and len(data["legs"]) == 4  # back to the start too
    assert data["legs"][-1]["to_index"] == 0
    assert all(s["location"]["crs"] == "wgs84" for s in data["stops"])


def _open_boundary(data: dict[str, Any]) -> None:
    assert data["name"] == "Paris 7e Arrondissement" and data["kind"] == "district"
    assert data["parts"] == 2 and data["check"]["inside"] is True
    assert data["check"]["place"]["crs"] == "wgs84"


def _open_reach(data: dict[str, Any]) -> None:
    assert (data["method"], data["mode"], data["minutes"]) == ("isochrone", "walking", 10)
    assert not {"cell_m", "probed", "reachable"} & set(data)  # grid figures only on a grid
    assert data["center"]["crs"] == "wgs84" and data["area_km2"] > 0


def _open_along(data: dict[str, Any]) -> None:
    assert [p["name"] for p in data["pois"]] == ["Café Le Campanella"]
    assert data["pois"][0]["detour_m"] == pytest.approx(222, abs=1)  # the text: 222 m
    assert data["route"]["mode"] == "walking"


PARIS = {"crs": "wgs84"}
OPEN_CASES: list[tuple[str, dict[str, Any], Check]] = [
    ("get_weather", {"place": "Paris", "days": 1}, _open_weather),
    ("search_poi", {"near": "Eiffel Tower", "category": "cafe"}, _open_nearby),
    ("geocode", {"address": "Eiffel Tower"}, _open_geocode),
    ("suggest_places", {"text": "Eiffel"}, _open_suggest),
    ("reverse_geocode", {"lng": 2.2945, "lat": 48.8583, **PARIS}, _open_reverse),
    ("plan_route", {"origin": "2.2944813,48.8582602", "destination": "2.3376,48.8606",
                    **PARIS}, _open_route),
    ("measure_distance", {"origins": ["2.2945,48.8582", "2.3376,48.8606"],
                          "destination": "2.2945,48.8582", "mode": "straight", **PARIS},
     _open_straight),
    ("cycling_route", {"origin": "2.2945,48.8582", "destination": "2.3376,48.8606", **PARIS},
     _open_cycling),
    ("poi_detail", {"id": "way/5013364"}, _open_detail),
    ("plan_trip", {"places": ["2.2945,48.8583", "2.3376,48.8606", "2.3522,48.8566",
                              "2.2950,48.8738"], "round_trip": True, "mode": "walking",
                   **PARIS}, _open_trip),
    ("area_boundary", {"area": "Paris 7e", "check": "eiffel"}, _open_boundary),
    ("reachable_area", {"place": "2.2944813,48.8582602", "minutes": 10, "mode": "walking",
                        **PARIS}, _open_reach),
    ("search_along_route", {"origin": "2.2944813,48.8582602",
                            "destination": "2.3376441,48.8606111", "keywords": "cafe",
                            "within_m": 200, "mode": "walking", **PARIS}, _open_along),
]


@pytest.mark.parametrize(("name", "args", "check"), OPEN_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(OPEN_CASES)])
def test_open_lookups_give_typed_figures(open_tools, fake_open, name, args, check):
    check(checked_data(open_tools[name], args))


# ------------------------------------------------------------------------------ errors, keys


@pytest.mark.parametrize(("name", "args"), [
    ("get_weather", {"place": "北京"}),
    ("measure_distance", {"origins": ["北京南站"], "destination": "故宫"}),
    ("poi_detail", {"id": "B0FFG3MGDB"}),
])
def test_provider_errors_carry_no_data(amap_tools, fake_amap: FakeAmap, name, args):
    fake_amap.set_error(None, "10001")
    message = call(amap_tools[name], args)
    assert message.status == "error" and message.artifact is None
    assert FAKE_AMAP_KEY not in message.content


def test_bad_arguments_carry_no_data(amap_tools):
    message = call(amap_tools["get_weather"], {"place": "北京", "days": 99})
    assert message.status == "error" and message.artifact is None


class EchoingProvider:
    """A provider echoing its key in an answer (as a misconfigured proxy might)."""

    name, crs = "echo", "gcj02"

    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def geocode(self, address: str, city: str | None) -> list[Place]:
        return [Place(name=address, address=f"{address} key={self.secret}",
                      location=Coordinate(116.4, 39.9), district=self.secret)]

    async def aclose(self) -> None:
        return None


def test_a_key_a_provider_echoes_stays_out_of_the_data():
    secret = "s3cr3t-geo-key-0123456789"
    http = HttpClient()
    try:
        tools = GeoToolkit(config=GeoConfig(), provider=EchoingProvider(secret), http=http,
                           secrets=(secret,)).get_tools()
        geocode = next(t for t in tools if t.name == "geocode")
        message = call(geocode, {"address": "故宫"})
    finally:
        http.close()
    assert message.status == "success"
    place = message.artifact["data"]["places"][0]
    assert place["district"] == "***" and place["address"] == "故宫 key=***"
    assert secret not in json.dumps(message.artifact) + message.content


def test_under_a_fallback_the_data_is_in_the_answering_providers_system(
    amap, open_provider, fake_amap, fake_open
):
    # GEO_PROVIDER=auto abroad: the open services answer, in WGS-84, and the data says so
    provider = FallbackProvider(amap, open_provider)
    tools = {t.name: t for t in GeoToolkit(config=GeoConfig(), provider=provider).get_tools()}
    data = checked_data(tools["cycling_route"], {
        "origin": "2.2945,48.8582", "destination": "2.3376,48.8606", "crs": "wgs84"})
    assert data["source"] == "OSRM/OpenStreetMap"
    assert data["origin"]["crs"] == data["destination"]["crs"] == "wgs84"
    _point(data["origin"], 2.2945, 48.8582, "wgs84")
    assert fake_amap.requests == []
