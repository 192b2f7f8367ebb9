"""AMap behind the area capabilities (``areas.AreaProvider``), GCJ-02.

- boundaries: ``/v3/config/district?keywords=&subdistrict=0&extensions=all``; ``polyline`` holds
  the rings split by ``|``, each ``lng,lat;lng,lat;...`` (no role: holes and islands by the
  even-odd rule); street-level answers carry none.
- reachable areas: AMap has no isochrone API, so ``/v3/distance`` (up to 100 origins, one
  destination) times a grid of points around the centre *to* the centre; the area is the union
  of the cells within the time, its resolution the cell size.
- along a line: ``/v3/place/around`` around points sampled along it, de-duplicated by id.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools import geometry
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import NotFoundError, OutOfCoverageError
from bailian_geo_agent.tools.infra import gather_limited
from bailian_geo_agent.tools.providers.amap_fields import NAME, _list, location, text
from bailian_geo_agent.tools.providers.areas import AreaBoundary, Isochrone, IsochroneMode
from bailian_geo_agent.tools.providers.base import Poi
from bailian_geo_agent.tools.providers.extras import DistanceMatrix
from shapely.geometry import MultiPolygon

GRID_PER_SIDE = 11
"""Grid points per side of the reachable-area square (those inside its disc: at most 100, one
``/v3/distance`` call)."""
SPEED_M_PER_MIN = {"walking": 5000 / 60, "driving": 40000 / 60}
"""Fastest plausible average speeds: the grid's radius is the time at this speed."""
MAX_SAMPLES = 12
"""Most around-searches along one route."""
CONCURRENT_SEARCHES = 3


class AmapAreaCalls(Protocol):
    """What these capabilities use of ``amap.AmapProvider``."""

    async def call(
        self, path: str, params: dict[str, Any], *, ttl: float | None = None
    ) -> dict[str, Any]: ...

    def _coverage(self, point: Coordinate) -> None: ...

    async def resolve_adcode(self, place: str) -> tuple[str, str]: ...

    async def nearby_poi(
        self, center: Coordinate, keywords: str | None, category: str | None, radius_m: int,
        limit: int,
    ) -> list[Poi]: ...

    async def distance(
        self, origins: list[Coordinate], destination: Coordinate, mode: Any
    ) -> DistanceMatrix: ...


def parse_polyline(value: str) -> list[list[tuple[float, float]]]:
    """``"lng,lat;lng,lat|lng,lat;..."`` -> rings of ``(lng, lat)``."""
    rings = []
    for part in value.split("|"):
        ring = []
        for pair in part.split(";"):
            point = location(pair)
            if point is not None:
                ring.append((point.lng, point.lat))
        if len(ring) >= 3:
            rings.append(ring)
    return rings


def _region_prefix(adcode: str) -> str:
    """The leading digits shared by every area under ``adcode`` (110000 -> 11, 220100 ->
    2201)."""
    while adcode.endswith("00"):
        adcode = adcode[:-2]
    return adcode


async def _city_prefix(provider: AmapAreaCalls, city: str) -> str:
    """The adcode prefix of ``city`` (empty when AMap does not know it)."""
    try:
        adcode, _ = await provider.resolve_adcode(city)
    except NotFoundError:
        return ""
    return _region_prefix(adcode)


async def area_boundary(provider: AmapAreaCalls, name: str, city: str | None) -> AreaBoundary:
    """A district's outline from ``/v3/config/district``. The API matches the name across China
    (two Chaoyang districts: Beijing's and Changchun's); of several, the one in ``city``, else
    the first."""
    params = {"keywords": name, "subdistrict": "0", "extensions": "all"}
    data = await provider.call("/v3/config/district", params, ttl=86400)
    found: list[tuple[dict[str, Any], MultiPolygon]] = []
    for item in _list(data, "districts"):
        if not isinstance(item, dict):
            continue
        rings = parse_polyline(text(item.get("polyline")))
        area = geometry.from_rings(rings) if rings else None
        if area is not None and not area.is_empty:
            found.append((item, area))
    if not found:
        raise NotFoundError(message_text("areas_unknown_area", area=name))
    item, area = found[0]
    if city and len(found) > 1:
        prefix = await _city_prefix(provider, city)
        item, area = next(((i, a) for i, a in found
                           if prefix and text(i.get("adcode")).startswith(prefix)), found[0])
    return AreaBoundary(
        name=text(item.get("name")) or name, kind="district",
        polygons=geometry.to_coordinates(area), crs="gcj02",
        center=location(item.get("center")), level=text(item.get("level")),
        adcode=text(item.get("adcode")), source=NAME, same_name=len(found),
    )


async def isochrone(
    provider: AmapAreaCalls, center: Coordinate, minutes: int, mode: IsochroneMode
) -> Isochrone:
    """The grid of ``/v3/distance`` times to ``center`` (driving or walking)."""
    if mode not in SPEED_M_PER_MIN:
        raise OutOfCoverageError(message_text("areas_grid_mode", mode=mode))
    middle = center.to("gcj02")
    provider._coverage(middle)
    radius = SPEED_M_PER_MIN[mode] * minutes
    points, cell = geometry.grid((middle.lng, middle.lat), radius, GRID_PER_SIDE)
    origins = [Coordinate(lng, lat, "gcj02") for lng, lat in points]
    matrix = await provider.distance(origins, middle, mode)
    limit = minutes * 60
    reached = [(middle.lng, middle.lat)]  # the centre itself is always reachable
    for result in matrix.results:
        if result.duration_s is not None and result.duration_s <= limit:
            reached.append(points[result.origin_index])
    area = geometry.cells_union((middle.lng, middle.lat), reached, cell)
    return Isochrone(center=middle, minutes=minutes, mode=mode,
                     polygons=geometry.to_coordinates(area), crs="gcj02", method="grid",
                     cell_m=round(cell), probed=len(origins), reachable=len(reached) - 1,
                     source=NAME)


async def pois_along(
    provider: AmapAreaCalls, path: list[Coordinate], keywords: str | None,
    category: str | None, radius_m: int, limit: int,
) -> list[Poi]:
    """Around-searches at points sampled along ``path`` every 1.5 radii (at most
    ``MAX_SAMPLES``, their radius grown to cover the corridor between them), merged by id."""
    line = geometry.RouteLine([(p.to("gcj02").lng, p.to("gcj02").lat) for p in path])
    samples = line.samples(radius_m * 1.5, MAX_SAMPLES)
    # circles through the corridor's edge halfway between samples: nothing within radius_m of
    # the line falls between them (the caller keeps only what is within radius_m)
    spacing = line.length_m / max(1, len(samples) - 1)
    reach = min(50000, math.ceil(math.hypot(spacing / 2, radius_m)))

    async def around(lng: float, lat: float) -> list[Poi]:
        try:
            return await provider.nearby_poi(Coordinate(lng, lat, "gcj02"), keywords,
                                             category, reach, 25)
        except NotFoundError:
            return []

    found = await gather_limited((around(lng, lat) for lng, lat in samples),
                                 CONCURRENT_SEARCHES)
    merged: dict[str, Poi] = {}
    for pois in found:
        for poi in pois:
            key = poi.id or f"{poi.name}@{poi.location}"
            merged.setdefault(key, poi)
    return list(merged.values())
