"""``FallbackProvider``: a primary provider, and a secondary one for what the primary does not
cover (``GEO_PROVIDER=auto`` with an AMap key: AMap in China, the open providers elsewhere)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tools.coords import Coordinate
from tools.providers.base import (
    GeoProvider,
    NotFoundError,
    OutOfCoverageError,
    Place,
    Poi,
    Route,
    RouteMode,
    WeatherReport,
)

T = TypeVar("T")
_FALL_BACK_ON = (OutOfCoverageError, NotFoundError)


class FallbackProvider:
    """Calls ``primary``; on "outside coverage" or "not found" tries ``secondary``. If the
    secondary fails too, the primary's explanation is raised."""

    def __init__(self, primary: GeoProvider, secondary: GeoProvider) -> None:
        self.primary = primary
        self.secondary = secondary
        self.name = primary.name
        self.crs = primary.crs
        self.http = getattr(primary, "http", None)

    async def _try(
        self, first: Callable[[], Awaitable[T]], second: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            return await first()
        except _FALL_BACK_ON as primary_error:
            try:
                return await second()
            except Exception:
                raise primary_error from None

    async def weather(
        self, place: str | None, location: Coordinate | None, days: int
    ) -> WeatherReport:
        """Primary weather, else secondary."""
        return await self._try(
            lambda: self.primary.weather(place, location, days),
            lambda: self.secondary.weather(place, location, days),
        )

    async def search_poi(
        self, keywords: str, city: str | None, category: str | None, limit: int
    ) -> list[Poi]:
        """Primary keyword search, else secondary."""
        return await self._try(
            lambda: self.primary.search_poi(keywords, city, category, limit),
            lambda: self.secondary.search_poi(keywords, city, category, limit),
        )

    async def nearby_poi(
        self,
        center: Coordinate,
        keywords: str | None,
        category: str | None,
        radius_m: int,
        limit: int,
    ) -> list[Poi]:
        """Primary nearby search, else secondary."""
        return await self._try(
            lambda: self.primary.nearby_poi(center, keywords, category, radius_m, limit),
            lambda: self.secondary.nearby_poi(center, keywords, category, radius_m, limit),
        )

    async def suggest(self, query: str, city: str | None, limit: int) -> list[Place]:
        """Primary autocomplete, else secondary."""
        return await self._try(
            lambda: self.primary.suggest(query, city, limit),
            lambda: self.secondary.suggest(query, city, limit),
        )

    async def geocode(self, address: str, city: str | None) -> list[Place]:
        """Primary geocoding, else secondary."""
        return await self._try(
            lambda: self.primary.geocode(address, city),
            lambda: self.secondary.geocode(address, city),
        )

    async def reverse_geocode(self, location: Coordinate) -> Place:
        """Primary reverse geocoding, else secondary."""
        return await self._try(
            lambda: self.primary.reverse_geocode(location),
            lambda: self.secondary.reverse_geocode(location),
        )

    async def route(self, origin: Coordinate, destination: Coordinate, mode: RouteMode) -> Route:
        """Primary route, else secondary."""
        return await self._try(
            lambda: self.primary.route(origin, destination, mode),
            lambda: self.secondary.route(origin, destination, mode),
        )

    async def aclose(self) -> None:
        """Close both."""
        await self.primary.aclose()
        await self.secondary.aclose()
