"""The trip capability of a provider (``TripProvider``) and its result types.

A provider plans trips by having ``travel_matrix`` (times and distances between every pair of
places), ``route_through`` (the route through places in a given order) and ``optimal_trip`` (the
best order and its route: ordered on the provider's side, like OSRM's ``/trip``, or here from the
matrix by ``tools.trip_order``). ``plan_trip`` calls ``optimal_trip``; a provider without it
gets a message saying so. Errors naming places carry their indices (``PlacesError``): the tool
puts the places' names into the message.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import NotFoundError, OutOfCoverageError
from bailian_geo_agent.tools.trip_order import best_order, unreachable

TripMode = Literal["driving", "walking", "cycling"]
OrderMethod = Literal["provider", "exact", "heuristic", "given"]
"""How the order was found: by the provider (OSRM ``/trip``: farthest insertion, no bound),
exactly (Held-Karp), by the heuristic (nearest neighbour + 2-opt/or-opt, no proven bound), or
as given (two places)."""


@dataclass
class TravelMatrix:
    """Travel times (s) and distances (m) from each place (row) to each place (column);
    ``None`` where there is no route."""

    mode: TripMode
    points: list[Coordinate]
    durations_s: list[list[float | None]]
    distances_m: list[list[float | None]]
    source: str = ""


@dataclass
class TripLeg:
    """The way from ``points[from_index]`` to ``points[to_index]`` (input indices)."""

    from_index: int
    to_index: int
    distance_m: float | None
    duration_s: float | None
    path: list[Coordinate] = field(default_factory=list)


@dataclass
class TripRoute:
    """A route through places in the given order: its legs (each with its own line when the
    provider gives one) and the whole line."""

    mode: TripMode
    legs: list[TripLeg]
    path: list[Coordinate] = field(default_factory=list)
    source: str = ""

    @property
    def distance_m(self) -> float:
        """Total length."""
        return sum(leg.distance_m or 0.0 for leg in self.legs)

    @property
    def duration_s(self) -> float:
        """Total travel time."""
        return sum(leg.duration_s or 0.0 for leg in self.legs)


@dataclass
class OptimalTrip:
    """The best visiting ``order`` (input indices; a round trip's does not repeat its start)
    and its route."""

    order: list[int]
    route: TripRoute
    method: OrderMethod
    roundtrip: bool = False
    gap: float | None = None
    """A heuristic order's most above the best order (a fraction, from a computed bound)."""


class PlacesError(Exception):
    """Mixin: an error about some of the places (``indices`` into the request)."""

    indices: list[int]


class UnreachablePlacesError(NotFoundError, PlacesError):
    """Places without a route to or from the others (a gap in the matrix)."""

    def __init__(self, indices: list[int]) -> None:
        self.indices = indices
        super().__init__(message_text("trip_unreachable", places=_numbers(indices)))


class OutsideCoverageError(OutOfCoverageError, PlacesError):
    """Places outside the provider's coverage."""

    def __init__(self, indices: list[int], provider: str) -> None:
        self.indices = indices
        self.provider = provider
        super().__init__(message_text("trip_outside_coverage", places=_numbers(indices),
                                      provider=provider))


def _numbers(indices: list[int]) -> str:
    return message_text("geo_name_separator").join(f"#{i + 1}" for i in indices)


@runtime_checkable
class TripProvider(Protocol):
    """What trip planning needs of a provider (all coordinates in its own system)."""

    async def travel_matrix(self, points: list[Coordinate], mode: TripMode) -> TravelMatrix:
        """Times and distances between every pair of ``points``."""
        ...

    async def route_through(self, points: list[Coordinate], mode: TripMode) -> TripRoute:
        """The route visiting ``points`` in this order."""
        ...

    async def optimal_trip(
        self, points: list[Coordinate], mode: TripMode, *, fixed_start: bool,
        fixed_end: bool, roundtrip: bool,
    ) -> OptimalTrip:
        """The best order (first place first when ``fixed_start``, last place last when
        ``fixed_end``, back to the start when ``roundtrip``) and its route."""
        ...


def split_path(path: list[Coordinate], stops: list[Coordinate]) -> list[list[Coordinate]]:
    """``path`` (through ``stops`` in order) cut into one line per leg: at the vertex nearest
    each stop between the ends, searched forward from the previous cut."""
    if len(stops) < 2:
        return []
    if len(path) < 2:
        return [[a, b] for a, b in itertools.pairwise(stops)]
    cuts = [0]
    for stop in stops[1:-1]:
        begin = cuts[-1]
        nearest = min(range(begin, len(path)),
                      key=lambda i: (path[i].lng - stop.lng) ** 2 + (path[i].lat - stop.lat) ** 2)
        cuts.append(nearest)
    cuts.append(len(path) - 1)
    return [path[a:b + 1] if b > a else [path[a], path[b]]
            for a, b in itertools.pairwise(cuts)]


async def order_and_route(
    matrix: TravelMatrix,
    route: Callable[[list[Coordinate]], Awaitable[TripRoute]],
    *,
    fixed_start: bool,
    fixed_end: bool,
    roundtrip: bool,
    replace_legs: bool,
) -> OptimalTrip:
    """The best order of ``matrix``'s places and ``route`` through them (legs renumbered to
    input indices; their figures the matrix's when ``replace_legs``). Raises
    ``UnreachablePlacesError`` when no order has a route for every leg."""
    n = len(matrix.points)
    gaps = unreachable(matrix.durations_s)
    if gaps:
        raise UnreachablePlacesError(gaps)
    # up to a few hundred ms of pure Python for 25 places: off the event loop (other replies
    # stream meanwhile)
    found = await asyncio.to_thread(
        best_order, matrix.durations_s, start=0 if fixed_start else None,
        end=n - 1 if fixed_end and not roundtrip else None, cycle=roundtrip)
    if math.isinf(found.cost):
        missing = sorted({i for i in range(n) for j in range(n)
                          if i != j and matrix.durations_s[i][j] is None})
        raise UnreachablePlacesError(missing)
    visit = found.order + ([found.order[0]] if roundtrip else [])
    trip_route = await route([matrix.points[i] for i in visit])
    for leg in trip_route.legs:
        leg.from_index, leg.to_index = visit[leg.from_index], visit[leg.to_index]
        if replace_legs:
            leg.distance_m = matrix.distances_m[leg.from_index][leg.to_index]
            leg.duration_s = matrix.durations_s[leg.from_index][leg.to_index]
    method = "given" if n == 2 else found.method
    return OptimalTrip(order=found.order, route=trip_route, method=method, roundtrip=roundtrip,
                       gap=found.gap)
