"""``GeoToolkit``: every geo tool sharing one provider and the toolkit's own HTTP client."""

from __future__ import annotations

from typing import Any

from bailian_geo_agent.tools.along_route import AlongRouteTool
from bailian_geo_agent.tools.areas import AreaBoundaryTool, ReachableAreaTool
from bailian_geo_agent.tools.common import GeoTool
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.coords import CRS
from bailian_geo_agent.tools.distance import DistanceTool
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.ip_location import IpLocationTool
from bailian_geo_agent.tools.map_ops import (
    MapAddMarkersTool,
    MapClearTool,
    MapDrawRouteTool,
    MapFitBoundsTool,
    MapSetViewTool,
    MapTool,
)
from bailian_geo_agent.tools.places import GeocodeTool, ReverseGeocodeTool, SuggestPlacesTool
from bailian_geo_agent.tools.poi import PoiSearchTool
from bailian_geo_agent.tools.poi_detail import PoiDetailTool
from bailian_geo_agent.tools.routes import CyclingRouteTool, RoutePlanTool, TransitRouteTool
from bailian_geo_agent.tools.trip import PlanTripTool
from bailian_geo_agent.tools.weather import WeatherTool
from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import ConfigDict, Field, PrivateAttr

LOOKUP_TOOLS: tuple[type[GeoTool], ...] = (
    WeatherTool,
    PoiSearchTool,
    SuggestPlacesTool,
    GeocodeTool,
    ReverseGeocodeTool,
    RoutePlanTool,
    PlanTripTool,
    DistanceTool,
    CyclingRouteTool,
    TransitRouteTool,
    IpLocationTool,
    PoiDetailTool,
    AlongRouteTool,
    AreaBoundaryTool,
    ReachableAreaTool,
)
"""The tools that read from a provider (read-only), in the order the model is offered them."""

MAP_TOOLS: tuple[type[MapTool], ...] = (
    MapSetViewTool,
    MapAddMarkersTool,
    MapDrawRouteTool,
    MapFitBoundsTool,
    MapClearTool,
)
"""The tools that send a command to the user's map."""


class GeoToolkit(BaseToolkit):
    """Weather, POI, place, route, distance and map-operation tools.

    Args:
        config: settings; read from the environment (and ``./.env``) when omitted.
        provider: a ``GeoProvider`` to use instead of the one ``config`` selects.
        http: the ``HttpClient`` (default: the provider's, else one of the toolkit's own,
            built from ``config``; ``aclose`` closes it).
        map_crs: system of coordinates in map commands (default ``config.map_crs``).
        include_map_tools: set False for a caller without a map front end.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: GeoConfig | None = None
    provider: Any = Field(default=None, exclude=True)
    http: Any = Field(default=None, exclude=True)
    map_crs: CRS | None = None
    include_map_tools: bool = True
    secrets: tuple[str, ...] = Field(default=(), exclude=True, repr=False)
    """More values to keep out of results (the AMap key from ``config`` always is)."""
    _owns_http: bool = PrivateAttr(default=False)

    def model_post_init(self, context: Any, /) -> None:
        """Read the environment and build the provider once, at construction."""
        if self.config is None:
            self.config = GeoConfig.from_env()
        if self.http is None and self.provider is not None:
            self.http = getattr(self.provider, "http", None)
        if self.http is None:  # this toolkit's own, with its own settings
            self.http = HttpClient.from_config(self.config)
            self._owns_http = True
        if self.provider is None:
            from bailian_geo_agent.tools.providers import build_provider

            self.provider = build_provider(self.config, self.http)
        if self.map_crs is None:
            self.map_crs = self.config.map_crs

    def get_tools(self) -> list[BaseTool]:
        """Fresh tool instances sharing this toolkit's provider."""
        config = self.config
        assert config is not None
        secrets = tuple(s for s in (*self.secrets, config.amap_api_key) if s)
        common = {
            "provider": self.provider,
            "http": self.http,
            "secrets": secrets,
            "result_max_chars": config.tool_result_max_chars,
        }
        tools: list[BaseTool] = [cls(**common) for cls in LOOKUP_TOOLS]
        if self.include_map_tools:
            tools += [cls(**common, map_crs=self.map_crs) for cls in MAP_TOOLS]
        return tools

    async def aclose(self) -> None:
        """Release the provider's resources and the toolkit's own HTTP client (one it was
        given stays open)."""
        await self.provider.aclose()
        if self._owns_http:
            await self.http.aclose()
