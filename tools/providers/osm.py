"""Keyless OpenStreetMap services: Photon, Nominatim, Overpass, OSRM (all WGS-84).

- Photon ``/api?q&limit&lat&lon&bbox`` and ``/reverse``: GeoJSON FeatureCollection, built for
  search-as-you-type (autocomplete, keyword POIs).
- Nominatim ``/search`` and ``/reverse`` with ``format=jsonv2``: at most one request per second
  for the whole application (enforced by the shared ``HttpClient``), identifying User-Agent.
- Overpass ``/api/interpreter`` (POST ``data=<Overpass QL>``): POIs around a point.
- OSRM ``/route/v1/{profile}/{lon,lat;lon,lat}?overview=full&geometries=geojson&steps=true``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import Coordinate, haversine_m
from bailian_geo_agent.tools.errors import (
    InvalidParamsError,
    NotFoundError,
    ProviderUnavailableError,
)
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers.base import Place, Poi, Route, RouteMode, RouteStep

# category words (English/Chinese) -> Overpass tag filter
OSM_CATEGORIES: dict[str, str] = {}
for _words, _filter in [
    (
        "restaurant 餐厅 餐馆 饭店 餐饮 餐饮服务 美食 food",
        '["amenity"~"^(restaurant|fast_food|food_court)$"]',
    ),
    ("cafe coffee 咖啡 咖啡厅 咖啡馆", '["amenity"="cafe"]'),
    ("bar pub 酒吧", '["amenity"~"^(bar|pub)$"]'),
    ("hotel 酒店 宾馆 住宿 住宿服务", '["tourism"~"^(hotel|hostel|guest_house|motel)$"]'),
    ("hospital 医院", '["amenity"~"^(hospital|clinic)$"]'),
    ("pharmacy 药店", '["amenity"="pharmacy"]'),
    ("bank 银行", '["amenity"="bank"]'),
    ("atm 自动提款机 取款机", '["amenity"="atm"]'),
    ("parking 停车场", '["amenity"="parking"]'),
    ("fuel 加油站", '["amenity"="fuel"]'),
    ("school 学校", '["amenity"~"^(school|university|college)$"]'),
    ("supermarket 超市 便利店", '["shop"~"^(supermarket|convenience)$"]'),
    ("toilet toilets 厕所 公共厕所", '["amenity"="toilets"]'),
    ("subway metro 地铁 地铁站", '["railway"~"^(station|subway_entrance)$"]'),
    ("attraction 景点 风景名胜 scenic", '["tourism"~"^(attraction|viewpoint|museum)$"]'),
    ("museum 博物馆", '["tourism"="museum"]'),
    ("park 公园 公园广场", '["leisure"="park"]'),
]:
    for _word in _words.split():
        OSM_CATEGORIES[_word] = _filter
OSM_CATEGORIES["gas station"] = OSM_CATEGORIES["fuel"]
OSM_CATEGORIES["bus stop"] = '["highway"="bus_stop"]'
OSM_CATEGORIES["公交车站"] = OSM_CATEGORIES["bus stop"]
_GENERIC = '["name"]["~"^(amenity|shop|tourism|leisure)$"~"."]'


def _lnglat(coords: Any) -> Coordinate | None:
    if isinstance(coords, list) and len(coords) >= 2:
        lng, lat = coords[0], coords[1]
        if isinstance(lng, (int, float)) and isinstance(lat, (int, float)):
            return Coordinate(float(lng), float(lat), "wgs84")
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class Photon:
    """Photon geocoder (autocomplete and keyword search)."""

    service = "Photon"

    def __init__(self, http: HttpClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def search(
        self,
        query: str,
        limit: int,
        near: Coordinate | None = None,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> list[dict[str, Any]]:
        """Raw GeoJSON features for ``query``."""
        params: dict[str, Any] = {"q": query, "limit": str(limit)}
        if near is not None:
            p = near.to("wgs84")
            params |= {"lat": f"{p.lat:.5f}", "lon": f"{p.lng:.5f}"}
        if bbox is not None:
            params["bbox"] = ",".join(f"{v:.5f}" for v in bbox)
        data = await self.http.get_json(self.base_url + "/api", params, service=self.service)
        features = data.get("features") if isinstance(data, dict) else None
        return [f for f in features or [] if isinstance(f, dict)]

    @staticmethod
    def place(feature: dict[str, Any]) -> Place:
        """A feature as a Place."""
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        street = " ".join(str(props[k]) for k in ("street", "housenumber") if props.get(k))
        city = str(props.get("city") or props.get("county") or "")
        parts = [street, str(props.get("district") or ""), city, str(props.get("state") or "")]
        name = str(props.get("name") or street or city or "")
        return Place(
            name=name,
            location=_lnglat(geometry.get("coordinates")),
            address=", ".join(dict.fromkeys(p for p in parts if p and p != name)),
            province=str(props.get("state") or ""),
            city=city,
            district=str(props.get("district") or ""),
            country=str(props.get("country") or props.get("countrycode") or ""),
            postcode=str(props.get("postcode") or ""),
            level=str(props.get("type") or ""),
            source="Photon/OpenStreetMap",
        )

    @staticmethod
    def poi(feature: dict[str, Any], center: Coordinate | None) -> Poi:
        """A feature as a Poi."""
        place = Photon.place(feature)
        props = feature.get("properties") or {}
        distance = None
        if center is not None and place.location is not None:
            distance = haversine_m(center.to("wgs84"), place.location)
        return Poi(
            name=place.name,
            location=place.location,
            address=place.address,
            category=str(props.get("osm_value") or ""),
            distance_m=distance,
            city=place.city,
            district=place.district,
            id=f"{props.get('osm_type', '')}{props.get('osm_id', '')}",
            source="Photon/OpenStreetMap",
        )


class Nominatim:
    """Nominatim geocoder (addresses, reverse geocoding); one request per second."""

    service = "Nominatim"

    def __init__(self, http: HttpClient, base_url: str, interval: float = 1.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.interval = interval

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        return await self.http.get_json(
            self.base_url + path, {**params, "format": "jsonv2"}, service=self.service,
            min_interval=self.interval,
        )

    @staticmethod
    def _place(item: dict[str, Any]) -> Place:
        address: Any = item.get("address") if isinstance(item.get("address"), dict) else {}
        lat, lng = _number(item.get("lat")), _number(item.get("lon"))
        city = str(address.get("city") or address.get("town") or address.get("village") or "")
        display = str(item.get("display_name") or "")
        return Place(
            name=str(item.get("name") or display.split(",")[0]),
            location=Coordinate(lng, lat, "wgs84") if lat is not None and lng is not None else None,
            address=display,
            province=str(address.get("state") or ""),
            city=city,
            district=str(address.get("city_district") or address.get("suburb") or ""),
            country=str(address.get("country") or address.get("country_code") or ""),
            postcode=str(address.get("postcode") or ""),
            level=str(item.get("addresstype") or item.get("type") or ""),
            source="Nominatim/OpenStreetMap",
        )

    async def search(self, query: str, limit: int, language: str) -> list[Place]:
        """Address or name -> places (``/search``)."""
        params = {"q": query, "limit": str(limit), "addressdetails": "1",
                  "accept-language": language}
        data = await self._get("/search", params)
        items = data if isinstance(data, list) else []
        return [p for p in (self._place(i) for i in items if isinstance(i, dict)) if p.location]

    async def reverse(self, point: Coordinate, language: str) -> Place:
        """Point -> address (``/reverse``)."""
        p = point.to("wgs84")
        params = {"lat": f"{p.lat:.6f}", "lon": f"{p.lng:.6f}", "accept-language": language,
                  "addressdetails": "1"}
        data = await self._get("/reverse", params)
        if not isinstance(data, dict) or data.get("error") or not data.get("display_name"):
            raise NotFoundError(message_text("osm_no_address_at_point"))
        return self._place(data)


class Overpass:
    """Overpass API (POIs around a point)."""

    service = "Overpass"

    def __init__(self, http: HttpClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    @staticmethod
    def query(center: Coordinate, keywords: str | None, category: str | None, radius: int,
              limit: int) -> str:
        """The Overpass QL for a nearby search."""
        p = center.to("wgs84")
        around = f"(around:{int(radius)},{p.lat:.6f},{p.lng:.6f})"
        filters = Overpass.filters(keywords, category)
        return f"[out:json][timeout:20];nwr{filters}{around};out center tags {int(limit) * 3};"

    @staticmethod
    def filters(keywords: str | None, category: str | None) -> str:
        """The tag filters of a search by keywords and/or category."""
        tag = OSM_CATEGORIES.get((category or "").strip().lower())
        if tag is None and keywords and not category:
            tag = OSM_CATEGORIES.get(keywords.strip().lower())
            if tag is not None:
                keywords = None
        filters = tag or ""
        if keywords:
            safe = re.sub(r"[^\w\s-]", "", keywords).strip()
            if safe:
                filters += f'["name"~"{safe}",i]'
        return filters or _GENERIC

    async def nearby(self, center: Coordinate, keywords: str | None, category: str | None,
                     radius: int, limit: int) -> list[Poi]:
        """POIs within ``radius`` metres, nearest first."""
        ql = self.query(center, keywords, category, radius, limit)
        pois = await self.run(ql, center)
        pois.sort(key=lambda poi: poi.distance_m or 0)
        return pois[:limit]

    async def run(self, ql: str, origin: Coordinate) -> list[Poi]:
        """The named POIs an Overpass QL query finds, with distances from ``origin``."""
        data = await self.http.post_form_json(
            self.base_url + "/api/interpreter", {"data": ql}, service=self.service
        )
        if not isinstance(data, dict):
            raise ProviderUnavailableError(message_text("overpass_unparsable"))
        if "runtime error" in str(data.get("remark") or ""):
            raise ProviderUnavailableError(message_text("overpass_busy"))
        origin = origin.to("wgs84")
        pois = []
        for element in data.get("elements") or []:
            tags = element.get("tags") or {}
            lat = element.get("lat", (element.get("center") or {}).get("lat"))
            lng = element.get("lon", (element.get("center") or {}).get("lon"))
            if not tags.get("name") or lat is None or lng is None:
                continue
            point = Coordinate(float(lng), float(lat), "wgs84")
            keys = ("addr:street", "addr:housenumber")
            street = " ".join(str(tags[k]) for k in keys if k in tags)
            kind = next((tags[k] for k in ("amenity", "shop", "tourism", "leisure", "railway",
                                           "highway") if k in tags), "")
            pois.append(Poi(
                name=str(tags.get("name:zh") or tags["name"]),
                location=point,
                address=street or str(tags.get("addr:full") or ""),
                category=str(kind),
                distance_m=round(haversine_m(origin, point)),
                phone=str(tags.get("phone") or tags.get("contact:phone") or ""),
                city=str(tags.get("addr:city") or ""),
                id=f"{element.get('type', '')}/{element.get('id', '')}",
                source="Overpass/OpenStreetMap",
            ))
        return pois


_TURNS = {"left": "左转", "right": "右转", "slight left": "向左前方", "slight right": "向右前方",
          "sharp left": "向左后方急转", "sharp right": "向右后方急转", "straight": "直行",
          "uturn": "掉头"}


def instruction(step: dict[str, Any]) -> str:
    """A Chinese instruction from an OSRM step's maneuver (OSRM has no text instructions)."""
    maneuver = step.get("maneuver") or {}
    kind, modifier = maneuver.get("type", ""), maneuver.get("modifier", "")
    road = str(step.get("name") or "")
    onto = f"进入{road}" if road else ""
    if kind == "depart":
        return f"出发，沿{road}行驶" if road else "出发"
    if kind == "arrive":
        return "到达目的地"
    if kind in ("roundabout", "rotary"):
        return f"进入环岛，从第{maneuver.get('exit', 1)}个出口驶出{onto}"
    turn = _TURNS.get(modifier, "继续")
    return f"{turn}{onto}" if onto else turn


class Osrm:
    """OSRM routing (driving on one server, walking on another)."""

    service = "OSRM"

    def __init__(
        self, http: HttpClient, driving_url: str, walking_url: str, cycling_url: str | None = None
    ) -> None:
        self.http = http
        self.urls = {"driving": driving_url.rstrip("/"), "walking": walking_url.rstrip("/")}
        if cycling_url:
            self.urls["cycling"] = cycling_url.rstrip("/")

    async def route(
        self, origin: Coordinate, destination: Coordinate, mode: RouteMode | Literal["cycling"]
    ) -> Route:
        """The fastest route."""
        a, b = origin.to("wgs84"), destination.to("wgs84")
        profile = {"driving": "driving", "walking": "foot", "cycling": "bike"}[mode]
        path = f"/route/v1/{profile}/{a.lnglat()};{b.lnglat()}"
        params = {"overview": "full", "geometries": "geojson", "steps": "true"}
        data = await self.http.get_json(self.urls[mode] + path, params, service=self.service,
                                        error_json=True)
        code = data.get("code") if isinstance(data, dict) else None
        if code in ("NoRoute", "NoSegment"):
            raise NotFoundError(message_text("osrm_no_road_route"))
        if code != "Ok":
            reason = re.sub(r"[^A-Za-z]", "", str(code))
            raise InvalidParamsError(message_text("osrm_cannot_route", reason=reason))
        routes = data.get("routes") or []
        if not routes:
            raise NotFoundError(message_text("osrm_no_route"))
        best = routes[0]
        steps = []
        for leg in best.get("legs") or []:
            for s in leg.get("steps") or []:
                steps.append(RouteStep(instruction=instruction(s), road=str(s.get("name") or ""),
                                       distance_m=_number(s.get("distance")),
                                       duration_s=_number(s.get("duration"))))
        coords = (best.get("geometry") or {}).get("coordinates") or []
        line = [c for c in (_lnglat(x) for x in coords) if c is not None]
        waypoints = data.get("waypoints") or []
        start = _lnglat((waypoints[0] or {}).get("location")) if waypoints else None
        end = _lnglat((waypoints[-1] or {}).get("location")) if waypoints else None
        return Route(mode=mode, distance_m=_number(best.get("distance")) or 0.0,
                     duration_s=_number(best.get("duration")) or 0.0,
                     origin=start or a, destination=end or b, steps=steps,
                     path=line or [a, b], source="OSRM/OpenStreetMap")
