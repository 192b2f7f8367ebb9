"""The tools through LangChain's ``invoke``/``ainvoke``, on the fake AMap server."""

from __future__ import annotations

import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.coords import Coordinate, gcj02_to_wgs84
from bailian_geo_agent.tools.map_commands import artifact_commands
from langchain_core.messages import ToolMessage

from tests.fakes.amap import FakeAmap
from tests.tools.conftest import FAKE_AMAP_KEY

TOOL_NAMES = {
    "measure_distance",
    "cycling_route",
    "transit_route",
    "ip_location",
    "poi_detail",
    "get_weather",
    "search_poi",
    "suggest_places",
    "geocode",
    "reverse_geocode",
    "plan_route",
    "plan_trip",
    "map_set_view",
    "map_add_markers",
    "map_draw_route",
    "map_fit_bounds",
    "map_clear",
    "search_along_route",
    "area_boundary",
    "reachable_area",
}
ENGLISH_EXAMPLES = {"search_along_route", "area_boundary", "reachable_area"}
"""Tools whose modules hold no Chinese literal at all (tests/test_catalogue.py)."""


def call(tool, args: dict) -> ToolMessage:
    """Invoke like an agent does (a ToolCall), returning the ToolMessage."""
    return tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": args})


def test_toolkit_tools_and_descriptions(amap_tools):
    assert set(amap_tools) == TOOL_NAMES
    for tool in amap_tools.values():
        assert tool.description and tool.args_schema is not None
        if tool.name not in ENGLISH_EXAMPLES:
            assert any("\u4e00" <= ch <= "\u9fff" for ch in tool.description)  # Chinese example


def test_weather_sync_text(amap_tools):
    text = amap_tools["get_weather"].invoke({"place": "海淀", "days": 2})
    assert "海淀区" in text and "26°C" in text and "湿度35%" in text
    assert "16~29°C" in text and "2025-05-22" not in text


async def test_weather_async_for_wgs84_coordinates(amap_tools, fake_amap: FakeAmap):
    lng, lat = gcj02_to_wgs84(116.48, 39.99)
    text = await amap_tools["get_weather"].ainvoke({"lng": lng, "lat": lat, "crs": "wgs84"})
    assert "实况" in text and "(gcj02)" in text
    sent = fake_amap.requests_to("/v3/geocode/regeo")[0].params["location"]
    assert sent == "116.480000,39.990000"  # converted to GCJ-02 before calling AMap


def test_poi_nearby_and_keyword(amap_tools, fake_amap: FakeAmap):
    text = amap_tools["search_poi"].invoke({"keywords": "咖啡", "near": "天安门", "radius": 500})
    assert "星巴克(国贸商城店)" in text and "距120米" in text and "评分4.6" in text
    assert "010-65059526" in text and "116.458795,39.909398 (gcj02)" in text
    assert "[]" not in text
    text = amap_tools["search_poi"].invoke({"keywords": "咖啡", "city": "北京", "limit": 1})
    assert text.count("\n") == 1
    assert fake_amap.requests_to("/v3/place/text")[0].params["offset"] == "1"


def test_poi_cache_spares_quota(amap_tools, fake_amap: FakeAmap):
    for _ in range(3):
        amap_tools["search_poi"].invoke({"keywords": "咖啡", "city": "北京"})
    assert len(fake_amap.requests_to("/v3/place/text")) == 1


def test_suggest_geocode_reverse_route(amap_tools):
    assert "北京西站" in amap_tools["suggest_places"].invoke({"text": "北京西"})
    assert "116.482086,39.990496" in amap_tools["geocode"].invoke(
        {"address": "北京市朝阳区阜通东大街6号"}
    )
    text = amap_tools["reverse_geocode"].invoke({"lng": 116.482086, "lat": 39.990496})
    assert "方恒国际中心" in text and "110105" in text
    text = amap_tools["plan_route"].invoke(
        {"origin": "北京南站", "destination": "故宫", "mode": "walking"}
    )
    assert "步行" in text and "公里" in text and "1. 沿辅路" in text


def test_route_accepts_coordinate_strings(amap_tools, fake_amap: FakeAmap):
    amap_tools["plan_route"].invoke({"origin": "116.4,39.9", "destination": "116.5,39.95"})
    params = fake_amap.requests_to("/v3/direction/driving")[0].params
    assert params["origin"] == "116.400000,39.900000"
    assert not fake_amap.requests_to("/v3/geocode/geo")


@pytest.mark.parametrize(
    ("code", "words"),
    [("10001", "高德地图API Key无效"), ("10003", "今日调用次数"), ("10021", "频繁")],
)
def test_provider_errors_become_tool_results(amap_tools, fake_amap: FakeAmap, code, words):
    fake_amap.set_error(None, code)
    message = call(amap_tools["get_weather"], {"place": "北京"})
    assert isinstance(message, ToolMessage) and message.status == "error"
    assert words in message.content and FAKE_AMAP_KEY not in message.content


async def test_async_errors_and_empty_results(amap_tools, fake_amap: FakeAmap):
    fake_amap.set_response("/v3/assistant/inputtips", {"status": "1", "info": "OK",
                                                       "infocode": "10000", "count": "0",
                                                       "tips": []})
    text = await amap_tools["suggest_places"].ainvoke({"text": "zzzz"})
    assert "没有" in text
    fake_amap.set_response("/v3/geocode/geo", {"garbage": True}, status=503)
    text = await amap_tools["geocode"].ainvoke({"address": "故宫"})
    assert "HTTP 503" in text


def test_outside_china_is_explained(amap_tools):
    text = amap_tools["reverse_geocode"].invoke({"lng": 2.2945, "lat": 48.8584, "crs": "wgs84"})
    assert "不在中国境内" in text


@pytest.mark.parametrize(
    ("name", "args", "field"),
    [
        ("get_weather", {"lat": 100, "lng": 1}, "lat"),
        ("get_weather", {"place": "   "}, "place"),
        ("get_weather", {"place": "北" * 5000}, "place"),
        ("get_weather", {}, ("place", "lng", "lat")),
        ("search_poi", {"keywords": "咖啡", "radius": "far"}, "radius"),
        ("search_poi", {"keywords": "咖啡", "limit": 1000}, "limit"),
        ("reverse_geocode", {"lng": "east", "lat": 30}, "lng"),
        ("reverse_geocode", {"lng": float("nan"), "lat": 30}, "lng"),
        ("plan_route", {"origin": "", "destination": "故宫"}, "origin"),
        ("plan_route", {"origin": "a", "destination": "b", "mode": "flying"}, "mode"),
        ("map_set_view", {"place": "故宫", "zoom": 99}, "zoom"),
        ("map_add_markers", {"markers": []}, "markers"),
        ("map_draw_route", {"origin": "故宫"}, ("origin", "destination", "path")),
        ("map_clear", {"target": "everything"}, "target"),
    ],
)
def test_malformed_arguments_give_a_clear_result(
    amap_tools, fake_amap: FakeAmap, name, args, field
):
    message = call(amap_tools[name], args)
    assert message.status == "error"
    assert "参数无效" in message.content and len(message.content) < 800
    # the field at fault; whole-object checks (place-or-coordinates, origin-or-path) name
    # every alternative
    names = (field,) if isinstance(field, str) else field
    assert [name for name in names if name not in message.content] == []
    assert not fake_amap.requests


def test_map_set_view_artifact(amap_tools):
    message = call(amap_tools["map_set_view"], {"place": "故宫", "zoom": 16})
    assert message.content.startswith("地图已定位到")
    action = message.artifact["map_action"]
    assert action == {
        "op": "set_view",
        "center": {"lng": 116.397026, "lat": 39.918058, "crs": "gcj02"},
        "zoom": 16,
        "label": "北京市东城区故宫博物院",
    }


def test_map_add_markers_keeps_the_found_ones(amap_tools):
    message = call(
        amap_tools["map_add_markers"],
        {"markers": [{"place": "故宫", "description": "明清皇宫"}, {"place": "火星基地"},
                     {"label": "三里屯", "lng": 116.455, "lat": 39.937}]},
    )
    markers = message.artifact["map_action"]["markers"]
    assert message.artifact["map_action"]["op"] == "add_markers"
    assert [m["label"] for m in markers] == ["故宫", "三里屯"]
    assert markers[0]["description"] == "明清皇宫" and all(m["crs"] == "gcj02" for m in markers)
    assert "2个标记" in message.content and "火星基地" in message.content


def test_map_add_markers_none_found_is_an_error_without_artifact(amap_tools):
    message = call(amap_tools["map_add_markers"], {"markers": [{"place": "火星基地"}]})
    assert message.status == "error" and message.artifact is None


def test_map_draw_route_planned_and_explicit(amap_tools):
    message = call(amap_tools["map_draw_route"], {"origin": "北京南站", "destination": "故宫"})
    action = message.artifact["map_action"]
    assert action["op"] == "draw_route" and action["crs"] == "gcj02" and action["mode"] == "driving"
    assert action["path"][0] == [116.378517, 39.865246] and len(action["path"]) >= 3
    assert action["destination"]["label"] == "北京市东城区故宫博物院"
    assert action["distance_m"] > 0 and action["duration_s"] > 0
    path = [{"lng": 116.0 + i / 1000, "lat": 39.9} for i in range(1200)]
    message = call(amap_tools["map_draw_route"], {"path": path})
    action = message.artifact["map_action"]
    assert len(action["path"]) == 500 and action["path"][-1] == [117.199, 39.9]
    assert action["mode"] is None


def test_map_fit_bounds_and_clear(amap_tools):
    message = call(
        amap_tools["map_fit_bounds"],
        {"points": [{"place": "故宫"}, {"lng": 116.5, "lat": 40.0}], "padding": 20},
    )
    bounds = message.artifact["map_action"]["bounds"]
    assert bounds["southwest"] == {"lng": 116.397026, "lat": 39.918058, "crs": "gcj02"}
    assert bounds["northeast"] == {"lng": 116.5, "lat": 40.0, "crs": "gcj02"}
    single = call(amap_tools["map_fit_bounds"], {"points": [{"lng": 116.4, "lat": 39.9}]})
    box = single.artifact["map_action"]["bounds"]
    assert box["southwest"]["lng"] < 116.4 < box["northeast"]["lng"]
    cleared = call(amap_tools["map_clear"], {})
    assert cleared.artifact == {"map_action": {"op": "clear", "target": "all"}}


def test_map_commands_in_wgs84_for_an_osm_front_end(amap):
    from bailian_geo_agent.tools.config import GeoConfig

    toolkit = GeoToolkit(config=GeoConfig(amap_api_key=FAKE_AMAP_KEY), provider=amap,
                         map_crs="wgs84")
    tool = {t.name: t for t in toolkit.get_tools()}["map_set_view"]
    center = call(tool, {"lng": 116.38404722455657, "lat": 39.91334545536069}).artifact[
        "map_action"
    ]["center"]
    assert center["crs"] == "wgs84"
    assert center["lng"] == pytest.approx(116.377817, abs=1e-6)
    assert center["lat"] == pytest.approx(39.911954, abs=1e-6)


@pytest.mark.parametrize(("name", "args"), [
    ("geocode", {"address": "故宫"}),
    ("get_weather", {"place": "北京"}),
    ("search_poi", {"keywords": "咖啡", "city": "北京"}),
    ("reverse_geocode", {"lng": 116.482086, "lat": 39.990496}),
])
def test_non_map_tools_have_no_map_action(amap_tools, name, args):
    message = call(amap_tools[name], args)
    assert message.status == "success" and message.content  # an answer, not an error
    # no map command travels with a lookup (only its hand-off links, tests/tools/test_links.py,
    # and its typed data, tests/tools/test_outputs.py)
    assert artifact_commands(message.artifact) == []
    assert set(message.artifact or {}) <= {"links", "data"}


def test_toolkit_from_environment(fake_amap_env: FakeAmap):
    tools = {t.name: t for t in GeoToolkit().get_tools()}
    assert "海淀" in tools["get_weather"].invoke({"place": "海淀"})
    assert fake_amap_env.requests_to("/v3/weather/weatherInfo")


def test_toolkit_can_leave_out_map_tools(amap):
    from bailian_geo_agent.tools.config import GeoConfig

    toolkit = GeoToolkit(config=GeoConfig(), provider=amap, include_map_tools=False)
    assert {t.name for t in toolkit.get_tools()} == {
        n for n in TOOL_NAMES if not n.startswith("map_")
    }


def test_coordinate_is_exported_and_converts_both_ways():
    from bailian_geo_agent.tools import Coordinate as Exported

    assert Exported is Coordinate
    beijing = Coordinate(116.48, 39.99)  # AMap's system unless told otherwise
    gps = beijing.to("wgs84")
    assert gps.crs == "wgs84" and gps.as_dict() != beijing.as_dict()
    assert abs(gps.lng - beijing.lng) > 1e-3  # GCJ-02 is offset by hundreds of metres
    back = gps.to("gcj02")
    assert back.crs == "gcj02"
    assert (back.lng, back.lat) == pytest.approx((116.48, 39.99), abs=1e-5)
    assert Coordinate(2.2945, 48.8584, "wgs84").to("gcj02").as_dict() == {
        "lng": 2.2945, "lat": 48.8584, "crs": "gcj02"}  # outside China: no offset


def test_one_list_of_tools_exported_and_documented():
    """toolkit lists each tool class once; tools exports each; the README table names each."""
    from pathlib import Path

    from bailian_geo_agent import tools
    from bailian_geo_agent.tools.toolkit import LOOKUP_TOOLS, MAP_TOOLS

    classes = LOOKUP_TOOLS + MAP_TOOLS
    assert len(set(classes)) == len(classes)
    assert {cls.__name__ for cls in classes} <= set(tools.__all__)
    names = {cls.model_fields["name"].default for cls in classes}
    assert names == TOOL_NAMES
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in names)
