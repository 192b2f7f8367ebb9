"""What a map picture shows (``scene_of``: map commands replayed as a map would, what is left
visible) and where it falls in a web-mercator picture (``fit_view``, ``View``); the errors of
map pictures (``tools.snapshot``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.map_commands import (
    AddMarkers,
    AddStops,
    Clear,
    DrawArea,
    DrawRoute,
    LayerCommand,
    MapCommand,
    parse_map_action,
)

TILE = 256
PADDING = 32
"""Pixels kept free around what is drawn."""
POINT_ZOOM = 15
"""Zoom of a picture of one point."""
COLORS = {"marker": "#e8453c", "stop": "#7b2fbe", "route": "#1a73e8", "area": "#0f9d58"}
"""Colours of things drawn without one of their own."""


class SnapshotError(Exception):
    """A map picture could not be made; ``str(error)`` says why and what to do."""


class NothingToDraw(SnapshotError):
    """The commands leave nothing on the map (no markers, stops, routes or areas)."""


# ---------------------------------------------------------------------------- the scene


@dataclass(frozen=True)
class Point:
    """A marker or a numbered stop."""

    at: Coordinate
    label: str
    color: str
    number: int | None = None
    layer: str | None = None


@dataclass(frozen=True)
class Line:
    """A route's polyline."""

    path: tuple[Coordinate, ...]
    color: str
    layer: str | None = None


@dataclass(frozen=True)
class Area:
    """A MultiPolygon: polygons of rings (outer first, holes after)."""

    polygons: tuple[tuple[tuple[Coordinate, ...], ...], ...]
    color: str
    layer: str | None = None


@dataclass
class Scene:
    """What the commands leave on the map, in drawing order per kind."""

    points: list[Point] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    areas: list[Area] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing to draw."""
        return not (self.points or self.lines or self.areas)

    def to(self, crs: CRS) -> Scene:
        """The same scene with every point in ``crs``."""
        return Scene(
            [Point(p.at.to(crs), p.label, p.color, p.number, p.layer) for p in self.points],
            [Line(tuple(c.to(crs) for c in x.path), x.color, x.layer) for x in self.lines],
            [Area(tuple(tuple(tuple(c.to(crs) for c in ring) for ring in polygon)
                        for polygon in a.polygons), a.color, a.layer) for a in self.areas])

    def coordinates(self) -> list[Coordinate]:
        """Every vertex and point."""
        found = [p.at for p in self.points]
        for line in self.lines:
            found.extend(line.path)
        for area in self.areas:
            for polygon in area.polygons:
                found.extend(polygon[0])
        return found


def scene_of(commands: Iterable[Mapping[str, Any] | MapCommand]) -> Scene:
    """Replay ``commands`` (wire dicts or models) as a map would: what is left visible."""
    scene = Scene()
    hidden: set[str] = set()
    for raw in commands:
        command = raw if isinstance(raw, MapCommand) else parse_map_action(dict(raw))
        if isinstance(command, AddMarkers):
            color = command.color or COLORS["marker"]
            scene.points.extend(Point(_coordinate(m.lng, m.lat, m.crs), m.label, color,
                                      layer=command.layer) for m in command.markers)
        elif isinstance(command, AddStops):
            color = command.color or COLORS["stop"]
            scene.points.extend(Point(_coordinate(s.lng, s.lat, s.crs), s.label, color,
                                      s.number, command.layer) for s in command.stops)
        elif isinstance(command, DrawRoute):
            path = tuple(_coordinate(lng, lat, command.crs) for lng, lat in command.path)
            if len(path) < 2:
                path = (_coordinate(command.origin.lng, command.origin.lat, command.origin.crs),
                        _coordinate(command.destination.lng, command.destination.lat,
                                    command.destination.crs))
            scene.lines.append(Line(path, command.color or COLORS["route"], command.layer))
        elif isinstance(command, DrawArea):
            polygons = tuple(
                tuple(tuple(_coordinate(lng, lat, command.crs) for lng, lat in ring)
                      for ring in polygon)
                for polygon in command.polygons)
            scene.areas.append(Area(polygons, command.color or COLORS["area"], command.layer))
        elif isinstance(command, Clear):
            target = command.target
            if target in ("all", "markers"):
                scene.points = [p for p in scene.points if p.number is not None]
            if target in ("all", "stops"):
                scene.points = [p for p in scene.points if p.number is None]
            if target in ("all", "routes"):
                scene.lines = []
            if target in ("all", "areas"):
                scene.areas = []
        elif isinstance(command, LayerCommand):
            if command.action == "hide":
                hidden.add(command.name)
            elif command.action == "show":
                hidden.discard(command.name)
            else:
                scene.points = [p for p in scene.points if p.layer != command.name]
                scene.lines = [x for x in scene.lines if x.layer != command.name]
                scene.areas = [a for a in scene.areas if a.layer != command.name]
    return Scene([p for p in scene.points if p.layer not in hidden],
                 [x for x in scene.lines if x.layer not in hidden],
                 [a for a in scene.areas if a.layer not in hidden])


def _coordinate(lng: float, lat: float, crs: CRS) -> Coordinate:
    return Coordinate(lng, lat, crs)


# ---------------------------------------------------------------------------- projection


def world_pixel(lng: float, lat: float, zoom: int) -> tuple[float, float]:
    """Web-mercator pixel of a point at ``zoom`` (256-pixel tiles; 0,0 is the north-west)."""
    scale = TILE * 2**zoom
    lat = max(-85.05112878, min(85.05112878, lat))
    sin = math.sin(math.radians(lat))
    x = (lng + 180.0) / 360.0 * scale
    y = (0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * scale
    return x, y


def lnglat_of_pixel(x: float, y: float, zoom: int) -> tuple[float, float]:
    """The inverse of ``world_pixel``."""
    scale = TILE * 2**zoom
    lng = x / scale * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / scale))))
    return lng, lat


@dataclass(frozen=True)
class View:
    """A picture's zoom and the world pixel at its centre."""

    zoom: int
    center_x: float
    center_y: float
    width: int
    height: int

    def pixel(self, point: Coordinate) -> tuple[float, float]:
        """Where ``point`` (already in the picture's system) falls in the picture."""
        x, y = world_pixel(point.lng, point.lat, self.zoom)
        return x - self.center_x + self.width / 2, y - self.center_y + self.height / 2

    def center(self) -> tuple[float, float]:
        """The centre as ``(lng, lat)``."""
        return lnglat_of_pixel(self.center_x, self.center_y, self.zoom)


def fit_view(points: Sequence[Coordinate], size: tuple[int, int], max_zoom: int) -> View:
    """The highest zoom (at most ``max_zoom``; ``POINT_ZOOM`` for one point) at which every
    point fits with ``PADDING`` pixels to spare, centred on their box."""
    width, height = size
    room_x, room_y = max(1, width - 2 * PADDING), max(1, height - 2 * PADDING)
    west, east = min(p.lng for p in points), max(p.lng for p in points)
    south, north = min(p.lat for p in points), max(p.lat for p in points)
    zoom = min(POINT_ZOOM, max_zoom) if (west, south) == (east, north) else 1
    if (west, south) != (east, north):
        for candidate in range(max_zoom, 0, -1):
            x0, y0 = world_pixel(west, north, candidate)
            x1, y1 = world_pixel(east, south, candidate)
            if x1 - x0 <= room_x and y1 - y0 <= room_y:
                zoom = candidate
                break
    x0, y0 = world_pixel(west, north, zoom)
    x1, y1 = world_pixel(east, south, zoom)
    return View(zoom, (x0 + x1) / 2, (y0 + y1) / 2, width, height)
