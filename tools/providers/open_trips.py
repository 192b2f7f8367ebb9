"""Trip planning on OSRM (WGS-84), on the servers of ``OSRM_BASE_URL`` (driving),
``OSRM_WALKING_BASE_URL`` (profile ``foot``) and ``OSRM_CYCLING_BASE_URL`` (``bike``).

- ``/table/v1/{profile}/{lon,lat;...}?annotations=duration,distance``: ``durations[i][j]`` (s) and
  ``distances[i][j]`` (m), ``null`` where there is no route.
- ``/trip/v1/{profile}/{coords}?roundtrip=&source=&destination=&overview=full&geometries=geojson``:
  ``trips[]`` (Route objects: ``legs[]{distance, duration}``, ``geometry``) and ``waypoints[]`` in
  input order, each with ``waypoint_index`` (its place in the trip) and ``trips_index`` (which
  trip: several when the places are not all connected). OSRM answers only round trips and
  one-way trips with both ends fixed (``source=first&destination=last``), by farthest insertion:
  a heuristic without a stated bound. So it is asked only beyond ``trip_order.EXACT_LIMIT``
  places; up to that, and for other trips, the order comes from ``/table`` here
  (``tools.trip_order``: exact, or a heuristic with its bound) and ``/route`` goes through it.
- ``/route/v1/{profile}/{coords}?overview=full&geometries=geojson``: ``routes[0].legs[]``.
Errors: ``code`` other than ``Ok`` with HTTP 400 (``NoSegment``: a place far from any road).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.cache import TTLCache, make_key
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import InvalidParamsError, NotFoundError, OutOfCoverageError
from bailian_geo_agent.tools.providers.osm import Osrm
from bailian_geo_agent.tools.providers.trips import (
    OptimalTrip,
    TravelMatrix,
    TripLeg,
    TripMode,
    TripRoute,
    UnreachablePlacesError,
    order_and_route,
    split_path,
)
from bailian_geo_agent.tools.trip_order import EXACT_LIMIT

SOURCE = "OSRM/OpenStreetMap"
PROFILES = {"driving": "driving", "walking": "foot", "cycling": "bike"}


class OpenTripParts(Protocol):
    """What trip planning uses of ``open.OpenProvider`` (which imports this module)."""

    @property
    def osrm(self) -> Osrm: ...

    @property
    def cache(self) -> TTLCache: ...


def _coords(points: list[Coordinate]) -> str:
    return ";".join(p.to("wgs84").lnglat() for p in points)


def _point(value: Any) -> Coordinate | None:
    if isinstance(value, list) and len(value) >= 2:
        try:
            return Coordinate(float(value[0]), float(value[1]), "wgs84")
        except (TypeError, ValueError):
            return None
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


async def _get(provider: OpenTripParts, service: str, points: list[Coordinate],
               mode: TripMode, params: dict[str, str]) -> dict[str, Any]:
    """GET an OSRM service; a failure ``code`` becomes a ``GeoProviderError``."""
    base = provider.osrm.urls.get(mode)
    if base is None:
        raise OutOfCoverageError(message_text("trip_open_no_server", mode=mode))
    url = f"{base}/{service}/v1/{PROFILES[mode]}/{_coords(points)}"

    async def load() -> Any:
        return await provider.osrm.http.get_json(url, params, service=Osrm.service,
                                                 error_json=True)

    data = await provider.cache.get_or_load(make_key("osrm", service, url, **params), load, 600)
    code = data.get("code") if isinstance(data, dict) else None
    if code in ("NoRoute", "NoSegment", "NoTrips", "NoTable"):
        raise NotFoundError(message_text("trip_open_no_route"))
    if code != "Ok":
        raise InvalidParamsError(message_text("osrm_cannot_route",
                                              reason=re.sub(r"[^A-Za-z]", "", str(code))))
    assert isinstance(data, dict)
    return data


def _line(route: dict[str, Any]) -> list[Coordinate]:
    """A Route object's GeoJSON line (empty when the geometry is encoded or missing)."""
    geometry = route.get("geometry")
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    points = [_point(c) for c in coords or []]
    return [p for p in points if p is not None]


def _matrix_row(values: Any, n: int) -> list[float | None]:
    row = values if isinstance(values, list) else []
    return [(_number(row[j]) if j < len(row) else None) for j in range(n)]


async def travel_matrix(
    provider: OpenTripParts, points: list[Coordinate], mode: TripMode
) -> TravelMatrix:
    """``/table`` with durations and distances."""
    data = await _get(provider, "table", points, mode, {"annotations": "duration,distance"})
    n = len(points)
    durations = data.get("durations") or []
    distances = data.get("distances") or []
    return TravelMatrix(
        mode=mode, points=[p.to("wgs84") for p in points],
        durations_s=[_matrix_row(durations[i] if i < len(durations) else None, n)
                     for i in range(n)],
        distances_m=[_matrix_row(distances[i] if i < len(distances) else None, n)
                     for i in range(n)],
        source=SOURCE,
    )


def _legs(route: dict[str, Any], stops: list[Coordinate]) -> TripRoute:
    """A Route object through ``stops``: its legs, each with its piece of the line."""
    line = _line(route)
    pieces = split_path(line, stops)
    legs = []
    for k, leg in enumerate(route.get("legs") or []):
        if k >= len(stops) - 1:
            break
        legs.append(TripLeg(k, k + 1, _number(leg.get("distance")), _number(leg.get("duration")),
                            pieces[k] if k < len(pieces) else [stops[k], stops[k + 1]]))
    return TripRoute(mode="driving", legs=legs, path=line or list(stops), source=SOURCE)


async def route_through(
    provider: OpenTripParts, points: list[Coordinate], mode: TripMode
) -> TripRoute:
    """``/route`` through the points in order."""
    data = await _get(provider, "route", points, mode,
                      {"overview": "full", "geometries": "geojson"})
    routes = data.get("routes") or []
    if not routes or not isinstance(routes[0], dict):
        raise NotFoundError(message_text("trip_open_no_route"))
    result = _legs(routes[0], [p.to("wgs84") for p in points])
    result.mode = mode
    return result


def parse_trip(data: dict[str, Any], points: list[Coordinate], mode: TripMode,
               roundtrip: bool) -> OptimalTrip:
    """An OSRM ``/trip`` answer: the order from ``waypoints[].waypoint_index``; places in
    another ``trips_index`` than the first place's are unreachable from it."""
    waypoints = data.get("waypoints") or []
    trips = data.get("trips") or []
    if len(waypoints) != len(points) or not trips:
        raise NotFoundError(message_text("trip_open_no_route"))
    first_trip = waypoints[0].get("trips_index", 0)
    apart = [i for i, w in enumerate(waypoints) if w.get("trips_index", 0) != first_trip]
    if apart:
        raise UnreachablePlacesError(apart)
    order = sorted(range(len(points)), key=lambda i: int(waypoints[i].get("waypoint_index", i)))
    visit = order + ([order[0]] if roundtrip else [])
    wgs = [p.to("wgs84") for p in points]
    route = _legs(trips[first_trip], [wgs[i] for i in visit])
    route.mode = mode
    for leg in route.legs:
        leg.from_index, leg.to_index = visit[leg.from_index], visit[leg.to_index]
    return OptimalTrip(order=order, route=route, method="provider", roundtrip=roundtrip)


async def optimal_trip(
    provider: OpenTripParts, points: list[Coordinate], mode: TripMode, *, fixed_start: bool,
    fixed_end: bool, roundtrip: bool,
) -> OptimalTrip:
    """``/table``, the order here (exact up to ``EXACT_LIMIT`` places) and ``/route``; beyond
    that, ``/trip`` when OSRM answers the case (round trip, or both ends fixed)."""
    if len(points) > EXACT_LIMIT and (roundtrip or (fixed_start and fixed_end)):
        params = {"roundtrip": "true" if roundtrip else "false", "source": "first",
                  "destination": "any" if roundtrip else "last",
                  "overview": "full", "geometries": "geojson"}
        data = await _get(provider, "trip", points, mode, params)
        return parse_trip(data, points, mode, roundtrip)
    matrix = await travel_matrix(provider, points, mode)
    return await order_and_route(
        matrix, lambda ordered: route_through(provider, ordered, mode),
        fixed_start=fixed_start, fixed_end=fixed_end, roundtrip=roundtrip, replace_legs=False,
    )
