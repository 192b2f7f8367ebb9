"""Hand-off links: what a phone opens for a place, a route, a trip or a search.

On AMap data: AMap's URI API (``uri.amap.com``, GCJ-02, opens the AMap app when installed, the
web map otherwise) and the ``amapuri://`` app scheme where it adds something (a route with
stops). On open data: ``geo:`` URIs (RFC 5870, any map app) and openstreetmap.org pages (WGS-84).
Each link converts its points to the system it expects. ``Link.to_dict()`` is the wire form of
the ``links`` event and of a tool artifact's ``"links"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote, urlencode

from bailian_geo_agent.tools.coords import Coordinate
from pydantic import BaseModel, ConfigDict

SRC = "bailian-geo-agent"
"""The caller name the AMap URI API asks for (``src``)."""

LinkKind = Literal[
    "amap_marker", "amap_navigation", "amap_search", "amap_app_route",
    "geo", "osm_marker", "osm_directions",
]
Family = Literal["amap", "open"]
"""Which links a result gets: ``amap`` on AMap data (GCJ-02), ``open`` on open data (WGS-84)."""
TravelMode = Literal["driving", "walking", "cycling", "transit"]

_AMAP_MODE = {"driving": "car", "walking": "walk", "cycling": "ride", "transit": "bus"}
_AMAP_APP_MODE = {"driving": "0", "transit": "1", "walking": "2", "cycling": "3"}
_OSM_ENGINE = {"driving": "fossgis_osrm_car", "walking": "fossgis_osrm_foot",
               "cycling": "fossgis_osrm_bike", "transit": "fossgis_osrm_foot"}
MAX_APP_VIA = 16
"""Most stops between the ends of an ``amapuri://`` route."""


class Link(BaseModel):
    """A link a phone opens: its kind, a short label for its button, and the URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: LinkKind
    label: str
    url: str

    def to_dict(self) -> dict[str, Any]:
        """The wire form ``{"kind", "label", "url"}``."""
        return {"kind": self.kind, "label": self.label, "url": self.url}


def family_of(provider: object) -> Family:
    """``amap`` for a provider on GCJ-02 (AMap's data), else ``open``."""
    return "amap" if getattr(provider, "crs", "") == "gcj02" else "open"


def _gcj(point: Coordinate) -> str:
    p = point.to("gcj02")
    return f"{p.lng:.6f},{p.lat:.6f}"


def _wgs(point: Coordinate) -> Coordinate:
    return point.to("wgs84")


def _clean(name: str) -> str:
    """A name safe inside the URI API's comma-separated ``lng,lat,name`` values."""
    return name.replace(",", " ").replace("|", " ").strip()[:60]


def place_links(point: Coordinate, name: str, family: Family) -> list[Link]:
    """Links showing one place."""
    if family == "amap":
        query = urlencode({"position": _gcj(point), "name": _clean(name), "src": SRC,
                           "coordinate": "gaode", "callnative": "1"})
        return [Link(kind="amap_marker", label=name, url=f"https://uri.amap.com/marker?{query}")]
    p = _wgs(point)
    lat, lng = f"{p.lat:.6f}", f"{p.lng:.6f}"
    return [
        Link(kind="geo", label=name, url=f"geo:{lat},{lng}?q={lat},{lng}({quote(_clean(name))})"),
        Link(kind="osm_marker", label=name,
             url=f"https://www.openstreetmap.org/?mlat={lat}&mlon={lng}#map=17/{lat}/{lng}"),
    ]


def route_links(
    stops: Sequence[tuple[Coordinate, str]], mode: TravelMode, family: Family
) -> list[Link]:
    """Links navigating through ``stops`` (two or more ``(point, name)``, in order)."""
    if len(stops) < 2:
        raise ValueError("a route has at least two stops")
    (start, start_name), (end, end_name) = stops[0], stops[-1]
    label = f"{start_name} → {end_name}"
    if family == "amap":
        query = urlencode({
            "from": f"{_gcj(start)},{_clean(start_name)}", "to": f"{_gcj(end)},{_clean(end_name)}",
            "mode": _AMAP_MODE[mode], "src": SRC, "coordinate": "gaode", "callnative": "1",
        })
        links = [Link(kind="amap_navigation", label=label,
                      url=f"https://uri.amap.com/navigation?{query}")]
        via = stops[1:-1]
        if via and mode != "transit" and len(via) <= MAX_APP_VIA:
            # the web URI has no stops between the ends; the app's route does
            links.append(Link(kind="amap_app_route", label=label, url=_app_route(stops, mode)))
        return links
    points = ";".join(f"{_wgs(p).lat:.6f},{_wgs(p).lng:.6f}" for p, _ in stops)
    query = urlencode({"engine": _OSM_ENGINE[mode], "route": points})
    return [Link(kind="osm_directions", label=label,
                 url=f"https://www.openstreetmap.org/directions?{query}")]


def _app_route(stops: Sequence[tuple[Coordinate, str]], mode: TravelMode) -> str:
    """The ``amapuri://route/plan/`` URL of a route with stops (GCJ-02: ``dev=0``)."""
    start, end, via = stops[0], stops[-1], stops[1:-1]
    s, d = start[0].to("gcj02"), end[0].to("gcj02")
    fields = {
        "slat": f"{s.lat:.6f}", "slon": f"{s.lng:.6f}", "sname": _clean(start[1]),
        "dlat": f"{d.lat:.6f}", "dlon": f"{d.lng:.6f}", "dname": _clean(end[1]),
        "dev": "0", "t": _AMAP_APP_MODE[mode],
    }
    if via:
        points = [p.to("gcj02") for p, _ in via]
        fields |= {
            "vian": str(len(via)),
            "vialons": "|".join(f"{p.lng:.6f}" for p in points),
            "vialats": "|".join(f"{p.lat:.6f}" for p in points),
            "vianames": "|".join(_clean(name) for _, name in via),
        }
    return f"amapuri://route/plan/?{urlencode(fields)}"


def search_links(keyword: str, center: Coordinate | None, family: Family,
                 city: str | None = None) -> list[Link]:
    """Links searching ``keyword`` (near ``center`` when given)."""
    if family == "amap":
        fields = {"keyword": keyword, "src": SRC, "coordinate": "gaode", "callnative": "1"}
        if center is not None:
            fields["center"] = _gcj(center)
        if city:
            fields["city"] = city
        return [Link(kind="amap_search", label=keyword,
                     url=f"https://uri.amap.com/search?{urlencode(fields)}")]
    if center is None:
        return [Link(kind="geo", label=keyword, url=f"geo:0,0?q={quote(keyword)}")]
    p = _wgs(center)
    return [Link(kind="geo", label=keyword,
                 url=f"geo:{p.lat:.6f},{p.lng:.6f}?q={quote(keyword)}")]


def links_dicts(links: Sequence[Link]) -> list[dict[str, Any]]:
    """The wire form of several links."""
    return [link.to_dict() for link in links]
