"""The optional capabilities on the keyless open services (WGS-84).

- distance: straight line computed here (haversine); driving/walking from OSRM, one route per
  origin (cached like every OSRM route);
- cycling: OSRM on the bicycle server (``OSRM_CYCLING_BASE_URL``, profile ``bike``);
- POI detail: Nominatim ``/lookup?osm_ids=N123,W456`` with ``extratags`` (ids as Photon
  (``W5013364``) or Overpass (``way/5013364``) give them);
- transit and IP location: no keyless open service is used here, so these raise
  ``OutOfCoverageError`` with a sentence saying what would work instead.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn, Protocol

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.cache import TTLCache, make_key
from bailian_geo_agent.tools.coords import Coordinate, haversine_m
from bailian_geo_agent.tools.errors import (
    GeoProviderError,
    InvalidParamsError,
    NotFoundError,
    OutOfCoverageError,
)
from bailian_geo_agent.tools.providers.base import Route, RouteMode
from bailian_geo_agent.tools.providers.extras import (
    Distance,
    DistanceMatrix,
    DistanceMode,
    PoiDetail,
)
from bailian_geo_agent.tools.providers.osm import Nominatim, Osrm


class OpenParts(Protocol):
    """What these capabilities use of ``open.OpenProvider`` (which imports this module)."""

    @property
    def nominatim(self) -> Nominatim: ...

    @property
    def osrm(self) -> Osrm: ...

    @property
    def cache(self) -> TTLCache: ...

    async def route(
        self, origin: Coordinate, destination: Coordinate, mode: RouteMode
    ) -> Route: ...

MAX_ORIGINS = 10
"""OSRM's public demo servers are for light use: at most this many routes per question."""

_OSM_ID = re.compile(r"^(?:(node|way|relation)/|([NWR]))(\d{1,15})$", re.I)


async def distance(
    provider: OpenParts, origins: list[Coordinate], destination: Coordinate, mode: DistanceMode
) -> DistanceMatrix:
    """Straight line (haversine) or OSRM route length and time per origin."""
    if not 1 <= len(origins) <= MAX_ORIGINS:
        raise InvalidParamsError(message_text("open_origins_limit", limit=MAX_ORIGINS))
    starts = [p.to("wgs84") for p in origins]
    end = destination.to("wgs84")
    results = []
    for index, start in enumerate(starts):
        if mode == "straight":
            results.append(Distance(index, haversine_m(start, end)))
            continue
        try:
            route = await provider.route(start, end, mode)
        except (NotFoundError, InvalidParamsError) as exc:
            results.append(Distance(index, None, None, str(exc)))
            continue
        results.append(Distance(index, route.distance_m, route.duration_s))
    source = "本地计算（球面距离）" if mode == "straight" else "OSRM/OpenStreetMap"
    return DistanceMatrix(mode=mode, destination=end, origins=starts, results=results,
                          source=source)


async def cycling_route(
    provider: OpenParts, origin: Coordinate, destination: Coordinate
) -> Route:
    """OSRM bicycle route (needs the cycling server URL)."""
    if "cycling" not in provider.osrm.urls:
        raise OutOfCoverageError(message_text("open_no_cycling_service"))
    a, b = origin.to("wgs84"), destination.to("wgs84")
    key = make_key("osrm", a.lnglat(), b.lnglat(), "cycling")
    return await provider.cache.get_or_load(
        key, lambda: provider.osrm.route(a, b, "cycling"), 600
    )


async def transit_route(provider: OpenParts, *args: object) -> NoReturn:
    """No keyless transit planner: explain."""
    raise OutOfCoverageError(message_text("open_no_transit"))


async def ip_location(provider: OpenParts, ip: str) -> NoReturn:
    """No keyless IP geolocation: explain."""
    raise OutOfCoverageError(message_text("open_no_ip_location"))


def osm_id(poi_id: str) -> str:
    """``way/5013364`` or ``W5013364`` -> ``W5013364`` (Nominatim's ``osm_ids`` form)."""
    match = _OSM_ID.match(poi_id.strip())
    if match is None:
        raise InvalidParamsError(message_text("osm_not_an_id", poi_id=poi_id))
    kind = (match.group(1) or match.group(2))[0].upper()
    return f"{kind}{match.group(3)}"


async def poi_detail(provider: OpenParts, poi_id: str) -> PoiDetail:
    """Nominatim ``/lookup`` with address details and extra tags."""
    ident = osm_id(poi_id)
    nominatim = provider.nominatim

    async def load() -> object:
        params = {"osm_ids": ident, "format": "jsonv2", "addressdetails": "1",
                  "extratags": "1", "accept-language": "zh"}
        return await nominatim.http.get_json(
            nominatim.base_url + "/lookup", params, service=nominatim.service,
            min_interval=nominatim.interval,
        )

    data = await provider.cache.get_or_load(make_key("nominatim-lookup", ident), load, 86400)
    items = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
    if not items:
        raise NotFoundError(message_text("osm_poi_not_found", poi_id=poi_id))
    item = items[0]
    place = Nominatim._place(item)
    extra: Any = item.get("extratags") if isinstance(item.get("extratags"), dict) else {}
    tags = {str(k): str(v) for k, v in extra.items() if v}
    if place.location is None:
        raise GeoProviderError(message_text("osm_poi_no_location", poi_id=poi_id))
    return PoiDetail(
        name=place.name,
        location=place.location,
        address=place.address,
        category=str(item.get("type") or item.get("category") or ""),
        phone=tags.get("phone") or tags.get("contact:phone") or "",
        city=place.city,
        district=place.district,
        id=ident,
        source="Nominatim/OpenStreetMap",
        province=place.province,
        opening_hours=tags.get("opening_hours", ""),
        website=tags.get("website") or tags.get("contact:website") or "",
        email=tags.get("email") or tags.get("contact:email") or "",
        tags={k: v for k, v in tags.items() if k in ("cuisine", "wheelchair", "wikipedia")},
    )
