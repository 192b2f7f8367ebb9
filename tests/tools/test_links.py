"""Hand-off links (tools/links.py): each link's points in the system it expects, names escaped.

Reference point: Beijing, WGS-84 (116.377817, 39.911954) = GCJ-02 (116.384047, 39.913345), the
pair published with googollee/eviltransform (the same as tests/tools/test_coords.py). URL forms:
AMap's URI API guide (lbs.amap.com/api/uri-api: marker ``position=lon,lat``, navigation
``from/to/via=lon,lat,name`` with one ``via`` for driving, ``mode=car|bus|walk|ride``, search
``keyword``/``center``; ``coordinate=gaode``, ``callnative``, ``src``), AMap's app guide
(``amapuri://route/plan/`` with ``sourceApplication``, ``slat/slon/dlat/dlon``, ``dev=0``,
``t``, ``vian``/``vialons``/``vialats``/``vianames``), RFC 5870 ``geo:lat,lng`` with Android's
``q=lat,lng(label)``, and openstreetmap.org (``?mlat=&mlon=``; ``/directions?engine=&route=
lat,lng;lat,lng``, of which its page reads the first two points only).
"""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.links import (
    Link,
    family_from,
    family_of,
    links_dicts,
    place_links,
    route_links,
    search_links,
)

WGS = Coordinate(116.377817, 39.911954, "wgs84")
GCJ = Coordinate(116.38404722455657, 39.91334545536069, "gcj02")  # the same place
GCJ_TEXT = "116.384047,39.913345"
WGS_LAT_LNG = "39.911954,116.377817"
TRICKY = "A, B | C & D #1 天安门 (东)"


def _query(url: str) -> dict[str, str]:
    fields = parse_qs(urlsplit(url).query, keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


@pytest.mark.parametrize("point", [WGS, GCJ])
def test_amap_marker_is_gcj02_whatever_the_input_system(point: Coordinate) -> None:
    [link] = place_links(point, "天安门", "amap")
    assert link.kind == "amap_marker"
    assert link.url.startswith("https://uri.amap.com/marker?")
    fields = _query(link.url)
    assert fields["position"] == GCJ_TEXT
    assert fields["coordinate"] == "gaode"
    assert fields["callnative"] == "1"
    assert fields["src"] == "bailian-geo-agent"
    assert fields["name"] == "天安门"


@pytest.mark.parametrize("point", [WGS, GCJ])
def test_open_place_links_are_wgs84(point: Coordinate) -> None:
    geo, osm = place_links(point, "天安门", "open")
    assert geo.kind == "geo" and osm.kind == "osm_marker"
    assert geo.url.startswith(f"geo:{WGS_LAT_LNG}?q={WGS_LAT_LNG}(")
    assert unquote(geo.url).endswith("(天安门)")
    fields = _query(osm.url)
    assert (fields["mlat"], fields["mlon"]) == ("39.911954", "116.377817")
    assert osm.url.endswith(f"#map=17/{WGS_LAT_LNG.replace(',', '/')}")


def test_names_with_separators_are_escaped() -> None:
    [marker] = place_links(GCJ, TRICKY, "amap")
    assert _query(marker.url)["name"] == TRICKY  # its own parameter: kept whole
    assert "#" not in marker.url and " " not in marker.url and "|" not in marker.url
    geo, _osm = place_links(GCJ, TRICKY, "open")
    label = unquote(geo.url.split("(", 1)[1][:-1])
    assert "," not in label and "|" not in label  # no second coordinate, no list separator
    assert "&" in label and "#" in label and "天安门" in label
    assert geo.url.count("(") == 1 and geo.url.count(")") == 1  # the name's own are escaped
    assert "#" not in geo.url and " " not in geo.url
    nav, app = route_links([(GCJ, TRICKY), (WGS, "b"), (GCJ, "c,d")], "walking", "amap")
    fields = _query(nav.url)
    assert fields["from"].count(",") == 2 and fields["from"].startswith(GCJ_TEXT + ",")
    assert fields["to"] == f"{GCJ_TEXT},c d"
    app_fields = _query(app.url)
    assert "|" not in app_fields["sname"] and "&" in app_fields["sname"]
    assert "#" not in app.url
    [search] = search_links(TRICKY, None, "amap")
    assert _query(search.url)["keyword"] == TRICKY
    [geo_search] = search_links("咖啡 & 茶", None, "open")
    assert geo_search.url == "geo:0,0?q=%E5%92%96%E5%95%A1%20%26%20%E8%8C%B6"


def test_amap_navigation_modes_and_the_one_web_via() -> None:
    a, b, c = (GCJ, "起点"), (WGS, "途经"), (Coordinate(116.4, 39.92, "gcj02"), "终点")
    for mode, expected in (("driving", "car"), ("walking", "walk"), ("cycling", "ride"),
                           ("transit", "bus")):
        [nav] = route_links([a, c], mode, "amap")  # type: ignore[arg-type]
        assert nav.kind == "amap_navigation"
        fields = _query(nav.url)
        assert fields["mode"] == expected
        assert fields["from"] == f"{GCJ_TEXT},起点"
        assert fields["to"] == "116.400000,39.920000,终点"
        assert fields["coordinate"] == "gaode"
    [nav] = route_links([a, b, c], "driving", "amap")  # one stop: the web URI's via
    assert _query(nav.url)["via"] == f"{GCJ_TEXT},途经"
    nav, app = route_links([a, b, c], "walking", "amap")  # via is driving-only on the web
    assert "via" not in _query(nav.url)
    assert app.kind == "amap_app_route" and app.url.startswith("amapuri://route/plan/?")
    fields = _query(app.url)
    assert fields["sourceApplication"] == "bailian-geo-agent"
    assert fields["dev"] == "0" and fields["t"] == "2"
    assert (fields["slon"], fields["slat"]) == tuple(GCJ_TEXT.split(","))
    assert (fields["vian"], fields["vialons"], fields["vialats"], fields["vianames"]) == (
        "1", "116.384047", "39.913345", "途经")
    stops = [(Coordinate(116.30 + i / 100, 39.9, "gcj02"), f"s{i}") for i in range(5)]
    nav, app = route_links(stops, "driving", "amap")
    fields = _query(app.url)
    assert fields["vian"] == "3" and fields["vianames"] == "s1|s2|s3"
    assert fields["vialons"] == "116.310000|116.320000|116.330000"
    assert route_links(stops, "transit", "amap")[0].kind == "amap_navigation"
    assert len(route_links(stops, "transit", "amap")) == 1  # no stops by bus


def test_osm_directions_are_wgs84_one_link_per_leg() -> None:
    end = Coordinate(116.4, 39.92, "wgs84")
    [link] = route_links([(GCJ, "a"), (end, "b")], "cycling", "open")
    assert link.kind == "osm_directions" and link.label == "a → b"
    fields = _query(link.url)
    assert fields["engine"] == "fossgis_osrm_bike"
    assert fields["route"] == f"{WGS_LAT_LNG};39.920000,116.400000"
    three = route_links([(GCJ, "a"), (end, "b"), (WGS, "c")], "walking", "open")
    assert [x.label for x in three] == ["a → b", "b → c"]
    assert all(_query(x.url)["engine"] == "fossgis_osrm_foot" for x in three)
    assert _query(three[1].url)["route"] == f"39.920000,116.400000;{WGS_LAT_LNG}"
    with pytest.raises(ValueError):
        route_links([(GCJ, "a")], "driving", "open")


def test_search_links() -> None:
    [amap] = search_links("咖啡", WGS, "amap", city="北京")
    fields = _query(amap.url)
    assert fields == {"keyword": "咖啡", "src": "bailian-geo-agent", "coordinate": "gaode",
                      "callnative": "1", "center": GCJ_TEXT, "city": "北京"}
    [in_paris] = search_links("café", None, "open", city="Paris")
    assert in_paris.url == "geo:0,0?q=caf%C3%A9%20Paris"
    [geo] = search_links("咖啡", GCJ, "open")
    assert geo.url.startswith(f"geo:{WGS_LAT_LNG}?q=")
    assert unquote(geo.url).endswith("q=咖啡")


def test_families() -> None:
    assert family_of(SimpleNamespace(crs="gcj02")) == "amap"
    assert family_of(SimpleNamespace(crs="wgs84")) == "open"
    assert family_of(GCJ) == "amap" and family_of(WGS) == "open"
    amap = SimpleNamespace(crs="gcj02", name="高德地图")
    fallback = SimpleNamespace(crs="gcj02", name="高德地图", secondary=SimpleNamespace(crs="wgs84"))
    # the result's own point decides: the fallback's secondary answered outside China
    assert family_from(SimpleNamespace(location=WGS, source="x"), fallback) == "open"
    assert family_from(SimpleNamespace(origin=GCJ), fallback) == "amap"
    assert family_from(SimpleNamespace(location=None, source="Nominatim/OpenStreetMap"),
                       fallback) == "open"
    assert family_from(SimpleNamespace(location=None, source="高德地图"), fallback) == "amap"
    assert family_from(SimpleNamespace(location=None, source=""), amap) == "amap"


def test_wire_form() -> None:
    link = Link(kind="geo", label="x", url="geo:1,2")
    assert links_dicts([link]) == [{"kind": "geo", "label": "x", "url": "geo:1,2"}]


# --------------------------------------------------------------------------- the tools' artifacts


def _call(tool, args: dict):
    """Invoke like an agent does (a ToolCall): the ToolMessage, content and artifact."""
    return tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": args})


def _kinds(message) -> list[str]:
    return [link["kind"] for link in message.artifact["links"]]


SOUTH_STATION = "116.378517,39.865246"  # the fake AMap's 北京南站 and 故宫 (GCJ-02)
PALACE = "116.397026,39.918058"


def test_amap_lookups_carry_amap_links_in_gcj02(amap_tools) -> None:
    geocode = _call(amap_tools["geocode"], {"address": "故宫"})
    assert "http" not in geocode.content  # the model reads no URL (tokens)
    [marker] = geocode.artifact["links"]
    assert marker["kind"] == "amap_marker" and marker["label"] == "北京市东城区故宫博物院"
    assert _query(marker["url"])["position"] == PALACE

    suggest = _call(amap_tools["suggest_places"], {"text": "北京西"})
    assert set(_kinds(suggest)) == {"amap_marker"}

    reverse = _call(amap_tools["reverse_geocode"], {"lng": 116.482086, "lat": 39.990496})
    [here] = reverse.artifact["links"]
    assert _query(here["url"])["position"] == "116.482086,39.990496"
    wgs = Coordinate(116.482086, 39.990496, "gcj02").to("wgs84")
    reverse_wgs = _call(amap_tools["reverse_geocode"],
                        {"lng": wgs.lng, "lat": wgs.lat, "crs": "wgs84"})
    assert _query(reverse_wgs.artifact["links"][0]["url"])["position"] == "116.482086,39.990496"

    pois = _call(amap_tools["search_poi"], {"keywords": "咖啡", "near": "天安门"})
    assert _kinds(pois) == ["amap_marker"] * 3 + ["amap_search"]
    assert _query(pois.artifact["links"][0]["url"])["position"] == "116.458795,39.909398"
    assert _query(pois.artifact["links"][-1]["url"])["keyword"] == "咖啡"
    in_city = _call(amap_tools["search_poi"], {"keywords": "咖啡", "city": "北京", "limit": 1})
    assert _query(in_city.artifact["links"][-1]["url"])["city"] == "北京"

    detail = _call(amap_tools["poi_detail"], {"id": "B0FFG3MGDB"})
    assert _kinds(detail) == ["amap_marker"]

    ip = _call(amap_tools["ip_location"], {"ip": "114.247.50.2"})
    [city] = ip.artifact["links"]
    assert city["kind"] == "amap_marker"


@pytest.mark.parametrize(("name", "args", "mode"), [
    ("plan_route", {"origin": "北京南站", "destination": "故宫", "mode": "walking"}, "walk"),
    ("plan_route", {"origin": "北京南站", "destination": "故宫"}, "car"),
    ("cycling_route", {"origin": "北京南站", "destination": "故宫"}, "ride"),
    ("transit_route", {"origin": "北京南站", "destination": "故宫", "city": "北京"}, "bus"),
])
def test_amap_routes_carry_navigation_links(amap_tools, name: str, args: dict, mode: str) -> None:
    message = _call(amap_tools[name], args)
    assert message.status == "success" and "http" not in message.content
    [nav] = message.artifact["links"]
    fields = _query(nav["url"])
    assert nav["kind"] == "amap_navigation" and fields["mode"] == mode
    assert fields["from"].startswith(SOUTH_STATION + ",")
    assert fields["to"].startswith(PALACE + ",")


def test_open_lookups_carry_geo_and_osm_links_in_wgs84(open_tools) -> None:
    pois = _call(open_tools["search_poi"], {"near": "Eiffel Tower", "category": "cafe"})
    kinds = _kinds(pois)
    assert kinds[-1] == "geo" and set(kinds[:-1]) == {"geo", "osm_marker"}
    first_line = next(line for line in pois.content.splitlines() if "(wgs84)" in line)
    lng, lat = first_line.split("坐标：")[1].split(" (wgs84)")[0].split(",")
    osm = next(link for link in pois.artifact["links"] if link["kind"] == "osm_marker")
    assert (float(_query(osm["url"])["mlat"]), float(_query(osm["url"])["mlon"])) == (
        pytest.approx(float(lat), abs=1e-6), pytest.approx(float(lng), abs=1e-6))
    route = _call(open_tools["plan_route"], {"origin": "2.2945,48.8582",
                                             "destination": "2.3376,48.8606", "crs": "wgs84"})
    [directions] = route.artifact["links"]
    assert directions["kind"] == "osm_directions"
    assert _query(directions["url"]) == {"engine": "fossgis_osrm_car",
                                         "route": "48.858200,2.294500;48.860600,2.337600"}


def test_under_auto_the_answering_provider_decides(amap, open_provider, fake_amap) -> None:
    """AMap primary, the open providers behind it: a result the open side answered (abroad)
    gets open links in WGS-84, one AMap answered gets AMap links in GCJ-02."""
    from bailian_geo_agent.tools import GeoToolkit
    from bailian_geo_agent.tools.config import GeoConfig
    from bailian_geo_agent.tools.providers.fallback import FallbackProvider

    provider = FallbackProvider(amap, open_provider)
    tools = {t.name: t for t in GeoToolkit(config=GeoConfig(), provider=provider).get_tools()}
    abroad = {"origin": "2.2945,48.8582", "destination": "2.3376,48.8606", "crs": "wgs84"}
    cycling = _call(tools["cycling_route"], abroad)
    assert "OSRM/OpenStreetMap" in cycling.content
    [osm] = cycling.artifact["links"]
    assert osm["kind"] == "osm_directions" and "fossgis_osrm_bike" in osm["url"]
    paris = _call(tools["reverse_geocode"], {"lng": 2.2945, "lat": 48.8583, "crs": "wgs84"})
    assert "Nominatim" in paris.content
    assert {x["kind"] for x in paris.artifact["links"]} == {"geo", "osm_marker"}
    assert paris.artifact["links"][0]["url"].startswith("geo:48.858300,2.294500?")
    beijing = _call(tools["geocode"], {"address": "故宫"})
    assert _kinds(beijing) == ["amap_marker"]
