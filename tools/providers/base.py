"""The provider interface every geo backend implements, and its result types.

A provider (AMap, the keyless open set, ...) is any object with the methods of ``GeoProvider``.
Methods are async, return plain dataclasses and raise ``tools.errors.GeoProviderError``
subclasses whose ``str()`` is a short Chinese sentence safe to show to the model and the user
(never a key, a URL with a key, or a traceback). Tools turn those errors into tool results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from bailian_geo_agent.tools.coords import CRS, Coordinate

RouteMode = Literal["driving", "walking"]


# --------------------------------------------------------------------------- results


@dataclass
class Place:
    """A named place (geocode, autocomplete tip, reverse-geocode result)."""

    name: str
    location: Coordinate | None = None
    address: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    adcode: str = ""
    level: str = ""
    country: str = ""
    postcode: str = ""
    source: str = ""


@dataclass
class Poi:
    """A point of interest; fields the provider does not have stay empty/None."""

    name: str
    location: Coordinate | None = None
    address: str = ""
    category: str = ""
    distance_m: float | None = None
    phone: str = ""
    rating: float | None = None
    city: str = ""
    district: str = ""
    id: str = ""
    source: str = ""


@dataclass
class CurrentWeather:
    """Live conditions."""

    text: str
    temperature_c: float | None = None
    humidity_pct: float | None = None
    wind: str = ""
    observed_at: str = ""


@dataclass
class DailyForecast:
    """One forecast day."""

    date: str
    day_text: str = ""
    night_text: str = ""
    temp_max_c: float | None = None
    temp_min_c: float | None = None
    wind: str = ""
    precipitation_mm: float | None = None
    week: str = ""


@dataclass
class WeatherReport:
    """Live conditions and forecast days for one place."""

    place: str
    current: CurrentWeather | None = None
    daily: list[DailyForecast] = field(default_factory=list)
    location: Coordinate | None = None
    issued_at: str = ""
    source: str = ""


@dataclass
class RouteStep:
    """One manoeuvre of a route."""

    instruction: str
    distance_m: float | None = None
    duration_s: float | None = None
    road: str = ""


@dataclass
class Route:
    """A route between two points; ``path`` is the full polyline in ``path_crs``."""

    mode: RouteMode | Literal["cycling"]
    distance_m: float
    duration_s: float
    origin: Coordinate
    destination: Coordinate
    steps: list[RouteStep] = field(default_factory=list)
    path: list[Coordinate] = field(default_factory=list)
    source: str = ""


# --------------------------------------------------------------------------- interface


@runtime_checkable
class GeoProvider(Protocol):
    """What a geo backend offers. Coordinates in are converted by the caller to ``crs``;
    coordinates out carry their own ``crs``. A new backend (Baidu, Google) is one module
    implementing these methods (and, optionally, those of ``extras.GeoProviderExtras``)."""

    name: str
    """Short user-facing name, e.g. ``"高德地图"``."""
    crs: CRS
    """The system the backend works in (``gcj02`` for AMap, ``wgs84`` for OSM services)."""

    async def weather(
        self, place: str | None, location: Coordinate | None, days: int
    ) -> WeatherReport:
        """Live conditions and up to ``days`` forecast days for a place name or a point."""
        ...

    async def search_poi(
        self, keywords: str, city: str | None, category: str | None, limit: int
    ) -> list[Poi]:
        """Keyword search, optionally limited to a city."""
        ...

    async def nearby_poi(
        self,
        center: Coordinate,
        keywords: str | None,
        category: str | None,
        radius_m: int,
        limit: int,
    ) -> list[Poi]:
        """POIs within ``radius_m`` of ``center``, nearest first."""
        ...

    async def suggest(self, query: str, city: str | None, limit: int) -> list[Place]:
        """Autocomplete suggestions for partial input."""
        ...

    async def geocode(self, address: str, city: str | None) -> list[Place]:
        """Address or place name -> candidate places with coordinates."""
        ...

    async def reverse_geocode(self, location: Coordinate) -> Place:
        """Point -> address."""
        ...

    async def route(self, origin: Coordinate, destination: Coordinate, mode: RouteMode) -> Route:
        """Driving or walking route."""
        ...

    async def aclose(self) -> None:
        """Release resources the provider owns (not the HTTP client it was given)."""
        ...
