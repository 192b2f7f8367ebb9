"""The area capabilities on the keyless open services (WGS-84).

- boundaries: Nominatim ``/search`` with ``polygon_geojson=1`` (GeoJSON Polygon/MultiPolygon of
  the first result that has one; ``polygon_threshold`` trims the answer's size);
- reachable areas: Valhalla ``POST /isochrone`` (``contours: [{"time": minutes}]``,
  ``polygons: true``) on ``VALHALLA_BASE_URL`` (the public FOSSGIS server by default), answered as
  a GeoJSON FeatureCollection;
- along a line: one Overpass query, ``around:`` with the line's points (thinned).
"""

from __future__ import annotations

from typing import Any, Protocol

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools import geometry
from bailian_geo_agent.tools.cache import TTLCache, make_key
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import (
    InvalidParamsError,
    NotFoundError,
    OutOfCoverageError,
    ProviderUnavailableError,
)
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.map_commands import thin
from bailian_geo_agent.tools.providers.areas import AreaBoundary, Isochrone, IsochroneMode
from bailian_geo_agent.tools.providers.base import Poi
from bailian_geo_agent.tools.providers.open_meteo import has_cjk
from bailian_geo_agent.tools.providers.osm import Nominatim, Overpass

COSTING = {"driving": "auto", "walking": "pedestrian", "cycling": "bicycle"}
NO_EDGES = {171, 442, 443}
"""Valhalla error codes for a location with no road nearby (outside the data, or at sea)."""
MAX_LINE_POINTS = 100
"""Most points of the line in one Overpass ``around:`` filter."""
ISOCHRONE_TTL = 3600.0
"""Seconds a reachable area is kept (roads change slowly; the public server asks for care)."""
POLYGON_THRESHOLD = "0.0005"
"""Nominatim's outline simplification, in degrees (about 50 m)."""


class Valhalla:
    """Valhalla routing engine (isochrones)."""

    service = "Valhalla"

    def __init__(self, http: HttpClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def isochrone(self, center: Coordinate, minutes: int, mode: IsochroneMode) -> Any:
        """The raw FeatureCollection of one contour."""
        p = center.to("wgs84")
        body = {"locations": [{"lat": round(p.lat, 6), "lon": round(p.lng, 6)}],
                "costing": COSTING[mode], "contours": [{"time": minutes}], "polygons": True}
        data = await self.http.post_json(self.base_url + "/isochrone", body,
                                         service=self.service, error_json=True)
        if not isinstance(data, dict):
            raise ProviderUnavailableError(message_text("geo_unparsable", service=self.service))
        if "error_code" in data:
            code = data.get("error_code")
            if code in NO_EDGES:
                raise OutOfCoverageError(message_text("areas_outside_coverage"))
            raise InvalidParamsError(message_text("valhalla_error", code=str(code)))
        return data


class OpenAreaParts(Protocol):
    """What these capabilities use of ``open.OpenProvider``."""

    @property
    def nominatim(self) -> Nominatim: ...

    @property
    def overpass(self) -> Overpass: ...

    @property
    def valhalla(self) -> Valhalla: ...

    @property
    def cache(self) -> TTLCache: ...


async def area_boundary(provider: OpenAreaParts, name: str, city: str | None) -> AreaBoundary:
    """The outline of the first Nominatim match that has one."""
    nominatim = provider.nominatim
    query = f"{name}, {city}" if city else name
    language = "zh" if has_cjk(query) else "en"  # names as the open geocoding gives them

    async def load() -> Any:
        params = {"q": query, "limit": "5", "polygon_geojson": "1",
                  "polygon_threshold": POLYGON_THRESHOLD, "accept-language": language}
        return await nominatim._get("/search", params)

    data = await provider.cache.get_or_load(make_key("nominatim-area", query, language), load,
                                            86400)
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("geojson"), dict):
            continue
        area = geometry.from_geojson(item["geojson"])
        if area.is_empty:
            continue
        place = Nominatim._place(item)
        category = item.get("category") or item.get("class")
        admin = category == "boundary" and item.get("type") == "administrative"
        return AreaBoundary(
            name=place.name or name, kind="district" if admin else "aoi",
            polygons=geometry.to_coordinates(area), crs="wgs84", center=place.location,
            level=place.level, source="Nominatim/OpenStreetMap",
        )
    raise NotFoundError(message_text("areas_unknown_area", area=name))


async def isochrone(
    provider: OpenAreaParts, center: Coordinate, minutes: int, mode: IsochroneMode
) -> Isochrone:
    """Valhalla's isochrone polygons, united (kept ``ISOCHRONE_TTL`` seconds: the public server
    is shared)."""
    p = center.to("wgs84")
    key = make_key("valhalla-isochrone", round(p.lng, 6), round(p.lat, 6), minutes, mode)
    data = await provider.cache.get_or_load(
        key, lambda: provider.valhalla.isochrone(center, minutes, mode), ISOCHRONE_TTL)
    parts = [geometry.from_geojson(f.get("geometry") or {})
             for f in data.get("features") or [] if isinstance(f, dict)]
    area = geometry.union(parts)
    if area.is_empty:
        raise NotFoundError(message_text("areas_no_isochrone"))
    return Isochrone(center=center.to("wgs84"), minutes=minutes, mode=mode,
                     polygons=geometry.to_coordinates(area), crs="wgs84", method="isochrone",
                     source="Valhalla/OpenStreetMap")


async def pois_along(
    provider: OpenAreaParts, path: list[Coordinate], keywords: str | None,
    category: str | None, radius_m: int, limit: int,
) -> list[Poi]:
    """One Overpass query around the (thinned) line."""
    points = thin([p.to("wgs84") for p in path], MAX_LINE_POINTS)
    line = ",".join(f"{p.lat:.6f},{p.lng:.6f}" for p in points)
    filters = Overpass.filters(keywords, category)
    ql = (f"[out:json][timeout:25];nwr{filters}(around:{int(radius_m)},{line});"
          f"out center tags {int(limit) * 4};")
    return await provider.overpass.run(ql, points[0])
