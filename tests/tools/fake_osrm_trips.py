"""The fake OSRM's trip services (``fake_open.osrm`` hands them over): ``/table``, ``/trip`` and
``/route`` through more than two places.

Shapes follow the OSRM HTTP API (project-osrm.org/docs/v5.24.0/api; osrm-backend docs/http.md):
``/table?annotations=duration,distance`` -> ``durations``/``distances`` (row-major, ``null``
where there is no route), ``sources``/``destinations`` Waypoint objects; ``/trip`` ->
``trips[]`` Route objects (``legs[]{distance, duration, steps, summary, weight}``, ``geometry``,
``weight_name``) and ``waypoints[]`` in INPUT order with ``waypoint_index`` (place in its trip)
and ``trips_index``; only round trips or ``source=first&destination=last`` (else 400
``NotImplemented``, as OSRM). A point south of 60°S has no road: its table entries are ``null``
and ``/trip`` puts it in a trip of its own (``trips_index`` 1), as OSRM does for disconnected
places. Roads are 1.2x the straight line at 9 m/s (foot 1.4, bike 4.5). The fake's /trip order is
exact (brute force up to 8 places), unlike OSRM's farthest insertion.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

Point = tuple[float, float]


def _meters(a: Point, b: Point) -> float:
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def _speed(tail: str) -> float:
    return 1.4 if "/foot/" in tail else 4.5 if "/bike/" in tail else 9.0


def _points(tail: str) -> list[Point]:
    raw = tail.rsplit("/", 1)[1].split(";")
    return [(float(x), float(y)) for x, y in (c.split(",") for c in raw)]


def _reachable(p: Point) -> bool:
    return p[1] >= -60


def _waypoint(p: Point, **extra: Any) -> dict[str, Any]:
    return {"hint": "AAAA", "distance": 2.1, "name": "", "location": [p[0], p[1]], **extra}


def _leg(a: Point, b: Point, speed: float) -> dict[str, Any]:
    meters = round(_meters(a, b) * 1.2, 1)
    seconds = round(meters / speed, 1)
    return {"steps": [], "summary": "", "weight": seconds, "duration": seconds,
            "distance": meters}


def _route(stops: list[Point], speed: float) -> dict[str, Any]:
    """A Route object through ``stops``: a corner point in each leg's line."""
    legs = [_leg(a, b, speed) for a, b in itertools.pairwise(stops)]
    line: list[list[float]] = [[stops[0][0], stops[0][1]]]
    for a, b in itertools.pairwise(stops):
        line += [[b[0], a[1]], [b[0], b[1]]]
    return {"geometry": {"type": "LineString", "coordinates": line}, "legs": legs,
            "weight_name": "routability", "weight": round(sum(x["weight"] for x in legs), 1),
            "duration": round(sum(x["duration"] for x in legs), 1),
            "distance": round(sum(x["distance"] for x in legs), 1)}


def table(params: dict[str, str], tail: str) -> tuple[int, Any]:
    points, speed = _points(tail), _speed(tail)
    durations: list[list[float | None]] = []
    distances: list[list[float | None]] = []
    for a in points:
        d_row: list[float | None] = []
        m_row: list[float | None] = []
        for b in points:
            if not (_reachable(a) and _reachable(b)) and a != b:
                d_row.append(None)
                m_row.append(None)
                continue
            leg = _leg(a, b, speed)
            d_row.append(leg["duration"])
            m_row.append(leg["distance"])
        durations.append(d_row)
        distances.append(m_row)
    body: dict[str, Any] = {"code": "Ok", "durations": durations,
                            "sources": [_waypoint(p) for p in points],
                            "destinations": [_waypoint(p) for p in points]}
    if "distance" in params.get("annotations", ""):
        body["distances"] = distances
    return 200, body


def trip(params: dict[str, str], tail: str) -> tuple[int, Any]:
    points, speed = _points(tail), _speed(tail)
    roundtrip = params.get("roundtrip", "true") == "true"
    source, destination = params.get("source", "any"), params.get("destination", "any")
    if not roundtrip and (source, destination) != ("first", "last"):
        return 400, {"code": "NotImplemented", "message": "Only first-last fixed trips"}
    main = [i for i, p in enumerate(points) if _reachable(p)]
    apart = [i for i, p in enumerate(points) if not _reachable(p)]
    first, last = main[0], main[-1]
    middle = [i for i in main if i != first and (roundtrip or i != last)]

    def cost(order: tuple[int, ...]) -> float:
        stops = [first, *order] + ([first] if roundtrip else [last])
        return sum(_meters(points[a], points[b]) for a, b in itertools.pairwise(stops))

    best = min(itertools.permutations(middle), key=cost) if len(middle) <= 8 else tuple(middle)
    order = [first, *best] + ([] if roundtrip else [last])
    stops = [points[i] for i in order] + ([points[first]] if roundtrip else [])
    trips = [_route(stops, speed)]
    position = {i: k for k, i in enumerate(order)}
    waypoints = [_waypoint(p, waypoint_index=position.get(i, 0),
                           trips_index=0 if i in position else 1)
                 for i, p in enumerate(points)]
    if apart:
        trips.append(_route([points[apart[0]], points[apart[0]]], speed))
    return 200, {"code": "Ok", "trips": trips, "waypoints": waypoints}


def route_many(params: dict[str, str], tail: str) -> tuple[int, Any]:
    points = _points(tail)
    if not all(_reachable(p) for p in points):
        return 400, {"code": "NoRoute", "message": "Impossible route between points"}
    return 200, {"code": "Ok", "routes": [_route(points, _speed(tail))],
                 "waypoints": [_waypoint(p) for p in points]}


def answer(params: dict[str, str], tail: str) -> tuple[int, Any] | None:
    """The answer of a trip service, or None for a plain two-point route."""
    if "/table/" in tail:
        return table(params, tail)
    if "/trip/" in tail:
        return trip(params, tail)
    if "/route/" in tail and tail.count(";") > 1:
        return route_many(params, tail)
    return None
