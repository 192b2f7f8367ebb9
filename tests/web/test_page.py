"""The web page at ``/`` in headless chromium against a real ``geo-agent serve`` and the
DashScope fake: streaming, tools, the map on both tile layers, stop, reload, errors, safety,
accessibility, phone size."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from bailian_geo_agent.prompts.catalogue import text
from bailian_geo_agent.tools.coords import gcj02_to_wgs84, wgs84_to_gcj02

from tests.fakes.dashscope import RecordedRequest, Reply, ToolCall
from tests.web.conftest import AXE, REPO, TOKEN_A, open_page, require

XSS = "<img src=x onerror=alert(1)>"
TIANANMEN = (116.397755, 39.908743)  # GCJ-02
PALACE = (116.397026, 39.918058)
SOUTH_STATION = (116.378517, 39.865246)
ROUTE = [TIANANMEN, (116.391, 39.9), (116.385, 39.88), SOUTH_STATION]
ANSWER = "已在地图上标出天安门、故宫，并画出去北京南站的路线。"
DEGREES = 2e-6  # the commands carry 6 decimals
PIXELS = 1.5


def plan_responder(calls: list[ToolCall], answer: str = ANSWER, **reply):
    """The model: the plan's tool calls one per turn, then ``answer`` in small delayed chunks."""
    def responder(request: RecordedRequest) -> Reply:
        done = 0
        for message in reversed(request.messages):
            if message.get("role") == "user":
                break
            done += message.get("role") == "tool"
        if done < len(calls):
            return Reply(tool_calls=[calls[done]])
        return Reply(text=answer, chunk_size=2, chunk_delay=0.03, **reply)
    return responder


def map_plan(crs: str = "gcj02", points=(TIANANMEN, PALACE), route=ROUTE) -> list[ToolCall]:
    (a_lng, a_lat), (b_lng, b_lat) = points
    return [
        ToolCall("map_add_markers", {"markers": [
            {"label": "天安门", "lng": a_lng, "lat": a_lat, "crs": crs},
            {"label": XSS, "lng": b_lng, "lat": b_lat, "crs": crs,
             "description": "<b>故宫</b><script>alert(2)</script>"}]}),
        ToolCall("map_draw_route", {"path": [{"lng": x, "lat": y} for x, y in route],
                                    "crs": crs}),
        ToolCall("map_fit_bounds", {"points": [{"lng": x, "lat": y, "crs": crs}
                                               for x, y in (*points, route[-1])]}),
    ]


async def ask(page, question: str) -> None:
    await page.fill("#question", question)
    await page.press("#question", "Enter")


async def last_answer(page) -> str:
    return await page.eval_on_selector(".msg.assistant:last-child .text", "e => e.textContent")


async def wait_idle(page) -> None:
    """The reply is over: the send button is back, the stop button gone."""
    await page.wait_for_function("() => !document.getElementById('send').disabled"
                                 " && document.getElementById('stop').hidden")


async def check_map(page, expected_markers, expected_route) -> dict:
    """Markers and route where expected (degrees, as Leaflet holds them) and drawn there on
    the page (pixels: the icon's anchor, the path's SVG points, both from the DOM)."""
    state = await page.evaluate("geoMap.state()")
    got = {m["label"]: m for m in state["markers"]}
    assert set(got) == set(expected_markers), got
    for label, (lng, lat) in expected_markers.items():
        assert abs(got[label]["lng"] - lng) < DEGREES and abs(got[label]["lat"] - lat) < DEGREES
    [route] = state["routes"]
    assert len(route["path"]) == len(expected_route)
    for point, (lng, lat) in zip(route["path"], expected_route, strict=True):
        assert abs(point["lng"] - lng) < DEGREES and abs(point["lat"] - lat) < DEGREES
    # The DOM: each marker icon's anchor (bottom centre) sits on its point's container pixel.
    icons = await page.evaluate("""() => {
        const box = document.getElementById('map').getBoundingClientRect();
        return [...document.querySelectorAll('.leaflet-marker-icon')].map(img => {
            const r = img.getBoundingClientRect();
            return {alt: img.alt, x: r.left + r.width / 2 - box.left, y: r.bottom - box.top};
        });
    }""")
    assert sorted(i["alt"] for i in icons) == sorted(expected_markers)
    for icon in icons:
        marker = got[icon["alt"]]
        assert abs(icon["x"] - marker["x"]) < PIXELS and abs(icon["y"] - marker["y"]) < PIXELS
    # The route's SVG path passes through its first and last points' pixels.
    ends = await page.evaluate("""() => {
        const box = document.getElementById('map').getBoundingClientRect();
        const path = document.querySelector('path.leaflet-interactive[stroke="#1d4ed8"]');
        const m = path.getScreenCTM(), len = path.getTotalLength();
        return [0, len].map(at => {
            const p = path.getPointAtLength(at);
            return {x: p.x * m.a + m.e - box.left, y: p.y * m.d + m.f - box.top};
        });
    }""")
    for end, point in zip(ends, (route["path"][0], route["path"][-1]), strict=True):
        assert abs(end["x"] - point["x"]) < PIXELS and abs(end["y"] - point["y"]) < PIXELS
    return state


async def switch_tiles(browser, key: str) -> None:
    """Choose the tiles in the page's select; wait until only that server's tiles are shown."""
    await browser.page.select_option("#tiles", key)
    host = "autonavi.com" if key == "amap" else "tile.openstreetmap.org"
    await browser.page.wait_for_function("""host => {
        const tiles = [...document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile')];
        return tiles.length > 0 && tiles.every(t => t.src.includes(host) && t.complete);
    }""", arg=host)
    assert any(host in u for u in browser.tiles)


async def test_an_answer_streams_and_the_map_draws_it_on_both_tile_layers(
        web_server, chromium, fake_dashscope, tmp_path):
    fake_dashscope.responder = plan_responder(map_plan())
    browser = await open_page(chromium, web_server.url + "/")
    page = browser.page
    assert await page.title() == "地理助手 · bailian-geo-agent"

    await ask(page, "在地图上标出天安门和故宫，画出去北京南站的路线")  # Enter sends
    # The server wants a token: the page asks for one and then sends the question again.
    await page.wait_for_selector("#token-form:not([hidden])")
    assert "令牌" in await page.text_content("#token-hint")
    await page.fill("#token", TOKEN_A)
    await page.evaluate("""() => {  // every length the answer's text goes through
        window.lengths = [];
        new MutationObserver(() => {
            const t = document.querySelector('.msg.assistant:last-child .text');
            if (t) window.lengths.push(t.textContent.length);
        }).observe(document.getElementById('messages'),
                   {subtree: true, childList: true, characterData: true});
    }""")
    await page.click("#token-form button[type=submit]")
    await page.wait_for_function(
        "t => document.querySelector('.msg.assistant:last-child .text')?.textContent === t",
        arg=ANSWER)
    await wait_idle(page)
    assert not await page.is_visible("#token-form")
    lengths = sorted(set(await page.evaluate("window.lengths")))
    assert len(lengths) > 5, lengths  # streamed piece by piece, not at once
    question = "在地图上标出天安门和故宫，画出去北京南站的路线"
    assert await page.text_content(".msg.user .text") == question
    chips = await page.eval_on_selector_all(
        ".tool", "cs => cs.map(c => [c.textContent, c.className])")
    assert chips == [["添加标记", "tool done"], ["绘制路线", "tool done"],
                     ["缩放地图", "tool done"]]

    # AMap tiles (GCJ-02): the points as sent.
    assert await page.input_value("#tiles") == "amap"
    assert any("autonavi.com" in u for u in browser.tiles)
    markers = {"天安门": TIANANMEN, XSS: PALACE}
    amap = await check_map(page, markers, ROUTE)
    assert amap["crs"] == "gcj02"
    shot = tmp_path / "screenshot.png"  # the README's (WEB_UPDATE_SCREENSHOT=1 copies it)
    await page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    if os.environ.get("WEB_UPDATE_SCREENSHOT"):
        shutil.copy(shot, REPO / "docs" / "screenshot.png")

    # OpenStreetMap tiles (WGS-84): converted in the page, to the tools' own conversion.
    await switch_tiles(browser, "osm")
    osm = await check_map(page, {k: gcj02_to_wgs84(*v) for k, v in markers.items()},
                          [gcj02_to_wgs84(*p) for p in ROUTE])
    assert osm["crs"] == "wgs84"
    shift = (osm["markers"][0]["lng"] - TIANANMEN[0], osm["markers"][0]["lat"] - TIANANMEN[1])
    assert -0.008 < shift[0] < -0.004 and -0.003 < shift[1] < -0.0005  # ~550 m west-south-west
    await page.screenshot(path=str(tmp_path / "page-osm.png"))
    await switch_tiles(browser, "amap")
    await check_map(page, markers, ROUTE)

    # Provider text stays text: the label and the popup show the characters, run nothing.
    tooltips = await page.eval_on_selector_all(".leaflet-tooltip",
                                               "ts => ts.map(t => t.textContent)")
    assert XSS in tooltips and "天安门" in tooltips
    await page.click(f'img.leaflet-marker-icon[alt="{XSS}"]')
    popup = await page.wait_for_selector(".leaflet-popup-content")
    assert await popup.text_content() == XSS + "<b>故宫</b><script>alert(2)</script>"
    injected = ("img[src='x'], .leaflet-popup-content b, .leaflet-popup-content script,"
                " .leaflet-tooltip img, .msg img")
    assert await page.evaluate(f"document.querySelectorAll({injected!r}).length") == 0
    await page.keyboard.press("Escape")
    assert browser.dialogs == []
    assert browser.outside == []  # no CDN: nothing but the server and the (answered) tiles
    assert [e for e in browser.console_errors if "status of 401" not in e] == []  # no CSP block


async def test_stop_stops_the_reply_and_the_session_goes_on(web_server, chromium, fake_dashscope):
    fake_dashscope.script(Reply(text="很长的回答" * 100, chunk_size=2, chunk_delay=0.02))
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    await ask(page, "讲一个很长的故事")
    await page.wait_for_selector("#stop:not([hidden]):not([disabled])")
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant .text')?.textContent.length > 10")
    await page.click("#stop")
    await wait_idle(page)
    alert = page.locator(".msg.assistant [role=alert]")
    assert await alert.text_content() == text("cancelled")
    shown = await last_answer(page)
    assert 10 < len(shown) < 500 and "很长的回答".startswith(shown[:5])
    await page.wait_for_timeout(300)
    assert await last_answer(page) == shown  # nothing more arrives
    await ask(page, "还在吗")
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant:last-child .text')?.textContent"
        " === 'ECHO[2]: 还在吗'")
    await wait_idle(page)
    await page.reload()  # the stopped answer is still marked (the history's interrupted flag)
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    (stopped, mark), after = await page.eval_on_selector_all(
        ".msg.assistant", "ms => ms.map(m => [m.querySelector('.text').textContent, "
        "m.querySelector('.interrupted')?.textContent ?? null])")
    assert stopped.startswith(shown) and mark == "（回答被中断）"  # what the server had sent
    assert after == ["ECHO[2]: 还在吗", None]
    assert browser.dialogs == []


async def test_a_reload_keeps_the_conversation_and_the_map(web_server, chromium, fake_dashscope):
    fake_dashscope.responder = plan_responder(map_plan())
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    await ask(page, "标出天安门和故宫")
    await page.wait_for_function(
        "t => document.querySelector('.msg.assistant:last-child .text')?.textContent === t",
        arg=ANSWER)
    await wait_idle(page)
    session = await page.evaluate("localStorage.getItem('geo-agent.session')")
    assert session

    await page.reload()
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    assert await page.eval_on_selector_all(".msg .text", "ts => ts.map(t => t.textContent)") == [
        "标出天安门和故宫", ANSWER]
    assert await page.eval_on_selector_all(".tool", "cs => cs.map(c => c.textContent)") == [
        "添加标记", "绘制路线", "缩放地图"]
    await check_map(page, {"天安门": TIANANMEN, XSS: PALACE}, ROUTE)  # commands replayed
    assert browser.dialogs == []

    fake_dashscope.responder = plan_responder([], answer=XSS + "第二轮")  # the model's text too
    await ask(page, "然后呢")
    await page.wait_for_function(
        "t => document.querySelector('.msg.assistant:last-child .text')?.textContent === t",
        arg=XSS + "第二轮")
    assert await page.locator(".msg img").count() == 0
    assert await page.evaluate("localStorage.getItem('geo-agent.session')") == session
    sent = fake_dashscope.requests[-1].messages
    assert "标出天安门和故宫" in [m.get("content") for m in sent]  # the same conversation
    await wait_idle(page)

    await page.click("#new-chat")
    assert await page.evaluate("localStorage.getItem('geo-agent.session')") is None
    assert await page.locator(".msg").count() == 0
    assert (await page.evaluate("geoMap.state()"))["markers"] == []
    assert browser.dialogs == []


LONG = "".join(f"第{i}句。" for i in range(120))  # no two chunks alike: a repeat would show


async def reload_mid_answer(page, at: int) -> list[dict]:
    """Reload once the answer shows ``at`` characters; the resume requests the page then made."""
    await page.wait_for_function(
        "n => document.querySelector('.msg.assistant:last-child .text')?.textContent.length >= n",
        arg=at)
    resumes: list[dict] = []
    page.on("request", lambda r: "/events" in r.url and resumes.append(r.headers))
    await page.reload()
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    return resumes


async def test_a_reload_mid_answer_resumes_it(web_server, chromium, fake_dashscope):
    stall = 40  # chunks of 2 characters: the reload lands in the stall
    fake_dashscope.script(Reply(text=LONG, chunk_size=2, chunk_delay=0.005, stall_after=stall,
                                stall_seconds=1.0))
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    await ask(page, "慢慢讲")
    resumes = await reload_mid_answer(page, 2 * stall)
    await page.wait_for_function(
        "t => document.querySelector('.msg.assistant:last-child .text')?.textContent === t",
        arg=LONG)
    await wait_idle(page)
    assert len(resumes) == 1 and int(resumes[0]["last-event-id"]) > 1, resumes  # not from 0
    assert await page.eval_on_selector_all(".msg .text", "ts => ts.map(t => t.textContent)") == [
        "慢慢讲", LONG]
    assert await page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('geo-agent.reply.'))") == []
    await page.reload()  # over: the history, nothing resumed
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    assert await page.eval_on_selector_all(".msg .text", "ts => ts.map(t => t.textContent)") == [
        "慢慢讲", LONG]
    assert browser.dialogs == [] and browser.console_errors == []


async def test_stop_stops_a_resumed_reply(web_server, chromium, fake_dashscope):
    fake_dashscope.script(Reply(text=LONG * 3, chunk_size=2, chunk_delay=0.02))
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    await ask(page, "讲很久")
    resumes = await reload_mid_answer(page, 20)
    await page.wait_for_selector("#stop:not([hidden]):not([disabled])")
    shown = len(await last_answer(page))
    await page.wait_for_function(  # the resumed reply streams on into the same bubble
        "n => document.querySelector('.msg.assistant:last-child .text').textContent.length > n",
        arg=shown)
    await page.click("#stop")
    await wait_idle(page)
    assert len(resumes) == 1
    alert = page.locator(".msg.assistant [role=alert]")
    assert await alert.text_content() == text("cancelled")
    answer = await last_answer(page)
    assert 20 < len(answer) < len(LONG * 3) and (LONG * 3).startswith(answer)
    assert await page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('geo-agent.reply.'))") == []


async def test_a_reply_that_cannot_be_resumed_is_forgotten_silently(web_server, chromium,
                                                                   fake_dashscope):
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    await ask(page, "你好")
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant:last-child .text')?.textContent"
        " === 'ECHO[1]: 你好'")
    await wait_idle(page)
    key = await page.evaluate("""() => {  // a reply whose log is gone (expired, unknown): 404
        const key = 'geo-agent.reply.' + localStorage.getItem('geo-agent.session');
        localStorage.setItem(key, JSON.stringify({messageId: 'gone', lastId: '3', turn: 0,
            sid: localStorage.getItem('geo-agent.session'), question: '你好', text: 'EC',
            tools: []}));
        return key;
    }""")
    await page.reload()
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    assert await page.eval_on_selector_all(".msg .text", "ts => ts.map(t => t.textContent)") == [
        "你好", "ECHO[1]: 你好"]
    assert await page.locator(".msg [role=alert]").count() == 0
    assert await page.evaluate("k => localStorage.getItem(k)", key) is None
    await wait_idle(page)


async def test_an_error_event_is_shown_as_an_error(web_server, chromium, fake_dashscope):
    fake_dashscope.script(Reply(text="这是一段会被拦截的回答", moderation_after=3))
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    await ask(page, "说点什么")
    alert = await page.wait_for_selector(".msg.assistant [role=alert]")
    assert await alert.text_content() == text("moderation")
    assert await alert.evaluate("e => getComputedStyle(e).color") == "rgb(185, 28, 28)"
    await wait_idle(page)


async def run_axe(page) -> list[dict]:
    """axe-core (npm, tests/js) in the page: the violations, as axe reports them."""
    require("axe-core (cd tests/js && npm ci)", AXE.exists())
    await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    return await page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations.map(v => ({id: v.id, impact: v.impact,
        nodes: v.nodes.map(n => n.target.join(' '))}))""")


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
async def test_the_page_is_accessible_and_fits_the_viewport(web_server, chromium, fake_dashscope,
                                                            viewport, tmp_path):
    fake_dashscope.responder = plan_responder(map_plan())
    browser = await open_page(chromium, web_server.url + "/", viewport=viewport, token=TOKEN_A)
    page = browser.page
    await ask(page, "标出天安门和故宫")
    await page.wait_for_function(
        "t => document.querySelector('.msg.assistant:last-child .text')?.textContent === t",
        arg=ANSWER)
    await wait_idle(page)
    violations = await run_axe(page)
    print(json.dumps(violations, ensure_ascii=False))
    assert [v for v in violations if v["impact"] == "critical"] == []
    width = viewport[0]
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in ("#question", "#send", "#map", "#tiles", "#new-chat"):
        box = await page.locator(selector).bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)
    map_box = await page.locator("#map").bounding_box()
    assert map_box["height"] >= 250
    await check_map(page, {"天安门": TIANANMEN, XSS: PALACE}, ROUTE)
    await page.screenshot(path=str(tmp_path / f"page-{viewport[0]}x{viewport[1]}.png"))


def as_wgs84(point: tuple[float, float]) -> tuple[float, float]:
    return gcj02_to_wgs84(*point)


async def test_wgs84_commands_sit_right_on_both_layers(fake_dashscope_server, fake_dashscope,
                                                       chromium, tmp_path):
    """A server sending WGS-84 (``GEO_MAP_CRS=wgs84``, the open providers' datum): as sent on
    OpenStreetMap, converted to GCJ-02 on AMap, so each marker lands on the same place."""
    from tests.web.conftest import start_server, web_server_env

    env = web_server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                         GEO_MAP_CRS="wgs84")
    server = start_server(tmp_path, env)
    try:
        wgs = [as_wgs84(p) for p in ROUTE]
        marks = {"天安门": as_wgs84(TIANANMEN), XSS: as_wgs84(PALACE)}
        fake_dashscope.responder = plan_responder(
            map_plan("wgs84", points=(marks["天安门"], marks[XSS]), route=wgs))
        browser = await open_page(chromium, server.url + "/", token=TOKEN_A)
        page = browser.page
        await ask(page, "标出天安门和故宫")
        await page.wait_for_function(
            "t => document.querySelector('.msg.assistant:last-child .text')?.textContent === t",
            arg=ANSWER)
        # AMap: WGS-84 converted to GCJ-02, back where the GCJ-02 points are.
        amap = await check_map(page, {k: wgs84_to_gcj02(*v) for k, v in marks.items()},
                               [wgs84_to_gcj02(*p) for p in wgs])
        for got, want in ((amap["markers"][0], TIANANMEN), (amap["markers"][1], PALACE)):
            assert abs(got["lng"] - want[0]) < 1e-5 and abs(got["lat"] - want[1]) < 1e-5
        await switch_tiles(browser, "osm")
        await check_map(page, marks, wgs)  # as sent
        assert browser.dialogs == [] and browser.outside == []
    finally:
        server.stop()
