"""``langchain-tests`` standard tests for the tools of issue 14: ``ToolsUnitTests`` (built
offline) and ``ToolsIntegrationTests`` (invoked against the loopback fake AMap)."""

from __future__ import annotations

from typing import Any

import pytest
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.distance import DistanceTool
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.ip_location import IpLocationTool
from bailian_geo_agent.tools.poi_detail import PoiDetailTool
from bailian_geo_agent.tools.providers import build_provider
from bailian_geo_agent.tools.providers.amap import AmapProvider
from bailian_geo_agent.tools.routes import CyclingRouteTool, TransitRouteTool
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

_HTTP = HttpClient()
_PROVIDER = build_provider(GeoConfig(provider="amap", amap_api_key="test-amap-key"), _HTTP)

EXAMPLES: dict[type[BaseTool], dict[str, Any]] = {
    DistanceTool: {"origins": ["北京南站", "天安门"], "destination": "故宫", "mode": "driving"},
    CyclingRouteTool: {"origin": "北京南站", "destination": "故宫"},
    TransitRouteTool: {"origin": "北京南站", "destination": "故宫", "city": "北京"},
    IpLocationTool: {"ip": "114.247.50.2"},
    PoiDetailTool: {"id": "B0FFG3MGDB"},
}


class _Unit(ToolsUnitTests):
    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"provider": _PROVIDER, "http": _HTTP}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return EXAMPLES[self.tool_constructor]


class _Integration(ToolsIntegrationTests):
    @pytest.fixture
    def tool(self, amap: AmapProvider) -> BaseTool:
        """The tool on the fake AMap (the ``amap`` fixture of tests/tools/conftest.py)."""
        return self.tool_constructor(provider=amap, http=amap.http)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return EXAMPLES[self.tool_constructor]

    def test_example_succeeds(self, tool: BaseTool) -> None:
        """Beyond the standard shape checks: the example gets a real answer from the fake."""
        message = tool.invoke({"type": "tool_call", "id": "c1", "name": tool.name,
                               "args": self.tool_invoke_params_example})
        assert message.status == "success" and "高德地图" in message.content


class TestDistanceToolUnit(_Unit):
    tool_constructor = DistanceTool


class TestCyclingRouteToolUnit(_Unit):
    tool_constructor = CyclingRouteTool


class TestTransitRouteToolUnit(_Unit):
    tool_constructor = TransitRouteTool


class TestIpLocationToolUnit(_Unit):
    tool_constructor = IpLocationTool


class TestPoiDetailToolUnit(_Unit):
    tool_constructor = PoiDetailTool


class TestDistanceToolIntegration(_Integration):
    tool_constructor = DistanceTool


class TestCyclingRouteToolIntegration(_Integration):
    tool_constructor = CyclingRouteTool


class TestTransitRouteToolIntegration(_Integration):
    tool_constructor = TransitRouteTool


class TestIpLocationToolIntegration(_Integration):
    tool_constructor = IpLocationTool


class TestPoiDetailToolIntegration(_Integration):
    tool_constructor = PoiDetailTool
