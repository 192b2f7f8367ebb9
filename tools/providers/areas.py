"""The area capabilities (``AreaProvider``) and their result types: district/AOI boundaries,
reachable areas (isochrones) and POIs along a line.

Like ``extras.GeoProviderExtras``: a provider offers a capability by having its method; the
tools check for it and explain what is missing otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.geometry import Rings
from bailian_geo_agent.tools.providers.base import Poi

AreaKind = Literal["district", "aoi", "region"]
IsochroneMode = Literal["driving", "walking", "cycling"]
MAX_MINUTES = 60
"""Longest travel time of a reachable area."""


@dataclass
class AreaBoundary:
    """A named area's outline: GeoJSON MultiPolygon coordinates in ``crs`` (unsimplified)."""

    name: str
    kind: AreaKind
    polygons: list[Rings]
    crs: CRS
    center: Coordinate | None = None
    level: str = ""
    adcode: str = ""
    source: str = ""
    same_name: int = 1
    """How many areas the name matched (more than one: the city picks, else the first)."""


@dataclass
class Isochrone:
    """What is reachable from ``center`` within ``minutes``.

    ``method`` ``isochrone``: the router's own polygons; ``grid``: travel times of grid points
    (``probed`` of them, ``reachable`` within the time) united as squares of ``cell_m`` metres,
    times measured from each grid point to the centre (a matrix with one destination)."""

    center: Coordinate
    minutes: int
    mode: IsochroneMode
    polygons: list[Rings]
    crs: CRS
    method: Literal["isochrone", "grid"]
    cell_m: float | None = None
    probed: int = 0
    reachable: int = 0
    source: str = ""


@runtime_checkable
class AreaProvider(Protocol):
    """Optional area capabilities (result types above)."""

    async def area_boundary(self, name: str, city: str | None) -> AreaBoundary:
        """The outline of a district or AOI by name (``city`` narrows it)."""
        ...

    async def isochrone(
        self, center: Coordinate, minutes: int, mode: IsochroneMode
    ) -> Isochrone:
        """The area reachable from ``center`` within ``minutes`` by ``mode``."""
        ...

    async def pois_along(
        self, path: list[Coordinate], keywords: str | None, category: str | None,
        radius_m: int, limit: int,
    ) -> list[Poi]:
        """POIs within ``radius_m`` of the polyline ``path`` (unordered, de-duplicated)."""
        ...
