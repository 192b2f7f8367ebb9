"""``FallbackProvider``: a primary provider, and a secondary one for what the primary does not
cover (``GEO_PROVIDER=auto`` with an AMap key: AMap in China, the open providers elsewhere)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import NotFoundError, OutOfCoverageError
from bailian_geo_agent.tools.providers.base import (
    GeoProvider,
    Place,
    Poi,
    Route,
    RouteMode,
    WeatherReport,
)

if TYPE_CHECKING:
    from bailian_geo_agent.tools.providers.areas import AreaBoundary, Isochrone
    from bailian_geo_agent.tools.providers.extras import (
        DistanceMatrix,
        IpLocation,
        PoiDetail,
        TransitRoutes,
    )
    from bailian_geo_agent.tools.providers.trips import (
        OptimalTrip,
        TravelMatrix,
        TripMode,
        TripRoute,
    )

T = TypeVar("T")


def _extra(provider: GeoProvider, method: str) -> Callable[..., Awaitable[Any]]:
    """``provider.<method>``, or a coroutine raising "not offered" when it has none."""
    found: Callable[..., Awaitable[Any]] | None = getattr(provider, method, None)
    if found is not None:
        return found

    async def missing(*args: Any, **kwargs: Any) -> Any:
        raise OutOfCoverageError(message_text("geo_not_offered_any", provider=provider.name))

    return missing
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

    async def _try(self, call: Callable[[GeoProvider], Awaitable[T]]) -> T:
        """``call(primary)``; after "outside coverage" or "not found", ``call(secondary)``."""
        try:
            return await call(self.primary)
        except _FALL_BACK_ON as primary_error:
            try:
                return await call(self.secondary)
            except Exception:
                raise primary_error from None

    async def weather(
        self, place: str | None, location: Coordinate | None, days: int
    ) -> WeatherReport:
        """Primary weather, else secondary."""
        return await self._try(lambda p: p.weather(place, location, days))

    async def search_poi(
        self, keywords: str, city: str | None, category: str | None, limit: int
    ) -> list[Poi]:
        """Primary keyword search, else secondary."""
        return await self._try(lambda p: p.search_poi(keywords, city, category, limit))

    async def nearby_poi(
        self,
        center: Coordinate,
        keywords: str | None,
        category: str | None,
        radius_m: int,
        limit: int,
    ) -> list[Poi]:
        """Primary nearby search, else secondary."""
        return await self._try(lambda p: p.nearby_poi(center, keywords, category, radius_m, limit))

    async def suggest(self, query: str, city: str | None, limit: int) -> list[Place]:
        """Primary autocomplete, else secondary."""
        return await self._try(lambda p: p.suggest(query, city, limit))

    async def geocode(self, address: str, city: str | None) -> list[Place]:
        """Primary geocoding, else secondary."""
        return await self._try(lambda p: p.geocode(address, city))

    async def reverse_geocode(self, location: Coordinate) -> Place:
        """Primary reverse geocoding, else secondary."""
        return await self._try(lambda p: p.reverse_geocode(location))

    async def route(self, origin: Coordinate, destination: Coordinate, mode: RouteMode) -> Route:
        """Primary route, else secondary."""
        return await self._try(lambda p: p.route(origin, destination, mode))

    async def distance(
        self, origins: list[Coordinate], destination: Coordinate, mode: Any
    ) -> DistanceMatrix:
        """Primary distances, else secondary."""
        return await self._try(lambda p: _extra(p, "distance")(origins, destination, mode))

    async def cycling_route(self, origin: Coordinate, destination: Coordinate) -> Route:
        """Primary cycling route, else secondary."""
        return await self._try(lambda p: _extra(p, "cycling_route")(origin, destination))

    async def transit_route(
        self, origin: Coordinate, destination: Coordinate, city: str, cityd: str | None
    ) -> TransitRoutes:
        """Primary transit plans, else secondary."""
        return await self._try(
            lambda p: _extra(p, "transit_route")(origin, destination, city, cityd)
        )

    async def ip_location(self, ip: str) -> IpLocation:
        """Primary IP location, else secondary."""
        return await self._try(lambda p: _extra(p, "ip_location")(ip))

    async def poi_detail(self, poi_id: str) -> PoiDetail:
        """Primary POI detail, else secondary."""
        return await self._try(lambda p: _extra(p, "poi_detail")(poi_id))

    async def area_boundary(self, name: str, city: str | None) -> AreaBoundary:
        """Primary boundary, else secondary."""
        return await self._try(lambda p: _extra(p, "area_boundary")(name, city))

    async def isochrone(self, center: Coordinate, minutes: int, mode: Any) -> Isochrone:
        """Primary reachable area, else secondary."""
        return await self._try(lambda p: _extra(p, "isochrone")(center, minutes, mode))

    async def pois_along(self, path: list[Coordinate], keywords: str | None,
                         category: str | None, radius_m: int, limit: int) -> list[Poi]:
        """Primary POIs along a line, else secondary."""
        return await self._try(
            lambda p: _extra(p, "pois_along")(path, keywords, category, radius_m, limit)
        )
    async def travel_matrix(self, points: list[Coordinate], mode: TripMode) -> TravelMatrix:
        """Primary travel matrix, else secondary."""
        return await self._try(lambda p: _extra(p, "travel_matrix")(points, mode))

    async def route_through(self, points: list[Coordinate], mode: TripMode) -> TripRoute:
        """Primary route through the points, else secondary."""
        return await self._try(lambda p: _extra(p, "route_through")(points, mode))

    async def optimal_trip(self, points: list[Coordinate], mode: TripMode, *,
                           fixed_start: bool, fixed_end: bool, roundtrip: bool) -> OptimalTrip:
        """Primary trip, else secondary."""
        return await self._try(lambda p: _extra(p, "optimal_trip")(
            points, mode, fixed_start=fixed_start, fixed_end=fixed_end, roundtrip=roundtrip))

    async def aclose(self) -> None:
        """Close both."""
        await self.primary.aclose()
        await self.secondary.aclose()
