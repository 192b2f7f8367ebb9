"""plan_trip over the fake AMap and the fake OSRM: order, legs, days, map commands, links,
errors in both languages, and the documented OSRM /trip body."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from bailian_geo_agent.prompts.catalogue import use_language
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.coords import Coordinate, haversine_m, parse_lnglat
from bailian_geo_agent.tools.map_commands import parse_map_action
from bailian_geo_agent.tools.providers.fallback import FallbackProvider
from bailian_geo_agent.tools.providers.open_trips import parse_trip
from bailian_geo_agent.tools.toolkit import GeoToolkit
from bailian_geo_agent.tools.trip import PlanTripTool
from langchain_core.messages import ToolMessage

from tests.fakes.amap import FakeAmap
from tests.tools.fake_open import FakeOpenProviders

DATA = Path(__file__).parent / "data"
DAY_TRIP = ["故宫", "798艺术区", "景山公园", "天坛公园", "南锣鼓巷"]


def call(tool, args: dict) -> ToolMessage:
    return tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": args})


@pytest.fixture
def amap_trip(amap) -> PlanTripTool:
    return PlanTripTool(provider=amap)


@pytest.fixture
def open_trip(open_provider) -> PlanTripTool:
    return PlanTripTool(provider=open_provider)


def _commands(message: ToolMessage) -> list[dict]:
    commands = message.artifact["map_actions"]
    for command in commands:
        parse_map_action(command)  # every command valid against the typed models
    return commands


def test_amap_day_trip_order_legs_commands_and_links(amap_trip, fake_amap: FakeAmap):
    with use_language("zh"):
        message = call(amap_trip, {"places": DAY_TRIP, "start": True})
    assert message.status == "success"
    lines = message.content.splitlines()
    assert lines[0].startswith("驾车行程（高德地图，5个地点，顺序为最优（精确计算））：全程")
    stops = [line for line in lines if line[:2] in {f"{k}." for k in range(1, 6)}]
    # the shortest order from the Forbidden City (26.0 km; via Jingshan first: 28.3 km)
    assert stops == ["1. 故宫", "2. 天坛公园", "3. 景山公园", "4. 南锣鼓巷", "5. 798艺术区"]
    assert "全程26.0公里，路上约52分钟" in lines[0]
    assert sum(line.startswith("   ↓ ") for line in lines) == 4
    # the matrix: one /v3/distance call per place, the others as origins
    distance_calls = fake_amap.requests_to("/v3/distance")
    assert len(distance_calls) == 5
    assert all(len(r.params["origins"].split("|")) == 4 and r.params["type"] == "1"
               for r in distance_calls)
    # one driving call through the 3 places between the ends
    (driving,) = fake_amap.requests_to("/v3/direction/driving")
    assert len(driving.params["waypoints"].split(";")) == 3
    commands = _commands(message)
    assert [c["op"] for c in commands] == ["add_stops", "draw_route", "fit_bounds"]
    numbered = commands[0]["stops"]
    assert [s["number"] for s in numbered] == [1, 2, 3, 4, 5]
    assert [s["label"] for s in numbered] == [line.split(". ", 1)[1] for line in stops]
    assert numbered[0] == {"lng": 116.397026, "lat": 39.918058, "crs": "gcj02",
                           "label": "故宫", "number": 1}
    route = commands[1]
    assert "layer" not in route and "color" not in route
    assert route["mode"] == "driving" and route["crs"] == "gcj02"
    assert route["origin"]["label"] == "故宫" and route["destination"]["label"] == "798艺术区"
    assert route["path"][0] == [116.397026, 39.918058]
    assert route["path"][-1] == [116.495105, 39.984137]
    links = message.artifact["links"]
    kinds = [link["kind"] for link in links]
    assert kinds == ["amap_navigation", "amap_app_route"] + ["amap_marker"] * 5
    assert "vian=3" in links[1]["url"]


def test_amap_legs_are_the_matrix_figures(amap_trip, fake_amap: FakeAmap):
    message = call(amap_trip, {"places": ["故宫", "景山公园"], "start": True})
    distance = fake_amap.requests_to("/v3/distance")
    assert len(distance) == 2
    route = _commands(message)[1]
    # /v3/distance (fake: 1.3 x the 818 m straight line) gives the leg, not the driving
    # route (fake: 1.1 x an L-shaped line, about 906 m)
    assert route["distance_m"] == 1063.0


def test_more_than_16_places_between_the_ends_take_two_driving_calls(amap, fake_amap):
    places = [f"116.{300 + 7 * k:03d},39.{900 + 3 * k:03d}" for k in range(20)]
    message = call(PlanTripTool(provider=amap), {"places": places, "start": True, "end": True})
    assert message.status == "success", message.content
    calls = fake_amap.requests_to("/v3/direction/driving")
    assert [len(c.params["waypoints"].split(";")) for c in calls] == [16, 1]
    assert calls[0].params["destination"] == calls[1].params["origin"]
    assert "启发式" in message.content or "heuristic" in message.content
    # and how far from the best order it may be, from a computed lower bound
    assert re.search(r"(至多比最优顺序多|at most )\d+\.\d%", message.content), message.content


def test_walking_trip_routes_each_leg(amap_trip, fake_amap: FakeAmap):
    message = call(amap_trip, {"places": ["故宫", "景山公园", "南锣鼓巷"], "mode": "walking",
                               "round_trip": True})
    assert message.status == "success", message.content
    assert all(r.params["type"] == "3" for r in fake_amap.requests_to("/v3/distance"))
    assert len(fake_amap.requests_to("/v3/direction/walking")) == 3  # back to the start too
    assert "回到故宫" in message.content or "back to" in message.content
    route = _commands(message)[1]
    assert route["origin"]["label"] == route["destination"]["label"] == "故宫"


def test_day_split_gives_each_day_its_layer_colour_and_route(amap_trip):
    with use_language("en"):
        message = call(amap_trip, {"places": DAY_TRIP, "start": True, "day_hours": 3,
                                   "stay_minutes": 90})
    assert message.status == "success", message.content
    commands = _commands(message)
    routes = [c for c in commands if c["op"] == "draw_route"]
    stops = [c for c in commands if c["op"] == "add_stops"]
    assert len(routes) >= 2 and len(stops) == len(routes)
    assert [r["layer"] for r in routes] == [f"day {k}" for k in range(1, len(routes) + 1)]
    assert len({r["color"] for r in routes}) == len(routes)
    assert [s["layer"] for s in stops] == [r["layer"] for r in routes]
    numbers = [s["number"] for c in stops for s in c["stops"]]
    assert numbers == [1, 2, 3, 4, 5]  # each place once, on the day it is first reached
    for earlier, later in itertools.pairwise(routes):
        assert earlier["destination"] == later["origin"]  # a day starts where the last ended
    assert commands[-1]["op"] == "fit_bounds"
    assert "Day 1: 故宫 → " in message.content and "Day 2: " in message.content


def test_open_round_trip_up_to_12_places_is_exact_from_the_table(open_trip, fake_open):
    # OSRM's /trip orders by farthest insertion (approximate): up to 12 places the order is
    # exact, from /table, and /route goes through it
    places = ["2.2945,48.8583", "2.3376,48.8606", "2.3522,48.8566", "2.2950,48.8738"]
    with use_language("en"):
        message = call(open_trip, {"places": places, "crs": "wgs84", "round_trip": True,
                                   "mode": "walking"})
    assert message.status == "success", message.content
    assert [r.path.split("/")[1] for r in fake_open.requests] == ["table", "route"]
    assert "optimal order (exact)" in message.content.splitlines()[0]
    route = _commands(message)[1]
    assert route["origin"]["label"] == route["destination"]["label"] == places[0]


def test_open_round_trip_of_many_places_uses_osrm_trip(open_trip, fake_open: FakeOpenProviders):
    places = [f"{2.29 + 0.005 * k:.4f},{48.85 + 0.002 * (k % 5):.4f}" for k in range(14)]
    message = call(open_trip, {"places": places, "crs": "wgs84", "round_trip": True,
                               "mode": "walking"})
    assert message.status == "success", message.content
    (trip,) = [r for r in fake_open.requests if "/trip/" in r.path]
    assert trip.provider == "osrm-foot" and trip.path.startswith("/trip/v1/foot/")
    assert trip.params == {"roundtrip": "true", "source": "first", "destination": "any",
                           "overview": "full", "geometries": "geojson"}
    commands = _commands(message)
    assert commands[0]["stops"][0]["label"] == places[0]
    assert commands[1]["crs"] == "wgs84" and commands[1]["mode"] == "walking"
    kinds = [link["kind"] for link in message.artifact["links"]]
    assert kinds[0] == "osm_directions" and kinds.count("geo") == 14


def test_open_trip_with_free_ends_orders_from_the_table(open_trip, fake_open):
    places = ["2.2945,48.8583", "2.3522,48.8566", "2.3376,48.8606"]
    message = call(open_trip, {"places": places, "crs": "wgs84", "start": True})
    assert message.status == "success", message.content
    services = [r.path.split("/")[1] for r in fake_open.requests]
    assert services == ["table", "route"]
    (table,) = [r for r in fake_open.requests if r.path.startswith("/table/")]
    assert table.params == {"annotations": "duration,distance"}
    stops = _commands(message)[0]["stops"]
    assert [s["label"] for s in stops] == [places[0], places[2], places[1]]  # west to east


def test_documented_osrm_trip_body_is_read() -> None:
    body = json.loads((DATA / "osrm_trip_docs.json").read_text(encoding="utf-8"))
    points = [Coordinate(120.0, 10.0, "wgs84"), Coordinate(120.3, 10.0, "wgs84"),
              Coordinate(120.1, 10.0, "wgs84")]
    trip = parse_trip(body, points, "driving", roundtrip=False)
    assert trip.order == [0, 2, 1] and trip.method == "provider"
    assert [(leg.from_index, leg.to_index) for leg in trip.route.legs] == [(0, 2), (2, 1)]
    assert [leg.distance_m for leg in trip.route.legs] == [30.0, 60.0]
    assert trip.route.duration_s == 300.0
    assert [[p.lng for p in leg.path] for leg in trip.route.legs] == [[120.0, 120.1],
                                                                     [120.1, 120.2, 120.3]]


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("lang", "places", "words"), [
    ("zh", ["故宫"], "至少2个地点（收到1个）"),
    ("en", ["故宫"], "at least 2 places (got 1)"),
    ("zh", [f"{116 + k / 100},39.9" for k in range(26)], "最多规划25个地点（收到26个）：请分成"),
    ("en", [f"{116 + k / 100},39.9" for k in range(26)], "At most 25 places per trip (got 26)"),
])
def test_too_few_or_too_many_places(amap_trip, fake_amap, lang, places, words):
    with use_language(lang):
        message = call(amap_trip, {"places": places})
    assert message.status == "error" and words in message.content
    assert fake_amap.requests == []


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", "找不到这些地点：不存在的地方、另一个假地方。请给出更完整的名称"),
    ("en", "These places could not be found: 不存在的地方, 另一个假地方. Give a fuller name"),
])
def test_places_not_found_are_named(amap_trip, lang, words):
    with use_language(lang):
        message = call(amap_trip, {"places": ["故宫", "不存在的地方", "另一个假地方"]})
    assert message.status == "error" and words in message.content


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", "无法规划经过这些地点的路线：宽窄巷子（与其他地点之间没有可用路线）"),
    ("en", "No route reaches these places from the others: 宽窄巷子. Try another travel mode"),
])
def test_unreachable_place_is_named(amap_trip, lang, words):
    # AMap plans no walk over 100 km: Chengdu is cut off from Beijing on foot
    with use_language(lang):
        message = call(amap_trip, {"places": ["故宫", "景山公园", "宽窄巷子"], "mode": "walking"})
    assert message.status == "error" and words in message.content


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", "这些地点超出高德地图的服务范围：2.2945,48.8583。请去掉它们"),
    ("en", "These places are outside the area 高德地图 covers: 2.2945,48.8583. Leave them out"),
])
def test_place_outside_coverage_is_named(amap_trip, lang, words):
    with use_language(lang):
        message = call(amap_trip, {"places": ["故宫", "2.2945,48.8583"], "crs": "wgs84"})
    assert message.status == "error" and words in message.content


def test_open_unreachable_place_from_osrm_trip(open_trip):
    places = ["2.2945,48.8583", "2.3376,48.8606", "0.0,-70.0"]
    with use_language("en"):
        message = call(open_trip, {"places": places, "crs": "wgs84", "round_trip": True})
    assert message.status == "error"
    assert "No route reaches these places from the others: 0.0,-70.0" in message.content


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", "不提供行程规划：请改用 plan_route 逐段规划"),
    ("en", "does not plan trips: plan each leg with plan_route"),
])
def test_provider_without_trips(amap, lang, words):
    class Plain:  # a provider with only the base methods
        name = "Plain"
        crs = "gcj02"
        http = amap.http

        async def geocode(self, address, city):
            return await amap.geocode(address, city)

    with use_language(lang):
        message = call(PlanTripTool(provider=Plain()), {"places": ["故宫", "景山公园"]})
    assert message.status == "error" and f"Plain{words}" in message.content.replace(" does", "does")


def test_round_trip_and_end_together_are_refused(amap_trip):
    with use_language("en"):
        message = call(amap_trip, {"places": ["故宫", "景山公园"], "round_trip": True, "end": True})
    assert message.status == "error" and "use round_trip or end, not both" in message.content


def test_fallback_plans_abroad_on_the_open_providers(amap, open_provider, fake_open):
    tool = PlanTripTool(provider=FallbackProvider(amap, open_provider))
    message = call(tool, {"places": ["2.2945,48.8583", "2.3376,48.8606", "2.3522,48.8566"],
                          "crs": "wgs84", "start": True})
    assert message.status == "success", message.content
    assert "OSRM" in message.content.splitlines()[0]


def test_fallback_trip_abroad_carries_open_links(amap, open_provider, fake_open):
    # the trip came from OSRM (WGS-84 data): openstreetmap.org and geo: links, not AMap's
    tool = PlanTripTool(provider=FallbackProvider(amap, open_provider))
    message = call(tool, {"places": ["2.2945,48.8583", "2.3376,48.8606", "2.3522,48.8566"],
                          "crs": "wgs84", "start": True})
    assert message.status == "success", message.content
    kinds = [link["kind"] for link in message.artifact["links"]]
    assert kinds == ["osm_directions"] * 2 + ["geo", "osm_marker"] * 3


def test_in_the_toolkit_right_after_plan_route(amap):
    names = [t.name for t in GeoToolkit(config=GeoConfig(provider="amap", amap_api_key="k"),
                                        provider=amap).get_tools()]
    assert names[names.index("plan_route") + 1] == "plan_trip"


def test_a_round_trip_counts_no_stay_back_at_the_start(amap_trip):
    # 5 places, 90 minutes at each, about an hour on the way: 8.5 hours, within a 9-hour day
    # (with a stay counted at the return too, the way back was a second day)
    message = call(amap_trip, {"places": DAY_TRIP, "round_trip": True, "day_hours": 9,
                               "stay_minutes": 90})
    assert message.status == "success", message.content
    routes = [c for c in _commands(message) if c["op"] == "draw_route"]
    assert len(routes) == 1 and "layer" not in routes[0]
    assert routes[0]["origin"]["label"] == routes[0]["destination"]["label"] == "故宫"


def test_schema_sent_to_the_model_is_small(amap_trip):
    from langchain_core.utils.function_calling import convert_to_openai_tool

    schema = json.dumps(convert_to_openai_tool(amap_trip), ensure_ascii=False)
    assert len(schema) <= 1400 and len(amap_trip.description) <= 300
    assert "instead of chaining plan_route" in amap_trip.description


def test_cycling_trip_with_a_poi_id_on_amap(amap_trip, fake_amap: FakeAmap):
    message = call(amap_trip, {"places": ["B0FFG3MGDB", "故宫", "景山公园"], "mode": "cycling",
                               "start": True})
    assert message.status == "success", message.content
    assert [r.params["id"] for r in fake_amap.requests_to("/v3/place/detail")] == ["B0FFG3MGDB"]
    # no cycling type in /v3/distance: walking distances order the places
    assert all(r.params["type"] == "3" for r in fake_amap.requests_to("/v3/distance"))
    assert len(fake_amap.requests_to("/v5/direction/bicycling")) == 2
    stops = _commands(message)[0]["stops"]
    assert stops[0]["label"] == "星巴克(国贸商城店)"  # the POI's own name
    assert _commands(message)[1]["mode"] == "cycling"


def test_amap_cycling_across_the_city_estimates_pairs_beyond_the_walking_matrix(
        amap_trip, fake_amap: FakeAmap):
    # /v3/distance walks only up to 5 km: 798 (about 12 km off) is not asked but estimated,
    # the legs themselves are ridden (/v5/direction/bicycling)
    message = call(amap_trip, {"places": ["故宫", "798艺术区", "景山公园", "南锣鼓巷"],
                               "mode": "cycling", "start": True})
    assert message.status == "success", message.content
    asked = fake_amap.requests_to("/v3/distance")
    assert len(asked) == 3 and all(r.params["type"] == "3" for r in asked)
    for request in asked:
        end = parse_lnglat(request.params["destination"])
        assert "116.495105,39.984137" not in request.params["origins"]  # 798
        for start in request.params["origins"].split("|"):
            assert end is not None and haversine_m(parse_lnglat(start), end) <= 4000
    assert len(fake_amap.requests_to("/v5/direction/bicycling")) == 3
    stops = _commands(message)[0]["stops"]
    assert [s["label"] for s in stops][-1] == "798艺术区"


def test_open_unreachable_place_from_the_table(open_trip, fake_open):
    places = ["2.2945,48.8583", "2.3376,48.8606", "0.0,-70.0"]
    with use_language("zh"):
        message = call(open_trip, {"places": places, "crs": "wgs84"})
    assert message.status == "error"
    assert "无法规划经过这些地点的路线：0.0,-70.0" in message.content
    assert [r.path.split("/")[1] for r in fake_open.requests] == ["table"]


@pytest.mark.parametrize(("n", "calls"), [(2, [(0, 1)]), (18, [(0, 17)]),
                                          (19, [(0, 17), (17, 18)]),
                                          (26, [(0, 17), (17, 25)])])
def test_driving_calls_take_at_most_16_waypoints(n, calls):
    from bailian_geo_agent.tools.providers.amap_trips import MAX_WAYPOINTS, _chunks

    assert _chunks(n) == calls
    assert all(last - first - 1 <= MAX_WAYPOINTS for first, last in calls)


def test_split_path_cuts_at_the_stops():
    from bailian_geo_agent.tools.providers.trips import split_path

    line = [Coordinate(x, 0.0, "wgs84") for x in (0.0, 0.5, 1.0, 1.5, 2.0)]
    stops = [Coordinate(0.0, 0.0, "wgs84"), Coordinate(1.01, 0.0, "wgs84"),
             Coordinate(2.0, 0.0, "wgs84")]
    assert [[p.lng for p in piece] for piece in split_path(line, stops)] == [
        [0.0, 0.5, 1.0], [1.0, 1.5, 2.0]]


async def test_on_mcp_plan_trip_is_a_lookup_answering_text_links_and_commands(amap_trip):
    import jsonschema
    from bailian_geo_agent.agent.mcp.server import call as mcp_call
    from bailian_geo_agent.agent.mcp.server import describe, typed_output_schema
    from bailian_geo_agent.tools.outputs import TripData

    described = describe(amap_trip)
    assert described.output_schema == typed_output_schema(TripData)  # figures, links, commands
    assert described.annotations.read_only_hint is True
    result = await mcp_call(amap_trip, {"places": ["故宫", "景山公园", "南锣鼓巷"]})
    assert result.is_error is False
    assert result.content[0].text.startswith("驾车行程") or "trip" in result.content[0].text
    structured = result.structured_content
    jsonschema.Draft202012Validator(described.output_schema).validate(structured)
    assert [s["number"] for s in structured["stops"]] == [1, 2, 3]
    assert isinstance(structured["distance_m"], float) and structured["distance_m"] > 0
    assert [c["op"] for c in structured["map_actions"]] == ["add_stops", "draw_route",
                                                           "fit_bounds"]
    assert structured["links"] and all(link["url"] in result.content[0].text
                                       for link in structured["links"])
