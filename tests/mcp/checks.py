"""What every transport and protocol revision must show: the same tools, and the same calls
answered the same way (``session``: an ``mcp.Client`` of the 2.x SDK, either era)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import GeoConfig
from mcp import Client

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY

READ_ONLY = {
    "get_weather", "search_poi", "suggest_places", "geocode", "reverse_geocode", "plan_route",
    "plan_trip",
    "measure_distance", "cycling_route", "transit_route", "ip_location", "poi_detail",
    "search_along_route", "area_boundary", "reachable_area",
}
MAP_TOOLS = {"map_set_view", "map_add_markers", "map_draw_route", "map_fit_bounds", "map_clear"}
# Lookups with an artifact (every one: its typed "data", tools/outputs.py; most with hand-off
# links): structured content {"links": [...]}.
LINK_TOOLS = {
    "get_weather", "measure_distance",
    "search_poi", "suggest_places", "geocode", "reverse_geocode", "plan_route", "cycling_route",
    "transit_route", "ip_location", "poi_detail", "plan_trip", "search_along_route",
    "area_boundary", "reachable_area",
}
# Each command's keys, as tools/README.md documents the map_action contract.
COMMAND_KEYS = {
    "set_view": {"op", "center", "zoom", "label"},
    "add_markers": {"op", "markers", "layer", "color"},
    "draw_route": {"op", "crs", "path", "mode", "origin", "destination", "distance_m",
                   "duration_s", "layer", "color"},
    "fit_bounds": {"op", "bounds", "padding"},
    "clear": {"op", "target"},
    "add_stops": {"op", "stops", "layer", "color"},
    "draw_area": {"op", "crs", "label", "kind", "polygons", "layer", "color"},
    "layer": {"op", "name", "action"},
}


def toolkit_tools() -> list[Any]:
    config = GeoConfig(provider="amap", amap_api_key="unused-here")
    return GeoToolkit(config=config).get_tools()


async def check_tool_list(session: Client) -> None:
    """Names, descriptions and schemas are the toolkit's own; titles, icons, hints and an
    output schema on every tool; the same listing each time."""
    listing = await session.list_tools()
    listed = listing.tools
    ours = toolkit_tools()
    assert [t.name for t in listed] == [t.name for t in ours]
    for mcp_tool, tool in zip(listed, ours, strict=True):
        assert mcp_tool.description == tool.description
        assert mcp_tool.input_schema == tool.args_schema.model_json_schema()
        assert mcp_tool.annotations is not None
        assert mcp_tool.annotations.read_only_hint is (tool.name in READ_ONLY), tool.name
        assert mcp_tool.title and mcp_tool.title != mcp_tool.name
        [icon] = mcp_tool.icons
        assert icon.src.startswith("data:image/svg+xml;base64,") and icon.mime_type
        assert mcp_tool.output_schema is not None, mcp_tool.name
    assert {t.name for t in listed} == READ_ONLY | MAP_TOOLS
    assert len({t.title for t in listed}) == len(listed)
    for mcp_tool in listed:
        if mcp_tool.name in MAP_TOOLS:
            check_output_schema(mcp_tool.output_schema)
        else:
            check_handoff_schema(mcp_tool.output_schema)
    again = await session.list_tools()
    assert again.model_dump_json(by_alias=True) == listing.model_dump_json(by_alias=True)


def check_handoff_schema(schema: dict[str, Any]) -> None:
    """A lookup's ``outputSchema``: its typed data's fields plus ``{"links": [{kind, label,
    url}], "map_actions": [...]}`` (the links checked alone: the data's own are required)."""
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"links", "map_actions"} <= set(schema["properties"])
    assert "links" not in schema.get("required", [])
    validator = jsonschema.Draft202012Validator({**schema, "required": []})
    validator.validate({"links": [{"kind": "geo", "label": "x", "url": "geo:1,2"}]})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"links": [{"kind": "telnet", "label": "x", "url": "x"}]})


def check_output_schema(schema: dict[str, Any]) -> None:
    """A map tool's ``outputSchema``: ``{"map_action": command}``, every command with its keys."""
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["required"] == ["map_action"]
    union = schema["properties"]["map_action"]
    commands = [schema["$defs"][ref["$ref"].removeprefix("#/$defs/")] for ref in union["oneOf"]]
    assert {c["properties"]["op"]["const"]: set(c["properties"]) for c in commands} == COMMAND_KEYS
    assert all("op" in c["required"] for c in commands)


async def check_map_results(session: Client) -> None:
    """Every map tool's structured content validates against the outputSchema it is listed
    with (the client validates too), and the schema refuses a command that is not one."""
    schemas = {t.name: t.output_schema for t in (await session.list_tools()).tools}
    calls = {
        "map_set_view": {"place": "故宫", "zoom": 15},
        "map_add_markers": {"markers": [{"place": "故宫", "description": "明清皇宫"},
                                        {"label": "三里屯", "lng": 116.455, "lat": 39.937}]},
        "map_draw_route": {"path": [{"lng": 116.4, "lat": 39.9}, {"lng": 116.41, "lat": 39.91}]},
        "map_fit_bounds": {"points": [{"place": "故宫"}, {"lng": 116.5, "lat": 40.0}]},
        "map_clear": {"target": "markers"},
    }
    ops = []
    for name, args in calls.items():
        result = await session.call_tool(name, args)
        assert not result.is_error, text_of(result)
        validator = jsonschema.Draft202012Validator(schemas[name])
        validator.validate(result.structured_content)
        action = result.structured_content["map_action"]
        assert set(action) <= COMMAND_KEYS[action["op"]]
        ops.append(action["op"])
        with pytest.raises(jsonschema.ValidationError):
            validator.validate({"map_action": {**action, "op": "teleport"}})
    assert ops == ["set_view", "add_markers", "draw_route", "fit_bounds", "clear"]


def text_of(result: Any) -> str:
    return "".join(part.text for part in result.content if part.type == "text")


async def check_calls(session: Client, fake: FakeAmap) -> None:
    """Weather, POI search, a route and a map command, answered from the fake AMap."""
    weather = await session.call_tool("get_weather", {"place": "北京", "days": 1})
    assert not weather.is_error and not (weather.structured_content or {}).get("links")
    assert weather.structured_content["current"]["temperature_c"] == 26.0
    assert text_of(weather).splitlines() == [
        "北京 北京市天气（来源：高德地图）",
        "实况：晴，26°C，湿度35%，南风≤3级（2025-05-20 14:00:00）",
        "预报：",
        "- 2025-05-20 周二：晴转多云，16~29°C，南风1-3级",
    ]
    assert {r.params["city"] for r in fake.requests_to("/v3/weather/weatherInfo")} == {"110000"}

    pois = await session.call_tool("search_poi", {"keywords": "咖啡", "near": "天安门"})
    answer, links_part = text_of(pois).split("\n\n")
    lines = answer.splitlines()
    assert not pois.is_error and len(lines) == 4
    links = pois.structured_content["links"]
    assert [x["kind"] for x in links] == ["amap_marker"] * 3 + ["amap_search"]
    assert links[0]["label"] == "星巴克(国贸商城店)"
    first = parse_qs(urlsplit(links[0]["url"]).query)
    assert first["position"] == ["116.458795,39.909398"] and first["coordinate"] == ["gaode"]
    assert parse_qs(urlsplit(links[3]["url"]).query)["center"] == ["116.397755,39.908743"]
    link_lines = links_part.splitlines()
    assert link_lines[0] == "在手机上打开：" and len(link_lines) == 5
    assert link_lines[1] == f"高德地图｜星巴克(国贸商城店)：{links[0]['url']}"
    assert lines[0] == "北京市东城区天安门附近1.0公里内的“咖啡”（高德地图，3个）："
    assert lines[1].startswith("1. 星巴克(国贸商城店) [咖啡厅] 距120米 评分4.6；")
    assert lines[1].endswith("坐标：116.458795,39.909398 (gcj02)；ID：B0FFG3MGDB")
    assert fake.requests_to("/v3/place/around")[0].params["location"] == "116.397755,39.908743"

    route = await session.call_tool(
        "plan_route", {"origin": "北京南站", "destination": "故宫", "mode": "walking"}
    )
    assert not route.is_error
    [nav] = route.structured_content["links"]
    assert nav["kind"] == "amap_navigation"
    fields = parse_qs(urlsplit(nav["url"]).query)
    assert fields["from"] == ["116.378517,39.865246,北京市丰台区北京南站"]
    assert fields["mode"] == ["walk"]
    assert text_of(route).splitlines()[0].startswith(
        "北京市丰台区北京南站 → 北京市东城区故宫博物院（步行，高德地图）：全程8.2公里"
    )
    walking = fake.requests_to("/v3/direction/walking")
    assert [(r.params["origin"], r.params["destination"]) for r in walking] == [
        ("116.378517,39.865246", "116.397026,39.918058")
    ]

    drawn = await session.call_tool("map_draw_route", {"origin": "北京南站", "destination": "故宫"})
    assert not drawn.is_error and text_of(drawn).startswith("已在地图上绘制")
    action = drawn.structured_content["map_action"]
    assert action["op"] == "draw_route" and action["crs"] == "gcj02"
    assert action["origin"] == {"lng": 116.378517, "lat": 39.865246, "crs": "gcj02",
                                "label": "北京市丰台区北京南站"}
    assert all(FAKE_AMAP_KEY not in r for r in (text_of(weather), text_of(pois), text_of(route)))
    await check_map_results(session)


async def check_errors(session: Client, fake: FakeAmap) -> None:
    """Quota, invalid parameters, a timeout and bad arguments: short results, session goes on."""
    fake.set_error("/v3/place/text", "10044")
    quota = await session.call_tool("search_poi", {"keywords": "火锅", "city": "成都"})
    assert quota.is_error
    assert text_of(quota) == "高德地图今日调用次数已用完（明天恢复），暂时无法查询。"

    fake.set_error("/v3/distance", "20000")
    invalid = await session.call_tool(
        "measure_distance", {"origins": ["北京南站"], "destination": "故宫"}
    )
    assert invalid.is_error and text_of(invalid) == "高德地图认为请求参数无效（INVALID_PARAMS）。"

    fake.set_response("/v3/ip", {"status": "1"}, delay=3.0)  # GEO_HTTP_TIMEOUT is 1 s
    slow = await session.call_tool("ip_location", {"ip": "114.247.50.2"})
    assert slow.is_error and "超时" in text_of(slow) and len(text_of(slow)) < 80

    bad = await session.call_tool("get_weather", {"place": "北京", "days": 99})
    assert bad.is_error and text_of(bad).startswith("工具参数无效（invalid arguments）：days")

    unknown = await session.call_tool("no_such_tool", {})
    assert unknown.is_error and text_of(unknown) == "未知工具：no_such_tool"

    fake.reset()
    again = await session.call_tool("ip_location", {"ip": "114.247.50.2"})
    assert not again.is_error
    assert text_of(again).startswith("IP 114.247.50.2 位于北京市（高德地图）")
    for result in (quota, invalid, slow, bad, again):
        assert FAKE_AMAP_KEY not in text_of(result)
