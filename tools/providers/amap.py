"""AMap (Gaode) Web Service API provider (GCJ-02, mainland China).

Wire format (see lbs.amap.com/api/webservice/guide): every value is a string, empty fields are
``[]``, ``status`` "1"/"0" with an ``infocode``. Weather needs an adcode, resolved from a place
name through the district API (then geocoding) and cached. Identical queries are served from a
TTL cache: personal accounts get only about 100 POI searches a day.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.cache import TTLCache, make_key
from bailian_geo_agent.tools.coords import CRS, Coordinate, out_of_china
from bailian_geo_agent.tools.errors import (
    GeoProviderError,
    InvalidKeyError,
    InvalidParamsError,
    NotFoundError,
    OutOfCoverageError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitedError,
)
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers import amap_areas, amap_extra, amap_trips
from bailian_geo_agent.tools.providers.amap_fields import NAME, _dict, _list, location, number, text
from bailian_geo_agent.tools.providers.base import (
    CurrentWeather,
    DailyForecast,
    Place,
    Poi,
    Route,
    RouteMode,
    RouteStep,
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

logger = logging.getLogger(__name__)

_ADCODE_TTL = 7 * 24 * 3600.0
_WEEKDAYS = {str(i): "周" + day for i, day in enumerate("一二三四五六日", 1)}

# English category words the model may use -> AMap category names accepted by ``types``.
_CATEGORY_ALIASES = {
    "restaurant": "餐饮服务",
    "food": "餐饮服务",
    "cafe": "咖啡厅",
    "coffee": "咖啡厅",
    "hotel": "住宿服务",
    "hospital": "医院",
    "pharmacy": "药店",
    "bank": "银行",
    "atm": "自动提款机",
    "parking": "停车场",
    "gas station": "加油站",
    "fuel": "加油站",
    "school": "学校",
    "supermarket": "超市",
    "shopping": "购物服务",
    "toilet": "公共厕所",
    "subway": "地铁站",
    "metro": "地铁站",
    "bus stop": "公交车站",
    "attraction": "风景名胜",
    "scenic": "风景名胜",
    "museum": "博物馆",
    "park": "公园广场",
}


def _region(record: dict[str, Any]) -> dict[str, str]:
    """The ``Place`` region fields of an AMap address record."""
    province = text(record.get("province"))
    return {
        "province": province,
        "city": text(record.get("city")) or province,  # AMap leaves it empty for municipalities
        "district": text(record.get("district")),
        "adcode": text(record.get("adcode")),
        "country": text(record.get("country")),
    }


def _wind(direction: Any, power: Any) -> str:
    """``东北风3级``; empty without a wind force."""
    force = text(power)
    return f"{text(direction)}风{force}级" if force else ""


def _clean_info(info: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_ ]", "", text(info))[:60]


def error_for(infocode: str, info: str) -> GeoProviderError:
    """The ``GeoProviderError`` for an AMap error answer."""
    code = infocode or "?"
    if code == "10001":
        return InvalidKeyError(message_text("amap_key_invalid"), code=code)
    if code in ("10002", "10009"):
        return InvalidKeyError(message_text("amap_key_not_allowed"), code=code)
    if code in ("10005", "10008"):
        return InvalidKeyError(message_text("amap_host_denied"), code=code)
    if code in ("10003", "10044"):
        return QuotaExceededError(message_text("amap_quota"), code=code)
    if code in ("10004", "10010", "10014", "10015", "10019", "10020", "10021", "10029"):
        return RateLimitedError(message_text("amap_rate_limited"), code=code)
    if code in ("20000", "20001", "20002", "20003", "20011", "20012"):
        return InvalidParamsError(message_text("amap_invalid_params", info=info or code),
                                  code=code)
    if code == "20800":
        return OutOfCoverageError(message_text("amap_route_out_of_range"), code=code)
    if code == "20801":
        return NotFoundError(message_text("amap_no_road_nearby"), code=code)
    if code == "20802":
        return NotFoundError(message_text("amap_no_route"), code=code)
    if code == "20803":
        return InvalidParamsError(message_text("amap_too_far"), code=code)
    return ProviderUnavailableError(
        message_text("amap_error", info=info or "UNKNOWN", code=code), code=code
    )


class AmapProvider:
    """``GeoProvider`` backed by the AMap Web Service API.

    Args:
        api_key: the Web-service key (``AMAP_API_KEY``); kept private, never in output.
        http: the shared ``HttpClient``.
        base_url: ``AMAP_BASE_URL`` (default ``https://restapi.amap.com``).
        cache: TTL cache for identical queries (a private one when None).
        rate_limit_retries: retries after infocode 10004/10021 (too frequent).
        rate_limit_delay: seconds before such a retry.
    """

    name = NAME
    crs: CRS = "gcj02"

    def __init__(
        self,
        api_key: str,
        http: HttpClient,
        *,
        base_url: str = "https://restapi.amap.com",
        cache: TTLCache | None = None,
        rate_limit_retries: int = 2,
        rate_limit_delay: float = 1.0,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("AMAP_API_KEY is empty")
        self._key = api_key.strip()
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.cache = cache if cache is not None else TTLCache()
        self.rate_limit_retries = rate_limit_retries
        self.rate_limit_delay = rate_limit_delay

    def __repr__(self) -> str:
        return f"AmapProvider(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ transport

    async def call(
        self, path: str, params: dict[str, Any], *, ttl: float | None = None
    ) -> dict[str, Any]:
        """GET an endpoint, check ``status``/``infocode``, retry when too frequent, cache."""
        query = {k: v for k, v in params.items() if v is not None and v != ""}
        return await self.cache.get_or_load(
            make_key("amap", path, **query), lambda: self._get(path, query), ttl
        )

    async def _get(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        """The checked answer, retried after "too frequent" answers."""
        attempt = 0
        while True:
            try:
                data = await self.http.get_json(
                    self.base_url + path, {**query, "key": self._key}, service=NAME
                )
                if not isinstance(data, dict):
                    raise ProviderUnavailableError(message_text("amap_unparsable"))
                if text(data.get("status")) != "1":
                    raise error_for(text(data.get("infocode")), _clean_info(data.get("info")))
            except RateLimitedError:
                if attempt >= self.rate_limit_retries:
                    raise
                attempt += 1
                await asyncio.sleep(self.rate_limit_delay * attempt)
                continue
            return data

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _coverage(point: Coordinate) -> None:
        if out_of_china(point.lng, point.lat):
            raise OutOfCoverageError(message_text("amap_outside_china"))

    async def resolve_adcode(self, place: str) -> tuple[str, str]:
        """Place name (or adcode) -> (adcode, display name), via district then geocode APIs."""
        place = place.strip()
        if re.fullmatch(r"\d{6}", place):
            return place, place
        return await self.cache.get_or_load(
            make_key("adcode", place), lambda: self._find_adcode(place), _ADCODE_TTL
        )

    async def _find_adcode(self, place: str) -> tuple[str, str]:
        """``resolve_adcode`` without its cache."""
        data = await self.call(
            "/v3/config/district", {"keywords": place, "subdistrict": "0"}, ttl=_ADCODE_TTL
        )
        result: tuple[str, str] | None = None
        for item in _list(data, "districts"):
            if isinstance(item, dict) and text(item.get("adcode")):
                result = (text(item.get("adcode")), text(item.get("name")) or place)
                break
        if result is None:
            try:
                found = await self.geocode(place, None)
            except NotFoundError:
                found = []
            if found and found[0].adcode:
                top = found[0]
                result = (top.adcode, top.district or top.city or top.province or top.name)
        if result is None:
            raise NotFoundError(message_text("amap_no_district", place=place))
        return result

    # ------------------------------------------------------------------ GeoProvider

    async def weather(
        self, place: str | None, location: Coordinate | None, days: int
    ) -> WeatherReport:
        """Live conditions (``extensions=base``) and up to 4 forecast days (``all``)."""
        if location is not None:
            self._coverage(location)
            where = await self.reverse_geocode(location)
            if not where.adcode:
                raise NotFoundError(message_text("amap_no_district_at_point"))
            adcode, label = where.adcode, where.district or where.city or where.province
        elif place:
            adcode, label = await self.resolve_adcode(place)
        else:
            raise InvalidParamsError(message_text("geo_weather_needs_place"))
        live = await self.call(
            "/v3/weather/weatherInfo", {"city": adcode, "extensions": "base"}, ttl=600
        )
        report = WeatherReport(place=label)
        lives = _list(live, "lives")
        if lives and isinstance(lives[0], dict):
            item = lives[0]
            report.place = " ".join(
                p for p in dict.fromkeys([text(item.get("province")), text(item.get("city"))]) if p
            ) or label
            report.current = CurrentWeather(
                text=text(item.get("weather")),
                temperature_c=number(item.get("temperature")),
                humidity_pct=number(item.get("humidity")),
                wind=_wind(item.get("winddirection"), item.get("windpower")),
                observed_at=text(item.get("reporttime")),
            )
        if days > 0:
            forecast = await self.call(
                "/v3/weather/weatherInfo", {"city": adcode, "extensions": "all"}, ttl=1800
            )
            items = _list(forecast, "forecasts")
            if items and isinstance(items[0], dict):
                report.issued_at = text(items[0].get("reporttime"))
                for cast in _list(items[0], "casts")[:days]:
                    if not isinstance(cast, dict):
                        continue
                    report.daily.append(
                        DailyForecast(
                            date=text(cast.get("date")),
                            week=_WEEKDAYS.get(text(cast.get("week")), ""),
                            day_text=text(cast.get("dayweather")),
                            night_text=text(cast.get("nightweather")),
                            temp_max_c=number(cast.get("daytemp")),
                            temp_min_c=number(cast.get("nighttemp")),
                            wind=_wind(cast.get("daywind"), cast.get("daypower")),
                        )
                    )
        if report.current is None and not report.daily:
            raise NotFoundError(message_text("amap_no_weather", place=label))
        return report

    def _poi(self, item: dict[str, Any]) -> Poi:
        biz = _dict(item, "biz_ext")
        category = text(item.get("type")).split("|")[0]
        return Poi(
            name=text(item.get("name")),
            location=location(item.get("location")),
            address=text(item.get("address")),
            category=_category_name(category),
            distance_m=number(item.get("distance")),
            phone=text(item.get("tel")),
            rating=number(biz.get("rating")),
            city=text(item.get("cityname")),
            district=text(item.get("adname")),
            id=text(item.get("id")),
        )

    def _pois(self, data: dict[str, Any], limit: int) -> list[Poi]:
        items = _list(data, "pois")
        return [self._poi(i) for i in items if isinstance(i, dict) and text(i.get("name"))][:limit]

    async def search_poi(
        self, keywords: str, city: str | None, category: str | None, limit: int
    ) -> list[Poi]:
        """``/v3/place/text`` limited to ``city`` when given."""
        params = {
            "keywords": keywords,
            "types": _amap_category(category),
            "city": city,
            "citylimit": "true" if city else None,
            **_first_page(limit),
        }
        data = await self.call("/v3/place/text", params, ttl=3600)
        pois = self._pois(data, limit)
        if not pois:
            hint = ""
            cities = _list(_dict(data, "suggestion"), "cities")
            names = [text(c.get("name")) for c in cities if isinstance(c, dict)][:5]
            if names:
                listed = message_text("geo_name_separator").join(n for n in names if n)
                hint = message_text("amap_other_cities", cities=listed)
            where = message_text("amap_in_city", city=city) if city else ""
            what = keywords or category
            raise NotFoundError(message_text("amap_no_places", city=where, what=what, hint=hint))
        return pois

    async def nearby_poi(
        self,
        center: Coordinate,
        keywords: str | None,
        category: str | None,
        radius_m: int,
        limit: int,
    ) -> list[Poi]:
        """``/v3/place/around`` sorted by distance."""
        center = center.to("gcj02")
        self._coverage(center)
        params = {
            "location": center.lnglat(),
            "keywords": keywords,
            "types": _amap_category(category),
            "radius": str(min(max(int(radius_m), 1), 50000)),
            "sortrule": "distance",
            **_first_page(limit),
        }
        pois = self._pois(await self.call("/v3/place/around", params, ttl=3600), limit)
        if not pois:
            what = keywords or category or message_text("geo_a_place")
            raise NotFoundError(message_text("geo_no_places_nearby", radius=radius_m, what=what))
        return pois

    async def suggest(self, query: str, city: str | None, limit: int) -> list[Place]:
        """``/v3/assistant/inputtips``; tips without a location are keyword suggestions."""
        params = {"keywords": query, "city": city, "datatype": "all"}
        data = await self.call("/v3/assistant/inputtips", params, ttl=3600)
        tips = _list(data, "tips")
        places = [
            Place(
                name=text(t.get("name")),
                location=location(t.get("location")),
                address=text(t.get("address")),
                district=text(t.get("district")),
                adcode=text(t.get("adcode")),
            )
            for t in tips
            if isinstance(t, dict) and text(t.get("name"))
        ][:limit]
        if not places:
            raise NotFoundError(message_text("amap_no_suggestions", query=query))
        return places

    async def geocode(self, address: str, city: str | None) -> list[Place]:
        """``/v3/geocode/geo``."""
        data = await self.call("/v3/geocode/geo", {"address": address, "city": city}, ttl=86400)
        places = []
        for g in _list(data, "geocodes"):
            if not isinstance(g, dict):
                continue
            formatted = text(g.get("formatted_address"))
            places.append(
                Place(
                    name=formatted or address,
                    location=location(g.get("location")),
                    address=formatted,
                    level=text(g.get("level")),
                    **_region(g),
                )
            )
        places = [p for p in places if p.location is not None]
        if not places:
            raise NotFoundError(message_text("amap_address_not_found", address=address))
        return places

    async def reverse_geocode(self, location_: Coordinate) -> Place:
        """``/v3/geocode/regeo``."""
        point = location_.to("gcj02")
        self._coverage(point)
        data = await self.call(
            "/v3/geocode/regeo", {"location": point.lnglat(), "extensions": "base"}, ttl=86400
        )
        regeo = _dict(data, "regeocode")
        comp = _dict(regeo, "addressComponent")
        formatted = text(regeo.get("formatted_address"))
        if not formatted:
            raise NotFoundError(message_text("amap_no_address_at_point"))
        return Place(name=formatted, location=point, address=formatted, **_region(comp))

    async def route(self, origin: Coordinate, destination: Coordinate, mode: RouteMode) -> Route:
        """``/v3/direction/driving`` or ``/v3/direction/walking``; first path."""
        a, b = origin.to("gcj02"), destination.to("gcj02")
        self._coverage(a)
        self._coverage(b)
        params = {"origin": a.lnglat(), "destination": b.lnglat()}
        if mode == "driving":
            params["extensions"] = "base"
        data = await self.call(f"/v3/direction/{mode}", params, ttl=600)
        route = _dict(data, "route")
        paths = _list(route, "paths")
        if not paths or not isinstance(paths[0], dict):
            raise NotFoundError(message_text("amap_no_route"))
        best = paths[0]
        steps: list[RouteStep]
        polyline: list[Coordinate]
        steps, polyline = [], []
        for s in _list(best, "steps"):
            if not isinstance(s, dict):
                continue
            steps.append(
                RouteStep(
                    instruction=text(s.get("instruction")),
                    road=text(s.get("road")),
                    distance_m=number(s.get("distance")),
                    duration_s=number(s.get("duration")),
                )
            )
            for pair in text(s.get("polyline")).split(";"):
                point = location(pair)
                if point is not None and (not polyline or polyline[-1] != point):
                    polyline.append(point)
        return Route(
            mode=mode,
            distance_m=number(best.get("distance")) or 0.0,
            duration_s=number(best.get("duration")) or 0.0,
            origin=location(route.get("origin")) or a,
            destination=location(route.get("destination")) or b,
            steps=steps,
            path=polyline or [a, b],
        )

    # ------------------------------------------------------------------ extras (amap_extra.py)

    async def distance(
        self, origins: list[Coordinate], destination: Coordinate, mode: Any
    ) -> DistanceMatrix:
        """``/v3/distance``: several origins to one destination."""
        return await amap_extra.distance(self, origins, destination, mode)

    async def cycling_route(self, origin: Coordinate, destination: Coordinate) -> Route:
        """``/v5/direction/bicycling``."""
        return await amap_extra.cycling_route(self, origin, destination)

    async def transit_route(
        self, origin: Coordinate, destination: Coordinate, city: str, cityd: str | None
    ) -> TransitRoutes:
        """``/v3/direction/transit/integrated``."""
        return await amap_extra.transit_route(self, origin, destination, city, cityd)

    async def ip_location(self, ip: str) -> IpLocation:
        """``/v3/ip``."""
        return await amap_extra.ip_location(self, ip)

    async def poi_detail(self, poi_id: str) -> PoiDetail:
        """``/v3/place/detail``."""
        return await amap_extra.poi_detail(self, poi_id)

    # ------------------------------------------------------------------ areas (amap_areas.py)

    async def area_boundary(self, name: str, city: str | None) -> AreaBoundary:
        """``/v3/config/district`` with its ``polyline``."""
        return await amap_areas.area_boundary(self, name, city)

    async def isochrone(self, center: Coordinate, minutes: int, mode: Any) -> Isochrone:
        """A grid of ``/v3/distance`` times (AMap has no isochrone API)."""
        return await amap_areas.isochrone(self, center, minutes, mode)

    async def pois_along(self, path: list[Coordinate], keywords: str | None,
                         category: str | None, radius_m: int, limit: int) -> list[Poi]:
        """``/v3/place/around`` at points sampled along ``path``."""
        return await amap_areas.pois_along(self, path, keywords, category, radius_m, limit)
    # ------------------------------------------------------------------ trips (amap_trips.py)

    async def travel_matrix(self, points: list[Coordinate], mode: TripMode) -> TravelMatrix:
        """``/v3/distance``, one call per place."""
        return await amap_trips.travel_matrix(self, points, mode)

    async def route_through(self, points: list[Coordinate], mode: TripMode) -> TripRoute:
        """``/v3/direction/driving`` with ``waypoints``; walking/cycling per leg."""
        return await amap_trips.route_through(self, points, mode)

    async def optimal_trip(self, points: list[Coordinate], mode: TripMode, *,
                           fixed_start: bool, fixed_end: bool, roundtrip: bool) -> OptimalTrip:
        """The matrix, the best order (exact for small trips), the route."""
        return await amap_trips.optimal_trip(self, points, mode, fixed_start=fixed_start,
                                             fixed_end=fixed_end, roundtrip=roundtrip)

    async def aclose(self) -> None:
        """Empty the cache (the HTTP client is the toolkit's to close)."""
        self.cache.clear()


def _first_page(limit: int) -> dict[str, str]:
    """Paging of the POI searches: the first page of up to 25, with details."""
    return {"offset": str(min(max(limit, 1), 25)), "page": "1", "extensions": "all"}


def _category_name(value: str) -> str:
    """``餐饮服务;咖啡厅;星巴克咖啡`` -> ``咖啡厅`` (the middle level reads best)."""
    parts = [p for p in value.split(";") if p]
    return parts[min(1, len(parts) - 1)] if parts else ""


def _amap_category(category: str | None) -> str | None:
    if not category:
        return None
    return _CATEGORY_ALIASES.get(category.strip().lower(), category.strip())
