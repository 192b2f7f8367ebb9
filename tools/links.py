"""Hand-off links: what a phone opens for a place, a route, a trip or a search.

On AMap data: AMap's URI API (``uri.amap.com`` marker / navigation / search with
``coordinate=gaode``, GCJ-02; ``callnative=1`` opens the AMap app when installed, the web map
otherwise) and the Android app scheme ``amapuri://route/plan/`` where it adds something (a
route with more stops than the web URI's one ``via``). On open data: ``geo:`` URIs (RFC 5870
with Android's ``q=lat,lng(label)``, any map app) and openstreetmap.org pages (marker;
directions, which take two points, so one link per leg), all WGS-84. Each link converts its
points to the system it expects. ``Link.to_dict()`` is the wire form of the ``links`` event and
of a tool artifact's ``"links"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal, get_args
from urllib.parse import quote, urlencode

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import Coordinate
from pydantic import BaseModel, ConfigDict

SRC = "bailian-geo-agent"
"""The caller name the AMap URI API asks for (``src``)."""

LinkKind = Literal[
    "amap_marker", "amap_navigation", "amap_search", "amap_app_route",
    "geo", "osm_marker", "osm_directions",
]
_KINDS = frozenset(get_args(LinkKind))
Family = Literal["amap", "open"]
"""Which links a result gets: ``amap`` on AMap data (GCJ-02), ``open`` on open data (WGS-84)."""
TravelMode = Literal["driving", "walking", "cycling", "transit"]

_AMAP_MODE = {"driving": "car", "walking": "walk", "cycling": "ride", "transit": "bus"}
_AMAP_APP_MODE = {"driving": "0", "transit": "1", "walking": "2", "cycling": "3"}
_OSM_ENGINE = {"driving": "fossgis_osrm_car", "walking": "fossgis_osrm_foot",
               "cycling": "fossgis_osrm_bike", "transit": "fossgis_osrm_foot"}
MAX_APP_VIA = 16
"""Most stops between the ends of an ``amapuri://`` route."""
MAX_LEGS = 24
"""Most openstreetmap.org directions links of one route (one per leg)."""


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
    """``amap`` for a provider (or a point) on GCJ-02 (AMap's data), else ``open``."""
    return "amap" if getattr(provider, "crs", "") == "gcj02" else "open"


def family_from(result: object, provider: object) -> Family:
    """The family of one result: by the system of its own point (``location``, ``origin``,
    ``center``); else by who answered it (under a ``FallbackProvider``, a source that is not
    the primary's name is the secondary's); else by ``provider``."""
    for attr in ("location", "origin", "center"):
        point = getattr(result, attr, None)
        if isinstance(point, Coordinate):
            return family_of(point)
    secondary = getattr(provider, "secondary", None)
    source = getattr(result, "source", "")
    if secondary is not None and source and source != getattr(provider, "name", source):
        return family_of(secondary)
    return family_of(provider)


def _query(fields: dict[str, str]) -> str:
    """A query string with ``%20`` for spaces and the URI API's commas kept as they are."""
    return urlencode(fields, quote_via=quote, safe=",")


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
        query = _query({"position": _gcj(point), "name": name.strip()[:60], "src": SRC,
                        "coordinate": "gaode", "callnative": "1"})
        return [Link(kind="amap_marker", label=name, url=f"https://uri.amap.com/marker?{query}")]
    p = _wgs(point)
    lat, lng = f"{p.lat:.6f}", f"{p.lng:.6f}"
    label = quote(_clean(name), safe="")
    return [
        Link(kind="geo", label=name, url=f"geo:{lat},{lng}?q={lat},{lng}({label})"),
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
        via = stops[1:-1]
        fields = {"from": f"{_gcj(start)},{_clean(start_name)}",
                  "to": f"{_gcj(end)},{_clean(end_name)}"}
        if len(via) == 1 and mode == "driving":  # the web URI's one stop, driving only
            fields["via"] = f"{_gcj(via[0][0])},{_clean(via[0][1])}"
        fields |= {"mode": _AMAP_MODE[mode], "src": SRC, "coordinate": "gaode",
                   "callnative": "1"}
        links = [Link(kind="amap_navigation", label=label,
                      url=f"https://uri.amap.com/navigation?{_query(fields)}")]
        if via and "via" not in fields and mode != "transit" and len(via) <= MAX_APP_VIA:
            # more stops than the web URI takes: the app's route has them all
            links.append(Link(kind="amap_app_route", label=label, url=_app_route(stops, mode)))
        return links
    # openstreetmap.org's directions take two points: one link per leg
    legs = list(pairwise(stops))[:MAX_LEGS]
    return [_osm_directions(a, b, mode, label if len(legs) == 1 else f"{a[1]} → {b[1]}")
            for a, b in legs]


def _osm_directions(a: tuple[Coordinate, str], b: tuple[Coordinate, str], mode: TravelMode,
                    label: str) -> Link:
    p, q = _wgs(a[0]), _wgs(b[0])
    query = urlencode({"engine": _OSM_ENGINE[mode],
                       "route": f"{p.lat:.6f},{p.lng:.6f};{q.lat:.6f},{q.lng:.6f}"})
    return Link(kind="osm_directions", label=label,
                url=f"https://www.openstreetmap.org/directions?{query}")


def _app_route(stops: Sequence[tuple[Coordinate, str]], mode: TravelMode) -> str:
    """The ``amapuri://route/plan/`` URL of a route with stops (GCJ-02: ``dev=0``)."""
    start, end, via = stops[0], stops[-1], stops[1:-1]
    s, d = start[0].to("gcj02"), end[0].to("gcj02")
    fields = {
        "sourceApplication": SRC,
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
    return f"amapuri://route/plan/?{urlencode(fields, quote_via=quote)}"


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
                     url=f"https://uri.amap.com/search?{_query(fields)}")]
    if center is None:  # no point to search around: the city in the words instead
        words = f"{keyword} {city}" if city else keyword
        return [Link(kind="geo", label=keyword, url=f"geo:0,0?q={quote(words, safe='')}")]
    p = _wgs(center)
    return [Link(kind="geo", label=keyword,
                 url=f"geo:{p.lat:.6f},{p.lng:.6f}?q={quote(keyword, safe='')}")]


def links_dicts(links: Sequence[Link]) -> list[dict[str, Any]]:
    """The wire form of several links."""
    return [link.to_dict() for link in links]


def link_line(link: dict[str, Any]) -> str:
    """One wire-form link as a line of text: what it opens, its label and its URL."""
    kind = str(link.get("kind", ""))
    name = message_text(f"link_kind_{kind}") if kind in _KINDS else kind
    return message_text("links_line", kind=name, label=link.get("label", ""),
                        url=link.get("url", ""))


def links_text(links: Sequence[dict[str, Any]]) -> str:
    """A heading and one line per link (for clients that show text only); empty for none."""
    if not links:
        return ""
    return "\n".join([message_text("links_heading"), *(link_line(x) for x in links)])


def links_artifact(links: Sequence[Link]) -> dict[str, Any]:
    """A lookup tool's artifact: ``{"links": [...]}``."""
    return {"links": links_dicts(links)}


def places_links(items: Sequence[Any], provider: object) -> list[Link]:
    """Place links of every result with a point (``location``) and a ``name``, each in the
    family of its own data."""
    links: list[Link] = []
    for item in items:
        point = getattr(item, "location", None)
        if isinstance(point, Coordinate):
            links += place_links(point, str(getattr(item, "name", "")), family_from(item, provider))
    return links
