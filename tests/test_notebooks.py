"""notebooks/*.ipynb executed headless (nbclient, a real ipykernel) against the loopback fakes;
the assertions read what the cells produced."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from tests.fakes import amap_plugin
from tests.fakes.dashscope import RecordedRequest, Reply, ToolCall
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import clean_env, dashscope_env

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

# pytest refuses ``pytest_plugins`` outside the root conftest: re-export the AMap fixtures.
fake_amap_server = amap_plugin.fake_amap_server
fake_amap = amap_plugin.fake_amap

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def kernel_env(tmp_path: Path, fake, amap) -> dict[str, str]:
    """The kernel's environment: the test's (already isolated) plus the fakes."""
    env = clean_env(**dashscope_env(fake))
    env.update(
        DASHSCOPE_TIMEOUT="10",
        GEO_PROVIDER="amap",
        AMAP_API_KEY=amap_plugin.FAKE_AMAP_KEY,
        AMAP_BASE_URL=amap.base_url,
        SESSION_STORE_URL="memory://",
        XDG_DATA_HOME=str(tmp_path / "data"),
        PYTHONIOENCODING="utf-8",
    )
    return env


def execute(name: str, tmp_path: Path, env: dict[str, str]):
    """Run the notebook top to bottom in a fresh kernel (cwd ``tmp_path``); the executed copy."""
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)
    return book


def output_of(book, cell_id: str) -> str:
    """Everything the cell shows: streams, and the text/markdown/html of displays and results."""
    [cell] = [c for c in book.cells if c.get("id") == cell_id]
    parts = []
    for out in cell.get("outputs", []):
        assert out.output_type != "error", "".join(out.get("traceback", []))
        if out.output_type == "stream":
            parts.append(out.text)
        for mime in ("text/markdown", "text/html", "text/plain"):
            if mime in out.get("data", {}):
                parts.append(out.data[mime])
    return "\n".join(parts)


def displays_of(book, cell_id: str) -> list:
    [cell] = [c for c in book.cells if c.get("id") == cell_id]
    return [o for o in cell.outputs if o.output_type == "display_data"]


def last_user_text(request: RecordedRequest) -> str:
    users = [m for m in request.messages if m.get("role") == "user"]
    return str(users[-1].get("content")) if users else ""


def geo_responder(request: RecordedRequest) -> Reply:
    """The model: a tool call for a geo question, then an answer quoting the tool's result."""
    last = request.messages[-1]
    question = last_user_text(request)
    n = sum(m.get("role") == "user" for m in request.messages)
    if last.get("role") == "tool":
        first_line = str(last.get("content")).splitlines()[0]
        return Reply(text=f"根据查询：{first_line}。祝您愉快！", chunk_size=4)
    if "天气" in question:
        place = "杭州" if "杭州" in question else "北京"
        return Reply(tool_calls=[ToolCall("get_weather", {"place": place})])
    if "咖啡" in question:
        return Reply(tool_calls=[ToolCall("search_poi", {"keywords": "咖啡", "near": "天安门"})])
    return Reply(text=f"第{n}轮：好的，{question}", chunk_size=3)


# -- committed state --------------------------------------------------------------------------


def test_notebooks_are_committed_without_outputs():
    books = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {b.name for b in books} >= {"quickstart.ipynb", "embed_in_your_app.ipynb"}
    for path in books:
        book = nbformat.read(path, as_version=4)
        nbformat.validate(book)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.id)
        assert not re.search(r"sk-[0-9A-Za-z]{8,}", path.read_text("utf-8")), path.name


# -- execution --------------------------------------------------------------------------------


THINKING_QUESTION = "杭州西湖附近适合散步吗？"
REASONING = "用户想在西湖边散步，先想想路线：苏堤与白堤都近。"


def thinking_geo_responder(request: RecordedRequest) -> Reply:
    """geo_responder, plus reasoning for the thinking cell (streamed only if the request thinks)."""
    if last_user_text(request) == THINKING_QUESTION:
        return Reply(text="适合，沿苏堤走一圈约一小时。", reasoning=REASONING, chunk_size=3)
    return geo_responder(request)


def test_quickstart_streams_into_one_display(tmp_path, fake_dashscope, fake_amap):
    fake_dashscope.responder = thinking_geo_responder
    book = execute("quickstart.ipynb", tmp_path, kernel_env(tmp_path, fake_dashscope, fake_amap))

    assert "key set" in output_of(book, "config") and FAKE_API_KEY not in output_of(book, "config")
    [answer] = displays_of(book, "ask-weather")  # one display, updated in place
    shown = answer.data["text/markdown"]
    assert "🔧 `get_weather`" in shown and "北京" in shown
    assert "根据查询：" in shown and shown.rstrip().endswith("祝您愉快！")
    weather = fake_amap.requests_to("/v3/weather/weatherInfo")
    assert weather, "the weather tool did not reach the AMap fake"

    [follow_up] = displays_of(book, "ask-follow-up")
    assert "第2轮：好的，那适合去故宫逛逛吗？" in follow_up.data["text/markdown"]
    history = [last_user_text(r) for r in fake_dashscope.requests]
    assert history.count("北京今天天气怎么样？") == 2  # tool call, then the answer
    second = [m.get("content") for m in fake_dashscope.requests[2].messages]
    assert "北京今天天气怎么样？" in second  # the follow-up carried the first turn

    raw = output_of(book, "raw-events")
    assert "'type': 'stream_start'" in raw and "'type': 'stream_end'" in raw
    assert "第1轮：好的，你好" not in raw  # chunked, so no single chunk holds the whole text
    assert "'chunk'" in raw

    [thought] = displays_of(book, "thinking-run")  # reasoning collapsed above the answer
    shown = thought.data["text/markdown"]
    summary, _, answer = shown.partition("</details>")
    assert summary.startswith("<details><summary>💭") and REASONING in summary
    assert answer.strip() == "适合，沿苏堤走一圈约一小时。"


def test_embed_notebook_streams_the_same_dicts(tmp_path, fake_dashscope, fake_amap):
    fake_dashscope.responder = geo_responder
    book = execute(
        "embed_in_your_app.ipynb", tmp_path, kernel_env(tmp_path, fake_dashscope, fake_amap)
    )

    assert "get_weather" in output_of(book, "agent") and "map_draw_route" in output_of(
        book, "agent"
    )
    [answer] = displays_of(book, "run")
    assert answer.data["text/markdown"].startswith("根据查询：")
    events = output_of(book, "events")
    for expected in (
        "'stream_start'",
        "'tool_start'",
        "'search_poi'",
        "'tool_end'",
        "'stream_end'",
    ):
        assert expected in events, events
    assert fake_amap.requests, "the POI tool did not reach the AMap fake"
    # The user's own ChatOpenAI talked to the fake, with the toolkit's tools bound.
    first = fake_dashscope.requests[0]
    assert {t["function"]["name"] for t in first.tools} >= {"get_weather", "search_poi"}

    assert "第2轮：好的，那附近有地铁站吗？" in output_of(book, "follow-up")
    service = output_of(book, "service")
    assert "根据查询：" in service and service.rstrip().endswith("| stream_end")
    assert json.dumps(FAKE_API_KEY) not in json.dumps(nbformat.writes(book))


# -- map --------------------------------------------------------------------------------------

PALACE = (116.397026, 39.918058)  # 故宫 in the AMap fake, GCJ-02
TIANANMEN = (116.397755, 39.908743)
MAP_PLANS = {
    "标出": [
        ToolCall("map_add_markers", {"markers": [{"place": "故宫"}, {"place": "天安门"}]}),
        ToolCall("map_fit_bounds", {"points": [{"place": "故宫"}, {"place": "天安门"}]}),
    ],
    "路线": [
        ToolCall(
            "map_draw_route", {"origin": "天安门", "destination": "北京南站", "mode": "driving"}
        )
    ],
    "咖啡": [ToolCall("search_poi", {"keywords": "咖啡", "near": "天安门"})],
}


def map_responder(request: RecordedRequest) -> Reply:
    """The plan's tool calls one per model call, then an answer."""
    question = last_user_text(request)
    done = 0
    for message in reversed(request.messages):
        if message.get("role") == "user":
            break
        done += message.get("role") == "tool"
    plan = next(calls for key, calls in MAP_PLANS.items() if key in question)
    if done < len(plan):
        return Reply(tool_calls=[plan[done]])
    return Reply(text=f"已在地图上完成：{question}", chunk_size=4)


def leaflet_of(display) -> str:
    """The Leaflet page inside folium's notebook iframe."""
    return html.unescape(display.data["text/html"])


def at(lng: float, lat: float) -> str:
    return f"[{lat}, {lng}]"


def test_map_notebook_draws_places_and_route(tmp_path, fake_dashscope, fake_amap):
    from bailian_geo_agent.tools import gcj02_to_wgs84

    fake_dashscope.responder = map_responder
    book = execute("map.ipynb", tmp_path, kernel_env(tmp_path, fake_dashscope, fake_amap))

    text, places_map = displays_of(book, "ask-places")  # the answer, then the map
    assert "map_add_markers" in text.data["text/markdown"]
    assert "已在地图上完成：在地图上标出故宫和天安门" in text.data["text/markdown"]
    page = leaflet_of(places_map)
    assert "autonavi.com" in page and "openstreetmap" not in page  # GCJ-02 tiles
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "a CDN link"  # offline
    assert 'src="data:text/javascript;base64,' in page  # the packaged Leaflet
    assert page.count("L.marker(") == 2
    assert at(*PALACE) in page and at(*TIANANMEN) in page  # GCJ-02 points, unchanged
    assert "故宫" in page and "fitBounds" in page

    text, route_map = displays_of(book, "ask-route")
    assert "map_draw_route" in text.data["text/markdown"]
    page = leaflet_of(route_map)
    assert "L.polyline(" in page and page.count("L.marker(") == 4  # 2 places + route ends
    assert at(*TIANANMEN) in page and at(116.378517, 39.865246) in page  # 北京南站

    [cell] = [c for c in book.cells if c.get("id") == "osm"]
    osm = leaflet_of(next(o for o in cell.outputs if o.output_type == "execute_result"))
    assert "tile.openstreetmap.org" in osm and "autonavi" not in osm
    assert at(*PALACE) not in osm and at(*gcj02_to_wgs84(*PALACE)) in osm  # converted

    text, _map, links = displays_of(book, "ask-links")  # a lookup: links, no map command
    assert "search_poi" in text.data["text/markdown"]
    check_links_html(links.data["text/html"], 4)
    assert "uri.amap.com/marker?position=116.458795,39.909398&amp;name=" in links.data["text/html"]

    amap_trip, osm_trip = displays_of(book, "trip")
    check_trip(leaflet_of(amap_trip), "gcj02")
    check_trip(leaflet_of(osm_trip), "wgs84")

    ops = output_of(book, "actions")
    assert "['add_markers', 'fit_bounds', 'draw_route']" in ops
    second = [m.get("content") for m in fake_dashscope.requests[-1].messages]
    assert "在地图上标出故宫和天安门" in second  # same session


# -- quickstart: a picture of the map (tools.snapshot) ------------------------------------------


def picture_responder(request: RecordedRequest) -> Reply:
    """thinking_geo_responder, plus markers for the picture cell's question."""
    if "标出" in last_user_text(request):
        if request.messages[-1].get("role") == "tool":
            return Reply(text="已在地图上标出三里屯和国贸。", chunk_size=4)
        return Reply(tool_calls=[ToolCall("map_add_markers", {"markers": [
            {"label": "三里屯", "lng": 116.455, "lat": 39.937},
            {"label": "国贸", "lng": 116.461, "lat": 39.909}]})])
    return thinking_geo_responder(request)


def test_quickstart_shows_the_map_as_an_inline_picture(tmp_path, fake_dashscope, fake_amap):
    import base64
    import io

    from PIL import Image

    from tests.fakes.amap_static import STATIC_MAP_PATH, static_map_answer

    fake_amap.set_response(STATIC_MAP_PATH, static_map_answer)
    fake_dashscope.responder = picture_responder
    book = execute("quickstart.ipynb", tmp_path, kernel_env(tmp_path, fake_dashscope, fake_amap))
    assert "已在地图上标出三里屯和国贸。" in output_of(book, "map-picture")
    [shown] = displays_of(book, "map-picture")
    with Image.open(io.BytesIO(base64.b64decode(shown.data["image/png"]))) as picture:
        assert (picture.format, picture.size) == ("PNG", (640, 400))
    (request,) = fake_amap.requests_to(STATIC_MAP_PATH)
    assert request.params["markers"].count("|") == 1
    assert amap_plugin.FAKE_AMAP_KEY not in json.dumps(book)
STOPS = [(116.397026, 39.918058), (116.396906, 39.925237), (116.403119, 39.937169)]
HOLE_CORNER = (116.39, 39.91)


def _array_after(page: str, marker: str) -> list:
    """The JSON array right after ``marker`` (a Leaflet call's first argument)."""
    start = page.index("[", page.index(marker))
    return json.JSONDecoder().raw_decode(page[start:])[0]


def check_trip(page: str, tiles_crs: str) -> None:
    """The trip cell's map: numbered stops, the area with its hole and the layers, every point
    in the system of the tiles under it."""
    from bailian_geo_agent.tools import Coordinate

    def where(lng: float, lat: float) -> list[float]:
        point = Coordinate(lng, lat, "gcj02").to(tiles_crs)  # type: ignore[arg-type]
        return [point.lat, point.lng]

    assert ("autonavi.com" in page) is (tiles_crs == "gcj02")
    assert page.count('"className": "geo-stop"') == 3
    for number, stop in enumerate(STOPS, 1):
        assert str(where(*stop)) in page, (number, stop)
        assert f"\\u003e{number}\\u003c/div\\u003e" in page  # its number on its marker
    if tiles_crs == "wgs84":
        assert str([STOPS[0][1], STOPS[0][0]]) not in page  # converted, not as sent
    outer, hole = _array_after(page, "L.polygon(")  # one polygon: outer ring, then the hole
    assert outer[0] == pytest.approx(where(116.38, 39.90), abs=1e-9) and len(outer) == 5
    assert hole[0] == pytest.approx(where(*HOLE_CORNER), abs=1e-9) and len(hole) == 5
    groups = {json.loads(f'"{name}"'): var
              for name, var in re.findall(r'"([^"]+)" : (feature_group_\w+)', page)}
    assert set(groups) == {"第1天", "第2天"}
    assert f"{groups['第1天']}.addTo(map_" in page
    assert f"{groups['第2天']}.addTo(map_" not in page  # hidden: in the control, unticked
    assert '"color": "#16a34a"' in page  # the hidden route keeps its colour


def check_links_html(shown: str, count: int) -> None:
    """Buttons with a QR code each, the code segno's own for the button's URL."""
    import segno

    urls = [html.unescape(u) for u in re.findall(r'<a href="([^"]+)"', shown)]
    assert len(urls) == count
    for url in urls:
        code = segno.make(url, error="m")
        assert code.svg_inline(scale=2) in shown  # the QR code of exactly this URL
        assert code.error == "M" and code.version is not None
    assert not re.search(r"""(src|href)=["']?(https?:)?//(?!uri\.amap\.com|www\.openstreetmap)""",
                         shown)  # no script or image from the network


def test_notebook_map_replays_layers_and_clears():
    from bailian_geo_agent.agent.notebook_map import replay

    stops = {"op": "add_stops", "layer": "d1", "stops": []}
    area = {"op": "draw_area", "layer": "d2", "polygons": []}
    marker = {"op": "add_markers", "markers": []}
    view = {"op": "set_view"}
    drawn, shown_view, hidden = replay([view, stops, area, marker])
    assert drawn == [stops, area, marker] and shown_view is None and hidden == set()
    assert replay([stops, area, {"op": "clear", "target": "stops"}])[0] == [area]
    assert replay([stops, area, {"op": "clear", "target": "areas"}])[0] == [stops]
    assert replay([stops, area, marker, {"op": "clear"}])[0] == []
    assert replay([stops, area, {"op": "layer", "name": "d1", "action": "clear"}])[0] == [area]
    hide = {"op": "layer", "name": "d2", "action": "hide"}
    assert replay([area, hide])[2] == {"d2"}
    assert replay([area, hide, {"op": "layer", "name": "d2", "action": "show"}])[2] == set()


def test_notebook_links_html_escapes_and_refuses_script_urls():
    from bailian_geo_agent.agent.notebook_map import links_html
    from bailian_geo_agent.tools.coords import Coordinate
    from bailian_geo_agent.tools.links import links_dicts, place_links

    evil = '<img src=x onerror=alert(1)> & "故宫"'
    links = links_dicts(place_links(Coordinate(116.397026, 39.918058), evil, "open"))
    links.append({"kind": "geo", "label": "x", "url": "javascript:alert(1)"})
    shown = links_html(links)
    assert "<img" not in shown and "&lt;img" in shown
    assert "javascript:" not in shown
    check_links_html(shown, 2)
    assert links_html([]) == ""
