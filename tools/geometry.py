"""Plane geometry of areas and routes, on shapely: rings and GeoJSON to MultiPolygons, point in
area, simplification within a vertex budget, distances to a line, grids and their unions.

Coordinates are ``(lng, lat)`` degrees in one system (the caller's); metric work happens in a
local equirectangular projection around the shape (error well under 1 % over a city), so the
results stay in the system they came in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box, shape
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6371008.8
LngLat = tuple[float, float]
Rings = list[list[LngLat]]
"""The coordinates of a GeoJSON Polygon: outer ring first, holes after."""
G = TypeVar("G", bound=BaseGeometry)


class LocalProjection:
    """Metres east/north of ``(lng0, lat0)`` and back (equirectangular)."""

    def __init__(self, lng0: float, lat0: float) -> None:
        self.lng0, self.lat0 = lng0, lat0
        self.kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
        self.ky = math.radians(1) * EARTH_RADIUS_M

    @classmethod
    def around(cls, geometry: BaseGeometry) -> LocalProjection:
        """A projection centred on ``geometry``'s bounding box."""
        minx, miny, maxx, maxy = geometry.bounds
        return cls((minx + maxx) / 2, (miny + maxy) / 2)

    def _forward(self, coords: Any) -> Any:
        return np.column_stack(((coords[:, 0] - self.lng0) * self.kx,
                                (coords[:, 1] - self.lat0) * self.ky))

    def _inverse(self, coords: Any) -> Any:
        return np.column_stack((coords[:, 0] / self.kx + self.lng0,
                                coords[:, 1] / self.ky + self.lat0))

    def to_metres(self, geometry: G) -> G:
        """``geometry`` in metres."""
        return shapely.transform(geometry, self._forward)

    def to_degrees(self, geometry: G) -> G:
        """``geometry`` (in metres) back in degrees."""
        return shapely.transform(geometry, self._inverse)

    def point(self, x: float, y: float) -> LngLat:
        """The degrees of a point ``x`` m east, ``y`` m north of the origin."""
        return (x / self.kx + self.lng0, y / self.ky + self.lat0)


def as_multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    """The polygonal part of ``geometry`` (made valid) as a MultiPolygon (possibly empty)."""
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry]) if not geometry.is_empty else MultiPolygon()
    parts: list[Polygon] = []
    for part in getattr(geometry, "geoms", ()):
        parts.extend(as_multipolygon(part).geoms)
    return MultiPolygon(parts)


def from_rings(rings: Iterable[Sequence[LngLat]]) -> MultiPolygon:
    """Rings without roles (AMap's ``polyline`` parts) as one area, by the even-odd rule: a
    ring inside another is a hole, one inside a hole an island again."""
    polygons: list[BaseGeometry] = [shapely.make_valid(Polygon(ring)) for ring in rings
                                    if len(ring) >= 3]
    if not polygons:
        return MultiPolygon()
    # pairwise in rounds, not one by one into a growing shape: a province's hundreds of islands
    # took seconds (quadratic); the result is the same (the difference is associative)
    while len(polygons) > 1:
        polygons = [polygons[k].symmetric_difference(polygons[k + 1])
                    if k + 1 < len(polygons) else polygons[k]
                    for k in range(0, len(polygons), 2)]
    return as_multipolygon(polygons[0])


def from_geojson(geometry: dict[str, Any]) -> MultiPolygon:
    """A GeoJSON Polygon or MultiPolygon (other types: empty)."""
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return MultiPolygon()
    return as_multipolygon(shape(geometry))


def vertex_count(area: MultiPolygon) -> int:
    """Vertices of all rings (each ring's closing vertex counted, as on the wire)."""
    return sum(len(p.exterior.coords) + sum(len(r.coords) for r in p.interiors)
               for p in area.geoms)


def simplify(area: MultiPolygon, max_points: int) -> MultiPolygon:
    """``area`` with at most ``max_points`` vertices, topology preserved (Douglas-Peucker in
    metres, the tolerance doubled until it fits); tiny parts the budget cannot hold go."""
    if vertex_count(area) <= max_points:
        return area
    projection = LocalProjection.around(area)
    metric = projection.to_metres(area)
    tolerance = 1.0
    while True:
        smaller = as_multipolygon(metric.simplify(tolerance, preserve_topology=True))
        if vertex_count(smaller) <= max_points:
            break
        if tolerance > 1e6:  # too many separate parts: keep the largest that fit
            smaller = _largest_parts(smaller, max_points)
            break
        tolerance *= 2
    return as_multipolygon(projection.to_degrees(smaller))


def _largest_parts(area: MultiPolygon, max_points: int) -> MultiPolygon:
    kept: list[Polygon] = []
    used = 0
    for part in sorted(area.geoms, key=lambda p: p.area, reverse=True):
        size = vertex_count(MultiPolygon([part]))
        if used + size <= max_points:
            kept.append(part)
            used += size
    return MultiPolygon(kept)


def to_coordinates(area: MultiPolygon, digits: int = 6) -> list[Rings]:
    """GeoJSON MultiPolygon coordinates, rounded, every ring closed (outer ring first)."""
    result: list[Rings] = []
    for polygon in area.geoms:
        rings = [polygon.exterior, *polygon.interiors]
        converted: Rings = []
        for ring in rings:
            points = [(round(x, digits), round(y, digits)) for x, y, *_ in ring.coords]
            if points and points[0] != points[-1]:
                points.append(points[0])
            if len(points) >= 4:
                converted.append(points)
        if converted:
            result.append(converted)
    return result


def relation(area: MultiPolygon, lng: float, lat: float) -> tuple[bool, float]:
    """Whether the point is in ``area`` (its boundary counts as in), and its distance in metres
    to the boundary."""
    point = Point(lng, lat)
    projection = LocalProjection(lng, lat)
    inside = bool(area.covers(point))
    distance = projection.to_metres(area.boundary).distance(projection.to_metres(point))
    return inside, float(distance)


def area_km2(area: MultiPolygon) -> float:
    """The area in square kilometres."""
    if area.is_empty:
        return 0.0
    return float(LocalProjection.around(area).to_metres(area).area) / 1e6


def centroid(area: MultiPolygon) -> LngLat:
    """A point inside ``area`` (its representative point)."""
    point = area.representative_point()
    return (float(point.x), float(point.y))


class RouteLine:
    """A route's polyline in metres: distances to it and positions along it."""

    def __init__(self, path: Sequence[LngLat]) -> None:
        if len(path) < 2:
            path = [path[0], path[0]] if path else [(0.0, 0.0), (0.0, 0.0)]
        self.projection = LocalProjection.around(LineString(path))
        self.line = self.projection.to_metres(LineString(path))

    @property
    def length_m(self) -> float:
        """Its length in metres."""
        return float(self.line.length)

    def offset(self, lng: float, lat: float) -> tuple[float, float]:
        """``(distance from the line, position along it)`` of a point, both in metres."""
        point = self.projection.to_metres(Point(lng, lat))
        return float(self.line.distance(point)), float(self.line.project(point))

    def samples(self, spacing_m: float, max_samples: int) -> list[LngLat]:
        """Points every ``spacing_m`` along the line, ends included; the spacing grows so that
        there are at most ``max_samples``."""
        length = self.length_m
        count = max(2, min(max_samples, math.ceil(length / max(spacing_m, 1.0)) + 1))
        points = []
        for i in range(count):
            at = self.line.interpolate(length * i / (count - 1))
            points.append(self.projection.point(float(at.x), float(at.y)))
        return points


def grid(center: LngLat, radius_m: float, per_side: int) -> tuple[list[LngLat], float]:
    """Cell centres of a ``per_side`` square grid over the disc of ``radius_m`` around
    ``center`` (cells outside the disc left out), and the cell size in metres."""
    projection = LocalProjection(*center)
    cell = 2 * radius_m / per_side
    points = []
    for i in range(per_side):
        for j in range(per_side):
            x = -radius_m + (i + 0.5) * cell
            y = -radius_m + (j + 0.5) * cell
            if math.hypot(x, y) <= radius_m:
                points.append(projection.point(x, y))
    return points, cell


def union(parts: Sequence[BaseGeometry]) -> MultiPolygon:
    """The union of ``parts``' polygons."""
    return as_multipolygon(shapely.unary_union(list(parts)))


def cells_union(center: LngLat, centres: Iterable[LngLat], cell_m: float) -> MultiPolygon:
    """The union of the square cells of side ``cell_m`` around ``centres``."""
    projection = LocalProjection(*center)
    half = cell_m / 2
    squares = []
    for lng, lat in centres:
        x = (lng - center[0]) * projection.kx
        y = (lat - center[1]) * projection.ky
        squares.append(box(x - half, y - half, x + half, y + half))
    if not squares:
        return MultiPolygon()
    merged = shapely.unary_union(squares)
    return as_multipolygon(projection.to_degrees(merged))
