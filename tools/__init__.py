"""Geo tools for the Bailian geographic assistant: weather, POI search, place suggestions,
geocoding, routes, distances and map commands, over AMap or keyless open providers.

``from tools import GeoToolkit`` is the public entry point; see ``tools/README.md``. Every tool
class is listed once, in ``tools.toolkit`` (``LOOKUP_TOOLS``, ``MAP_TOOLS``), and exported here.
Names are imported on first use, so that ``import tools.config`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.coords import Coordinate, gcj02_to_wgs84, wgs84_to_gcj02
    from tools.distance import DistanceTool
    from tools.ip_location import IpLocationTool
    from tools.map_ops import (
        MapAddMarkersTool,
        MapClearTool,
        MapDrawRouteTool,
        MapFitBoundsTool,
        MapSetViewTool,
    )
    from tools.places import GeocodeTool, ReverseGeocodeTool, SuggestPlacesTool
    from tools.poi import PoiSearchTool
    from tools.poi_detail import PoiDetailTool
    from tools.routes import CyclingRouteTool, RoutePlanTool, TransitRouteTool
    from tools.toolkit import LOOKUP_TOOLS, MAP_TOOLS, GeoToolkit
    from tools.weather import WeatherTool

_EXPORTS = {
    "Coordinate": "tools.coords",
    "gcj02_to_wgs84": "tools.coords",
    "wgs84_to_gcj02": "tools.coords",
    "DistanceTool": "tools.distance",
    "IpLocationTool": "tools.ip_location",
    "MapAddMarkersTool": "tools.map_ops",
    "MapClearTool": "tools.map_ops",
    "MapDrawRouteTool": "tools.map_ops",
    "MapFitBoundsTool": "tools.map_ops",
    "MapSetViewTool": "tools.map_ops",
    "GeocodeTool": "tools.places",
    "ReverseGeocodeTool": "tools.places",
    "SuggestPlacesTool": "tools.places",
    "PoiSearchTool": "tools.poi",
    "PoiDetailTool": "tools.poi_detail",
    "CyclingRouteTool": "tools.routes",
    "RoutePlanTool": "tools.routes",
    "TransitRouteTool": "tools.routes",
    "LOOKUP_TOOLS": "tools.toolkit",
    "MAP_TOOLS": "tools.toolkit",
    "GeoToolkit": "tools.toolkit",
    "WeatherTool": "tools.weather",
}

__all__ = [
    "LOOKUP_TOOLS",
    "MAP_TOOLS",
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
    "PoiDetailTool",
    "PoiSearchTool",
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
