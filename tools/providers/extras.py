"""The optional provider capabilities (``GeoProviderExtras``) and their result types:
distances, transit plans, IP location and POI details (cycling routes reuse ``Route``).

A provider offers a capability by having the method of ``GeoProviderExtras``; tools check for
the method, so an older or third-party provider without it still works and the tool explains
what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.providers.base import Poi, Route

DistanceMode = Literal["driving", "walking", "straight"]


@dataclass
class Distance:
    """Distance from one origin (``origin_index``, 0-based in the request) to the destination.

    ``duration_s`` is None for straight-line distances; ``note`` explains a pair without a
    result (``distance_m`` None)."""

    origin_index: int
    distance_m: float | None
    duration_s: float | None = None
    note: str = ""


@dataclass
class DistanceMatrix:
    """Distances from several origins to one destination."""

    mode: DistanceMode
    destination: Coordinate
    origins: list[Coordinate]
    results: list[Distance] = field(default_factory=list)
    source: str = ""


@dataclass
class TransitSegment:
    """One leg of a public-transport plan: a walk, a bus/metro line or a train."""

    kind: Literal["walk", "bus", "subway", "railway", "taxi"]
    name: str = ""
    departure: str = ""
    arrival: str = ""
    stops: int | None = None
    distance_m: float | None = None
    duration_s: float | None = None


@dataclass
class TransitPlan:
    """One public-transport option between two points."""

    duration_s: float | None
    cost_yuan: float | None = None
    walking_m: float | None = None
    distance_m: float | None = None
    segments: list[TransitSegment] = field(default_factory=list)
    night: bool = False


@dataclass
class TransitRoutes:
    """The public-transport options of one query (``city`` to ``cityd``)."""

    origin: Coordinate
    destination: Coordinate
    city: str
    cityd: str
    plans: list[TransitPlan] = field(default_factory=list)
    distance_m: float | None = None
    taxi_cost_yuan: float | None = None
    source: str = ""


@dataclass
class IpLocation:
    """Where an IP address is, at city level; ``southwest``/``northeast`` bound the city."""

    ip: str
    province: str = ""
    city: str = ""
    adcode: str = ""
    southwest: Coordinate | None = None
    northeast: Coordinate | None = None
    source: str = ""

    @property
    def center(self) -> Coordinate | None:
        """The middle of the bounding rectangle."""
        if self.southwest is None or self.northeast is None:
            return None
        sw, ne = self.southwest, self.northeast
        return Coordinate((sw.lng + ne.lng) / 2, (sw.lat + ne.lat) / 2, sw.crs)


@dataclass
class PoiDetail(Poi):
    """A POI with the details a search does not show."""

    province: str = ""
    alias: str = ""
    business_area: str = ""
    cost_yuan: float | None = None
    opening_hours: str = ""
    website: str = ""
    email: str = ""
    photos: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class GeoProviderExtras(Protocol):
    """Optional capabilities (result types above). A provider without one of these methods
    still works; the tool needing it says so in its result."""

    async def distance(
        self, origins: list[Coordinate], destination: Coordinate, mode: DistanceMode
    ) -> DistanceMatrix:
        """Distance (and time, except straight line) from each origin to the destination."""
        ...

    async def cycling_route(self, origin: Coordinate, destination: Coordinate) -> Route:
        """Bicycle route."""
        ...

    async def transit_route(
        self, origin: Coordinate, destination: Coordinate, city: str, cityd: str | None
    ) -> TransitRoutes:
        """Public-transport options, within ``city`` or from ``city`` to ``cityd``."""
        ...

    async def ip_location(self, ip: str) -> IpLocation:
        """City-level location of an IPv4 address."""
        ...

    async def poi_detail(self, poi_id: str) -> PoiDetail:
        """Details of a POI by the id its search returned."""
        ...
