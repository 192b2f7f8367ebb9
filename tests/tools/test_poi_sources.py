"""A POI detail's source pages (its OpenStreetMap object, the place's own website) become
``source`` events, and ``source-url`` parts in the AI SDK stream."""

from __future__ import annotations

import uuid

from bailian_geo_agent.agent.callbacks import ChunkStreamHandler
from bailian_geo_agent.agent.server.aisdk import AISDKAdapter
from bailian_geo_agent.tools.poi_detail import source_pages
from bailian_geo_agent.tools.providers.extras import PoiDetail

from tests.tools.fake_open import FakeOpenProviders
from tests.tools.test_extra_tools import call

EIFFEL = [
    {"url": "https://www.openstreetmap.org/way/5013364", "title": "Tour Eiffel · OpenStreetMap"},
    {"url": "https://www.toureiffel.paris/", "title": "Tour Eiffel"},
]


def test_an_open_poi_detail_names_its_source_pages(open_tools, fake_open: FakeOpenProviders):
    result = call(open_tools, "poi_detail", {"id": "way/5013364"})
    assert result.artifact["sources"] == EIFFEL


def test_an_amap_poi_without_a_website_has_none(amap_tools):
    result = call(amap_tools, "poi_detail", {"id": "B0FFG3MGDB"})
    assert result.artifact["sources"] == []


def test_only_web_pages_are_sources():
    poi = PoiDetail(name="某店", id="N42", source="高德地图", website="javascript:alert(1)")
    assert source_pages(poi) == []  # an OSM-looking id from another source is not OSM's
    poi = PoiDetail(name="", id="R7", source="Nominatim/OpenStreetMap", website="http://a.example")
    assert source_pages(poi) == [
        {"url": "https://www.openstreetmap.org/relation/7", "title": " · OpenStreetMap"},
        {"url": "http://a.example", "title": "http://a.example"}]


async def test_the_sources_become_source_url_parts(open_tools, fake_open: FakeOpenProviders):
    result = call(open_tools, "poi_detail", {"id": "way/5013364"})
    handler = ChunkStreamHandler(message_id="m", session_id="s", events={"source"})
    await handler.on_tool_end(result, run_id=uuid.uuid4())
    await handler.on_tool_end(result, run_id=uuid.uuid4())  # each URL once
    handler.finish()
    events = [e async for e in handler]
    adapter = AISDKAdapter(lambda: False)
    parts = [p for e in events for p in adapter.frames(e)]
    assert [p for p in parts if isinstance(p, dict) and p["type"] == "source-url"] == [
        {"type": "source-url", "sourceId": f"source-{i}", **page}
        for i, page in enumerate(EIFFEL, 1)]
    without = ChunkStreamHandler(message_id="m", session_id="s", events={"tool_end"})
    await without.on_tool_end(result, run_id=uuid.uuid4())
    without.finish()
    assert [e.type async for e in without] == ["tool_end", "stream_end"]
