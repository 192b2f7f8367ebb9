"""The notebooks' map: ``map_action`` commands drawn with folium (Leaflet), offline, and a reply's
hand-off links as buttons with QR codes (segno, made locally).

``render(actions, tiles)`` replays every command received so far (``set_view``, ``fit_bounds``,
``add_markers``, ``draw_route``, ``add_stops`` as numbered markers, ``draw_area`` as polygons with
their holes, ``clear``, ``layer`` show/hide/clear, each drawing's ``layer`` and ``color``) on AMap
tiles (GCJ-02) or OpenStreetMap tiles (WGS-84), converting every point to the tiles' system.
Leaflet comes from the package (``agent/server/web/vendor/leaflet``) as ``data:`` URLs, so the map
needs no CDN. ``links_html(links)`` is the HTML of a ``links`` event's links. Needs the
``notebooks`` extra (folium, segno).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from importlib.resources import files
from typing import Any, Literal

from bailian_geo_agent.prompts.catalogue import text
from bailian_geo_agent.tools.coords import CRS, Coordinate

Tiles = Literal["amap", "osm"]
AMAP_URL = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
TILES: dict[str, tuple[CRS, str, str]] = {
    "amap": ("gcj02", AMAP_URL, "© AMap (AutoNavi)"),
    "osm": ("wgs84", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap"),
}
"""Tile sets: (coordinate system of the tiles, URL template, attribution)."""
ROUTE_COLOR = "#2563eb"
AREA_COLOR = "#7c3aed"
STOP_COLOR = "#ea580c"
DEFAULT_LAYER = ""
"""Where a drawing without a ``layer`` goes (not named in the layer control)."""
CLEARS = {
    "all": {"add_markers", "draw_route", "add_stops", "draw_area"},
    "markers": {"add_markers"},
    "routes": {"draw_route"},
    "stops": {"add_stops"},
    "areas": {"draw_area"},
}
"""What each ``clear`` target removes."""
SAFE_SCHEMES = ("https://", "http://", "geo:", "amapuri://")
"""The only URLs shown as links (never ``javascript:``)."""


def latlng(lng: float, lat: float, crs: CRS, tiles: Tiles = "amap") -> list[float]:
    """``[lat, lng]`` for Leaflet, converted to the system of ``tiles``."""
    point = Coordinate(lng, lat, crs).to(TILES[tiles][0])
    return [point.lat, point.lng]


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def offline(m: Any) -> Any:
    """``m`` with the packaged Leaflet instead of folium's CDN scripts and styles."""
    leaflet = files("bailian_geo_agent.agent") / "server" / "web" / "vendor" / "leaflet"
    icons = {
        key: _data_url("image/png", (leaflet / "images" / name).read_bytes())
        for key, name in (("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
                          ("shadowUrl", "marker-shadow.png"))
    }
    setup = f"L.Icon.Default.imagePath = ''; L.Icon.Default.mergeOptions({json.dumps(icons)});"
    m.default_js = [
        ("leaflet", _data_url("text/javascript", (leaflet / "leaflet.js").read_bytes())),
        ("leaflet_icons", _data_url("text/javascript", setup.encode())),
    ]
    m.default_css = [("leaflet_css", _data_url("text/css", (leaflet / "leaflet.css").read_bytes()))]
    return m


def replay(actions: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None,
                                                      set[str]]:
    """The drawings still on the map, the last view command (none once something was drawn after
    it), and the hidden layers, after ``actions`` in order."""
    drawn: list[dict[str, Any]] = []
    view: dict[str, Any] | None = None
    hidden: set[str] = set()
    for a in actions:
        op = a.get("op")
        if op == "clear":
            gone = CLEARS[a.get("target", "all")]
            drawn = [d for d in drawn if d["op"] not in gone]
        elif op == "layer":
            name, action = a["name"], a["action"]
            if action == "clear":
                drawn = [d for d in drawn if d.get("layer") != name]
            elif action == "hide":
                hidden.add(name)
            else:
                hidden.discard(name)
        elif op in ("set_view", "fit_bounds"):
            view = a
        elif op in CLEARS["all"]:  # drawn after a view command: fit everything instead
            drawn, view = [*drawn, a], None
    return drawn, view, hidden


def _dot(color: str, label: str = "", size: int = 14) -> str:
    inner = html.escape(label)
    return (
        f'<div style="width:{size}px;height:{size}px;border-radius:50%;background:{color};'
        "border:2px solid #fff;box-shadow:0 0 2px #000;color:#fff;font:bold 11px/"
        f'{size}px sans-serif;text-align:center">{inner}</div>'
    )


def render(actions: Iterable[dict[str, Any]], tiles: Tiles = "amap") -> Any:
    """A folium map replaying the ``map_action`` commands received so far, on ``tiles``."""
    import folium

    drawn, view, hidden = replay(actions)
    start: dict[str, Any] = {"location": [39.909, 116.397], "zoom_start": 11}
    if view and view["op"] == "set_view":
        c = view["center"]
        start = {"location": latlng(c["lng"], c["lat"], c["crs"], tiles),
                 "zoom_start": view["zoom"]}
    _, url, attr = TILES[tiles]
    m = offline(folium.Map(tiles=None, **start))
    folium.TileLayer(url, attr=attr, subdomains="1234", max_zoom=18).add_to(m)
    groups: dict[str, Any] = {}

    def group(layer: str) -> Any:
        if layer not in groups:
            groups[layer] = folium.FeatureGroup(
                name=layer or None, show=layer not in hidden, control=bool(layer)
            ).add_to(m)
        return groups[layer]

    points: list[list[float]] = []
    for a in drawn:
        layer, color = a.get("layer") or DEFAULT_LAYER, a.get("color")
        target = group(layer)
        visible = layer not in hidden
        shown = points if visible else []  # a hidden layer does not steer the view
        if a["op"] == "add_markers":
            for p in a["markers"]:
                where = latlng(p["lng"], p["lat"], p["crs"], tiles)
                shown.append(where)
                tip = html.escape(" · ".join(filter(None, (p.get("label"), p.get("description")))))
                icon = folium.DivIcon(html=_dot(color), icon_size=(18, 18), icon_anchor=(9, 9)) \
                    if color else None
                folium.Marker(where, tooltip=tip, icon=icon).add_to(target)
        elif a["op"] == "add_stops":
            for p in sorted(a["stops"], key=lambda s: s["number"]):
                where = latlng(p["lng"], p["lat"], p["crs"], tiles)
                shown.append(where)
                tip = html.escape(f"{p['number']}. {p.get('label', '')}")
                icon = folium.DivIcon(html=_dot(color or STOP_COLOR, str(p["number"]), 20),
                                      icon_size=(24, 24), icon_anchor=(12, 12),
                                      class_name="geo-stop")
                folium.Marker(where, tooltip=tip, icon=icon).add_to(target)
        elif a["op"] == "draw_area":
            for polygon in a["polygons"]:  # outer ring first, then its holes
                rings = [[latlng(lng, lat, a["crs"], tiles) for lng, lat in ring]
                         for ring in polygon]
                shown.extend(rings[0])
                folium.Polygon(rings, color=color or AREA_COLOR, weight=2, fill=True,
                               fill_opacity=0.15, tooltip=html.escape(a.get("label", ""))
                               ).add_to(target)
        else:  # draw_route: the line, and green/red dots at its ends
            line = [latlng(lng, lat, a["crs"], tiles) for lng, lat in a["path"]]
            km = (a.get("distance_m") or 0) / 1000
            folium.PolyLine(line, weight=5, color=color or ROUTE_COLOR,  # type: ignore[no-untyped-call]
                            tooltip=f"{a.get('mode') or ''} {km:.1f} km").add_to(target)
            for end, dot in (("origin", "#16a34a"), ("destination", "#dc2626")):
                p = a[end]
                folium.Marker(latlng(p["lng"], p["lat"], p["crs"], tiles),
                              tooltip=html.escape(p.get("label") or ""),
                              icon=folium.DivIcon(html=_dot(dot), icon_size=(18, 18),
                                                  icon_anchor=(9, 9))).add_to(target)
            shown.extend(line)
    if any(groups):
        folium.LayerControl(collapsed=False).add_to(m)
    if view and view["op"] == "fit_bounds":
        sw, ne = view["bounds"]["southwest"], view["bounds"]["northeast"]
        m.fit_bounds([latlng(sw["lng"], sw["lat"], sw["crs"], tiles),
                      latlng(ne["lng"], ne["lat"], ne["crs"], tiles)])
    elif not view and points:
        m.fit_bounds(points)
    return m


def qr_svg(url: str, scale: int = 2) -> str:
    """An inline SVG QR code of ``url``, made locally (segno)."""
    import segno

    return str(segno.make(url, error="m").svg_inline(scale=scale))


def links_html(links: Sequence[dict[str, Any]]) -> str:
    """A ``links`` event's links as buttons, each with a QR code to scan with a phone; links
    whose scheme is not a map's (``https``, ``geo:``, ``amapuri://``) are left out."""
    from bailian_geo_agent.tools.links import link_line

    cards = []
    for link in links:
        url = str(link.get("url", ""))
        if not url.startswith(SAFE_SCHEMES):
            continue
        title = html.escape(link_line({**link, "url": ""}).rstrip(":： "))
        cards.append(
            '<div class="geo-link" style="display:inline-block;margin:4px;text-align:center;'
            'font:12px sans-serif;max-width:180px">'
            f"{qr_svg(url)}<br>"
            f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener" '
            'style="display:inline-block;padding:4px 8px;border-radius:6px;background:#2563eb;'
            f'color:#fff;text-decoration:none">{title}</a></div>'
        )
    if not cards:
        return ""
    heading = html.escape(text("notebook_links_title"))
    return f'<div class="geo-links"><div><b>{heading}</b></div>{"".join(cards)}</div>'


__all__ = ["TILES", "latlng", "links_html", "offline", "qr_svg", "render", "replay"]
