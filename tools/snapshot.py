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

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import out_of_china
from bailian_geo_agent.tools.map_commands import MapCommand
from bailian_geo_agent.tools.snapshot_amap import amap_params, render_amap
from bailian_geo_agent.tools.snapshot_scene import (
    NothingToDraw,
    Scene,
    SnapshotError,
    fit_view,
    scene_of,
    world_pixel,
)
from bailian_geo_agent.tools.snapshot_tiles import TILE_CACHE, render_tiles, tile_url

if TYPE_CHECKING:
    from bailian_geo_agent.tools.config import GeoConfig
    from bailian_geo_agent.tools.http import HttpClient

DEFAULT_SIZE = (640, 400)
"""Width and height of a picture in pixels when none is given."""
MIN_SIDE, MAX_SIDE = 64, 1024
"""Smallest and largest side in pixels (AMap's static maps stop at 1024*1024)."""


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
            return await render_amap(scene, (width, height), config, http)
        return await render_tiles(scene, (width, height), config, http)
    finally:
        if owned:
            await http.aclose()


def uses_amap(scene: Scene, config: GeoConfig) -> bool:
    """AMap's static map when AMap is the provider and every point is in its coverage."""
    if config.resolved_provider != "amap" or not config.amap_api_key:
        return False
    return not any(out_of_china(p.lng, p.lat) for p in scene.coordinates())


__all__ = [
    "DEFAULT_SIZE",
    "MAX_SIDE",
    "MIN_SIDE",
    "TILE_CACHE",
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
