"""area_boundary and reachable_area over both providers' fakes, the geometry beneath them, and
their errors in both languages."""

from __future__ import annotations

import json

import pytest
from bailian_geo_agent.prompts.catalogue import use_language
from bailian_geo_agent.tools import geometry
from bailian_geo_agent.tools.areas import AreaBoundaryTool, ReachableAreaTool
from bailian_geo_agent.tools.map_commands import MAX_AREA_POINTS, parse_map_action
from shapely.geometry import MultiPolygon, Polygon

from tests.fakes.amap_areas import DISTRICT_POLYLINES
from tests.tools.fake_areas import VALHALLA_UTRECHT


async def call(tool, **args):
    """The tool's content and artifact, as the agent gets them (a tool call)."""
    message = await tool.ainvoke({"type": "tool_call", "id": "call_1", "name": tool.name,
                                  "args": args})
    return message.content, message.artifact


def commands(artifact) -> list:
    return [parse_map_action(c) for c in artifact["map_actions"]]


# ------------------------------------------------------------------------------ geometry


def square(w: float, s: float, e: float, n: float) -> list[tuple[float, float]]:
    return [(w, s), (e, s), (e, n), (w, n), (w, s)]


def test_an_outline_of_a_thousand_islands_is_read_in_well_under_a_second():
    # a coastal province's polyline has hundreds of rings: united one by one into a growing
    # shape they took 8 s of the event loop (quadratic), pairwise in rounds 0.1 s
    import math
    import time

    def ring(cx: float, cy: float, r: float, n: int) -> list[tuple[float, float]]:
        return [(cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n))
                for k in range(n)]

    islands = [ring(120 + (i % 40) * 0.05, 30 + (i // 40) * 0.05, 0.02, 50) for i in range(1000)]
    lake = ring(125, 30, 0.5, 200)
    began = time.perf_counter()
    area = geometry.from_rings([ring(125, 30, 1, 2000), lake, *islands])
    assert time.perf_counter() - began < 2.0
    assert len(area.geoms) == 1001  # the mainland (with its lake as a hole) and the islands
    mainland = max(area.geoms, key=lambda p: p.area)
    assert len(mainland.interiors) == 1


def test_rings_without_roles_follow_the_even_odd_rule():
    outer, hole, island = square(0, 0, 0.1, 0.1), square(0.02, 0.02, 0.08, 0.08), \
        square(0.04, 0.04, 0.06, 0.06)
    area = geometry.from_rings([outer, hole, island, square(0.2, 0, 0.3, 0.1)])
    assert len(area.geoms) == 3  # the outer ring with its hole, the island, the other block
    assert geometry.relation(area, 0.01, 0.01)[0] is True
    assert geometry.relation(area, 0.03, 0.03)[0] is False  # in the hole
    assert geometry.relation(area, 0.05, 0.05)[0] is True  # on the island
    assert geometry.relation(area, 0.25, 0.05)[0] is True  # the second part
    assert geometry.relation(area, 0.15, 0.05)[0] is False  # between the parts
    coordinates = geometry.to_coordinates(area)
    assert all(ring[0] == ring[-1] for polygon in coordinates for ring in polygon)
    assert sorted(len(p) for p in coordinates) == [1, 1, 2]


def test_a_point_on_the_boundary_is_inside_at_distance_zero_and_near_it_is_measured():
    area = geometry.from_rings([square(116.0, 39.0, 116.1, 39.1)])
    inside, distance = geometry.relation(area, 116.1, 39.05)
    assert inside is True and distance < 0.01
    inside, distance = geometry.relation(area, 116.1 + 0.0001, 39.05)  # ~8.6 m east
    assert inside is False and 8 < distance < 9.5


def test_simplify_keeps_the_budget_the_shape_and_its_holes():
    area = geometry.from_rings(
        [line for line in (_parse(DISTRICT_POLYLINES["朝阳区"]))])
    assert geometry.vertex_count(area) == 3001
    small = geometry.simplify(area, 500)
    assert geometry.vertex_count(small) <= 500 and small.is_valid
    assert abs(geometry.area_km2(small) / geometry.area_km2(area) - 1) < 0.01
    holed = MultiPolygon([Polygon(square(0, 0, 1, 1), [square(0.4, 0.4, 0.6, 0.6)[::-1]])])
    assert len(geometry.simplify(holed, 10).geoms[0].interiors) == 1


def test_route_line_offsets_and_samples():
    line = geometry.RouteLine([(116.0, 39.0), (116.0, 39.1)])  # ~11.1 km north
    off, at = line.offset(116.001, 39.05)
    assert 80 < off < 90 and 5500 < at < 5600
    samples = line.samples(1000, 50)
    assert len(samples) == 13 and samples[0] == pytest.approx((116.0, 39.0))
    assert len(line.samples(100, 12)) == 12


def _parse(polyline: str) -> list[list[tuple[float, float]]]:
    from bailian_geo_agent.tools.providers.amap_areas import parse_polyline

    return parse_polyline(polyline)


# ------------------------------------------------------------------------------ AMap


def _two_chaoyang(params: dict[str, str]) -> dict:
    """The district API's answer for 朝阳区 as it matches across China: Changchun's first."""
    from tests.fakes.amap import district_answer

    answer = district_answer(params)
    if params.get("keywords") == "朝阳区":
        changchun = {"citycode": "0431", "adcode": "220104", "name": "朝阳区",
                     "center": "125.288319,43.833513", "level": "district", "districts": [],
                     "polyline": "125.20,43.78;125.36,43.78;125.36,43.89;125.20,43.89;"
                                 "125.20,43.78"}
        answer["districts"] = [changchun, *answer["districts"]]
        answer["count"] = str(len(answer["districts"]))
    return answer


async def test_amap_same_named_districts_the_city_picks_and_the_answer_says(amap, fake_amap):
    fake_amap.set_response("/v3/config/district", _two_chaoyang)
    tool = AreaBoundaryTool(provider=amap)
    with use_language("zh"):
        content, artifact = await call(tool, area="朝阳区", city="北京",
                                       check="北京市朝阳区阜通东大街6号")
    assert "北京市朝阳区阜通东大街6号在朝阳区内" in content
    assert "有2个区域叫这个名字，这里用的是行政区划代码110105的那个" in content
    draw = commands(artifact)[0]
    assert 116.3 < draw.polygons[0][0][0][0] < 116.7  # Beijing's outline, not Changchun's
    # without a city: the first match, and the answer says there are two
    with use_language("en"):
        content, _ = await call(tool, area="朝阳区", check="北京市朝阳区阜通东大街6号")
    assert "2 areas have this name; this is the one with area code 220104" in content
    assert "is not inside 朝阳区" in content


async def test_amap_district_outline_is_simplified_and_the_check_says_inside(amap, fake_amap):
    tool = AreaBoundaryTool(provider=amap)
    with use_language("zh"):
        content, artifact = await call(tool, area="朝阳区", check="北京市朝阳区阜通东大街6号")
    request = fake_amap.requests_to("/v3/config/district")[-1]
    assert (request.params["keywords"], request.params["extensions"]) == ("朝阳区", "all")
    draw, marker = commands(artifact)
    assert draw.op == "draw_area" and draw.kind == "district" and draw.crs == "gcj02"
    assert draw.label == "朝阳区" and draw.layer == "areas"
    assert sum(len(r) for p in draw.polygons for r in p) <= MAX_AREA_POINTS
    assert "从3001个点简化为" in content
    assert "北京市朝阳区阜通东大街6号在朝阳区内" in content
    assert marker.op == "add_markers" and marker.markers[0].lng == pytest.approx(116.482086)
    assert artifact["links"][0]["kind"] == "amap_marker"


async def test_amap_check_outside_and_in_a_hole_of_a_two_part_district(amap):
    tool = AreaBoundaryTool(provider=amap)
    with use_language("en"):
        content, _ = await call(tool, area="朝阳区", check="故宫")
        assert "北京市东城区故宫博物院 is not inside 朝阳区 (3.1 km from its boundary)" in content
        content, artifact = await call(tool, area="东城区", check="116.41,39.93")
    assert "116.41,39.93 is not inside 东城区" in content  # in the hole
    assert "2 part(s)" in content
    draw = commands(artifact)[0]
    assert [len(p) for p in draw.polygons] == [2, 1]  # outer + hole; the separate block
    with use_language("en"):
        content, _ = await call(tool, area="东城区", check="116.455,39.905")
    assert "is inside 东城区" in content


async def test_amap_unknown_area_is_explained_in_both_languages(amap):
    tool = AreaBoundaryTool(provider=amap)
    with use_language("zh"):
        zh = await tool.ainvoke({"area": "不存在区"})
    with use_language("en"):
        en = await tool.ainvoke({"area": "Nowhere"})
    assert zh.startswith("没有找到名为“不存在区”的行政区或区域边界")
    assert en.startswith("No district or area outline named 'Nowhere' was found")


async def test_amap_reachable_area_is_a_grid_of_distance_times_with_its_resolution(
    amap, fake_amap
):
    tool = ReachableAreaTool(provider=amap)
    with use_language("zh"):
        content, artifact = await call(tool, place="天安门", minutes=15, mode="driving")
    calls = fake_amap.requests_to("/v3/distance")
    assert len(calls) == 1 and calls[0].params["type"] == "1"
    origins = calls[0].params["origins"].split("|")
    assert 80 <= len(origins) <= 100 and calls[0].params["destination"] == "116.397755,39.908743"
    assert "分辨率1.8公里" in content and f"查询{len(origins)}个网格点" in content
    assert "单向" in content
    area, marker = commands(artifact)
    assert area.kind == "isochrone" and area.label == "驾车15分钟可达" and area.color
    assert marker.markers[0].label == "北京市东城区天安门"
    # 1.3x the straight line at 8.3 m/s: reachable within ~5.7 km, not the 10 km grid edge
    reach = geometry.from_geojson({"type": "MultiPolygon", "coordinates": area.polygons})
    assert 60 < geometry.area_km2(reach) < 140


async def test_amap_has_no_cycling_grid_and_minutes_are_bounded(amap):
    tool = ReachableAreaTool(provider=amap)
    with use_language("en"):
        cycling = await tool.ainvoke({"place": "天安门", "minutes": 15, "mode": "cycling"})
        too_long = await tool.ainvoke({"place": "天安门", "minutes": 90})
    with use_language("zh"):
        zero = await tool.ainvoke({"place": "天安门", "minutes": 0})
    assert cycling.startswith("AMap cannot compute a reachable area for 'cycling'")
    assert too_long == "The travel time must be between 1 and 60 minutes (got 90); choose another."
    assert zero == "出行时间需在1到60分钟之间（收到0），请换一个时间。"


async def test_a_provider_without_isochrones_says_so(http_client):
    class Bare:
        name, crs, http = "Bare maps", "wgs84", http_client

    tool = ReachableAreaTool(provider=Bare())
    with use_language("en"):
        text = await tool.ainvoke({"place": "1,1", "minutes": 10})
    assert text.startswith("Bare maps") and "reachable areas (isochrones)" in text


# ------------------------------------------------------------------------------ open


async def test_open_reachable_area_posts_valhalla_json_and_keeps_the_hole(
    open_provider, fake_open
):
    tool = ReachableAreaTool(provider=open_provider)
    with use_language("en"):
        content, artifact = await call(tool, place="2.2944813,48.8582602", crs="wgs84",
                                       minutes=10, mode="walking")
    request = next(r for r in fake_open.requests if r.provider == "valhalla")
    assert (request.method, request.path) == ("POST", "/isochrone")
    assert json.loads(request.params["json"]) == {
        "locations": [{"lat": 48.85826, "lon": 2.294481}], "costing": "pedestrian",
        "contours": [{"time": 10}], "polygons": True}
    area = commands(artifact)[0]
    assert area.crs == "wgs84" and len(area.polygons[0]) == 2  # outer ring and the lake
    assert "Valhalla/OpenStreetMap" in content and "isochrone computed on the road" in content


async def test_open_reachable_area_is_asked_of_valhalla_once(open_provider, fake_open):
    # the public FOSSGIS server is shared: the same question again comes from the cache
    tool = ReachableAreaTool(provider=open_provider)
    for _ in range(2):
        await call(tool, place="2.2944813,48.8582602", crs="wgs84", minutes=10, mode="walking")
    assert sum(r.provider == "valhalla" for r in fake_open.requests) == 1
    await call(tool, place="2.2944813,48.8582602", crs="wgs84", minutes=15, mode="walking")
    assert sum(r.provider == "valhalla" for r in fake_open.requests) == 2


async def test_open_reachable_area_reads_valhallas_recorded_answer(open_provider):
    tool = ReachableAreaTool(provider=open_provider)
    _content, artifact = await call(tool, place="5.115321,52.078937", crs="wgs84", minutes=15,
                                   mode="cycling")
    area = commands(artifact)[0]
    recorded = VALHALLA_UTRECHT["body"]["features"][0]["geometry"]["coordinates"]
    assert len(area.polygons) == 1 and len(area.polygons[0][0]) == len(recorded[0])
    assert area.polygons[0][0][0] == tuple(recorded[0][0])


async def test_open_place_without_roads_is_outside_coverage(open_provider):
    tool = ReachableAreaTool(provider=open_provider)
    with use_language("zh"):
        text = await tool.ainvoke({"place": "0,-75", "crs": "wgs84", "minutes": 10})
    assert text == "该地点附近没有可通行的道路数据（在服务覆盖范围之外），请换一个地点。"


async def test_open_boundary_from_nominatim_polygons(open_provider, fake_open):
    tool = AreaBoundaryTool(provider=open_provider)
    with use_language("en"):
        content, artifact = await call(tool, area="Paris 7e", check="eiffel")
    request = next(r for r in fake_open.requests if r.params.get("polygon_geojson") == "1")
    assert request.params["polygon_threshold"] == "0.0005"
    # names in the words' language, as the open geocoding asks (not Chinese for "Paris 7e")
    assert request.params["accept-language"] == "en"
    draw, marker = commands(artifact)
    assert marker.markers[0].crs == "wgs84"
    assert draw.kind == "district" and draw.crs == "wgs84" and len(draw.polygons) == 2
    assert "Tour Eiffel is inside Paris 7e Arrondissement" in content
    assert [link["kind"] for link in artifact["links"]] == ["geo", "osm_marker"]
    content, artifact = await call(tool, area="135 Pilkington Avenue, Birmingham")
    draw = commands(artifact)[0]
    assert draw.kind == "aoi" and len(draw.polygons[0][0]) == 9  # the recorded outline


# ------------------------------------------------------------------------------ auto


async def test_auto_falls_back_to_the_open_services_outside_china(amap, open_provider, fake_amap,
                                                                  fake_open):
    from bailian_geo_agent.tools.providers.fallback import FallbackProvider

    both = FallbackProvider(amap, open_provider)
    content, artifact = await call(ReachableAreaTool(provider=both), place="2.2944813,48.8582602",
                                   crs="wgs84", minutes=10, mode="walking")
    assert fake_amap.requests_to("/v3/distance") == []  # AMap: outside China, not asked
    area = commands(artifact)[0]
    assert area.crs == "wgs84" and "Valhalla" in content
    assert [link["kind"] for link in artifact["links"]] == ["geo", "osm_marker"]
    content, artifact = await call(AreaBoundaryTool(provider=both), area="Paris 7e")
    assert fake_amap.requests_to("/v3/config/district")  # AMap first: no such district
    assert commands(artifact)[0].crs == "wgs84" and "Nominatim" in content
