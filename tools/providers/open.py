"""The keyless provider set: Open-Meteo (weather, place names), Photon (autocomplete, keyword
POIs), Nominatim (addresses, reverse geocoding), Overpass (nearby POIs), OSRM (routes).

Everything is WGS-84 and worldwide; no key. Answers are cached (Nominatim's policy requires it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.cache import TTLCache, make_key
from bailian_geo_agent.tools.config import DEFAULT_VALHALLA_BASE_URL, GeoConfig
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.errors import InvalidParamsError, NotFoundError
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers import open_areas, open_extra, open_trips
from bailian_geo_agent.tools.providers.base import Place, Poi, Route, RouteMode, WeatherReport
from bailian_geo_agent.tools.providers.open_meteo import OpenMeteo, has_cjk
from bailian_geo_agent.tools.providers.osm import Nominatim, Osrm, Overpass, Photon

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

NAME = "OpenStreetMap/Open-Meteo"


class OpenProvider:
    """``GeoProvider`` over the keyless open services (see module docstring)."""

    name = NAME
    crs: CRS = "wgs84"

    def __init__(
        self,
        http: HttpClient,
        *,
        open_meteo: OpenMeteo,
        photon: Photon,
        nominatim: Nominatim,
        overpass: Overpass,
        osrm: Osrm,
        cache: TTLCache,
        valhalla: open_areas.Valhalla | None = None,
    ) -> None:
        self.http = http
        self.open_meteo = open_meteo
        self.photon = photon
        self.nominatim = nominatim
        self.overpass = overpass
        self.osrm = osrm
        self.cache = cache
        self.valhalla = valhalla or open_areas.Valhalla(http, DEFAULT_VALHALLA_BASE_URL)

    @classmethod
    def from_config(
        cls,
        config: GeoConfig,
        http: HttpClient,
        *,
        cache: TTLCache | None = None,
        nominatim_interval: float = 1.0,
    ) -> OpenProvider:
        """Build from the base URLs in ``config``."""
        cache = cache if cache is not None else TTLCache(ttl=config.cache_ttl)
        return cls(
            http,
            open_meteo=OpenMeteo(
                http, config.open_meteo_base_url, config.open_meteo_geocoding_url, cache
            ),
            photon=Photon(http, config.photon_base_url),
            nominatim=Nominatim(http, config.nominatim_base_url, nominatim_interval),
            overpass=Overpass(http, config.overpass_base_url),
            osrm=Osrm(http, config.osrm_base_url, config.osrm_walking_base_url,
                      config.osrm_cycling_base_url),
            cache=cache,
            valhalla=open_areas.Valhalla(http, config.valhalla_base_url),
        )

    def __repr__(self) -> str:
        return "OpenProvider()"

    async def _locate(self, place: str) -> Place:
        """A place name -> best candidate: Open-Meteo geocoding, then Photon."""
        found = await self.open_meteo.geocode(place, 3)
        if not found:
            features = await self.photon.search(place, 1)
            found = [Photon.place(f) for f in features if Photon.place(f).location]
        if not found:
            raise NotFoundError(message_text("open_place_not_found", place=place))
        return found[0]

    async def weather(
        self, place: str | None, location: Coordinate | None, days: int
    ) -> WeatherReport:
        """Open-Meteo forecast for a resolved place or a point."""
        if location is not None:
            point, label = location.to("wgs84"), location.lnglat(4)
        elif place:
            found = await self._locate(place)
            assert found.location is not None
            point = found.location
            label = " ".join(dict.fromkeys(p for p in (found.country, found.province, found.name)
                                           if p))
        else:
            raise InvalidParamsError(message_text("geo_weather_needs_place"))
        current, daily, _tz = await self.open_meteo.forecast(point, max(days, 1))
        return WeatherReport(place=label, current=current, daily=daily[:days], location=point,
                             source="Open-Meteo")

    async def search_poi(
        self, keywords: str, city: str | None, category: str | None, limit: int
    ) -> list[Poi]:
        """Photon keyword search, biased to (and boxed around) ``city`` when given."""
        near = None
        if city:
            near = (await self._locate(city)).location
        key = make_key("photon-poi", keywords, city, limit)
        features = await self.cache.get_or_load(
            key, lambda: self.photon.search(keywords, min(limit * 2, 50), near=near), 3600
        )
        pois = [Photon.poi(f, near) for f in features]
        pois = [p for p in pois if p.location is not None][:limit]
        if not pois:
            where = message_text("osm_in_city", city=city) if city else ""
            raise NotFoundError(message_text("osm_no_places", city=where, what=keywords))
        return pois

    async def nearby_poi(
        self,
        center: Coordinate,
        keywords: str | None,
        category: str | None,
        radius_m: int,
        limit: int,
    ) -> list[Poi]:
        """Overpass search around ``center``."""
        p = center.to("wgs84")
        key = make_key("overpass", round(p.lng, 5), round(p.lat, 5), keywords, category,
                       radius_m, limit)
        pois = await self.cache.get_or_load(
            key, lambda: self.overpass.nearby(p, keywords, category, radius_m, limit), 3600
        )
        if not pois:
            what = keywords or category or message_text("geo_a_place")
            raise NotFoundError(message_text("osm_no_places_nearby", radius=radius_m, what=what))
        return pois

    async def suggest(self, query: str, city: str | None, limit: int) -> list[Place]:
        """Photon autocomplete."""
        text = f"{query} {city}" if city and city not in query else query
        key = make_key("photon-suggest", text, limit)
        features = await self.cache.get_or_load(key, lambda: self.photon.search(text, limit), 3600)
        places = [Photon.place(f) for f in features]
        places = [p for p in places if p.name][:limit]
        if not places:
            raise NotFoundError(message_text("osm_no_suggestions", query=query))
        return places

    async def geocode(self, address: str, city: str | None) -> list[Place]:
        """Nominatim search (then Open-Meteo for bare place names)."""
        query = f"{address}, {city}" if city and city not in address else address
        language = "zh" if has_cjk(query) else "en"
        key = make_key("nominatim-search", query, language)
        places = await self.cache.get_or_load(
            key, lambda: self.nominatim.search(query, 5, language), 86400
        )
        if not places:
            places = await self.open_meteo.geocode(address, 3)
        if not places:
            raise NotFoundError(message_text("osm_address_not_found", address=address))
        return places

    async def reverse_geocode(self, location: Coordinate) -> Place:
        """Nominatim reverse geocoding."""
        p = location.to("wgs84")
        key = make_key("nominatim-reverse", round(p.lng, 6), round(p.lat, 6))
        return await self.cache.get_or_load(key, lambda: self.nominatim.reverse(p, "zh"), 86400)

    async def route(self, origin: Coordinate, destination: Coordinate, mode: RouteMode) -> Route:
        """OSRM route."""
        a, b = origin.to("wgs84"), destination.to("wgs84")
        key = make_key("osrm", a.lnglat(), b.lnglat(), mode)
        return await self.cache.get_or_load(key, lambda: self.osrm.route(a, b, mode), 600)

    # ------------------------------------------------------------------ extras (open_extra.py)

    async def distance(
        self, origins: list[Coordinate], destination: Coordinate, mode: Any
    ) -> DistanceMatrix:
        """Haversine (straight line) or OSRM per origin."""
        return await open_extra.distance(self, origins, destination, mode)

    async def cycling_route(self, origin: Coordinate, destination: Coordinate) -> Route:
        """OSRM bicycle route."""
        return await open_extra.cycling_route(self, origin, destination)

    async def transit_route(
        self, origin: Coordinate, destination: Coordinate, city: str, cityd: str | None
    ) -> TransitRoutes:
        """Not available without a key: raises ``OutOfCoverageError`` saying so."""
        return await open_extra.transit_route(self, origin, destination, city, cityd)

    async def ip_location(self, ip: str) -> IpLocation:
        """Not available without a key: raises ``OutOfCoverageError`` saying so."""
        return await open_extra.ip_location(self, ip)

    async def poi_detail(self, poi_id: str) -> PoiDetail:
        """Nominatim ``/lookup`` of an OpenStreetMap id."""
        return await open_extra.poi_detail(self, poi_id)

    # ------------------------------------------------------------------ areas (open_areas.py)

    async def area_boundary(self, name: str, city: str | None) -> AreaBoundary:
        """Nominatim ``polygon_geojson``."""
        return await open_areas.area_boundary(self, name, city)

    async def isochrone(self, center: Coordinate, minutes: int, mode: Any) -> Isochrone:
        """Valhalla ``/isochrone``."""
        return await open_areas.isochrone(self, center, minutes, mode)

    async def pois_along(self, path: list[Coordinate], keywords: str | None,
                         category: str | None, radius_m: int, limit: int) -> list[Poi]:
        """Overpass ``around:`` the line."""
        return await open_areas.pois_along(self, path, keywords, category, radius_m, limit)
    # ------------------------------------------------------------------ trips (open_trips.py)

    async def travel_matrix(self, points: list[Coordinate], mode: TripMode) -> TravelMatrix:
        """OSRM ``/table``."""
        return await open_trips.travel_matrix(self, points, mode)

    async def route_through(self, points: list[Coordinate], mode: TripMode) -> TripRoute:
        """OSRM ``/route`` through the points in order."""
        return await open_trips.route_through(self, points, mode)

    async def optimal_trip(self, points: list[Coordinate], mode: TripMode, *,
                           fixed_start: bool, fixed_end: bool, roundtrip: bool) -> OptimalTrip:
        """OSRM ``/trip`` (round trips, both ends fixed), else ``/table`` + ``/route``."""
        return await open_trips.optimal_trip(self, points, mode, fixed_start=fixed_start,
                                             fixed_end=fixed_end, roundtrip=roundtrip)

    async def aclose(self) -> None:
        """Empty the cache (the HTTP client is the toolkit's to close)."""
        self.cache.clear()
