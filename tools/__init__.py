"""Geo tools for the Bailian geographic assistant: weather, POI search, place suggestions,
geocoding, routes and map commands, over AMap or keyless open providers.

``from tools import GeoToolkit`` is the public entry point; see ``tools/README.md``.
"""

from tools.coords import Coordinate, gcj02_to_wgs84, wgs84_to_gcj02
from tools.map_ops import (
    MapAddMarkersTool,
    MapClearTool,
    MapDrawRouteTool,
    MapFitBoundsTool,
    MapSetViewTool,
)
from tools.poi import PoiSearchTool
from tools.suggestions import GeocodeTool, ReverseGeocodeTool, RoutePlanTool, SuggestPlacesTool
from tools.toolkit import GeoToolkit
from tools.weather import WeatherTool

__all__ = [
    "Coordinate",
    "GeoToolkit",
    "GeocodeTool",
    "MapAddMarkersTool",
    "MapClearTool",
    "MapDrawRouteTool",
    "MapFitBoundsTool",
    "MapSetViewTool",
    "PoiSearchTool",
    "ReverseGeocodeTool",
    "RoutePlanTool",
    "SuggestPlacesTool",
    "WeatherTool",
    "gcj02_to_wgs84",
    "wgs84_to_gcj02",
]
