"""Map pictures on AMap data: AMap's static map API ``/v3/staticmap`` draws a scene over AMap's
base map (GCJ-02; at most 10 markers and 4 lines or areas, as AMap allows)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import GeoProviderError
from bailian_geo_agent.tools.map_commands import thin
from bailian_geo_agent.tools.snapshot_scene import Point, Scene, SnapshotError, fit_view

if TYPE_CHECKING:
    from bailian_geo_agent.tools.config import GeoConfig
    from bailian_geo_agent.tools.http import HttpClient

logger = logging.getLogger(__name__)

AMAP_MAX_ZOOM = 17
AMAP_MAX_MARKERS = 10
AMAP_MAX_PATHS = 4
AMAP_PATH_POINTS = 60
"""Most vertices of one AMap line or area (keeps the request URL short)."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_AMAP_LABEL = re.compile(r"[0-9A-Z\u4e00-\u9fff]")


async def render_amap(scene: Scene, size: tuple[int, int], config: GeoConfig,
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
