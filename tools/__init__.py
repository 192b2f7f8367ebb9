"""Geo tools for the Bailian geographic assistant: weather, POI search, place suggestions,
geocoding, routes, distances and map commands, over AMap or keyless open providers.

``from tools import GeoToolkit`` is the public entry point; see ``tools/README.md``. Every tool
class is listed once, in ``tools.toolkit`` (``LOOKUP_TOOLS``, ``MAP_TOOLS``), and exported here.
"""

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
