"""Trip planning on AMap (GCJ-02): the matrix, the order and the route through the places.

- Matrix: ``/v3/distance`` takes several ``origins`` (``|``-joined) and ONE ``destination``, so
  the matrix is one call per place (column); ``type`` 1 driving, 3 walking. AMap has no cycling
  type: the cycling matrix uses walking distances and a cycling speed (``CYCLING_SPEED_MPS``),
  good enough to order places; the cycling legs themselves come from ``/v5/direction/bicycling``.
  Walking distances exist only up to 5 km, so pairs farther apart than ``WALKING_MATRIX_M`` in a
  straight line are not asked but estimated (``DETOUR`` times the straight line at the mode's
  speed; none beyond ``ROUTE_RANGE_M``, AMap's longest walk or ride); only the order rests on
  them, the legs are routed.
- Order: ``tools.trip_order.best_order`` on the travel times: exact (Held-Karp) up to
  ``trip_order.EXACT_LIMIT`` places, beyond that nearest neighbour + 2-opt/or-opt, a heuristic
  without a proven bound (the result says which).
- Route: driving through ``/v3/direction/driving`` with ``waypoints`` (``lng,lat;...``, at most
  ``MAX_WAYPOINTS``; longer trips are split into several calls sharing their end places); the legs'
  distances and times are the matrix's (AMap's own driving figures per pair). Walking and
  cycling: one route per leg (``/v3/direction/walking``, ``/v5/direction/bicycling``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from bailian_geo_agent.tools.coords import Coordinate, haversine_m, out_of_china
from bailian_geo_agent.tools.infra import gather_limited
from bailian_geo_agent.tools.providers.amap_fields import (
    NAME,
    _dict,
    _list,
    location,
    number,
    text,
)
from bailian_geo_agent.tools.providers.base import Route
from bailian_geo_agent.tools.providers.extras import DistanceMatrix
from bailian_geo_agent.tools.providers.trips import (
    OptimalTrip,
    OutsideCoverageError,
    TravelMatrix,
    TripLeg,
    TripMode,
    TripRoute,
    order_and_route,
    split_path,
)

MAX_WAYPOINTS = 16
"""Most ``waypoints`` of one ``/v3/direction/driving`` call."""
CYCLING_SPEED_MPS = 4.2
"""Cycling speed (about 15 km/h) for the cycling matrix built from walking distances."""
WALKING_SPEED_MPS = 1.2
"""Walking speed (about 4.3 km/h) of an estimated walking pair."""
WALKING_MATRIX_M = 4000
"""Farthest straight line asked of the walking matrix (``type`` 3 measures up to 5 km of way)."""
DETOUR = 1.3
"""Way over straight line of an estimated pair."""
ROUTE_RANGE_M = {"walking": 100_000, "cycling": 500_000}
"""Longest walk (``/v3/direction/walking``) and ride (``/v5/direction/bicycling``) AMap plans."""
PARALLEL_CALLS = 3
"""Calls in flight at once (AMap's per-second limits on personal keys are low)."""

T = TypeVar("T")


class AmapTripCalls(Protocol):
    """What trip planning uses of ``amap.AmapProvider`` (which imports this module)."""

    async def call(
        self, path: str, params: dict[str, Any], *, ttl: float | None = None
    ) -> dict[str, Any]: ...

    async def distance(
        self, origins: list[Coordinate], destination: Coordinate, mode: Any
    ) -> DistanceMatrix: ...

    async def route(self, origin: Coordinate, destination: Coordinate, mode: Any) -> Route: ...

    async def cycling_route(self, origin: Coordinate, destination: Coordinate) -> Route: ...


async def _bounded(calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    return await gather_limited((call() for call in calls), PARALLEL_CALLS)


def _gcj(points: list[Coordinate]) -> list[Coordinate]:
    """The points in GCJ-02; raises ``OutsideCoverageError`` naming those outside China."""
    converted = [p.to("gcj02") for p in points]
    outside = [i for i, p in enumerate(converted) if out_of_china(p.lng, p.lat)]
    if outside:
        raise OutsideCoverageError(outside, NAME)
    return converted


async def travel_matrix(
    provider: AmapTripCalls, points: list[Coordinate], mode: TripMode
) -> TravelMatrix:
    """One ``/v3/distance`` call per place: every other place to it (walking and cycling: those
    within ``WALKING_MATRIX_M``, the farther ones estimated)."""
    gcj = _gcj(points)
    n = len(gcj)
    kind = "driving" if mode == "driving" else "walking"
    speed = CYCLING_SPEED_MPS if mode == "cycling" else WALKING_SPEED_MPS
    durations: list[list[float | None]] = [[0.0] * n for _ in range(n)]
    distances: list[list[float | None]] = [[0.0] * n for _ in range(n)]
    asked: dict[int, list[int]] = {}
    for j in range(n):
        asked[j] = []
        for i in range(n):
            if i == j:
                continue
            straight = haversine_m(gcj[i], gcj[j])
            if kind == "driving" or straight <= WALKING_MATRIX_M:
                asked[j].append(i)
            elif straight * DETOUR <= ROUTE_RANGE_M[mode]:
                distances[i][j] = straight * DETOUR
                durations[i][j] = straight * DETOUR / speed
            else:  # no route that long: a gap, named as unreachable
                distances[i][j] = durations[i][j] = None

    def column(j: int) -> Callable[[], Awaitable[DistanceMatrix]]:
        return lambda: provider.distance([gcj[i] for i in asked[j]], gcj[j], kind)

    columns = [j for j in range(n) if asked[j]]
    answers = await _bounded([column(j) for j in columns])
    for j, answer in zip(columns, answers, strict=True):
        sources = asked[j]
        for result in answer.results:
            if not 0 <= result.origin_index < len(sources):
                continue
            i = sources[result.origin_index]
            meters = result.distance_m
            seconds = result.duration_s
            if mode == "cycling" and meters is not None:
                seconds = meters / CYCLING_SPEED_MPS
            distances[i][j] = meters
            durations[i][j] = seconds if meters is not None else None
    return TravelMatrix(mode=mode, points=gcj, durations_s=durations, distances_m=distances,
                        source=NAME)


def _driving_line(data: dict[str, Any]) -> tuple[list[Coordinate], float, float]:
    """The first path of a driving answer: its polyline, distance and duration."""
    paths = _list(_dict(data, "route"), "paths")
    best = paths[0] if paths and isinstance(paths[0], dict) else {}
    line: list[Coordinate] = []
    for step in _list(best, "steps"):
        if not isinstance(step, dict):
            continue
        for pair in text(step.get("polyline")).split(";"):
            point = location(pair)
            if point is not None and (not line or line[-1] != point):
                line.append(point)
    return line, number(best.get("distance")) or 0.0, number(best.get("duration")) or 0.0


def _chunks(n: int) -> list[tuple[int, int]]:
    """``(first, last)`` index pairs of the driving calls: each takes at most
    ``MAX_WAYPOINTS`` places between its ends; consecutive calls share an end."""
    size = MAX_WAYPOINTS + 1
    return [(a, min(a + size, n - 1)) for a in range(0, n - 1, size)]


async def _driving_route(provider: AmapTripCalls, gcj: list[Coordinate]) -> TripRoute:
    def call(first: int, last: int) -> Callable[[], Awaitable[dict[str, Any]]]:
        via = gcj[first + 1:last]
        params = {"origin": gcj[first].lnglat(), "destination": gcj[last].lnglat(),
                  "waypoints": ";".join(p.lnglat() for p in via) or None,
                  "extensions": "base"}
        return lambda: provider.call("/v3/direction/driving", params, ttl=600)

    chunks = _chunks(len(gcj))
    answers = await _bounded([call(a, b) for a, b in chunks])
    legs: list[TripLeg] = []
    whole: list[Coordinate] = []
    for (first, last), data in zip(chunks, answers, strict=True):
        line, meters, seconds = _driving_line(data)
        stops = gcj[first:last + 1]
        pieces = split_path(line, stops)
        lengths = [_line_length(piece) for piece in pieces]
        total = sum(lengths) or 1.0
        for k, piece in enumerate(pieces):
            share = lengths[k] / total  # replaced by the matrix's figures in optimal_trip
            legs.append(TripLeg(first + k, first + k + 1, meters * share, seconds * share, piece))
        whole += line if not whole else line[1:]
    return TripRoute(mode="driving", legs=legs, path=whole or list(gcj), source=NAME)


def _line_length(line: list[Coordinate]) -> float:
    """Length in degrees-ish units (only ratios are used)."""
    return sum(math.dist((a.lng, a.lat), (b.lng, b.lat))
               for a, b in itertools.pairwise(line))


async def route_through(
    provider: AmapTripCalls, points: list[Coordinate], mode: TripMode
) -> TripRoute:
    """Driving: ``/v3/direction/driving`` with ``waypoints``; walking and cycling: per leg."""
    gcj = _gcj(points)
    if mode == "driving":
        return await _driving_route(provider, gcj)

    def leg(i: int) -> Callable[[], Awaitable[Route]]:
        if mode == "cycling":
            return lambda: provider.cycling_route(gcj[i], gcj[i + 1])
        return lambda: provider.route(gcj[i], gcj[i + 1], "walking")

    routes = await _bounded([leg(i) for i in range(len(gcj) - 1)])
    legs = [TripLeg(i, i + 1, r.distance_m, r.duration_s, r.path or [gcj[i], gcj[i + 1]])
            for i, r in enumerate(routes)]
    path = [p for piece in legs for p in piece.path]
    return TripRoute(mode=mode, legs=legs, path=path, source=NAME)


async def optimal_trip(
    provider: AmapTripCalls, points: list[Coordinate], mode: TripMode, *, fixed_start: bool,
    fixed_end: bool, roundtrip: bool,
) -> OptimalTrip:
    """The matrix, the best order on its times (``tools.trip_order``), the route."""
    matrix = await travel_matrix(provider, points, mode)
    return await order_and_route(
        matrix, lambda ordered: route_through(provider, ordered, mode),
        fixed_start=fixed_start, fixed_end=fixed_end, roundtrip=roundtrip,
        replace_legs=mode == "driving",
    )
