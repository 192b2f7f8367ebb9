"""A day trip of 5 places end to end: StreamChatService with its default GeoToolkit, the fake
DashScope model calling plan_trip, the fake AMap answering; the whole event sequence and the
map commands asserted."""

from __future__ import annotations

import json

from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.events import FRONT_END_EVENTS

from tests.fakes.dashscope import ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import collect

PLACES = ["故宫", "798艺术区", "景山公园", "天坛公园", "南锣鼓巷"]
ANSWER = ("**一日游路线**（驾车约52分钟）：\n\n| 顺序 | 地点 |\n|---|---|\n| 1 | 故宫 |\n"
          "| 2 | 天坛公园 |\n| 3 | 景山公园 |\n| 4 | 南锣鼓巷 |\n| 5 | 798艺术区 |")

STOPS = [
    {"lng": 116.397026, "lat": 39.918058, "crs": "gcj02", "label": "故宫", "number": 1},
    {"lng": 116.410829, "lat": 39.881913, "crs": "gcj02", "label": "天坛公园", "number": 2},
    {"lng": 116.396942, "lat": 39.925411, "crs": "gcj02", "label": "景山公园", "number": 3},
    {"lng": 116.403036, "lat": 39.937183, "crs": "gcj02", "label": "南锣鼓巷", "number": 4},
    {"lng": 116.495105, "lat": 39.984137, "crs": "gcj02", "label": "798艺术区", "number": 5},
]


async def test_day_trip_of_five_places(fake_dashscope, fake_amap_env):
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("plan_trip", {"places": PLACES, "start": True})], answer=lambda _: ANSWER)
    service = StreamChatService(Settings(
        api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
        native_base_url=fake_dashscope.native_base_url, provider="openai",
        session_store_url="memory://"))

    events = await collect(service.stream_chat("帮我安排一天逛完故宫、798、景山、天坛和南锣鼓巷",
                                               events=set(FRONT_END_EVENTS)))

    types = [e["type"] for e in events]
    chunks = types.count("stream_chunk")
    assert chunks >= 2
    assert types == (["stream_start", "tool_start", "map_action", "map_action", "map_action",
                      "links", "tool_end"] + ["stream_chunk"] * chunks + ["stream_end"])
    assert len({e["message_id"] for e in events}) == 1
    start, end = events[1], events[6]
    assert start["tool"] == end["tool"] == "plan_trip"
    assert start["arguments"] == {"places": PLACES, "start": True}
    assert set(end) == {"type", "message_id", "session_id", "tool", "result", "tool_call_id"}
    assert end["result"].startswith(
        "驾车行程（高德地图，5个地点，顺序为最优（精确计算））：全程26.0公里")
    assert start["tool_call_id"] == end["tool_call_id"] == events[5]["tool_call_id"]

    stops, route, fit = (e["action"] for e in events[2:5])
    assert stops == {"op": "add_stops", "stops": STOPS}
    assert route["op"] == "draw_route" and route["mode"] == "driving" and route["crs"] == "gcj02"
    assert route["origin"] == {"lng": 116.397026, "lat": 39.918058, "crs": "gcj02",
                               "label": "故宫"}
    assert route["destination"] == {"lng": 116.495105, "lat": 39.984137, "crs": "gcj02",
                                    "label": "798艺术区"}
    for stop in STOPS:  # the line passes every stop, in order
        assert [stop["lng"], stop["lat"]] in route["path"]
    indices = [route["path"].index([s["lng"], s["lat"]]) for s in STOPS]
    assert indices == sorted(indices)
    assert (route["distance_m"], route["duration_s"]) == (26002.0, 3133.0)
    assert fit == {"op": "fit_bounds", "padding": 40, "bounds": {
        "southwest": {"lng": 116.396942, "lat": 39.881913, "crs": "gcj02"},
        "northeast": {"lng": 116.495105, "lat": 39.984137, "crs": "gcj02"}}}

    links = events[5]
    assert links["tool"] == "plan_trip"
    assert [link["kind"] for link in links["links"]] == (
        ["amap_navigation", "amap_app_route"] + ["amap_marker"] * 5)
    assert links["links"][0]["label"] == "故宫 → 798艺术区"
    assert "vian=3" in links["links"][1]["url"]

    text = "".join(e["chunk"] for e in events if e["type"] == "stream_chunk")
    assert text == ANSWER
    # the model saw the tool's text, not the artifact
    tool_messages = [m for m in fake_dashscope.requests[1].messages if m["role"] == "tool"]
    assert len(tool_messages) == 1 and "map_actions" not in json.dumps(tool_messages)
    assert "1. 故宫" in tool_messages[0]["content"]


async def test_a_trip_error_is_a_tool_result_and_the_reply_goes_on(fake_dashscope,
                                                                  fake_amap_env):
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("plan_trip", {"places": ["故宫", "不存在的地方"]})],
        answer=lambda results: "抱歉：" + results[0])
    service = StreamChatService(Settings(
        api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
        native_base_url=fake_dashscope.native_base_url, provider="openai",
        session_store_url="memory://", language="zh"))

    events = await collect(service.stream_chat("去故宫和不存在的地方",
                                               events=set(FRONT_END_EVENTS)))

    types = [e["type"] for e in events]
    chunks = types.count("stream_chunk")
    assert types == ["stream_start", "tool_start", "tool_end"] + ["stream_chunk"] * chunks + [
        "stream_end"]  # no map command, no links: nothing to show
    text = "".join(e["chunk"] for e in events if e["type"] == "stream_chunk")
    assert text == ("抱歉：找不到这些地点：不存在的地方。请给出更完整的名称（带城市）、高德POI ID或"
                    "“经度,纬度”。")
