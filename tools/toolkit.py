"""``GeoToolkit``: every geo tool sharing one provider and one HTTP client."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import ConfigDict, Field

from tools.config import GeoConfig
from tools.coords import CRS
from tools.distance import DistanceTool
from tools.http import client_for
from tools.ip_location import IpLocationTool
from tools.map_ops import (
    MapAddMarkersTool,
    MapClearTool,
    MapDrawRouteTool,
    MapFitBoundsTool,
    MapSetViewTool,
)
from tools.poi import PoiSearchTool
from tools.poi_detail import PoiDetailTool
from tools.routes_extra import CyclingRouteTool, TransitRouteTool
from tools.suggestions import GeocodeTool, ReverseGeocodeTool, RoutePlanTool, SuggestPlacesTool
from tools.weather import WeatherTool

EXTRA_TOOLS = (DistanceTool, CyclingRouteTool, TransitRouteTool, IpLocationTool, PoiDetailTool)
"""Tools of the optional provider capabilities (issue 14)."""


class GeoToolkit(BaseToolkit):
    """Weather, POI, suggestion/geocoding/route and map-operation tools.

    Args:
        config: settings; read from the environment (and ``./.env``) when omitted.
        provider: a ``GeoProvider`` to use instead of the one ``config`` selects.
        http: the ``HttpClient`` (default: the process-wide shared client).
        map_crs: system of coordinates in map commands (default ``config.map_crs``).
        include_map_tools: set False for a caller without a map front end.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: GeoConfig | None = None
    provider: Any = Field(default=None, exclude=True)
    http: Any = Field(default=None, exclude=True)
    map_crs: CRS | None = None
    include_map_tools: bool = True

    def model_post_init(self, context: Any, /) -> None:
        """Read the environment and build the provider once, at construction."""
        if self.config is None:
            self.config = GeoConfig.from_env()
        if self.provider is None:
            from tools.providers import build_provider

            self.provider = build_provider(self.config, self.http)
        if self.http is None:
            self.http = client_for(self.provider)
        if self.map_crs is None:
            self.map_crs = self.config.map_crs

    def get_tools(self) -> list[BaseTool]:
        """Fresh tool instances sharing this toolkit's provider."""
        common = {"provider": self.provider, "http": self.http}
        tools: list[BaseTool] = [
            WeatherTool(**common),
            PoiSearchTool(**common),
            SuggestPlacesTool(**common),
            GeocodeTool(**common),
            ReverseGeocodeTool(**common),
            RoutePlanTool(**common),
            *(cls(**common) for cls in EXTRA_TOOLS),
        ]
        if self.include_map_tools:
            tools += [
                cls(**common, map_crs=self.map_crs)
                for cls in (
                    MapSetViewTool,
                    MapAddMarkersTool,
                    MapDrawRouteTool,
                    MapFitBoundsTool,
                    MapClearTool,
                )
            ]
        return tools

    async def aclose(self) -> None:
        """Release the provider's resources (the shared HTTP client stays open)."""
        await self.provider.aclose()
