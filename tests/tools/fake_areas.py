"""The fake open services' answers for the area tools (issue 22): Valhalla ``/isochrone``,
Nominatim ``/search`` with ``polygon_geojson=1``, Overpass ``around:`` a line.

Shapes: Valhalla's isochrone API reference (valhalla.github.io/valhalla/api/isochrone) and the
body its own test expects (``data/valhalla_isochrone_utrecht.json``, served verbatim for that
request); errors as ``{"error_code", "error", "status_code", "status"}`` with HTTP 400 (171: no
road near the location). Nominatim: ``jsonv2`` items with a ``geojson`` member
(``data/nominatim_polygon_pilkington.json`` is a recorded answer, served verbatim). Overpass:
``(around:R,lat1,lon1,lat2,lon2,...)`` keeps what lies within R metres of that polyline.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def recorded(name: str) -> dict[str, Any]:
    """A recorded body with its provenance: ``{"_provenance": {...}, "body": ...}``."""
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


VALHALLA_UTRECHT = recorded("valhalla_isochrone_utrecht.json")
NOMINATIM_PILKINGTON = recorded("nominatim_polygon_pilkington.json")
SPEEDS = {"auto": 8.0, "bicycle": 4.0, "pedestrian": 1.3}  # m/s, straight-line reach


def _circle(lng: float, lat: float, radius_m: float, n: int = 24) -> list[list[float]]:
    kx = 111320 * math.cos(math.radians(lat))
    ring = [[round(lng + radius_m * math.cos(2 * math.pi * i / n) / kx, 6),
             round(lat + radius_m * math.sin(2 * math.pi * i / n) / 111320, 6)]
            for i in range(n)]
    return [*ring, ring[0]]


def valhalla(params: dict[str, str], tail: str) -> tuple[int, Any]:
    """``POST /isochrone``: the recorded Utrecht body for its request, else a disc of the
    costing's speed times the contour's time, with a small hole (a lake) east of the centre."""
    if tail != "/isochrone":
        return 404, {"error_code": 106, "error": "Try any of: '/route' '/isochrone'",
                     "status_code": 404, "status": "Not Found"}
    try:
        request = json.loads(params.get("json", ""))
        place = request["locations"][0]
        lat, lng = float(place["lat"]), float(place["lon"])
        minutes = float(request["contours"][0]["time"])
        costing = str(request["costing"])
    except (ValueError, KeyError, IndexError, TypeError):
        return 400, {"error_code": 100, "error": "Failed to parse json request",
                     "status_code": 400, "status": "Bad Request"}
    if costing not in SPEEDS:
        return 400, {"error_code": 125, "error": "No costing method found",
                     "status_code": 400, "status": "Bad Request"}
    if lat < -60:  # no roads: Antarctica
        return 400, {"error_code": 171, "error": "No suitable edges near location",
                     "status_code": 400, "status": "Bad Request"}
    if (lat, lng, costing, minutes) == (52.078937, 5.115321, "bicycle", 15.0):  # recorded
        return 200, copy.deepcopy(VALHALLA_UTRECHT["body"])
    radius = SPEEDS[costing] * minutes * 60
    kx = 111320 * math.cos(math.radians(lat))
    hole = _circle(lng + radius * 0.4 / kx, lat, radius * 0.1, 8)[::-1]
    polygon = [_circle(lng, lat, radius), hole] if request.get("polygons") else None
    geometry = ({"type": "Polygon", "coordinates": polygon} if polygon is not None
                else {"type": "LineString", "coordinates": _circle(lng, lat, radius)})
    props = {"fill-opacity": 0.33, "fillColor": "#bf4040", "opacity": 0.33, "fill": "#bf4040",
             "fillOpacity": 0.33, "color": "#bf4040", "contour": minutes, "metric": "time"}
    return 200, {"features": [{"properties": props, "geometry": geometry, "type": "Feature"}],
                 "type": "FeatureCollection"}


def _item(name: str, lat: float, lng: float, category: str, kind: str,
          geojson: dict[str, Any]) -> dict[str, Any]:
    return {"place_id": abs(hash(name)) % 10**8, "licence": "Data © OpenStreetMap contributors, "
            "ODbL 1.0. http://osm.org/copyright", "osm_type": "relation", "osm_id": 9521,
            "lat": str(lat), "lon": str(lng), "category": category, "type": kind,
            "place_rank": 16, "importance": 0.5, "addresstype": "suburb", "name": name,
            "display_name": f"{name}, Paris, Île-de-France, France", "geojson": geojson}


CHAMP_DE_MARS = _item("Champ de Mars", 48.8556, 2.2986, "leisure", "park", {
    "type": "Polygon", "coordinates": [[[2.2905, 48.8585], [2.3010, 48.8510], [2.3065, 48.8540],
                                        [2.2960, 48.8615], [2.2905, 48.8585]]]})
PARIS_7 = _item("Paris 7e Arrondissement", 48.8566, 2.3125, "boundary", "administrative", {
    "type": "MultiPolygon", "coordinates": [
        [[[2.2890, 48.8460], [2.3300, 48.8460], [2.3300, 48.8640], [2.2890, 48.8640],
          [2.2890, 48.8460]]],
        [[[2.3320, 48.8600], [2.3340, 48.8600], [2.3340, 48.8610], [2.3320, 48.8610],
          [2.3320, 48.8600]]]]})


def nominatim_areas(query: str) -> list[dict[str, Any]]:
    """``/search?polygon_geojson=1`` answers."""
    if "pilkington" in query:
        return copy.deepcopy(NOMINATIM_PILKINGTON["body"])
    if "champ de mars" in query:
        return [copy.deepcopy(CHAMP_DE_MARS)]
    if "7e" in query or "7th" in query:
        return [copy.deepcopy(PARIS_7)]
    return []


def around_line(ql: str) -> tuple[float, list[tuple[float, float]]] | None:
    """``(radius, [(lat, lon), ...])`` of an ``around:`` filter with two or more points."""
    match = re.search(r"\(around:(\d+(?:\.\d+)?),([-\d.,]+)\)", ql)
    if match is None:
        return None
    numbers = [float(v) for v in match.group(2).split(",")]
    if len(numbers) < 4:
        return None
    return float(match.group(1)), list(zip(numbers[::2], numbers[1::2], strict=True))


def near_line(element: dict[str, Any], radius: float, line: list[tuple[float, float]]) -> bool:
    """Whether the element lies within ``radius`` metres of the polyline."""
    lat = element.get("lat", (element.get("center") or {}).get("lat"))
    lon = element.get("lon", (element.get("center") or {}).get("lon"))
    if lat is None or lon is None:
        return False
    kx, ky = 111320 * math.cos(math.radians(lat)), 111320

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return (p[1] - lon) * kx, (p[0] - lat) * ky

    best = math.inf
    for a, b in itertools.pairwise(line):
        (ax, ay), (bx, by) = xy(a), xy(b)
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best <= radius
