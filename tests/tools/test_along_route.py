"""search_along_route over both providers' fakes: sampling, ranking by detour, map commands,
links, and the nothing-found error in both languages."""

from __future__ import annotations

import re

import pytest
from bailian_geo_agent.prompts.catalogue import use_language
from bailian_geo_agent.tools.along_route import AlongRouteTool, rank
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.map_commands import parse_map_action
from bailian_geo_agent.tools.providers.base import Poi

from tests.fakes.amap_areas import along_around_answer
from tests.tools.test_areas import call


@pytest.fixture
def gas_stations(fake_amap):
    fake_amap.set_response("/v3/place/around", along_around_answer)
    return fake_amap


def test_rank_orders_by_detour_and_drops_what_is_too_far():
    path = [Coordinate(116.0, 39.0, "gcj02"), Coordinate(116.0, 39.1, "gcj02")]
    pois = [Poi("far", Coordinate(116.01, 39.05, "gcj02")),  # ~865 m off
            Poi("near late", Coordinate(116.001, 39.09, "gcj02")),  # ~86 m off
            Poi("near early", Coordinate(115.999, 39.01, "gcj02")),  # ~86 m off, earlier
            Poi("middle", Coordinate(116.003, 39.02, "gcj02")),
            Poi("nowhere")]
    ranked = rank(pois, path, "gcj02", 500)
    assert [p.name for p, _, _ in ranked] == ["near early", "near late", "middle"]
    assert ranked[2][1] == pytest.approx(259.5, abs=2)


async def test_amap_search_along_the_route_ranks_by_detour(amap, gas_stations):
    tool = AlongRouteTool(provider=amap)
    with use_language("zh"):
        content, artifact = await call(tool, origin="北京南站", destination="故宫",
                                       keywords="加油站", within_m=500)
    arounds = gas_stations.requests_to("/v3/place/around")
    assert 2 <= len(arounds) <= 12
    assert {r.params["radius"] for r in arounds} == {"624"}  # 8.2 km in 12 samples: 745 m apart
    assert {r.params["keywords"] for r in arounds} == {"加油站"}
    lines = content.splitlines()
    assert lines[0].startswith("北京市丰台区北京南站 → 北京市东城区故宫博物院（驾车")
    assert "按绕行距离排序" in lines[0]
    names = [re.match(r"\d+\. ([^：]+)：", line).group(1) for line in lines[1:4]]
    assert names == ["中国石化(开阳路加油站)", "壳牌(西华门加油站)", "中国石油(右安门加油站)"]
    assert "绕行约202米（离路线101米" in lines[1]
    assert "往返估计" in lines[-1] and "丰台加油站" not in content
    route, stops = (parse_map_action(c) for c in artifact["map_actions"])
    assert route.op == "draw_route" and route.layer == "along_route" and route.crs == "gcj02"
    assert stops.op == "add_stops" and [s.number for s in stops.stops] == [1, 2, 3]
    assert stops.stops[0].label == "中国石化(开阳路加油站)"
    assert stops.stops[0].description == "绕行约202米"
    kinds = [link["kind"] for link in artifact["links"]]
    assert kinds == ["amap_navigation", "amap_marker"]


async def test_amap_narrower_corridor_and_nothing_found(amap, gas_stations):
    tool = AlongRouteTool(provider=amap)
    content, _ = await call(tool, origin="北京南站", destination="故宫", keywords="加油站",
                            within_m=200)
    assert "开阳路" in content and "西华门" in content and "右安门" not in content
    with use_language("en"):
        en = await tool.ainvoke({"origin": "北京南站", "destination": "故宫",
                                 "keywords": "充电桩"})
    with use_language("zh"):
        zh = await tool.ainvoke({"origin": "北京南站", "destination": "故宫",
                                 "keywords": "充电桩"})
    assert en.startswith("Nothing matching '充电桩' within 500 m of the route from ")
    assert zh.endswith("沿途500米内没有找到“充电桩”，可以放宽距离或换个关键词。")


async def test_open_search_along_is_one_overpass_query_around_the_line(open_provider, fake_open):
    tool = AlongRouteTool(provider=open_provider)
    with use_language("en"):
        content, artifact = await call(tool, origin="2.2944813,48.8582602",
                                       destination="2.3376441,48.8606111", crs="wgs84",
                                       keywords="cafe", within_m=200, mode="walking")
    queries = [r.params["data"] for r in fake_open.requests if r.provider == "overpass"]
    assert len(queries) == 1
    assert '["amenity"="cafe"](around:200,48.858260,2.294481,48.860611,2.294481,' in queries[0]
    assert "Café Le Campanella" in content and "Café du Marché" not in content
    assert "detour about 222 m (111 m off the route" in content  # out and back
    kinds = [link["kind"] for link in artifact["links"]]
    assert kinds == ["osm_directions", "geo", "osm_marker"]
    route = parse_map_action(artifact["map_actions"][0])
    assert route.crs == "wgs84" and route.mode == "walking"


async def test_fallback_search_along_abroad_carries_open_links(amap, open_provider, fake_open):
    # AMap (the primary) does not route in Paris: the route and the cafes are OSM data, so
    # are the links (not AMap's URI API)
    from bailian_geo_agent.tools.providers.fallback import FallbackProvider

    tool = AlongRouteTool(provider=FallbackProvider(amap, open_provider))
    content, artifact = await call(tool, origin="2.2944813,48.8582602",
                                   destination="2.3376441,48.8606111", crs="wgs84",
                                   keywords="cafe", within_m=200, mode="walking")
    assert "Café Le Campanella" in content
    kinds = [link["kind"] for link in artifact["links"]]
    assert kinds == ["osm_directions", "geo", "osm_marker"]
