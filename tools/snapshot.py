"""Map pictures: a PNG of map commands (markers, numbered stops, routes, areas), for places
without a live map (``geo-agent ask --map``, notebooks, MCP image content).

``await render_png(commands, size=(w, h), config=config)`` replays the commands as a map front
end would (``clear``, ``layer`` show/hide/clear, colours), fits zoom and centre to what is left,
and draws it:

- on AMap data (``config.resolved_provider == "amap"``, every point in China): AMap's static
  map API ``/v3/staticmap`` draws it over AMap's base map (GCJ-02; at most 10 markers and 4
  lines or areas, as AMap allows);
- otherwise: raster tiles from ``GEO_TILE_URL`` (WGS-84 web mercator; OpenStreetMap's by
  default) fetched with the toolkit's ``HttpClient`` (its timeout, User-Agent and response
  cap), composed and drawn on with Pillow (the ``snapshot`` extra).

The tile renderers on PyPI (``staticmap``, ``py-staticmaps``) fetch tiles themselves with
``requests``, beyond our timeouts, response cap and key redaction; so the tiles come through
``HttpClient`` and Pillow draws. Failures are ``SnapshotError`` with a message to show.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.cache import TTLCache
from bailian_geo_agent.tools.coords import CRS, Coordinate, out_of_china
from bailian_geo_agent.tools.errors import GeoProviderError
from bailian_geo_agent.tools.infra import gather_limited
from bailian_geo_agent.tools.map_commands import (
    AddMarkers,
    AddStops,
    Clear,
    DrawArea,
    DrawRoute,
    LayerCommand,
    MapCommand,
    parse_map_action,
    thin,
)

if TYPE_CHECKING:
    from bailian_geo_agent.tools.config import GeoConfig
    from bailian_geo_agent.tools.http import HttpClient

logger = logging.getLogger(__name__)

DEFAULT_SIZE = (640, 400)
"""Width and height of a picture in pixels when none is given."""
MIN_SIDE, MAX_SIDE = 64, 1024
"""Smallest and largest side in pixels (AMap's static maps stop at 1024*1024)."""
TILE = 256
PADDING = 32
"""Pixels kept free around what is drawn."""
POINT_ZOOM = 15
"""Zoom of a picture of one point."""
MAX_TILE_ZOOM = 18
AMAP_MAX_ZOOM = 17
AMAP_MAX_MARKERS = 10
AMAP_MAX_PATHS = 4
AMAP_PATH_POINTS = 60
"""Most vertices of one AMap line or area (keeps the request URL short)."""
TILE_CONCURRENCY = 2
"""Tiles fetched at once (tile.openstreetmap.org's usage policy asks for few)."""
MAX_TILE_PIXELS = 1024 * 1024
"""Largest decoded tile (a guard against decompression bombs)."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TILE_CACHE = TTLCache(maxsize=512)
"""Tile bodies by URL, kept ``GEO_CACHE_TTL`` seconds (tile servers ask clients to cache)."""

COLORS = {"marker": "#e8453c", "stop": "#7b2fbe", "route": "#1a73e8", "area": "#0f9d58"}
"""Colours of things drawn without one of their own."""
_AMAP_LABEL = re.compile(r"[0-9A-Z\u4e00-\u9fff]")


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


# ---------------------------------------------------------------------------- rendering


async def render_png(
    commands: Iterable[Mapping[str, Any] | MapCommand],
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    config: GeoConfig | None = None,
    http: HttpClient | None = None,
) -> bytes:
    """A PNG picture of what ``commands`` draw.

    ``config``: the geo settings (default: from the environment); ``http``: the client for the
    requests (default: a new one from ``config``, closed afterwards). Raises ``NothingToDraw``
    when nothing is left on the map and ``SnapshotError`` when the picture cannot be made."""
    from bailian_geo_agent.tools.config import GeoConfig

    width, height = size
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise SnapshotError(message_text("snapshot_bad_size", low=MIN_SIDE, high=MAX_SIDE))
    scene = scene_of(commands)
    if scene.empty:
        raise NothingToDraw(message_text("snapshot_nothing"))
    config = config or GeoConfig.from_env()
    owned = http is None
    if http is None:
        from bailian_geo_agent.tools.http import HttpClient

        http = HttpClient.from_config(config)
    try:
        if uses_amap(scene, config):
            return await _render_amap(scene, (width, height), config, http)
        return await _render_tiles(scene, (width, height), config, http)
    finally:
        if owned:
            await http.aclose()


def uses_amap(scene: Scene, config: GeoConfig) -> bool:
    """AMap's static map when AMap is the provider and every point is in its coverage."""
    if config.resolved_provider != "amap" or not config.amap_api_key:
        return False
    return not any(out_of_china(p.lng, p.lat) for p in scene.coordinates())


# -- AMap static map


async def _render_amap(scene: Scene, size: tuple[int, int], config: GeoConfig,
                       http: HttpClient) -> bytes:
    from bailian_geo_agent.tools.providers.amap import error_for
    from bailian_geo_agent.tools.providers.amap_fields import NAME

    params: dict[str, str | None] = {**amap_params(scene, size), "key": config.amap_api_key}
    try:
        body, content_type = await http.get_bytes(
            config.amap_base_url + "/v3/staticmap", params, service=NAME)
    except GeoProviderError as exc:
        raise SnapshotError(str(exc)) from None
    if body.startswith(PNG_MAGIC):
        return body
    problem: GeoProviderError | None = None
    try:  # AMap explains a refusal in JSON (with HTTP 200)
        data = json.loads(body)
        if isinstance(data, dict) and str(data.get("status")) == "0":
            problem = error_for(str(data.get("infocode") or ""),
                                re.sub(r"[^A-Za-z0-9_ ]", "", str(data.get("info")))[:60])
    except ValueError:
        pass
    if problem is not None:
        raise SnapshotError(str(problem))
    logger.warning("AMap static map answered %s, not a PNG", content_type[:40] or "no type")
    raise SnapshotError(message_text("snapshot_not_png", service=NAME))


def amap_params(scene: Scene, size: tuple[int, int]) -> dict[str, str]:
    """The ``/v3/staticmap`` query (all but the key) drawing ``scene`` in GCJ-02: zoom and
    centre fitted; stops then markers (10 at most), lines then areas (4 at most)."""
    width, height = size
    gcj = scene.to("gcj02")
    view = fit_view(gcj.coordinates(), size, AMAP_MAX_ZOOM)
    lng, lat = view.center()
    params = {"location": f"{lng:.6f},{lat:.6f}", "zoom": str(view.zoom),
              "size": f"{width}*{height}"}
    ordered = sorted(gcj.points, key=lambda p: (p.number is None, p.number or 0))
    markers = [
        f"mid,{_amap_color(p.color)},{_amap_label(p)}:{p.at.lnglat(6)}"
        for p in ordered[:AMAP_MAX_MARKERS]
    ]
    if markers:
        params["markers"] = "|".join(markers)
    paths = [f"6,{_amap_color(x.color)},1,,:{_amap_points(x.path)}" for x in gcj.lines]
    for area in gcj.areas:
        color = _amap_color(area.color)
        paths.extend(f"2,{color},1,{color},0.3:{_amap_points(polygon[0])}"
                     for polygon in area.polygons)
    if paths:
        params["paths"] = "|".join(paths[:AMAP_MAX_PATHS])
    dropped = max(0, len(ordered) - AMAP_MAX_MARKERS) + max(0, len(paths) - AMAP_MAX_PATHS)
    if dropped:
        logger.info("AMap static map: %d markers or lines beyond its limits left out", dropped)
    return params


def _amap_color(color: str) -> str:
    return "0x" + color.removeprefix("#").upper()


def _amap_label(point: Point) -> str:
    """One character, as AMap allows: the stop's number up to 9, else the label's first digit,
    capital letter or Chinese character."""
    if point.number is not None:
        return str(point.number) if point.number <= 9 else ""
    found = _AMAP_LABEL.search(point.label.upper()[:1])
    return found.group(0) if found else ""


def _amap_points(path: Sequence[Coordinate]) -> str:
    return ";".join(c.lnglat(6) for c in thin(path, AMAP_PATH_POINTS))


# -- tiles


def _pil() -> Any:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise SnapshotError(message_text("snapshot_needs_pillow")) from None
    return Image, ImageDraw, ImageFont


async def _render_tiles(scene: Scene, size: tuple[int, int], config: GeoConfig,
                        http: HttpClient) -> bytes:
    image_module, draw_module, font_module = _pil()
    wgs = scene.to("wgs84")
    view = fit_view(wgs.coordinates(), size, MAX_TILE_ZOOM)
    canvas = await _base_map(view, config, http, image_module)
    overlay = image_module.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = draw_module.Draw(overlay)
    for area in wgs.areas:
        rgb = _rgb(area.color)
        for polygon in area.polygons:
            draw.polygon([view.pixel(c) for c in polygon[0]], fill=(*rgb, 80),
                         outline=(*rgb, 255), width=2)
            for hole in polygon[1:]:
                draw.polygon([view.pixel(c) for c in hole], fill=(0, 0, 0, 0),
                             outline=(*rgb, 255), width=2)
    for line in wgs.lines:
        draw.line([view.pixel(c) for c in line.path], fill=(*_rgb(line.color), 255), width=5,
                  joint="curve")
    font = font_module.load_default(size=12)
    for point in wgs.points:
        x, y = view.pixel(point.at)
        radius = 7 if point.number is None else 10 if point.number < 10 else 12
        draw.ellipse((x - radius, y - radius, x + radius, y + radius),
                     fill=(*_rgb(point.color), 255), outline=(255, 255, 255, 255), width=2)
        if point.number is not None:
            number = str(point.number)
            left, top, right, bottom = draw.textbbox((0, 0), number, font=font)
            draw.text((x - (left + right) / 2, y - (top + bottom) / 2), number,
                      fill=(255, 255, 255, 255), font=font)  # centred (any font kind)
    host = urlsplit(config.tile_url).hostname or ""
    if host.endswith("openstreetmap.org"):  # the tiles' licence asks for it
        note = "© OpenStreetMap contributors"
        box = draw.textbbox((0, 0), note, font=font)
        w, h = box[2] - box[0] + 6, box[3] - box[1] + 4
        draw.rectangle((view.width - w, view.height - h, view.width, view.height),
                       fill=(255, 255, 255, 200))
        draw.text((view.width - w + 3, view.height - h + 1), note, fill=(40, 40, 40, 255),
                  font=font)
    picture = image_module.alpha_composite(canvas.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _rgb(color: str) -> tuple[int, int, int]:
    value = int(color.removeprefix("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


async def _base_map(view: View, config: GeoConfig, http: HttpClient,
                    image_module: Any) -> Any:
    """The tiles under ``view``, pasted into one picture."""
    canvas = image_module.new("RGB", (view.width, view.height), (229, 227, 223))
    left, top = view.center_x - view.width / 2, view.center_y - view.height / 2
    count = 2**view.zoom
    first_x, last_x = math.floor(left / TILE), math.floor((left + view.width - 1) / TILE)
    first_y, last_y = math.floor(top / TILE), math.floor((top + view.height - 1) / TILE)

    async def fetch(tx: int, ty: int) -> tuple[int, int, Any]:
        tile = await _tile(config.tile_url, view.zoom, tx % count, ty, http, image_module,
                           config.cache_ttl)
        return tx, ty, tile

    jobs = [fetch(tx, ty) for tx in range(first_x, last_x + 1)
            for ty in range(max(0, first_y), min(count - 1, last_y) + 1)]
    for tx, ty, tile in await gather_limited(jobs, TILE_CONCURRENCY):
        canvas.paste(tile, (round(tx * TILE - left), round(ty * TILE - top)))
    return canvas


def tile_url(template: str, zoom: int, x: int, y: int) -> str:
    """``template`` with ``{z}``, ``{x}`` and ``{y}`` filled in."""
    return template.replace("{z}", str(zoom)).replace("{x}", str(x)).replace("{y}", str(y))


async def _tile(template: str, zoom: int, x: int, y: int, http: HttpClient,
                image_module: Any, ttl: float) -> Any:
    host = urlsplit(template).netloc
    url = tile_url(template, zoom, x, y)
    body = TILE_CACHE.get(url)
    if body is None:
        try:
            body, _ = await http.get_bytes(url, service=host)
        except GeoProviderError as exc:
            raise SnapshotError(message_text("snapshot_tiles_failed", host=host,
                                             problem=str(exc))) from None
    try:
        tile = image_module.open(io.BytesIO(body))
        if tile.width * tile.height > MAX_TILE_PIXELS:
            raise ValueError("tile too large")
        tile = tile.convert("RGB")
    except Exception:  # Pillow raises several kinds for a body that is not an image
        raise SnapshotError(message_text("snapshot_tile_not_image", host=host)) from None
    if tile.size != (TILE, TILE):  # e.g. 512-pixel "retina" tiles
        tile = tile.resize((TILE, TILE))
    TILE_CACHE.set(url, body, ttl)
    return tile


__all__ = [
    "DEFAULT_SIZE",
    "NothingToDraw",
    "Scene",
    "SnapshotError",
    "amap_params",
    "fit_view",
    "render_png",
    "scene_of",
    "tile_url",
    "world_pixel",
]
