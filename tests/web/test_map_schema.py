"""What the page and the server agree on: the map commands' JSON Schema (committed beside the
page, generated from ``tools.map_commands``), the optional events the page asks for and the tools'
names, both read from the server. The browser test checks the commands the page handles."""

from __future__ import annotations

import json
import re

import httpx
import jsonschema
import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.config import Settings
from bailian_geo_agent.agent.events import FRONT_END_EVENTS, OPTIONAL_EVENTS
from bailian_geo_agent.agent.server.app import create_app
from bailian_geo_agent.agent.server.page import (
    CONFIG_ELEMENT,
    MAP_ACTION_SCHEMA_FILE,
    map_action_schema_text,
    page_config,
    render_index,
    tool_names,
)
from bailian_geo_agent.agent.server.settings import ServerSettings
from bailian_geo_agent.prompts import catalogue
from bailian_geo_agent.prompts.catalogue import LANGUAGES
from bailian_geo_agent.tools.map_commands import AddStops, DrawArea, LayerCommand, Stop
from bailian_geo_agent.tools.toolkit import LOOKUP_TOOLS, MAP_TOOLS

from tests.fakes.dashscope import ToolCall
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.web.conftest import TOKEN_A, open_page
from tests.web.test_page import ask, plan_responder, wait_idle
from tests.web.test_trips_page import actions, answer_with, square

SCHEMA = json.loads(MAP_ACTION_SCHEMA_FILE.read_text(encoding="utf-8"))
SCHEMA_OPS = [SCHEMA["$defs"][ref["$ref"].removeprefix("#/$defs/")]["properties"]["op"]["const"]
              for ref in SCHEMA["oneOf"]]
TOOLS = [cls.model_fields["name"].default for cls in (*LOOKUP_TOOLS, *MAP_TOOLS)]
HAN = re.compile(r"[\u4e00-\u9fff]")


def served_config(html: str) -> dict:
    """The page configuration written into the served ``index.html``."""
    start = html.index(CONFIG_ELEMENT) + len(CONFIG_ELEMENT)
    return json.loads(html[start:html.index("</script>", start)])


def test_the_committed_schema_is_the_generated_one():
    assert MAP_ACTION_SCHEMA_FILE.read_text(encoding="utf-8") == map_action_schema_text(), (
        "a map command changed: python -m bailian_geo_agent.agent.server.page rewrites "
        f"{MAP_ACTION_SCHEMA_FILE.name}")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA_OPS == ["set_view", "add_markers", "draw_route", "fit_bounds", "clear",
                          "add_stops", "draw_area", "layer"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_tool_has_a_name_in_every_language(lang):
    names = tool_names(lang)
    assert list(names) == TOOLS and len(TOOLS) == 20
    assert len(set(names.values())) == len(names)  # no two tools look alike
    for tool, name in names.items():
        assert name and name != tool
        assert bool(HAN.search(name)) is (lang == "zh"), (tool, name)


def test_the_page_config_is_escaped_inside_its_element(monkeypatch):
    hostile = "</script><img src=x onerror=alert(1)>&"
    monkeypatch.setitem(catalogue.CATALOGUE, "tool_name_map_clear", {"zh": hostile, "en": "x"})
    render_index.cache_clear()
    try:
        html = render_index("zh")
    finally:
        render_index.cache_clear()
    assert html.count("</script>") == 3  # leaflet.js, main.js, the configuration: no more
    assert "<img" not in html
    assert served_config(html)["tools"]["map_clear"] == hostile


async def test_the_server_serves_the_config_in_the_services_language(fake_dashscope,
                                                                     monkeypatch):
    for lang in LANGUAGES:
        other = "en" if lang == "zh" else "zh"
        monkeypatch.setenv("GEO_AGENT_LANGUAGE", other)  # the service's setting wins
        settings = Settings(api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
                            session_store_url="memory://", language=lang)
        service = StreamChatService(settings, tools=[])
        app = create_app(service, ServerSettings())
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            page = await client.get("/")
        await service.aclose()
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        config = served_config(page.text)
        assert config == page_config(lang) and config["language"] == lang
        assert config["events"] == ["map_action", "tool_start", "tool_end", "links", "source"]
        assert set(config["events"]) == set(FRONT_END_EVENTS) < OPTIONAL_EVENTS
        assert config["tools"] == tool_names(lang)


# Records every command the page executes and whether it did (main.js sets window.geoMap
# before any command arrives; its apply is the map's own).
RECORDER = """(() => {
  window.applied = [];
  let map;
  Object.defineProperty(window, "geoMap", {
    configurable: true,
    get() { return map; },
    set(value) {
      map = value;
      const apply = value.apply.bind(value);
      value.apply = (action) => {
        const handled = apply(action);
        window.applied.push({ action: JSON.parse(JSON.stringify(action)), handled });
        return handled;
      };
    },
  });
})();"""

EVERY_COMMAND = [
    ToolCall("map_set_view", {"lng": 116.397026, "lat": 39.918058, "zoom": 15}),
    ToolCall("map_add_markers", {"markers": [
        {"label": "天安门", "lng": 116.397755, "lat": 39.908743, "description": "城楼"},
        {"label": "故宫", "lng": 116.397026, "lat": 39.918058}]}),
    ToolCall("map_draw_route", {"path": [{"lng": 116.397755, "lat": 39.908743},
                                         {"lng": 116.378517, "lat": 39.865246}]}),
    ToolCall("map_fit_bounds", {"points": [{"lng": 116.397755, "lat": 39.908743},
                                           {"lng": 116.378517, "lat": 39.865246}]}),
    ToolCall("map_clear", {"target": "routes"}),
]


# The commands no tool of this branch sends yet (the trip, area and layer tools): their wire
# forms, as the server sends them (see tests/web/test_trips_page.py).
TRIP_COMMANDS = [
    AddStops(layer="day 1", color="#ef4444", stops=[
        Stop(number=1, label="天安门", lng=116.397755, lat=39.908743, crs="gcj02"),
        Stop(number=2, label="故宫", lng=116.397026, lat=39.918058, crs="gcj02")]),
    DrawArea(crs="gcj02", label="故宫", kind="aoi", polygons=[[square(116.397026, 39.918058,
                                                                        0.005)]]),
    LayerCommand(name="day 1", action="hide"),
]


async def test_the_page_executes_exactly_the_schema_commands(web_server, chromium,
                                                            fake_dashscope):
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    handled = await page.evaluate(
        "async () => Object.keys((await import('./static/js/map.js')).COMMANDS)")
    assert handled == SCHEMA_OPS  # no command the schema lacks, none it lists missing
    assert await page.evaluate("geoMap.apply({op: 'teleport'})") is False
    assert await page.evaluate("geoMap.apply({op: 'constructor'})") is False

    await browser.context.add_init_script(RECORDER)
    await page.reload()
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    sent: list[dict] = []
    page.on("request", lambda r: r.url.endswith("/v1/chat/stream")
            and sent.append(json.loads(r.post_data)))
    fake_dashscope.responder = plan_responder(EVERY_COMMAND, answer="好了")
    await ask(page, "把每种地图操作都做一遍")
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant:last-child .text')?.textContent === '好了'")
    await wait_idle(page)

    await answer_with(page, "再画行程", *actions(*TRIP_COMMANDS))

    assert [body["events"] for body in sent] == [list(FRONT_END_EVENTS)] * 2  # from the server
    applied = await page.evaluate("window.applied")
    assert [a["action"]["op"] for a in applied] == SCHEMA_OPS
    assert all(a["handled"] is True for a in applied)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for record in applied:
        validator.validate(record["action"])
    state = await page.evaluate("geoMap.state()")
    assert [m["label"] for m in state["markers"]] == ["天安门", "故宫"] and state["routes"] == []
    assert [(s["number"], s["visible"]) for s in state["stops"]] == [(1, False), (2, False)]
    assert [a["label"] for a in state["areas"]] == ["故宫"]
    chips = await page.eval_on_selector_all(".tool", "cs => cs.map(c => c.textContent)")
    names = tool_names("zh")
    assert chips == [names[call.name] for call in EVERY_COMMAND]
    assert browser.console_errors == [] and browser.outside == []


async def test_the_pages_openstreetmap_tiles_come_from_the_configured_tile_server(
        fake_dashscope, monkeypatch):
    tiles = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"
    monkeypatch.setenv("GEO_TILE_URL", tiles)
    settings = Settings(api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
                        session_store_url="memory://")
    service = StreamChatService(settings, tools=[])
    app = create_app(service, ServerSettings())
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/")
    await service.aclose()
    config = served_config(page.text)
    assert config["tiles"]["osm"] == tiles and "autonavi" in config["tiles"]["amap"]
    assert "http://127.0.0.1:9" in page.headers["content-security-policy"]
