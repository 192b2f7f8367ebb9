"""Map pictures on open data: raster tiles from ``GEO_TILE_URL`` (WGS-84 web mercator;
OpenStreetMap's by default) fetched with the toolkit's ``HttpClient`` (its timeout, User-Agent
and response cap), composed and drawn on with Pillow (the ``snapshot`` extra)."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.cache import TTLCache
from bailian_geo_agent.tools.errors import GeoProviderError
from bailian_geo_agent.tools.infra import gather_limited
from bailian_geo_agent.tools.snapshot_scene import TILE, Scene, SnapshotError, View, fit_view

if TYPE_CHECKING:
    from bailian_geo_agent.tools.config import GeoConfig
    from bailian_geo_agent.tools.http import HttpClient

MAX_TILE_ZOOM = 18
TILE_CONCURRENCY = 2
"""Tiles fetched at once (tile.openstreetmap.org's usage policy asks for few)."""
MAX_TILE_PIXELS = 1024 * 1024
"""Largest decoded tile (a guard against decompression bombs)."""
TILE_CACHE = TTLCache(maxsize=512)
"""Tile bodies by URL, kept ``GEO_CACHE_TTL`` seconds (tile servers ask clients to cache)."""


def _pil() -> Any:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise SnapshotError(message_text("snapshot_needs_pillow")) from None
    return Image, ImageDraw, ImageFont


async def render_tiles(scene: Scene, size: tuple[int, int], config: GeoConfig,
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
