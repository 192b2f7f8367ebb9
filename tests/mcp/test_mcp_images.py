"""``geo-agent mcp --map-images``: tools that draw on the map also return a PNG of it (MCP image
content), for clients without a map; the SDK's own client over stdio."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from bailian_geo_agent.prompts.catalogue import text, use_language
from PIL import Image

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.fakes.amap_static import STATIC_MAP_PATH, static_map_answer
from tests.fakes.tiles import FakeTiles
from tests.mcp.checks import text_of
from tests.mcp.conftest import server_env
from tests.mcp.test_mcp_stdio import stdio_session

MARKERS = {"markers": [{"label": "三里屯", "lng": 116.455, "lat": 39.937},
                       {"label": "国贸", "lng": 116.461, "lat": 39.909}]}


@pytest.fixture
def tiles() -> Iterator[FakeTiles]:
    server = FakeTiles().start()
    try:
        yield server
    finally:
        server.stop()


def images_of(result) -> list[Image.Image]:
    pictures = []
    for part in result.content:
        if part.type == "image":
            assert part.mime_type == "image/png"
            pictures.append(Image.open(io.BytesIO(base64.b64decode(part.data))))
    return pictures


async def test_map_images_on_amap(fake_amap: FakeAmap, tmp_path) -> None:
    fake_amap.set_response(STATIC_MAP_PATH, static_map_answer)
    log = tmp_path / "server.log"
    async with stdio_session(server_env(fake_amap), log, "--map-images") as session:
        drawn = await session.call_tool("map_add_markers", MARKERS)
        assert not drawn.is_error, text_of(drawn)
        assert drawn.structured_content["map_action"]["op"] == "add_markers"  # unchanged
        (picture,) = images_of(drawn)
        assert picture.size == (640, 400)
        (request,) = fake_amap.requests_to(STATIC_MAP_PATH)
        assert request.params["markers"].count("|") == 1
        assert request.params["key"] == FAKE_AMAP_KEY
        cleared = await session.call_tool("map_clear", {"target": "all"})
        assert images_of(cleared) == []  # draws nothing: no picture
        fake_amap.set_error(STATIC_MAP_PATH, "10003")
        refused = await session.call_tool("map_add_markers", MARKERS)
        assert not refused.is_error  # the command itself went through
        assert images_of(refused) == []
        with use_language("zh"):  # the server's language (GEO_AGENT_LANGUAGE unset)
            why = text("snapshot_failed", problem=text("amap_quota"))
        assert text_of(refused).endswith(why)
    assert FAKE_AMAP_KEY not in log.read_text()


async def test_map_images_on_open_tiles_and_off_by_default(fake_amap: FakeAmap, tiles: FakeTiles,
                                                           tmp_path) -> None:
    env = server_env(fake_amap, GEO_PROVIDER="open", GEO_MAP_CRS="wgs84",
                     GEO_TILE_URL=tiles.url_template)
    async with stdio_session(env, tmp_path / "a.log", "--map-images") as session:
        drawn = await session.call_tool("map_add_markers", MARKERS)
        (picture,) = images_of(drawn)
        assert picture.size == (640, 400)
        assert tiles.requests
    fetched = len(tiles.requests)
    async with stdio_session(env, tmp_path / "b.log") as session:
        plain = await session.call_tool("map_add_markers", MARKERS)
        assert images_of(plain) == []
    assert len(tiles.requests) == fetched
