"""Geo tools for the Bailian geographic assistant: weather, POI search, place suggestions,
geocoding, routes, distances and map commands, over AMap or keyless open providers.

``from bailian_geo_agent.tools import GeoToolkit`` is the public entry point; see
``tools/README.md``. Every tool class is listed once, in ``tools.toolkit`` (``LOOKUP_TOOLS``,
``MAP_TOOLS``), and exported here. Names are imported on first use, so that importing
``tools.config`` stays cheap.
"""

from __future__ import annotations

if __name__ == "tools":  # the short name: become the real package, never a second copy
    from bailian_geo_agent.tools._alias import become_alias

    become_alias(__name__)

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bailian_geo_agent.tools.along_route import AlongRouteTool
    from bailian_geo_agent.tools.areas import AreaBoundaryTool, ReachableAreaTool
    from bailian_geo_agent.tools.coords import Coordinate, gcj02_to_wgs84, wgs84_to_gcj02
    from bailian_geo_agent.tools.distance import DistanceTool
    from bailian_geo_agent.tools.ip_location import IpLocationTool
    from bailian_geo_agent.tools.map_ops import (
        MapAddMarkersTool,
        MapClearTool,
        MapDrawRouteTool,
        MapFitBoundsTool,
        MapSetViewTool,
    )
    from bailian_geo_agent.tools.places import GeocodeTool, ReverseGeocodeTool, SuggestPlacesTool
    from bailian_geo_agent.tools.poi import PoiSearchTool
    from bailian_geo_agent.tools.poi_detail import PoiDetailTool
    from bailian_geo_agent.tools.routes import CyclingRouteTool, RoutePlanTool, TransitRouteTool
    from bailian_geo_agent.tools.toolkit import LOOKUP_TOOLS, MAP_TOOLS, GeoToolkit
    from bailian_geo_agent.tools.trip import PlanTripTool
    from bailian_geo_agent.tools.weather import WeatherTool

_EXPORTS = {
    "Coordinate": "bailian_geo_agent.tools.coords",
    "gcj02_to_wgs84": "bailian_geo_agent.tools.coords",
    "wgs84_to_gcj02": "bailian_geo_agent.tools.coords",
    "DistanceTool": "bailian_geo_agent.tools.distance",
    "IpLocationTool": "bailian_geo_agent.tools.ip_location",
    "MapAddMarkersTool": "bailian_geo_agent.tools.map_ops",
    "MapClearTool": "bailian_geo_agent.tools.map_ops",
    "MapDrawRouteTool": "bailian_geo_agent.tools.map_ops",
    "MapFitBoundsTool": "bailian_geo_agent.tools.map_ops",
    "MapSetViewTool": "bailian_geo_agent.tools.map_ops",
    "GeocodeTool": "bailian_geo_agent.tools.places",
    "ReverseGeocodeTool": "bailian_geo_agent.tools.places",
    "SuggestPlacesTool": "bailian_geo_agent.tools.places",
    "PoiSearchTool": "bailian_geo_agent.tools.poi",
    "PoiDetailTool": "bailian_geo_agent.tools.poi_detail",
    "CyclingRouteTool": "bailian_geo_agent.tools.routes",
    "RoutePlanTool": "bailian_geo_agent.tools.routes",
    "TransitRouteTool": "bailian_geo_agent.tools.routes",
    "LOOKUP_TOOLS": "bailian_geo_agent.tools.toolkit",
    "MAP_TOOLS": "bailian_geo_agent.tools.toolkit",
    "GeoToolkit": "bailian_geo_agent.tools.toolkit",
    "PlanTripTool": "bailian_geo_agent.tools.trip",
    "WeatherTool": "bailian_geo_agent.tools.weather",
    "AlongRouteTool": "bailian_geo_agent.tools.along_route",
    "AreaBoundaryTool": "bailian_geo_agent.tools.areas",
    "ReachableAreaTool": "bailian_geo_agent.tools.areas",
}

__all__ = [
    "LOOKUP_TOOLS",
    "MAP_TOOLS",
    "AlongRouteTool",
    "AreaBoundaryTool",
    "Coordinate",
    "CyclingRouteTool",
    "DistanceTool",
    "GeoToolkit",
    "GeocodeTool",
    "IpLocationTool",
    "MapAddMarkersTool",
    "MapClearTool",
    "MapDrawRouteTool",
    "MapFitBoundsTool",
    "MapSetViewTool",
    "PlanTripTool",
    "PoiDetailTool",
    "PoiSearchTool",
    "ReachableAreaTool",
    "ReverseGeocodeTool",
    "RoutePlanTool",
    "SuggestPlacesTool",
    "TransitRouteTool",
    "WeatherTool",
    "gcj02_to_wgs84",
    "wgs84_to_gcj02",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tools' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
