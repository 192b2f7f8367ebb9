"""The standard ``langchain-tests`` tool unit tests, once per tool."""

from __future__ import annotations

from typing import Any

from bailian_geo_agent.tools import (
    GeocodeTool,
    MapAddMarkersTool,
    MapClearTool,
    MapDrawRouteTool,
    MapFitBoundsTool,
    MapSetViewTool,
    PoiSearchTool,
    ReverseGeocodeTool,
    RoutePlanTool,
    SuggestPlacesTool,
    WeatherTool,
)
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers import build_provider
from langchain_tests.unit_tests import ToolsUnitTests

# Constructed offline: a provider needs no network until a tool is invoked.
_HTTP = HttpClient()
_PROVIDER = build_provider(GeoConfig(provider="amap", amap_api_key="test-amap-key"), _HTTP)


class _Base(ToolsUnitTests):
    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"provider": _PROVIDER, "http": _HTTP}


class TestWeatherTool(_Base):
    tool_constructor = WeatherTool
    tool_invoke_params_example = {"place": "北京", "days": 3}  # noqa: RUF012

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        env = {"AMAP_API_KEY": "env-amap-key", "GEO_PROVIDER": "amap"}
        return env, {}, {"name": "get_weather"}


class TestPoiSearchTool(_Base):
    tool_constructor = PoiSearchTool
    tool_invoke_params_example = {"keywords": "咖啡", "near": "天安门", "radius": 800}  # noqa: RUF012


class TestSuggestPlacesTool(_Base):
    tool_constructor = SuggestPlacesTool
    tool_invoke_params_example = {"text": "北京西", "city": "北京"}  # noqa: RUF012


class TestGeocodeTool(_Base):
    tool_constructor = GeocodeTool
    tool_invoke_params_example = {"address": "北京市朝阳区阜通东大街6号"}  # noqa: RUF012


class TestReverseGeocodeTool(_Base):
    tool_constructor = ReverseGeocodeTool
    tool_invoke_params_example = {"lng": 116.481488, "lat": 39.990464}  # noqa: RUF012


class TestRoutePlanTool(_Base):
    tool_constructor = RoutePlanTool
    tool_invoke_params_example = {"origin": "北京南站", "destination": "故宫"}  # noqa: RUF012


class TestMapSetViewTool(_Base):
    tool_constructor = MapSetViewTool
    tool_invoke_params_example = {"place": "故宫", "zoom": 16}  # noqa: RUF012


class TestMapAddMarkersTool(_Base):
    tool_constructor = MapAddMarkersTool
    tool_invoke_params_example = {  # noqa: RUF012
        "markers": [{"place": "故宫"}, {"label": "三里屯", "lng": 116.455, "lat": 39.937}]
    }


class TestMapDrawRouteTool(_Base):
    tool_constructor = MapDrawRouteTool
    tool_invoke_params_example = {"origin": "北京南站", "destination": "故宫"}  # noqa: RUF012


class TestMapFitBoundsTool(_Base):
    tool_constructor = MapFitBoundsTool
    tool_invoke_params_example = {"points": [{"place": "故宫"}, {"lng": 116.39, "lat": 39.99}]}  # noqa: RUF012


class TestMapClearTool(_Base):
    tool_constructor = MapClearTool
    tool_invoke_params_example = {"target": "markers"}  # noqa: RUF012
