"""Fake-model scenarios of issue 22 (items 2, 3, 8): the fake DashScope calls the area tools,
the fake AMap and open providers answer, and each reply's whole event sequence is asserted: the
tool call, its map commands, its links, the tool's end, the answer and the end."""

from __future__ import annotations

import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.events import FRONT_END_EVENTS

from tests.fakes.amap_areas import along_around_answer
from tests.fakes.dashscope import ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import collect


def answer(results: list[str]) -> str:
    """The fake model 'answers' with the first line of each tool result."""
    return "结果：" + " | ".join(r.splitlines()[-1] for r in results)


@pytest.fixture
def service(fake_dashscope, fake_amap_env) -> StreamChatService:
    settings = Settings(api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
                        session_store_url="memory://")
    return StreamChatService(settings)  # default tools: GeoToolkit() on the fake AMap


def shape(events: list[dict]) -> list[tuple]:
    """Each event's type and what identifies it (a command's op, a link's kind, a tool)."""
    out = []
    for event in events:
        kind = event["type"]
        if kind == "map_action":
            out.append((kind, event["action"]["op"]))
        elif kind == "links":
            out.append((kind, event["tool"], tuple(link["kind"] for link in event["links"])))
        elif kind in ("tool_start", "tool_end"):
            out.append((kind, event["tool"]))
        elif kind != "stream_chunk":
            out.append((kind,))
    return out


def text_of(events: list[dict]) -> str:
    return "".join(e["chunk"] for e in events if e["type"] == "stream_chunk")


async def ask(service, question: str) -> list[dict]:
    return await collect(service.stream_chat(question, events=set(FRONT_END_EVENTS)))


async def test_search_along_a_route(service, fake_dashscope, fake_amap):
    fake_amap.set_response("/v3/place/around", along_around_answer)
    fake_dashscope.responder = tool_then_answer([ToolCall("search_along_route", {
        "origin": "北京南站", "destination": "故宫", "keywords": "加油站"})], answer=answer)

    events = await ask(service, "从北京南站开车去故宫，沿途找个加油站")

    assert shape(events) == [
        ("stream_start",), ("tool_start", "search_along_route"),
        ("map_action", "draw_route"), ("map_action", "add_stops"),
        ("links", "search_along_route", ("amap_navigation", "amap_marker")),
        ("tool_end", "search_along_route"), ("stream_end",)]
    stops = next(e["action"] for e in events if e["type"] == "map_action"
                 and e["action"]["op"] == "add_stops")
    assert [s["label"] for s in stops["stops"]] == [
        "中国石化(开阳路加油站)", "壳牌(西华门加油站)", "中国石油(右安门加油站)"]
    assert text_of(events) == (
        "结果：（绕行距离为往返估计：离路线直线距离的两倍，实际道路绕行会更长）")
    tool_message = next(m for m in fake_dashscope.requests[-1].messages if m["role"] == "tool")
    assert "1. 中国石化(开阳路加油站)：绕行约202米" in tool_message["content"]


async def test_reachable_area(service, fake_dashscope, fake_amap):
    fake_dashscope.responder = tool_then_answer([ToolCall("reachable_area", {
        "place": "天安门", "minutes": 15, "mode": "walking"})], answer=answer)

    events = await ask(service, "天安门步行15分钟能到哪些地方")

    assert shape(events) == [
        ("stream_start",), ("tool_start", "reachable_area"),
        ("map_action", "draw_area"), ("map_action", "add_markers"),
        ("links", "reachable_area", ("amap_marker",)),
        ("tool_end", "reachable_area"), ("stream_end",)]
    area = next(e["action"] for e in events if e["type"] == "map_action")
    assert (area["kind"], area["label"], area["crs"]) == ("isochrone", "步行15分钟可达", "gcj02")
    assert fake_amap.requests_to("/v3/distance")[0].params["type"] == "3"
    assert text_of(events) == (
        "结果：估算方法：高德没有等时圈接口，按网格（分辨率227米）查询97个网格点到出发点的用时，"
        "45个点在时限内；用时是从网格点到出发点（单向，驾车时可能与反方向不同）。")


async def test_point_in_district_check(service, fake_dashscope, fake_amap):
    fake_dashscope.responder = tool_then_answer([ToolCall("area_boundary", {
        "area": "朝阳区", "check": "北京市朝阳区阜通东大街6号"})], answer=answer)

    events = await ask(service, "阜通东大街6号在不在朝阳区")

    assert shape(events) == [
        ("stream_start",), ("tool_start", "area_boundary"),
        ("map_action", "draw_area"), ("map_action", "add_markers"),
        ("links", "area_boundary", ("amap_marker",)),
        ("tool_end", "area_boundary"), ("stream_end",)]
    assert text_of(events) == "结果：北京市朝阳区阜通东大街6号在朝阳区内（距边界4.0公里）。"


async def test_a_failing_area_tool_keeps_the_rest_of_the_reply(service, fake_dashscope):
    fake_dashscope.responder = tool_then_answer([
        ToolCall("reachable_area", {"place": "天安门", "minutes": 15, "mode": "cycling"}),
        ToolCall("area_boundary", {"area": "不存在区"}),
        ToolCall("get_weather", {"place": "北京"})], answer=lambda r: " | ".join(r))

    events = await ask(service, "天安门骑行15分钟能到哪里？不存在区的边界？北京天气？")

    assert [e for e in shape(events) if e[0] not in ("tool_start", "tool_end")] == [
        ("stream_start",), ("stream_end",)]
    ends = [e for e in events if e["type"] == "tool_end"]
    assert [e["tool"] for e in ends] == ["reachable_area", "area_boundary", "get_weather"]
    assert ends[0]["result"].startswith("高德地图无法计算")
    text = text_of(events)
    assert "高德地图无法计算“cycling”方式的可达范围" in text
    assert "没有找到名为“不存在区”的行政区或区域边界" in text
    assert "晴" in text  # the weather still answered
