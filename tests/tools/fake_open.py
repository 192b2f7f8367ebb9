"""Loopback fake of the keyless providers (Open-Meteo, Photon, Nominatim, Overpass, OSRM).

One aiohttp server; each provider lives under its own path prefix (``PREFIXES``), so the base URL
of provider X is ``server.url(X)``. Answers follow the documented formats (protocols.md section
4; open-meteo.com/en/docs, photon.komoot.io, nominatim.org/release-docs/latest/api/Output,
wiki.openstreetmap.org/wiki/Overpass_API, project-osrm.org/docs/v5.24.0/api): WGS-84 everywhere,
Open-Meteo without ``results`` when nothing matched, Photon GeoJSON, Nominatim ``jsonv2``,
Overpass ``elements`` with ``center`` for ways, OSRM ``code``/``routes``/``waypoints``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from bailian_geo_agent.tools import config

from tests.fakes.loopback import LoopbackServer
from tests.tools import fake_areas, fake_osrm_trips

PREFIXES = {
    "open-meteo": config.DEFAULT_OPEN_METEO_BASE_URL,
    "open-meteo-geocoding": config.DEFAULT_OPEN_METEO_GEOCODING_URL,
    "photon": config.DEFAULT_PHOTON_BASE_URL,
    "nominatim": config.DEFAULT_NOMINATIM_BASE_URL,
    "overpass": config.DEFAULT_OVERPASS_BASE_URL,
    "osrm": config.DEFAULT_OSRM_BASE_URL,
    "osrm-foot": config.DEFAULT_OSRM_WALKING_BASE_URL,
    "osrm-bike": config.DEFAULT_OSRM_CYCLING_BASE_URL,
    "valhalla": config.DEFAULT_VALHALLA_BASE_URL,
}

GEONAMES = {
    "paris": {"id": 2988507, "name": "Paris", "latitude": 48.85341, "longitude": 2.3488,
              "elevation": 42.0, "feature_code": "PPLC", "country_code": "FR",
              "admin1_id": 3012874, "admin2_id": 2968815, "timezone": "Europe/Paris",
              "population": 2138551, "country_id": 3017382, "country": "France",
              "admin1": "Île-de-France", "admin2": "Paris"},
    "北京": {"id": 1816670, "name": "北京市", "latitude": 39.9075, "longitude": 116.39723,
             "elevation": 49.0, "feature_code": "PPLC", "country_code": "CN",
             "admin1_id": 2038349, "timezone": "Asia/Shanghai", "population": 18960744,
             "country_id": 1814991, "country": "中国", "admin1": "北京市"},
}

EIFFEL = (2.2944813, 48.8582602)
LOUVRE = (2.3376441, 48.8606111)


def _feature(lng: float, lat: float, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lng, lat]},
            "properties": props}


PHOTON_FEATURES = {
    "eiffel": [
        _feature(*EIFFEL, osm_type="W", osm_id=5013364, osm_key="tourism", osm_value="attraction",
                 type="house", name="Tour Eiffel", housenumber="5", street="Avenue Anatole France",
                 postcode="75007", district="Gros-Caillou", city="Paris", state="Île-de-France",
                 country="France", countrycode="FR", extent=[2.2933, 48.8590, 2.2956, 48.8576]),
        _feature(2.2950, 48.8570, osm_type="N", osm_id=1076340141, osm_key="amenity",
                 osm_value="restaurant", type="house", name="Eiffel Tower Restaurant",
                 city="Paris", state="Île-de-France", country="France", countrycode="FR"),
    ],
    "café": [
        _feature(2.3522, 48.8566, osm_type="N", osm_id=3461828223, osm_key="amenity",
                 osm_value="cafe", type="house", name="Café de l'Hôtel de Ville",
                 street="Rue de Rivoli", city="Paris", country="France", countrycode="FR"),
        _feature(2.3330, 48.8541, osm_type="N", osm_id=256013224, osm_key="amenity",
                 osm_value="cafe", type="house", name="Café de Flore", housenumber="172",
                 street="Boulevard Saint-Germain", city="Paris", country="France",
                 countrycode="FR"),
    ],
}

NOMINATIM = {
    "eiffel": {"place_id": 84294211, "licence": "Data © OpenStreetMap contributors, ODbL 1.0. "
               "http://osm.org/copyright", "osm_type": "way", "osm_id": 5013364,
               "lat": "48.8582602", "lon": "2.2944813", "category": "man_made", "type": "tower",
               "place_rank": 30, "importance": 0.6205, "addresstype": "man_made",
               "name": "Tour Eiffel", "display_name": "Tour Eiffel, 5, Avenue Anatole France, "
               "Quartier du Gros-Caillou, Paris 7e Arrondissement, Paris, Île-de-France, "
               "France métropolitaine, 75007, France",
               "address": {"man_made": "Tour Eiffel", "house_number": "5",
                           "road": "Avenue Anatole France", "suburb": "Paris 7e Arrondissement",
                           "city": "Paris", "state": "Île-de-France", "postcode": "75007",
                           "country": "France", "country_code": "fr"},
               "boundingbox": ["48.8574753", "48.8590465", "2.2933084", "2.2956897"]},
}

OVERPASS_ELEMENTS = [
    {"type": "node", "id": 3461828223, "lat": 48.8583, "lon": 2.2960,
     "tags": {"amenity": "cafe", "name": "Café Le Campanella", "addr:street": "Avenue Rapp",
              "addr:housenumber": "1", "phone": "+33 1 45 55 00 00"}},
    {"type": "way", "id": 123456789, "center": {"lat": 48.8570, "lon": 2.2990},
     "tags": {"amenity": "cafe", "name": "Le Café du Marché",
              "opening_hours": "Mo-Su 07:00-23:00"}},
    {"type": "node", "id": 998877, "lat": 48.8590, "lon": 2.2930, "tags": {"amenity": "bench"}},
]


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def geocoding(params: dict[str, str], tail: str) -> tuple[int, Any]:
    name = params.get("name", "").strip()
    hit = GEONAMES.get(name.lower()) if len(name) >= 2 else None
    body: dict[str, Any] = {"generationtime_ms": 0.61}
    if hit:
        body = {"results": [hit], **body}
    return 200, body


def forecast(params: dict[str, str], tail: str) -> tuple[int, Any]:
    try:
        lat, lng = float(params["latitude"]), float(params["longitude"])
    except (KeyError, ValueError):
        return 400, {"error": True, "reason": "Parameter 'latitude' is missing"}
    days = int(params.get("forecast_days", "7"))
    tz = ("Europe/Paris", 7200, "GMT+2") if lng < 60 else ("Asia/Shanghai", 28800, "GMT+8")
    dates = [f"2025-05-{20 + i:02d}" for i in range(days)]
    return 200, {
        "latitude": round(lat, 4), "longitude": round(lng, 4), "generationtime_ms": 0.09,
        "utc_offset_seconds": tz[1], "timezone": tz[0], "timezone_abbreviation": tz[2],
        "elevation": 38.0,
        "current_units": {"time": "iso8601", "interval": "seconds", "temperature_2m": "°C",
                          "relative_humidity_2m": "%", "weather_code": "wmo code",
                          "wind_speed_10m": "km/h", "wind_direction_10m": "°"},
        "current": {"time": "2025-05-20T14:00", "interval": 900, "temperature_2m": 21.4,
                    "relative_humidity_2m": 52, "weather_code": 2, "wind_speed_10m": 11.2,
                    "wind_direction_10m": 225},
        "daily_units": {"time": "iso8601", "weather_code": "wmo code",
                        "temperature_2m_max": "°C", "temperature_2m_min": "°C",
                        "precipitation_sum": "mm", "wind_speed_10m_max": "km/h",
                        "wind_direction_10m_dominant": "°"},
        "daily": {"time": dates, "weather_code": [2, 61, 3, 0, 1, 80, 95][:days] + [0] * (days - 7),
                  "temperature_2m_max": [23.1, 19.8, 21.0, 25.2, 26.0, 22.4, 24.0][:days]
                  + [20.0] * (days - 7),
                  "temperature_2m_min": [13.2, 12.5, 11.9, 14.0, 15.1, 14.2, 13.0][:days]
                  + [10.0] * (days - 7),
                  "precipitation_sum": [0.0, 6.4, 0.2, 0.0, 0.0, 3.1, 8.0][:days]
                  + [0.0] * (days - 7),
                  "wind_speed_10m_max": [14.8, 20.2, 12.0, 9.7, 10.1, 18.0, 22.3][:days]
                  + [10.0] * (days - 7),
                  "wind_direction_10m_dominant": [220, 250, 270, 180, 160, 200, 240][:days]
                  + [0] * (days - 7)},
    }


def photon_api(params: dict[str, str], tail: str) -> tuple[int, Any]:
    q = params.get("q", "").lower()
    limit = int(params.get("limit", "15"))
    features: list = []
    for word, items in PHOTON_FEATURES.items():
        if word in q or (word == "café" and "cafe" in q):
            features = copy.deepcopy(items)
    return 200, {"type": "FeatureCollection", "features": features[:limit]}


def nominatim(params: dict[str, str], tail: str) -> tuple[int, Any]:
    if tail == "/reverse":
        lat, lng = float(params["lat"]), float(params["lon"])
        if _distance((lng, lat), EIFFEL) > 5000:
            return 200, {"error": "Unable to geocode"}
        return 200, copy.deepcopy(NOMINATIM["eiffel"])
    if tail == "/lookup":  # osm_ids=W5013364,N1 (extratags: unverified tag selection)
        ids = set(params.get("osm_ids", "").split(","))
        found = [v for v in NOMINATIM.values() if f"{v['osm_type'][0].upper()}{v['osm_id']}" in ids]
        return 200, [copy.deepcopy(v) | {"extratags": {"opening_hours": "Mo-Su 09:30-23:45",
                                                       "website": "https://www.toureiffel.paris/",
                                                       "wikipedia": "fr:Tour Eiffel"}}
                     for v in found]
    q = params.get("q", "").lower()
    if params.get("polygon_geojson") == "1":  # areas: the outlines (fake_areas.py)
        return 200, fake_areas.nominatim_areas(q)
    return 200, [copy.deepcopy(v) for k, v in NOMINATIM.items() if k in q]


def overpass(params: dict[str, str], tail: str) -> tuple[int, Any]:
    elements = copy.deepcopy(OVERPASS_ELEMENTS)
    line = fake_areas.around_line(params.get("data", ""))
    if line is not None:  # around a line: only what is within its radius (fake_areas.py)
        elements = [e for e in elements if fake_areas.near_line(e, *line)]
    return 200, {"version": 0.6, "generator": "Overpass API 0.7.62.1 084b4234",
                 "osm3s": {"timestamp_osm_base": "2025-05-20T12:00:00Z",
                           "copyright": "The data included in this document is from "
                           "www.openstreetmap.org. The data is made available under ODbL."},
                 "elements": elements}


def osrm(params: dict[str, str], tail: str) -> tuple[int, Any]:
    trip = fake_osrm_trips.answer(params, tail)  # /table, /trip, /route through 3+ places
    if trip is not None:
        return trip
    try:
        coords = tail.rsplit("/", 1)[1].split(";")
        a, b = (tuple(float(v) for v in c.split(",")) for c in coords)
    except (IndexError, ValueError):
        return 400, {"code": "InvalidUrl", "message": "URL string malformed close to position 1"}
    if min(a[1], b[1]) < -60:
        return 400, {"code": "NoRoute", "message": "Impossible route between points"}
    foot = "/foot/" in tail
    mid = (a[0], b[1])
    d1, d2 = _distance(a, mid) * 1.2, _distance(mid, b) * 1.2
    speed = 1.4 if foot else 4.5 if "/bike/" in tail else 9.0

    def step(kind: str, modifier: str | None, name: str, loc: tuple, dist: float,
             line: list) -> dict:
        maneuver = {"type": kind, "location": list(loc), "bearing_before": 0, "bearing_after": 90}
        if modifier:
            maneuver["modifier"] = modifier
        return {"geometry": {"type": "LineString", "coordinates": line}, "maneuver": maneuver,
                "mode": "walking" if foot else "driving", "name": name, "distance": round(dist, 1),
                "duration": round(dist / speed, 1), "weight": round(dist / speed, 1),
                "driving_side": "right", "intersections": []}

    steps = [step("depart", None, "Avenue Anatole France", a, d1, [list(a), list(mid)]),
             step("turn", "left", "Quai Branly", mid, d2, [list(mid), list(b)]),
             step("arrive", None, "", b, 0, [list(b), list(b)])]
    total = d1 + d2
    route = {"geometry": {"type": "LineString", "coordinates": [list(a), list(mid), list(b)]},
             "legs": [{"steps": steps, "summary": "Avenue Anatole France, Quai Branly",
                       "weight": round(total / speed, 1), "duration": round(total / speed, 1),
                       "distance": round(total, 1)}],
             "weight_name": "routability", "weight": round(total / speed, 1),
             "duration": round(total / speed, 1), "distance": round(total, 1)}
    waypoints = [{"hint": "AAAA", "distance": 3.2, "name": "Avenue Anatole France",
                  "location": list(a)},
                 {"hint": "BBBB", "distance": 1.1, "name": "Quai Branly", "location": list(b)}]
    return 200, {"code": "Ok", "routes": [route], "waypoints": waypoints}


Handler = Callable[[dict[str, str], str], tuple[int, Any]]
HANDLERS: dict[str, Handler] = {
    "open-meteo": forecast,
    "open-meteo-geocoding": geocoding,
    "photon": photon_api,
    "nominatim": nominatim,
    "overpass": overpass,
    "osrm": osrm,
    "osrm-foot": osrm,
    "osrm-bike": osrm,
    "valhalla": fake_areas.valhalla,
}


@dataclass
class OpenRequest:
    """One recorded request: provider prefix, path below it, parameters (query + form)."""

    provider: str
    path: str
    params: dict[str, str]
    method: str
    user_agent: str


class FakeOpenProviders(LoopbackServer):
    """The server. ``override(provider, status, body)`` replaces a provider's answers."""

    thread_name = "fake-open-geo"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[OpenRequest] = []
        self.overrides: dict[str, tuple[int, Any]] = {}

    def url(self, provider: str) -> str:
        """Base URL of ``provider`` on this server."""
        return f"http://127.0.0.1:{self.port}/{provider}"

    def env(self) -> dict[str, str]:
        """Environment variables pointing every open provider here."""
        names = {"open-meteo": "OPEN_METEO_BASE_URL",
                 "open-meteo-geocoding": "OPEN_METEO_GEOCODING_URL",
                 "photon": "PHOTON_BASE_URL", "nominatim": "NOMINATIM_BASE_URL",
                 "overpass": "OVERPASS_BASE_URL", "osrm": "OSRM_BASE_URL",
                 "osrm-foot": "OSRM_WALKING_BASE_URL", "osrm-bike": "OSRM_CYCLING_BASE_URL",
                 "valhalla": "VALHALLA_BASE_URL"}
        return {var: self.url(p) for p, var in names.items()}

    def override(self, provider: str, status: int, body: Any) -> None:
        """Answer every request to ``provider`` with ``status`` and JSON ``body``."""
        self.overrides[provider] = (status, body)

    def reset(self) -> None:
        """Default answers, empty log."""
        self.overrides.clear()
        self.requests.clear()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{provider}{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        provider, tail = request.match_info["provider"], request.match_info["tail"]
        params = dict(request.query)
        if request.method == "POST" and request.content_type == "application/json":
            params["json"] = await request.text()  # Valhalla's JSON body
        elif request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        self.requests.append(OpenRequest(provider, tail, params, request.method,
                                         request.headers.get("User-Agent", "")))
        if provider in self.overrides:
            status, body = self.overrides[provider]
        elif provider in HANDLERS:
            status, body = HANDLERS[provider](params, tail)
        else:
            status, body = 404, {"error": "not found"}
        return web.Response(text=json.dumps(body, ensure_ascii=False), status=status,
                            content_type="application/json")
