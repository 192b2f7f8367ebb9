"""Map pictures (tools/snapshot.py): real PNG tiles from a loopback tile server, pixels checked
where the commands' coordinates fall; AMap's static map on the fake AMap."""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.coords import gcj02_to_wgs84
from bailian_geo_agent.tools.snapshot import TILE_CACHE, NothingToDraw, SnapshotError, render_png
from PIL import Image

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.fakes.amap_static import STATIC_MAP_PATH, static_map_answer
from tests.fakes.tiles import FakeTiles, tile_color

RED, BLUE, GREEN, PURPLE = (232, 69, 60), (26, 115, 232), (15, 157, 88), (123, 47, 190)
SIZE = (400, 300)


@pytest.fixture(scope="module")
def tiles_server() -> Iterator[FakeTiles]:
    server = FakeTiles().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tiles(tiles_server: FakeTiles) -> Iterator[FakeTiles]:
    tiles_server.reset()
    TILE_CACHE.clear()
    yield tiles_server
    tiles_server.reset()
    TILE_CACHE.clear()


def open_config(tiles: FakeTiles) -> GeoConfig:
    return GeoConfig(provider="open", tile_url=tiles.url_template,
                     user_agent="snapshot-test/1.0 (tests)")


def mercator(lng: float, lat: float, zoom: int) -> tuple[float, float]:
    """World pixel, written out again here (not the module's) so the test checks it."""
    n = 256 * 2**zoom
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return (lng + 180) / 360 * n, (1 - y / math.pi) / 2 * n


def picture_pixel(points: list[tuple[float, float]], target: tuple[float, float],
                  zoom: int) -> tuple[int, int]:
    """Where ``target`` falls in a picture fitted (centred) on ``points``' box."""
    xs, ys = zip(*(mercator(lng, lat, zoom) for lng, lat in points), strict=True)
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    x, y = mercator(*target, zoom)
    return round(x - cx + SIZE[0] / 2), round(y - cy + SIZE[1] / 2)


def near(actual: tuple[int, ...], expected: tuple[int, ...], slack: int = 6) -> bool:
    return all(abs(a - e) <= slack for a, e in zip(actual, expected, strict=False))


def decode(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == SIZE
    return image


def marker(lng: float, lat: float, crs: str = "wgs84", label: str = "A") -> dict[str, Any]:
    return {"lng": lng, "lat": lat, "crs": crs, "label": label}


async def test_one_marker_is_drawn_at_the_centre_over_real_tiles(tiles: FakeTiles) -> None:
    png = await render_png([{"op": "add_markers", "markers": [marker(13.4050, 52.5200)]}],
                           size=SIZE, config=open_config(tiles))
    image = decode(png)
    assert near(image.getpixel((200, 150)), RED)
    zooms = {r.z for r in tiles.requests}
    assert zooms == {15}  # one point: street level
    x, y = mercator(13.4050, 52.5200, 15)
    corner = (int((x - 200) // 256), int((y - 150) // 256))  # the tile under pixel (0, 0)
    assert image.getpixel((0, 0)) == tile_color(*corner)
    assert {r.user_agent for r in tiles.requests} == {"snapshot-test/1.0 (tests)"}
    wanted = {(15, tx, ty) for tx in range(int((x - 200) // 256), int((x + 199) // 256) + 1)
              for ty in range(int((y - 150) // 256), int((y + 149) // 256) + 1)}
    assert {(r.z, r.x, r.y) for r in tiles.requests} == wanted  # each tile under it, once
    assert len(tiles.requests) == len(wanted)
    again = await render_png([{"op": "add_markers", "markers": [marker(13.4050, 52.5200)]}],
                             size=SIZE, config=open_config(tiles))
    assert again == png and len(tiles.requests) == len(wanted)  # the tiles were cached
    no_cache = open_config(tiles).with_overrides(cache_ttl=0.0)
    TILE_CACHE.clear()
    for _ in range(2):
        await render_png([{"op": "add_markers", "markers": [marker(13.4050, 52.5200)]}],
                         size=SIZE, config=no_cache)
    assert len(tiles.requests) == 3 * len(wanted)  # GEO_CACHE_TTL=0: fetched each time


async def test_route_area_and_stops_land_on_their_coordinates(tiles: FakeTiles) -> None:
    a, b = (2.2945, 48.8584), (2.3499, 48.8530)  # Eiffel tower, Notre-Dame
    ring = [[2.30, 48.85], [2.32, 48.85], [2.32, 48.86], [2.30, 48.86], [2.30, 48.85]]
    commands = [
        {"op": "draw_route", "crs": "wgs84", "path": [list(a), list(b)], "mode": "walking",
         "origin": marker(*a), "destination": marker(*b), "distance_m": None,
         "duration_s": None},
        {"op": "draw_area", "crs": "wgs84", "label": "box", "kind": "region",
         "polygons": [[ring]]},
        {"op": "add_stops", "stops": [{**marker(*a, label="Eiffel"), "number": 1},
                                      {**marker(*b, label="Notre-Dame"), "number": 2}]},
    ]
    image = decode(await render_png(commands, size=SIZE, config=open_config(tiles)))
    zoom = tiles.requests[0].z
    box = [a, b, (2.30, 48.85), (2.32, 48.86)]
    # the route between the ends (away from the area and the stops)
    mid = ((a[0] + b[0]) / 2 + 0.01, None)
    t = (mid[0] - a[0]) / (b[0] - a[0])
    on_route = (mid[0], a[1] + t * (b[1] - a[1]))
    assert near(image.getpixel(picture_pixel(box, on_route, zoom)), BLUE)
    # inside the area (off the route): the tile's grey tinted green
    inside = picture_pixel(box, (2.303, 48.8585), zoom)
    x, y = inside
    grey = tile_color(*(int(v // 256) for v in _world(box, inside, zoom)))
    tinted = tuple(round(g + (c - g) * 80 / 255) for g, c in zip(grey, GREEN, strict=True))
    assert near(image.getpixel((x, y)), tinted, slack=3)
    # each stop: its circle's colour below its number
    for stop in (a, b):
        sx, sy = picture_pixel(box, stop, zoom)
        assert near(image.getpixel((sx, sy + 7)), PURPLE)
    # outside everything: the bare tile
    ox, oy = picture_pixel(box, (2.325, 48.8475), zoom)
    assert image.getpixel((ox, oy)) == tile_color(*(int(v // 256)
                                                   for v in _world(box, (ox, oy), zoom)))


def _world(box: list[tuple[float, float]], pixel: tuple[int, int],
           zoom: int) -> tuple[float, float]:
    xs, ys = zip(*(mercator(lng, lat, zoom) for lng, lat in box), strict=True)
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    return pixel[0] + cx - SIZE[0] / 2, pixel[1] + cy - SIZE[1] / 2


async def test_gcj02_points_are_moved_onto_wgs84_tiles(tiles: FakeTiles) -> None:
    """The same numbers in GCJ-02 and in WGS-84 are two places some 500 m apart in Beijing."""
    lng, lat = 116.397, 39.908
    commands = [{"op": "add_markers", "color": "#000000",
                 "markers": [marker(lng, lat, "gcj02", "G")]},
                {"op": "add_markers", "markers": [marker(lng, lat, "wgs84", "W")]}]
    image = decode(await render_png(commands, size=SIZE, config=open_config(tiles)))
    zoom = tiles.requests[0].z
    moved = gcj02_to_wgs84(lng, lat)
    box = [moved, (lng, lat)]
    assert near(image.getpixel(picture_pixel(box, moved, zoom)), (0, 0, 0))
    assert near(image.getpixel(picture_pixel(box, (lng, lat), zoom)), RED)


async def test_layers_and_clear_decide_what_is_drawn(tiles: FakeTiles) -> None:
    config = open_config(tiles)
    hidden = [{"op": "add_markers", "layer": "day 1", "markers": [marker(13.4, 52.5)]},
              {"op": "layer", "name": "day 1", "action": "hide"}]
    with pytest.raises(NothingToDraw):
        await render_png(hidden, size=SIZE, config=config)
    assert tiles.requests == []  # nothing fetched for nothing drawn
    shown = [*hidden, {"op": "layer", "name": "day 1", "action": "show"}]
    assert near(decode(await render_png(shown, size=SIZE, config=config)).getpixel((200, 150)),
                RED)
    fetched = len(tiles.requests)
    cleared = [*shown, {"op": "clear", "target": "markers"}]
    with pytest.raises(NothingToDraw, match=r"no markers|没有标记"):
        await render_png(cleared, size=SIZE, config=config)
    assert len(tiles.requests) == fetched


@pytest.mark.parametrize("failure", ["status", "garbage"])
async def test_tile_errors_say_what_to_check(tiles: FakeTiles, failure: str) -> None:
    if failure == "status":
        tiles.fail_with(503)
    else:
        tiles.serve_garbage()
    with pytest.raises(SnapshotError) as caught:
        await render_png([{"op": "add_markers", "markers": [marker(13.4, 52.5)]}],
                         size=SIZE, config=open_config(tiles))
    message = str(caught.value)
    assert f"127.0.0.1:{tiles.port}" in message
    assert "GEO_TILE_URL" in message
    assert "Traceback" not in message


async def test_size_is_bounded(tiles: FakeTiles) -> None:
    with pytest.raises(SnapshotError, match="1024"):
        await render_png([{"op": "add_markers", "markers": [marker(13.4, 52.5)]}],
                         size=(2000, 300), config=open_config(tiles))
    assert tiles.requests == []


async def test_without_pillow_it_says_what_to_install(tiles: FakeTiles,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(SnapshotError, match=r"bailian-geo-agent\[snapshot\]"):
        await render_png([{"op": "add_markers", "markers": [marker(13.4, 52.5)]}],
                         size=SIZE, config=open_config(tiles))


def amap_config(fake: FakeAmap) -> GeoConfig:
    return GeoConfig(provider="amap", amap_api_key=FAKE_AMAP_KEY, amap_base_url=fake.base_url)


async def test_amap_static_map_draws_stops_routes_and_areas(fake_amap: FakeAmap) -> None:
    fake_amap.set_response(STATIC_MAP_PATH, static_map_answer)
    a, b = (116.397, 39.908), (116.403, 39.924)  # GCJ-02: Tiananmen, Jingshan
    ring = [[116.39, 39.90], [116.41, 39.90], [116.41, 39.93], [116.39, 39.90]]
    commands = [
        {"op": "add_stops", "color": "#ff0000",
         "stops": [{**marker(*a, "gcj02", "天安门"), "number": 1},
                   {**marker(*b, "gcj02", "景山"), "number": 2}]},
        {"op": "draw_route", "crs": "gcj02", "path": [list(a), list(b)], "mode": "walking",
         "origin": marker(*a, "gcj02"), "destination": marker(*b, "gcj02"),
         "distance_m": 2000.0, "duration_s": 1500.0},
        {"op": "draw_area", "crs": "wgs84", "label": "box", "kind": "district",
         "polygons": [[ring]], "color": "#00aa00"},
    ]
    png = await render_png(commands, size=SIZE, config=amap_config(fake_amap))
    decode(png)
    (request,) = fake_amap.requests_to(STATIC_MAP_PATH)
    params = request.params
    assert params["size"] == "400*300"
    assert 10 <= int(params["zoom"]) <= 17
    lng, lat = (float(v) for v in params["location"].split(","))
    assert 116.39 < lng < 116.41 and 39.90 < lat < 39.93
    assert params["markers"] == ("mid,0xFF0000,1:116.397000,39.908000|"
                                 "mid,0xFF0000,2:116.403000,39.924000")
    route, area = params["paths"].split("|")
    assert route == "6,0x1A73E8,1,,:116.397000,39.908000;116.403000,39.924000"
    style, points = area.split(":")
    assert style == "2,0x00AA00,1,0x00AA00,0.3"
    first = tuple(float(v) for v in points.split(";")[0].split(","))
    expected = gcj02_to_wgs84(116.39, 39.90)  # sanity: the area was moved to GCJ-02
    assert first != (116.39, 39.90) and abs(first[0] - 116.39) < 0.01
    assert abs(gcj02_to_wgs84(*first)[0] - 116.39) < 1e-5, expected


async def test_amap_refusal_is_explained_without_the_key(fake_amap: FakeAmap) -> None:
    fake_amap.set_error(STATIC_MAP_PATH, "10001")
    with pytest.raises(SnapshotError) as caught:
        await render_png([{"op": "add_markers", "markers": [marker(116.397, 39.908, "gcj02")]}],
                         size=SIZE, config=amap_config(fake_amap))
    assert FAKE_AMAP_KEY not in str(caught.value)
    assert "AMAP_API_KEY" in str(caught.value) or "Key" in str(caught.value)


async def test_amap_places_outside_china_use_the_tiles(fake_amap: FakeAmap,
                                                       tiles: FakeTiles) -> None:
    config = amap_config(fake_amap).with_overrides(tile_url=tiles.url_template)
    decode(await render_png([{"op": "add_markers", "markers": [marker(13.4, 52.5)]}],
                            size=SIZE, config=config))
    assert fake_amap.requests_to(STATIC_MAP_PATH) == []
    assert tiles.requests
