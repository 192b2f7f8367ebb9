"""The geo assistant end to end: StreamChatService with its default GeoToolkit, the fake DashScope
(deciding which tools to call) and the fake AMap server (answering them)."""

from __future__ import annotations

import uuid

import pytest
from bailian_geo_agent.agent import Settings, StreamChatService

from tests.fakes.dashscope import RecordedRequest, ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import assert_well_formed, collect, tool_name


def quote_tool_results(results: list[str]) -> str:
    """The fake model 'answers' by quoting what the tools returned."""
    return "查询结果：" + " | ".join(results)


@pytest.fixture(params=["openai", "tongyi", "responses"])
def service(request, fake_dashscope, fake_amap_env) -> StreamChatService:
    settings = Settings(
        api_key=FAKE_API_KEY,
        base_url=fake_dashscope.compatible_base_url,
        native_base_url=fake_dashscope.native_base_url,
        responses_base_url=fake_dashscope.responses_base_url,
        provider=request.param,
        session_store_url="memory://",
    )
    return StreamChatService(settings)  # default tools: GeoToolkit() on the fake AMap


def tool_names(request: RecordedRequest) -> set[str]:
    return {tool_name(tool) for tool in request.tools}


async def test_weather_question_uses_amap_weather_and_quotes_it(service, fake_dashscope, fake_amap):
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("get_weather", {"place": "北京"})], answer=quote_tool_results
    )

    events = await collect(service.stream_chat("北京今天天气怎么样？"))

    text = assert_well_formed(events)
    offered = tool_names(fake_dashscope.requests[0])
    assert {"get_weather", "search_poi", "plan_route"} <= offered
    assert "map_add_markers" not in offered  # no map_action asked for: no map tools
    weather_calls = fake_amap.requests_to("/v3/weather/weatherInfo")
    assert weather_calls and all(r.params["city"] == "110000" for r in weather_calls)
    assert "晴" in text and "26" in text  # the fake AMap's live conditions for Beijing
    assert "test-amap-key" not in text


async def test_poi_question_returns_amap_places(service, fake_dashscope, fake_amap):
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("search_poi", {"keywords": "咖啡", "near": "天安门", "radius": 1000})],
        answer=quote_tool_results,
    )

    events = await collect(service.stream_chat("天安门附近有什么咖啡店？"))

    text = assert_well_formed(events)
    assert fake_amap.requests_to("/v3/place/around")
    assert "瑞幸咖啡(中国国际贸易中心店)" in text


async def test_two_city_comparison_makes_two_calls_in_one_turn(service, fake_dashscope, fake_amap):
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("get_weather", {"place": "北京"}), ToolCall("get_weather", {"place": "上海"})],
        answer=quote_tool_results,
    )
    session_id = str(uuid.uuid4())

    events = await collect(service.stream_chat("比较北京和上海的天气", session_id))

    text = assert_well_formed(events)
    cities = {r.params["city"] for r in fake_amap.requests_to("/v3/weather/weatherInfo")}
    assert {"110000", "310000"} <= cities
    assert "北京" in text and "上海" in text
    assert len(fake_dashscope.requests) == 2, "both calls in one model turn, then the answer"
    tool_results = [m for m in fake_dashscope.requests[1].messages if m["role"] == "tool"]
    assert len(tool_results) == 2


async def test_map_action_arrives_only_when_asked_for(service, fake_dashscope, fake_amap):
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("map_add_markers", {"markers": [{"place": "天安门", "label": "天安门"}]})],
        answer=lambda results: "已在地图上标出天安门。",
    )

    plain = await collect(service.stream_chat("在地图上标出天安门"))
    asked = await collect(service.stream_chat("在地图上标出天安门", events={"map_action"}))

    assert assert_well_formed(plain) == "已在地图上标出天安门。"
    assert "map_action" not in {e["type"] for e in plain}
    actions = [e for e in asked if e["type"] == "map_action"]
    assert len(actions) == 1
    assert set(actions[0]) == {"type", "message_id", "session_id", "action"}
    action = actions[0]["action"]
    assert action["op"] == "add_markers"
    marker = action["markers"][0]
    assert marker["label"] == "天安门" and marker["crs"] == "gcj02"
    assert 116 < marker["lng"] < 117 and 39 < marker["lat"] < 41
    documented = [e for e in asked if e["type"] != "map_action"]
    assert assert_well_formed(documented) == "已在地图上标出天安门。"


async def test_provider_failure_becomes_a_tool_result_and_the_reply_goes_on(
    service, fake_dashscope, fake_amap
):
    fake_amap.set_error(None, "10001")  # every AMap call: invalid key
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("get_weather", {"place": "北京"})], answer=quote_tool_results
    )

    events = await collect(service.stream_chat("北京天气"))

    text = assert_well_formed(events)
    assert "高德地图API Key无效" in text
    assert "test-amap-key" not in str(events)


async def test_malformed_tool_arguments_are_explained_to_the_model(service, fake_dashscope):
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("get_weather", '{"place": 北京')], answer=quote_tool_results
    )

    events = await collect(service.stream_chat("北京天气"))

    assert events[-1]["type"] == "stream_end"
    tool_messages = [m for m in fake_dashscope.requests[-1].messages if m["role"] == "tool"]
    assert tool_messages and "工具参数无效" in str(tool_messages[0]["content"])


async def test_invalid_tool_settings_are_an_error_event(fake_dashscope, monkeypatch):
    monkeypatch.setenv("GEO_PROVIDER", "baidu")
    settings = Settings(
        api_key=FAKE_API_KEY,
        base_url=fake_dashscope.compatible_base_url,
        session_store_url="memory://",
    )

    events = await collect(StreamChatService(settings).stream_chat("北京天气"))

    assert events[-1]["type"] == "error"
    assert "地理工具配置无效" in events[-1]["error"] and "GEO_PROVIDER" in events[-1]["error"]
    assert fake_dashscope.requests == []


async def test_tools_read_the_env_file_the_app_chose_not_dot_env(
    fake_dashscope, tmp_path, monkeypatch
):
    (tmp_path / ".env").write_text("GEO_PROVIDER=baidu\n", encoding="utf-8")  # not the one chosen
    chosen = tmp_path / "prod.env"
    chosen.write_text(
        f"DASHSCOPE_API_KEY={FAKE_API_KEY}\nDASHSCOPE_BASE_URL={fake_dashscope.compatible_base_url}\n"
        "SESSION_STORE_URL=memory://\n",
        encoding="utf-8",
    )

    settings = Settings.from_env(chosen)
    events = await collect(StreamChatService(settings).stream_chat("你好"))

    assert assert_well_formed(events) == "ECHO[1]: 你好"
