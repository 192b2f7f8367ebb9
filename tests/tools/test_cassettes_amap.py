"""Every AMap endpoint the tools use, replayed from cassettes against https://restapi.amap.com.

The cassettes were recorded from ``tests/fakes/amap.py`` (which follows the documented AMap
formats, protocols.md section 3) with the loopback URL rewritten to the real host and the key
filtered; see ``tests/tools/cassettes/README.md``. In replay the tools use the real default base
URL and a placeholder key, so a test can only pass by replaying.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import DEFAULT_AMAP_BASE_URL, GeoConfig
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers.amap import AmapProvider
from langchain_core.messages import ToolMessage

from tests.fakes.amap import FakeAmap
from tests.tools.conftest import FAKE_AMAP_KEY
from tests.tools.recording import replaying, vcr_config_for

REPLAY_KEY = "cassette-replay-key"


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return vcr_config_for({"": DEFAULT_AMAP_BASE_URL})


class Endpoint:
    """Tools wired to the real URL (replay) or to the fake (recording)."""

    def __init__(self, fake: FakeAmap | None, http: HttpClient) -> None:
        self.fake = fake
        base_url = fake.base_url if fake else DEFAULT_AMAP_BASE_URL
        key = FAKE_AMAP_KEY if fake else REPLAY_KEY
        provider = AmapProvider(key, http, base_url=base_url, rate_limit_retries=0)
        toolkit = GeoToolkit(config=GeoConfig(amap_api_key=key), provider=provider)
        self.tools = {t.name: t for t in toolkit.get_tools()}

    def script(self, configure: Callable[[FakeAmap], None]) -> None:
        if self.fake is not None:
            configure(self.fake)

    def call(self, name: str, args: dict[str, Any]) -> ToolMessage:
        tool = self.tools[name]
        return tool.invoke({"type": "tool_call", "id": "c1", "name": name, "args": args})


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, vcr: Any, http_client: HttpClient) -> Endpoint:
    fake = None if replaying(vcr) else request.getfixturevalue("fake_amap")
    return Endpoint(fake, http_client)


def played_all(vcr: Any, count: int) -> None:
    assert vcr.play_count == count and vcr.all_played
    for req in vcr.requests:
        assert req.uri.startswith("https://restapi.amap.com/v3/")
        assert "key=" not in req.uri


@pytest.mark.vcr
def test_weather_by_name(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("get_weather", {"place": "海淀", "days": 4}).content
    assert "海淀区" in text and "实况：晴，26°C" in text and "2025-05-23" in text
    if replaying(vcr):
        played_all(vcr, 3)  # district, weatherInfo base, weatherInfo all


@pytest.mark.vcr
def test_weather_by_coordinates(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("get_weather", {"lng": 116.481488, "lat": 39.990464, "days": 1}).content
    assert "朝阳区" in text and "预报" in text
    if replaying(vcr):
        played_all(vcr, 3)  # regeo, weatherInfo base, weatherInfo all


@pytest.mark.vcr
def test_poi_keyword_search(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("search_poi", {"keywords": "咖啡", "city": "北京", "limit": 3}).content
    assert "星巴克(国贸商城店)" in text and "评分4.6" in text and "距" not in text
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
def test_poi_nearby_search(endpoint: Endpoint, vcr: Any):
    args = {"keywords": "咖啡", "near": "天安门", "radius": 1000, "category": "cafe"}
    text = endpoint.call("search_poi", args).content
    assert "距120米" in text and "Manner Coffee(国贸店)" in text
    if replaying(vcr):
        played_all(vcr, 2)  # geocode, place/around


@pytest.mark.vcr
def test_inputtips(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("suggest_places", {"text": "北京西", "city": "北京"}).content
    assert "北京西站" in text and "关键词建议" in text
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
def test_geocode(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("geocode", {"address": "北京市朝阳区阜通东大街6号"}).content
    assert "116.482086,39.990496 (gcj02)" in text
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
def test_reverse_geocode(endpoint: Endpoint, vcr: Any):
    text = endpoint.call("reverse_geocode", {"lng": 116.481488, "lat": 39.990464}).content
    assert "方恒国际中心B座" in text
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
@pytest.mark.parametrize("mode", ["driving", "walking"])
def test_route(endpoint: Endpoint, vcr: Any, mode: str):
    message = endpoint.call(
        "map_draw_route", {"origin": "116.378517,39.865246", "destination": "故宫", "mode": mode}
    )
    action = message.artifact["map_action"]
    assert action["op"] == "draw_route" and action["mode"] == mode and len(action["path"]) >= 3
    if replaying(vcr):
        played_all(vcr, 2)  # geocode, direction


@pytest.mark.vcr
def test_invalid_key(endpoint: Endpoint, vcr: Any):
    endpoint.script(lambda fake: setattr(fake, "api_key", "another-key"))
    message = endpoint.call("geocode", {"address": "故宫"})
    assert message.status == "error" and "高德地图API Key无效" in message.content
    if replaying(vcr):
        played_all(vcr, 1)


@pytest.mark.vcr
def test_daily_quota_exceeded(endpoint: Endpoint, vcr: Any):
    endpoint.script(lambda fake: fake.set_error("/v3/place/text", "10003"))
    message = endpoint.call("search_poi", {"keywords": "火锅", "city": "成都"})
    assert message.status == "error" and "今日调用次数已用完" in message.content
    if replaying(vcr):
        played_all(vcr, 1)
