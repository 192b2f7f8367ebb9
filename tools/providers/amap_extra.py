"""AMap endpoints behind the optional capabilities (``GeoProviderExtras``), GCJ-02.

- ``/v3/distance``: ``origins`` (``|``-separated), ``destination``, ``type`` 0 straight line,
  1 driving, 3 walking; answer ``results[]{origin_id, dest_id, distance, duration}``.
- ``/v5/direction/bicycling``: ``origin``, ``destination``, ``show_fields``; answer
  ``route.paths[]{distance, duration, steps[]}`` in the usual ``status``/``infocode`` envelope.
- ``/v3/direction/transit/integrated``: ``origin``, ``destination``, ``city``, ``cityd``; answer
  ``route.transits[]{cost, duration, walking_distance, segments[]}``.
- ``/v3/ip``: ``ip``; answer ``province, city, adcode, rectangle`` (``[]`` when unknown/abroad).
- ``/v3/place/detail``: ``id``; answer ``pois[]`` as the POI search.

Every call goes through ``AmapProvider.call`` (infocode errors, retries, cache, key kept out).
"""

from __future__ import annotations

from typing import Any, Protocol

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import InvalidParamsError, NotFoundError
from bailian_geo_agent.tools.providers.amap_fields import NAME, _dict, _list, location, number, text
from bailian_geo_agent.tools.providers.base import Poi, Route, RouteStep
from bailian_geo_agent.tools.providers.extras import (
    Distance,
    DistanceMatrix,
    DistanceMode,
    IpLocation,
    PoiDetail,
    TransitPlan,
    TransitRoutes,
    TransitSegment,
)


class AmapCalls(Protocol):
    """What these endpoints use of ``amap.AmapProvider`` (which imports this module)."""

    async def call(
        self, path: str, params: dict[str, Any], *, ttl: float | None = None
    ) -> dict[str, Any]: ...

    def _coverage(self, point: Coordinate) -> None: ...

    def _poi(self, item: dict[str, Any]) -> Poi: ...

DISTANCE_TYPES = {"straight": "0", "driving": "1", "walking": "3"}
MAX_ORIGINS = 100


def _gcj(point: Coordinate, provider: AmapCalls) -> Coordinate:
    gcj = point.to("gcj02")
    provider._coverage(gcj)
    return gcj


async def distance(
    provider: AmapCalls, origins: list[Coordinate], destination: Coordinate, mode: DistanceMode
) -> DistanceMatrix:
    """``/v3/distance`` for up to 100 origins."""
    if not 1 <= len(origins) <= MAX_ORIGINS:
        raise InvalidParamsError(message_text("amap_origins_count", limit=MAX_ORIGINS))
    starts = [_gcj(p, provider) for p in origins]
    end = _gcj(destination, provider)
    params = {
        "origins": "|".join(p.lnglat() for p in starts),
        "destination": end.lnglat(),
        "type": DISTANCE_TYPES[mode],
    }
    data = await provider.call("/v3/distance", params, ttl=600)
    by_origin: dict[int, Distance] = {}
    for item in _list(data, "results"):
        if not isinstance(item, dict):
            continue
        try:
            index = int(text(item.get("origin_id"))) - 1
        except ValueError:
            continue
        meters = number(item.get("distance"))
        note = text(item.get("info")) if meters is None else ""
        seconds = None if mode == "straight" else number(item.get("duration"))
        by_origin[index] = Distance(index, meters, seconds, note)
    if not by_origin:
        raise NotFoundError(message_text("amap_no_distance"))
    results = [
        by_origin.get(i) or Distance(i, None, None, "无结果") for i in range(len(starts))
    ]
    return DistanceMatrix(mode=mode, destination=end, origins=starts, results=results,
                          source=NAME)


def _polyline(value: Any) -> list[Coordinate]:
    """``"lng,lat;lng,lat"`` (or ``{"polyline": ...}``) -> points."""
    if isinstance(value, dict):
        value = value.get("polyline")
    points = [location(pair) for pair in text(value).split(";")]
    return [p for p in points if p is not None]


async def cycling_route(
    provider: AmapCalls, origin: Coordinate, destination: Coordinate
) -> Route:
    """``/v5/direction/bicycling``, first path (AMap plans up to about 500 km)."""
    a, b = _gcj(origin, provider), _gcj(destination, provider)
    params = {"origin": a.lnglat(), "destination": b.lnglat(), "show_fields": "cost,polyline"}
    data = await provider.call("/v5/direction/bicycling", params, ttl=600)
    route = _dict(data, "route") or _dict(data, "data")  # v4 answers carry ``data``
    paths = _list(route, "paths")
    if not paths or not isinstance(paths[0], dict):
        raise NotFoundError(message_text("amap_no_cycling_route"))
    best = paths[0]
    steps: list[RouteStep]
    path: list[Coordinate]
    steps, path = [], []
    for s in _list(best, "steps"):
        if not isinstance(s, dict):
            continue
        cost = _dict(s, "cost")
        steps.append(
            RouteStep(
                instruction=text(s.get("instruction")),
                road=text(s.get("road_name") or s.get("road")),
                distance_m=number(s.get("step_distance") or s.get("distance")),
                duration_s=number(cost.get("duration") or s.get("duration")),
            )
        )
        for point in _polyline(s.get("polyline")):
            if not path or path[-1] != point:
                path.append(point)
    return Route(
        mode="cycling",
        distance_m=number(best.get("distance")) or 0.0,
        duration_s=number(best.get("duration") or _dict(best, "cost").get("duration")) or 0.0,
        origin=location(route.get("origin")) or a,
        destination=location(route.get("destination")) or b,
        steps=steps,
        path=path or [a, b],
        source=NAME,
    )


def _stop(record: Any) -> str:
    return text(record.get("name")) if isinstance(record, dict) else ""


def _segments(segment: dict[str, Any]) -> list[TransitSegment]:
    """A transit segment: walk, then a bus/metro line or a train (AMap nests them)."""
    legs: list[TransitSegment] = []
    walking = _dict(segment, "walking")
    if number(walking.get("distance")):
        legs.append(TransitSegment("walk", distance_m=number(walking.get("distance")),
                                   duration_s=number(walking.get("duration"))))
    buslines = _list(_dict(segment, "bus"), "buslines")
    if buslines and isinstance(buslines[0], dict):
        line = buslines[0]
        via = number(line.get("via_num"))
        legs.append(TransitSegment(
            "subway" if "地铁" in text(line.get("type")) else "bus",
            name=text(line.get("name")),
            departure=_stop(line.get("departure_stop")),
            arrival=_stop(line.get("arrival_stop")),
            stops=int(via) + 1 if via is not None else None,
            distance_m=number(line.get("distance")),
            duration_s=number(line.get("duration")),
        ))
    railway = _dict(segment, "railway")
    if text(railway.get("name")):
        legs.append(TransitSegment(
            "railway",
            name=" ".join(p for p in (text(railway.get("trip")), text(railway.get("name"))) if p),
            departure=_stop(railway.get("departure_stop")),
            arrival=_stop(railway.get("arrival_stop")),
            distance_m=number(railway.get("distance")),
            duration_s=number(railway.get("time")),
        ))
    taxi = _dict(segment, "taxi")
    if number(taxi.get("distance")):
        legs.append(TransitSegment("taxi", distance_m=number(taxi.get("distance")),
                                   duration_s=number(taxi.get("drivetime"))))
    return legs


async def transit_route(
    provider: AmapCalls,
    origin: Coordinate,
    destination: Coordinate,
    city: str,
    cityd: str | None,
) -> TransitRoutes:
    """``/v3/direction/transit/integrated``: bus, metro and (across cities) trains."""
    a, b = _gcj(origin, provider), _gcj(destination, provider)
    params = {"origin": a.lnglat(), "destination": b.lnglat(), "city": city,
              "cityd": cityd or None, "extensions": "base"}
    data = await provider.call("/v3/direction/transit/integrated", params, ttl=600)
    route = _dict(data, "route")
    plans = []
    for item in _list(route, "transits"):
        if not isinstance(item, dict):
            continue
        segments = [leg for s in _list(item, "segments") if isinstance(s, dict)
                    for leg in _segments(s)]
        plans.append(TransitPlan(
            duration_s=number(item.get("duration")),
            cost_yuan=number(item.get("cost")),
            walking_m=number(item.get("walking_distance")),
            distance_m=number(item.get("distance")),
            segments=segments,
            night=text(item.get("nightflag")) == "1",
        ))
    if not plans:
        raise NotFoundError(message_text("amap_no_transit"))
    return TransitRoutes(origin=a, destination=b, city=city, cityd=cityd or city, plans=plans,
                         distance_m=number(route.get("distance")),
                         taxi_cost_yuan=number(route.get("taxi_cost")), source=NAME)


async def ip_location(provider: AmapCalls, ip: str) -> IpLocation:
    """``/v3/ip`` (IPv4 in mainland China only; ``[]`` fields otherwise)."""
    data = await provider.call("/v3/ip", {"ip": ip}, ttl=3600)
    found = IpLocation(ip=ip, province=text(data.get("province")), city=text(data.get("city")),
                       adcode=text(data.get("adcode")), source=NAME)
    corners = [location(c) for c in text(data.get("rectangle")).split(";")]
    if len(corners) == 2 and corners[0] is not None and corners[1] is not None:
        found.southwest, found.northeast = corners[0], corners[1]
    if not (found.province or found.city):
        raise NotFoundError(message_text("amap_ip_not_located", ip=ip))
    return found


async def poi_detail(provider: AmapCalls, poi_id: str) -> PoiDetail:
    """``/v3/place/detail``."""
    data = await provider.call("/v3/place/detail", {"id": poi_id}, ttl=3600)
    pois = [p for p in _list(data, "pois") if isinstance(p, dict) and text(p.get("name"))]
    if not pois:
        raise NotFoundError(message_text("amap_poi_not_found", poi_id=poi_id))
    item = pois[0]
    base = provider._poi(item)
    biz = _dict(item, "biz_ext")
    photos = [text(p.get("url")) for p in _list(item, "photos") if isinstance(p, dict)]
    return PoiDetail(
        **{k: getattr(base, k) for k in base.__dataclass_fields__},
        province=text(item.get("pname")),
        alias=text(item.get("alias")),
        business_area=text(item.get("business_area")),
        cost_yuan=number(biz.get("cost")),
        opening_hours=text(biz.get("open_time") or biz.get("opentime2")),
        website=text(item.get("website")),
        email=text(item.get("email")),
        photos=[p for p in photos if p][:3],
    )
