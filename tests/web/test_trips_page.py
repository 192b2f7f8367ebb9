"""The page's part of issue 22 in headless chromium: numbered stops, areas (MultiPolygons with
holes) and named layers placed right on both base maps, hand-off links as buttons with QR codes
a decoder reads, the answer as sanitised Markdown, and a notice when the tiles cannot load.

Map commands and links come as the server sends them: wire forms of ``tools.map_commands`` and
``tools.links``, in the service's own events and SSE framing (``agent.server.sse.encode``),
answered to the page's ``POST /v1/chat/stream`` (no tool of this branch emits them yet)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from itertools import count

import pytest
from bailian_geo_agent.agent.events import (
    FRONT_END_EVENTS,
    Links,
    MapAction,
    StreamChunk,
    StreamEnd,
    StreamStart,
)
from bailian_geo_agent.agent.server.page import install_page
from bailian_geo_agent.agent.server.sse import encode
from bailian_geo_agent.prompts.catalogue import text, use_language
from bailian_geo_agent.tools.coords import Coordinate, gcj02_to_wgs84
from bailian_geo_agent.tools.links import place_links, route_links, search_links
from bailian_geo_agent.tools.map_commands import (
    AddMarkers,
    AddStops,
    Clear,
    DrawArea,
    DrawRoute,
    LabelledPoint,
    LayerCommand,
    Marker,
    Stop,
)

from tests.fakes.dashscope import Reply
from tests.web.conftest import TILE_PNG, TOKEN_A, open_page
from tests.web.test_page import ask, plan_responder, run_axe, wait_idle

TIANANMEN = (116.397755, 39.908743)  # GCJ-02; WGS-84 is gcj02_to_wgs84 of it (tools/coords.py)
PALACE = (116.397026, 39.918058)
JINGSHAN = (116.396887, 39.924988)
DEGREES = 2e-6
PIXELS = 1.5
_ids = count(1)


def square(lng: float, lat: float, half: float) -> list[tuple[float, float]]:
    """A closed square ring around a point."""
    return [(lng - half, lat - half), (lng + half, lat - half), (lng + half, lat + half),
            (lng - half, lat + half), (lng - half, lat - half)]


def to(crs: str, point: tuple[float, float]) -> tuple[float, float]:
    """A GCJ-02 point in ``crs`` (Python's conversion, not the page's)."""
    return point if crs == "gcj02" else gcj02_to_wgs84(*point)


def reply(*events: dict) -> bytes:
    """A whole reply as the server frames it: start, ``events``, end."""
    message, session = f"m{next(_ids)}", "s-trips"
    frames = [StreamStart(message, session).to_dict()]
    for event in events:
        frames.append({**event, "message_id": message, "session_id": session})
    frames.append(StreamEnd(message, session).to_dict())
    return b"".join(encode(frame, n) for n, frame in enumerate(frames, 1))


def actions(*commands) -> list[dict]:
    return [MapAction("", "", command.to_dict()).to_dict() for command in commands]


async def answer_with(page, question: str, *events: dict) -> list[dict]:
    """Ask ``question``; the reply is ``events`` (framed as the server does). Returns the bodies
    the page posted."""
    sent: list[dict] = []

    async def fulfil(route) -> None:
        sent.append(json.loads(route.request.post_data))
        await route.fulfill(status=200, content_type="text/event-stream", body=reply(*events))

    await page.route("**/v1/chat/stream", fulfil, times=1)
    await ask(page, question)
    await wait_idle(page)
    return sent


async def icon_centres(page, selector: str) -> list[dict]:
    """Each icon's centre, in map container pixels, with its text."""
    return await page.evaluate("""selector => {
        const box = document.getElementById('map').getBoundingClientRect();
        return [...document.querySelectorAll(selector)].map(e => {
            const r = e.getBoundingClientRect();
            return {text: e.textContent, x: r.left + r.width / 2 - box.left,
                    y: r.top + r.height / 2 - box.top};
        });
    }""", selector)


async def hit(page, lng: float, lat: float) -> str:
    """The class of what the page shows at a point of the tiles' datum (``''``: no area)."""
    return await page.evaluate("""([lng, lat]) => {
        const box = document.getElementById('map').getBoundingClientRect();
        const p = geoMap.map.latLngToContainerPoint([lat, lng]);
        const e = document.elementFromPoint(box.left + p.x, box.top + p.y);
        return e && e.classList.contains('area') ? e.getAttribute('class') : '';
    }""", [lng, lat])


def trip_commands(crs: str) -> list:
    """Stops 1-3 (sent out of order) and an area: two polygons, the first with a hole."""
    names = {1: ("天安门", TIANANMEN), 2: ("故宫", PALACE), 3: ("景山", JINGSHAN)}
    stops = [Stop(number=n, label=names[n][0], lng=to(crs, names[n][1])[0],
                  lat=to(crs, names[n][1])[1], crs=crs) for n in (2, 3, 1)]
    outer = [to(crs, p) for p in square(*PALACE, 0.01)]
    hole = [to(crs, p) for p in square(*PALACE, 0.003)]
    other = [to(crs, p) for p in square(JINGSHAN[0] + 0.03, JINGSHAN[1], 0.004)]
    area = DrawArea(crs=crs, label="<b>东城区</b>", kind="district",
                    polygons=[[outer, hole], [other]])
    return [AddStops(stops=stops), area]


@pytest.mark.parametrize("crs", ["gcj02", "wgs84"])
async def test_stops_and_areas_sit_right_on_both_base_maps(web_server, chromium, crs):
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    stops_cmd, area_cmd = trip_commands(crs)
    await answer_with(page, "一日游", *actions(stops_cmd, area_cmd))

    for tiles, datum in (("amap", "gcj02"), ("osm", "wgs84")):
        if tiles == "osm":
            await page.select_option("#tiles", "osm")
        state = await page.evaluate("geoMap.state()")
        assert state["crs"] == datum
        # The stops: numbered 1, 2, 3 in visiting order, each where its place is in this datum.
        assert [(s["number"], s["label"]) for s in state["stops"]] == [
            (1, "天安门"), (2, "故宫"), (3, "景山")]
        for stop, place in zip(state["stops"], (TIANANMEN, PALACE, JINGSHAN), strict=True):
            lng, lat = to(datum, place)
            assert abs(stop["lng"] - lng) < DEGREES and abs(stop["lat"] - lat) < DEGREES
        icons = await icon_centres(page, ".stop-number")
        assert [i["text"] for i in icons] == ["1", "2", "3"]
        for icon, stop in zip(icons, state["stops"], strict=True):
            assert abs(icon["x"] - stop["x"]) < PIXELS and abs(icon["y"] - stop["y"]) < PIXELS
        # The area: both polygons, the hole kept, vertices in this datum (Leaflet drops the
        # closing vertex of each ring).
        [area] = state["areas"]
        assert (area["label"], area["kind"]) == ("<b>东城区</b>", "district")
        rings = [[to(datum, p) for p in square(*PALACE, 0.01)],
                 [to(datum, p) for p in square(*PALACE, 0.003)]]
        assert [len(r) for r in area["polygons"][0]] == [4, 4]
        for got, want in zip(area["polygons"][0], rings, strict=True):
            for point, (lng, lat) in zip(got, want[:-1], strict=True):
                assert abs(point["lng"] - lng) < DEGREES and abs(point["lat"] - lat) < DEGREES
        # Drawn there: inside the outer ring an area, in the hole none, at the second polygon
        # an area; the hole's centre taken in the other datum (~550 m off) lands on the area.
        lng, lat = to(datum, PALACE)
        ring_point = to(datum, (PALACE[0] + 0.0065, PALACE[1]))
        assert "area-district" in await hit(page, *ring_point)
        assert await hit(page, lng, lat) == ""
        assert "area-district" in await hit(page, *to(datum, (JINGSHAN[0] + 0.03, JINGSHAN[1])))
        other = "wgs84" if datum == "gcj02" else "gcj02"
        assert "area-district" in await hit(page, *to(other, PALACE))
    assert await page.locator(".leaflet-pane b").count() == 0  # the label stays text
    assert browser.dialogs == [] and browser.outside == [] and browser.console_errors == []


# Tiananmen in both systems, written out (GCJ-02 from WGS-84 by the published formula): the
# page's conversion checked against fixed numbers, not only against tools/coords.py.
KNOWN_WGS84 = (116.391350, 39.907500)
KNOWN_GCJ02 = (116.397591, 39.908901)


async def test_a_known_coordinate_pair_lands_right_on_both_base_maps(web_server, chromium):
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    stop = Stop(number=1, label="天安门", lng=KNOWN_WGS84[0], lat=KNOWN_WGS84[1], crs="wgs84")
    ring = [(KNOWN_GCJ02[0] + dx, KNOWN_GCJ02[1] + dy) for dx, dy in
            ((-1e-3, -1e-3), (1e-3, -1e-3), (1e-3, 1e-3), (-1e-3, 1e-3), (-1e-3, -1e-3))]
    area = DrawArea(crs="gcj02", label="广场", kind="region", polygons=[[ring]])
    await answer_with(page, "天安门", *actions(AddStops(stops=[stop]), area))
    for tiles, (lng, lat) in (("amap", KNOWN_GCJ02), ("osm", KNOWN_WGS84)):
        await page.select_option("#tiles", tiles)
        state = await page.evaluate("geoMap.state()")
        [shown] = state["stops"]
        assert abs(shown["lng"] - lng) < 1e-6 and abs(shown["lat"] - lat) < 1e-6, tiles
        [[outer]] = state["areas"][0]["polygons"]
        centre = (sum(p["lng"] for p in outer) / 4, sum(p["lat"] for p in outer) / 4)
        assert abs(centre[0] - lng) < 1e-5 and abs(centre[1] - lat) < 1e-5, tiles
        [icon] = await icon_centres(page, ".stop-number")
        assert abs(icon["x"] - shown["x"]) < PIXELS and abs(icon["y"] - shown["y"]) < PIXELS
        assert "area-region" in await hit(page, lng + 6e-4, lat)  # beside the stop: its square
        assert await hit(page, lng + 2e-3, lat) == ""
    assert browser.console_errors == []


async def test_layers_hide_show_and_clear(web_server, chromium):
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    day1 = "第1天"
    a, b = TIANANMEN, PALACE
    commands = [
        AddMarkers(markers=[Marker(label="酒店", lng=JINGSHAN[0], lat=JINGSHAN[1], crs="gcj02")]),
        AddStops(layer=day1, color="#ef4444", stops=[
            Stop(number=1, label="天安门", lng=a[0], lat=a[1], crs="gcj02"),
            Stop(number=2, label="故宫", lng=b[0], lat=b[1], crs="gcj02")]),
        DrawRoute(layer=day1, color="#ef4444", crs="gcj02", path=[a, b], mode="walking",
                  origin=LabelledPoint(label="天安门", lng=a[0], lat=a[1], crs="gcj02"),
                  destination=LabelledPoint(label="故宫", lng=b[0], lat=b[1], crs="gcj02"),
                  distance_m=1200.0, duration_s=900.0),
        DrawArea(layer="第2天", crs="gcj02", label="景山公园", kind="aoi",
                 polygons=[[square(*JINGSHAN, 0.002)]]),
    ]
    await answer_with(page, "两天", *actions(*commands))
    state = await page.evaluate("geoMap.state()")
    assert state["layers"] == {day1: {"visible": True, "count": 3},
                               "第2天": {"visible": True, "count": 1}}
    assert [s["color"] for s in state["stops"]] == ["#ef4444"] * 2
    assert await page.eval_on_selector_all(
        ".stop-number", "es => es.map(e => getComputedStyle(e).backgroundColor)") == [
        "rgb(239, 68, 68)"] * 2
    red = 'path.leaflet-interactive[stroke="#ef4444"]'
    assert await page.locator(red).count() == 1
    assert await page.locator("path.area-aoi").count() == 1

    async def drawn() -> tuple[int, int, int, int]:
        return (await page.locator(".stop-number").count(), await page.locator(red).count(),
                await page.locator("path.area-aoi").count(),
                await page.locator("img.leaflet-marker-icon").count())

    await answer_with(page, "隐藏", *actions(LayerCommand(name=day1, action="hide")))
    assert await drawn() == (0, 0, 1, 1)
    state = await page.evaluate("geoMap.state()")
    assert state["layers"][day1] == {"visible": False, "count": 3}
    assert [s["visible"] for s in state["stops"]] == [False, False]
    await answer_with(page, "显示", *actions(LayerCommand(name=day1, action="show")))
    assert await drawn() == (2, 1, 1, 1)
    await answer_with(page, "清除第1天", *actions(LayerCommand(name=day1, action="clear")))
    assert await drawn() == (0, 0, 1, 1)
    state = await page.evaluate("geoMap.state()")
    assert state["stops"] == [] and state["routes"] == [] and len(state["areas"]) == 1
    await answer_with(page, "清除区域", *actions(Clear(target="areas")))
    assert await drawn() == (0, 0, 0, 1)
    await answer_with(page, "全部清除", *actions(Clear(target="all")))
    assert await drawn() == (0, 0, 0, 0)
    assert (await page.evaluate("geoMap.state()"))["layers"] == {}
    assert browser.dialogs == [] and browser.console_errors == []


HOSTILE_URLS = ["javascript:alert(1)", " JavaScript:alert(2)", "java\tscript:alert(3)",
                "data:text/html,<script>alert(4)</script>", "http://example.com/",
                "vbscript:msgbox(5)", "/v1/sessions"]


async def qr_text(page, index: int) -> str:
    """The text a QR decoder (zxing-cpp) reads from the ``index``-th link's canvas."""
    np = pytest.importorskip("numpy")
    zxingcpp = pytest.importorskip("zxingcpp")
    width, height, pixels = await page.evaluate("""i => {
        const c = document.querySelectorAll('.link canvas.qr')[i];
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const grey = [];
        for (let k = 0; k < d.length; k += 4) grey.push(d[k]);
        return [c.width, c.height, grey];
    }""", index)
    image = np.array(pixels, dtype=np.uint8).reshape(height, width)
    image = np.pad(image, 8, constant_values=255)
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1
    return found[0].text


async def test_links_show_as_buttons_with_a_qr_code_and_only_safe_ones_open(web_server,
                                                                             chromium):
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    gcj = Coordinate(*PALACE, "gcj02")
    safe = [*place_links(gcj, "故宫博物院", "amap"),
            *route_links([(Coordinate(*TIANANMEN), "天安门"), (gcj, "故宫"),
                          (Coordinate(*JINGSHAN), "景山")], "walking", "amap"),
            *place_links(gcj, "故宫", "open"),
            *search_links("咖啡", gcj, "open")]
    kinds = {link.url.split(":", 1)[0] for link in safe}
    assert {"https", "geo", "amapuri"} <= kinds  # every safe scheme is shown
    hostile = [{"kind": "osm_marker", "label": f"<img src=x onerror=alert({i})>", "url": url}
               for i, url in enumerate(HOSTILE_URLS)]
    links = [link.to_dict() for link in safe]
    event = Links("", "", "poi_search", [*links, *hostile], "call-1").to_dict()
    sent = await answer_with(page, "故宫怎么去", StreamChunk("", "", "见下方链接。").to_dict(),
                             event)
    assert sent[0]["events"] == list(FRONT_END_EVENTS) and "links" in sent[0]["events"]

    buttons = await page.eval_on_selector_all(
        ".msg.assistant .links a.link-button",
        "as => as.map(a => [a.textContent, a.getAttribute('href'), a.target, a.rel])")
    assert buttons == [[link["label"], link["url"], "_blank", "noopener noreferrer"]
                       for link in links]
    for i, link in enumerate(links):  # the QR code holds the URL, UTF-8 names included
        assert await qr_text(page, i) == link["url"]
    assert await page.locator(".link canvas.qr").count() == len(links)
    labels = await page.eval_on_selector_all(
        ".link canvas.qr", "cs => cs.map(c => [c.getAttribute('role'), c.ariaLabel])")
    with use_language("zh"):
        assert labels == [["img", text("page_link_qr") + link["label"]] for link in links]
        unsafe_note = text("page_link_unsafe")

    # The hostile ones: text only, no link, no QR, nothing runs when clicked.
    shown = await page.eval_on_selector_all(
        ".link-text", "ss => ss.map(s => [s.textContent, s.nextElementSibling.textContent])")
    assert shown == [[f"{h['label']}: {h['url']}", unsafe_note] for h in hostile]
    hrefs = await page.eval_on_selector_all(".msg a[href]", "as => as.map(a => a.href)")
    assert all(h.startswith(("https:", "geo:", "amapuri:")) for h in hrefs), hrefs
    for span in await page.query_selector_all(".link-text"):
        await span.click()
    await page.wait_for_timeout(200)
    assert browser.dialogs == [] and await page.locator(".msg img").count() == 0
    assert browser.console_errors == []
    assert [v for v in await run_axe(page) if v["impact"] in ("critical", "serious")] == []


MARKDOWN = """**一日游**安排如下：

1. 上午：**故宫**
2. 中午：南锣鼓巷*午饭*
3. 下午：[798 艺术区](https://uri.amap.com/search?keyword=798)

| 站 | 地点 | 用时 |
|:--|:--|--:|
| 1 | 天安门 | 30 分钟 |
| 2 | 故宫 | 3 小时 |

- 注意 `周一闭馆`
<img src=x onerror=alert(1)>
<script>alert(2)</script>

[点我](javascript:alert(3)) [再点](JAVASCRIPT:alert(4)) [数据](data:text/html,<b>x</b>)
<a href="javascript:alert(5)">链接</a> ![跟踪](https://tracker.example/p.png)
<svg onload=alert(6)></svg><iframe src="https://evil.example/"></iframe>
<javascript:alert(7)> <details open ontoggle=alert(8)>x</details>
<style>body{display:none}</style><form action="https://evil.example/"><button>提交</button></form>
"""


async def test_the_answer_renders_as_markdown_and_nothing_in_it_runs(web_server, chromium,
                                                                    fake_dashscope):
    fake_dashscope.script(Reply(text=MARKDOWN, chunk_size=8, chunk_delay=0.01))
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    await page.evaluate("""() => {  // what the answer looked like while it streamed
        window.renders = [];
        new MutationObserver(() => {
            const m = document.querySelector('.msg.assistant:last-child');
            if (m) window.renders.push([m.classList.contains('streaming'),
                                        m.querySelectorAll('.md strong, .md li').length]);
        }).observe(document.getElementById('messages'), {subtree: true, childList: true,
                                                          characterData: true});
    }""")
    await ask(page, "安排一日游")
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant:last-child .md td')")
    await wait_idle(page)
    answer = ".msg.assistant:last-child .md"
    assert await page.eval_on_selector_all(f"{answer} strong", "es => es.map(e => e.textContent)"
                                           ) == ["一日游", "故宫"]
    assert await page.eval_on_selector_all(f"{answer} ol > li", "es => es.length") == 3
    assert await page.eval_on_selector_all(f"{answer} em", "es => es.map(e => e.textContent)"
                                           ) == ["午饭"]
    rows = await page.eval_on_selector_all(
        f"{answer} table tr", "rs => rs.map(r => [...r.children].map(c => c.textContent))")
    assert rows == [["站", "地点", "用时"], ["1", "天安门", "30 分钟"], ["2", "故宫", "3 小时"]]
    assert await page.eval_on_selector(f"{answer} td:last-child",
                                       "e => getComputedStyle(e).textAlign") == "right"
    links = await page.eval_on_selector_all(
        f"{answer} a",
        "as => as.map(a => [a.textContent, a.getAttribute('href'), a.target, a.rel])")
    assert links == [["798 艺术区", "https://uri.amap.com/search?keyword=798", "_blank",
                      "noopener noreferrer"]]
    renders = await page.evaluate("window.renders")
    assert any(streaming and n > 0 for streaming, n in renders)  # Markdown while streaming

    # Nothing from the answer is markup that runs or loads: its HTML shows as text.
    shown = await page.eval_on_selector(answer, "e => e.textContent")
    for raw in ("<img src=x onerror=alert(1)>", "<script>alert(2)</script>",
                '<a href="javascript:alert(5)">链接</a>', "<svg onload=alert(6)></svg>"):
        assert raw in shown, raw
    assert "点我" in shown and "跟踪" in shown
    for tag in ("img", "script", "svg", "iframe", "style", "form", "button", "details", "input"):
        assert await page.locator(f".msg {tag}").count() == 0, tag
    assert await page.locator(".msg [onerror], .msg [onload], .msg [ontoggle]").count() == 0
    for a in await page.query_selector_all(f"{answer} a, {answer} p"):
        await a.click(modifiers=["Alt"])  # nothing opens a dialog (Alt: no new tab)
    await page.wait_for_timeout(200)
    assert browser.dialogs == []
    assert browser.outside == []  # no tracker or evil request left the page
    assert browser.console_errors == []  # and no CSP violation (no inline style or script)
    assert await page.evaluate("getComputedStyle(document.body).display") != "none"
    assert [v for v in await run_axe(page) if v["impact"] in ("critical", "serious")] == []


def dead_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def page_only() -> Iterator[tuple[str, int]]:
    """The page alone (``install_page``) served by uvicorn on loopback: its AMap tiles at a dead
    port, its OpenStreetMap tiles (a real PNG) from the same server. Yields (base URL, the dead
    port)."""
    import uvicorn
    from fastapi import FastAPI
    from starlette.responses import Response

    dead = dead_port()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections wait in the backlog until uvicorn serves them: no start poll
    port = sock.getsockname()[1]
    app = FastAPI()

    @app.get("/tiles/{z}/{x}/{y}.png")
    async def tile(z: int, x: int, y: int) -> Response:
        return Response(TILE_PNG["openstreetmap"], media_type="image/png")

    tiles = {"amap": f"http://127.0.0.1:{dead}/{{z}}/{{x}}/{{y}}.png",
             "osm": f"http://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}.png"}
    apps = {}
    for lang in ("zh", "en"):
        apps[lang] = FastAPI()
        install_page(apps[lang], lang, tiles=tiles)
    root = FastAPI()
    root.mount("/zh", apps["zh"])
    root.mount("/en", apps["en"])
    root.mount("", app)
    server = uvicorn.Server(uvicorn.Config(root, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", dead
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_tiles_that_cannot_load_are_reported(page_only, chromium, lang):
    base, dead = page_only
    browser = await open_page(chromium, f"{base}/{lang}/",
                              passthrough=(f"http://127.0.0.1:{dead}/", f"{base}/tiles/"))
    page = browser.page
    notice = page.locator("#map-notice")
    await notice.wait_for(state="visible")
    with use_language(lang):
        assert await notice.text_content() == text("page_tiles_failed")
    assert await notice.get_attribute("role") == "alert"
    assert (await page.evaluate("geoMap.state()"))["tilesOk"] is False
    await page.select_option("#tiles", "osm")  # tiles that load: the notice goes
    await notice.wait_for(state="hidden")
    # a tile is shown (waited for: the notice may go on the layer's "load" before one is drawn)
    await page.locator("img.leaflet-tile-loaded").first.wait_for()
    await page.select_option("#tiles", "amap")
    await notice.wait_for(state="visible")
    assert browser.outside == []



def frames_of(body: str) -> list[dict]:
    """The events of an SSE body (comments and keep-alives skipped)."""
    frames = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if data:
            frames.append(json.loads("\n".join(data)))
    return frames


async def test_links_come_back_after_a_reload(web_server, chromium, fake_dashscope):
    """A reply from the real server (a stored session) with a links event added before its end,
    as a tool's result would carry it: after a reload the links show under that answer again."""
    fake_dashscope.responder = plan_responder([], answer="故宫在这里。")
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    links = [link.to_dict() for link in place_links(Coordinate(*PALACE), "故宫", "amap")]

    async def add_links(route) -> None:
        response = await route.fetch()
        frames = frames_of(await response.text())
        start, end = frames[0], frames[-1]
        assert (start["type"], end["type"]) == ("stream_start", "stream_end")
        added = Links(start["message_id"], start["session_id"], "poi_search", links).to_dict()
        framed = [*frames[:-1], added, end]
        await route.fulfill(status=200, content_type="text/event-stream",
                            body=b"".join(encode(f, n) for n, f in enumerate(framed, 1)))

    await page.route("**/v1/chat/stream", add_links, times=1)
    await ask(page, "故宫在哪")
    await wait_idle(page)
    fake_dashscope.responder = plan_responder([], answer="还有别的吗？")
    await ask(page, "谢谢")  # a second turn, without links
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant:last-child .text')?.textContent"
        " === '还有别的吗？'")
    await wait_idle(page)

    async def shown() -> list:
        return await page.eval_on_selector_all(".msg.assistant", """ms => ms.map(m => [
            m.querySelector('.text').textContent,
            [...m.querySelectorAll('a.link-button')].map(a => a.getAttribute('href'))])""")

    expected = [["故宫在这里。", [links[0]["url"]]], ["还有别的吗？", []]]
    assert await shown() == expected
    await page.reload()
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    assert await shown() == expected  # the history's answers, the links under the first
    assert await qr_text(page, 0) == links[0]["url"]
    await page.click("#new-chat")
    assert await page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('geo-agent.links.'))") == []
    assert browser.dialogs == [] and browser.console_errors == []


async def test_an_itinerary_with_links_fits_a_phone(web_server, chromium):
    """A wide itinerary table and a route's links on a 390 px screen: nothing overflows the
    page (the table wraps, or scrolls in its own box), the QR codes show at their own size."""
    browser = await open_page(chromium, web_server.url + "/", viewport=(390, 844),
                              token=TOKEN_A)
    page = browser.page
    table = "| 站 | 地点 | 到达 | 离开 | 交通 | 备注 |\n|--|--|--|--|--|--|\n" + "".join(
        f"| {i} | 北京市东城区景山前街4号故宫博物院{i} | 09:{i}0 | 11:{i}0 | 步行 1.2 公里 |"
        " 周一闭馆 |\n" for i in range(1, 6))
    links = route_links([(Coordinate(*TIANANMEN), "天安门"), (Coordinate(*PALACE), "故宫"),
                         (Coordinate(*JINGSHAN), "景山")], "walking", "amap")
    await answer_with(page, "行程", StreamChunk("", "", table).to_dict(),
                      Links("", "", "plan_trip", [link.to_dict() for link in links]).to_dict())
    assert await page.locator(".msg.assistant .md table tr").count() == 6
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    for box in [await page.locator(s).bounding_box() for s in (".md table", ".links")]:
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390.5, box
    sizes = await page.eval_on_selector_all(
        ".link canvas.qr", "cs => cs.map(c => [c.width, c.getBoundingClientRect().width])")
    assert len(sizes) == len(links) and all(shown == drawn for drawn, shown in sizes), sizes
