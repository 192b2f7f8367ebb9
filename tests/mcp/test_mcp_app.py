"""The map app for MCP hosts (``agent/mcp/app.py``): the ``ui://`` resource and its metadata
against the MCP Apps extension's published JSON schema (``@modelcontextprotocol/ext-apps``,
pinned in ``tests/js``), one self-contained document whose CSP allows exactly its own inline
code and the tile servers, the tools linked to it, and, in headless Chromium, the app driven by
the SDK's own host bridge (``AppBridge``) with real tool results of ``geo-agent mcp`` on the
fake AMap: trip stops and route, markers, an area drawn; every message each way valid."""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from bailian_geo_agent.agent.mcp import app
from bailian_geo_agent.agent.mcp.app import (
    MAP_APP_MIME,
    MAP_APP_URI,
    app_resources,
    read_app_resource,
    tool_meta,
)
from bailian_geo_agent.prompts.catalogue import text, use_language
from bailian_geo_agent.tools.toolkit import LOOKUP_TOOLS, MAP_TOOLS

from tests.fakes.amap import FakeAmap
from tests.mcp.conftest import ROOT, server_env
from tests.mcp.test_mcp_stdio import stdio_session
from tests.web.conftest import TILE_PNG, TILE_URL, chromium, require  # noqa: F401 - fixture

JS = ROOT / "tests" / "js"
EXT_APPS = JS / "node_modules" / "@modelcontextprotocol" / "ext-apps"
SCHEMA = EXT_APPS / "dist" / "src" / "generated" / "schema.json"
ESBUILD = JS / "node_modules" / ".bin" / "esbuild"
HOST_ORIGIN = "http://mcp-host.test"
DAY_TRIP = ["故宫", "798艺术区", "景山公园", "天坛公园", "南锣鼓巷"]
# What the app sends and receives, by method: the schema's definition of each message.
APP_MESSAGES = {
    "ui/initialize": "McpUiInitializeRequest",
    "ui/notifications/initialized": "McpUiInitializedNotification",
    "ui/notifications/size-changed": "McpUiSizeChangedNotification",
}
HOST_MESSAGES = {
    "ui/notifications/tool-input": "McpUiToolInputNotification",
    "ui/notifications/tool-result": "McpUiToolResultNotification",
}


def schema_defs() -> dict[str, Any]:
    """The extension's published JSON schema, from the pinned npm package (``npm ci``)."""
    require("@modelcontextprotocol/ext-apps (cd tests/js && npm ci)", SCHEMA.exists())
    return json.loads(SCHEMA.read_text())["$defs"]


def valid(defs: dict[str, Any], name: str, value: Any) -> None:
    jsonschema.Draft202012Validator(defs[name]).validate(value)


class _Document(HTMLParser):
    """The document's tags, and the text of each inline script and style."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[tuple[str, dict[str, str | None], str]] = []
        self._open: tuple[str, dict[str, str | None]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = (tag, dict(attrs))
            self.inline.append((tag, dict(attrs), ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            tag, attrs, before = self.inline[-1]
            self.inline[-1] = (tag, attrs, before + data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag == self._open[0]:
            self._open = None


def sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def test_resource_is_listed_and_read_with_the_extension_metadata():
    defs = schema_defs()
    [listed] = app_resources()
    assert listed["uri"] == MAP_APP_URI and listed["uri"].startswith("ui://")
    assert listed["mimeType"] == MAP_APP_MIME == "text/html;profile=mcp-app"
    assert listed["title"] and listed["description"]
    contents = read_app_resource(MAP_APP_URI)
    assert contents is not None and contents["mimeType"] == MAP_APP_MIME
    assert contents["_meta"] == listed["_meta"]
    valid(defs, "McpUiResourceMeta", contents["_meta"]["ui"])
    csp = contents["_meta"]["ui"]["csp"]
    assert csp == {"connectDomains": [],
                   "resourceDomains": ["https://*.is.autonavi.com", "https://tile.openstreetmap.org"]}
    assert read_app_resource("ui://bailian-geo-agent/other.html") is None
    assert read_app_resource("file:///etc/passwd") is None


def test_a_configured_tile_server_is_the_apps_openstreetmap_base_map_and_allowed():
    url = "https://tiles.example.org/osm/{z}/{x}/{y}.png"
    [listed] = app_resources(tile_url=url)
    contents = read_app_resource(MAP_APP_URI, tile_url=url)
    assert contents is not None and contents["_meta"] == listed["_meta"]
    domains = ["https://*.is.autonavi.com", "https://tiles.example.org"]
    assert listed["_meta"]["ui"]["csp"]["resourceDomains"] == domains
    assert f"img-src data: {' '.join(domains)};" in contents["text"]
    assert json.dumps(url) in contents["text"] and "tile.openstreetmap.org" not in str(
        contents["_meta"])


def test_base_maps_are_the_web_pages():
    from bailian_geo_agent.agent.server.page import TILE_HOSTS, TILE_URLS

    assert app.TILE_URLS is TILE_URLS  # one definition (tools.config.BASE_MAPS), not a copy
    assert app.ui_meta()["csp"]["resourceDomains"] == list(TILE_HOSTS)


def test_document_is_self_contained_and_its_csp_allows_exactly_its_own_code_and_the_tiles():
    html = read_app_resource(MAP_APP_URI)["text"]  # type: ignore[index]
    assert read_app_resource(MAP_APP_URI)["text"] is html  # type: ignore[index]  # built once
    document = _Document()
    document.feed(html)
    # nothing loaded from anywhere: no src/href, no <link>, no module imports
    assert not [t for t, attrs in document.tags if "src" in attrs or "href" in attrs]
    assert "link" not in [t for t, _ in document.tags]
    [meta] = [a for t, a in document.tags if t == "meta" and a.get("http-equiv")]
    assert meta["http-equiv"] == "Content-Security-Policy"
    policy = {d.split()[0]: d.split()[1:] for d in str(meta["content"]).split("; ")}
    code = [(tag, body) for tag, attrs, body in document.inline
            if attrs.get("type") != "application/json"]
    assert sorted(policy["script-src"]) == sorted(sha256(b) for t, b in code if t == "script")
    assert policy["style-src"] == [sha256(b) for t, b in code if t == "style"]
    assert len(policy["script-src"]) == 2 and len(policy["style-src"]) == 1
    ui = read_app_resource(MAP_APP_URI)["_meta"]["ui"]  # type: ignore[index]
    assert policy["img-src"] == ["data:", *ui["csp"]["resourceDomains"]]
    assert policy["connect-src"] == ["'none'"] and policy["default-src"] == ["'none'"]
    assert policy["frame-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    # the packaged Leaflet (its licence notice kept), its images inline, the page's renderer
    assert "Leaflet 1.9.4, a JS library for interactive maps" in html
    assert "url(images/" not in html and "data:image/png;base64," in html
    assert "export class GeoMap" not in html and "class GeoMap" in html
    assert "ui/notifications/tool-result" in html
    config = json.loads(next(b for t, a, b in document.inline
                             if a.get("id") == "page-config"))
    assert config["tiles"] == app.TILE_URLS
    with use_language("zh"):
        assert config["text"]["nothing_to_draw"] == text("mcp_app_nothing_to_draw")


def test_documents_per_language():
    with use_language("en"):
        english = read_app_resource(MAP_APP_URI)["text"]  # type: ignore[index]
        [listed] = app_resources()
    with use_language("zh"):
        chinese = read_app_resource(MAP_APP_URI)["text"]  # type: ignore[index]
        failed = text("mcp_app_tool_failed")
    assert '<html lang="en">' in english and listed["title"] == "Map"
    assert '<html lang="zh-CN">' in chinese and failed in chinese and failed not in english
    with use_language("en"):
        assert text("mcp_app_tool_failed") in english


def _carries_map_commands(cls: type) -> bool:
    """A lookup tool whose artifact has ``map_actions`` (its code writes that key)."""
    return "map_actions" in inspect.getsource(cls)


def test_exactly_the_tools_that_return_map_commands_link_to_the_app():
    defs = schema_defs()
    linked = {c.model_fields["name"].default for c in MAP_TOOLS}
    linked |= {c.model_fields["name"].default for c in LOOKUP_TOOLS if _carries_map_commands(c)}
    assert linked >= {"plan_trip", "search_along_route", "area_boundary", "reachable_area",
                      "map_add_markers", "map_draw_route", "map_clear"}
    for cls in (*LOOKUP_TOOLS, *MAP_TOOLS):
        name = cls.model_fields["name"].default
        meta = tool_meta(name)
        if name not in linked:
            assert meta is None, name
            continue
        assert meta == {"ui": {"resourceUri": MAP_APP_URI}, "ui/resourceUri": MAP_APP_URI}
        valid(defs, "McpUiToolMeta", meta["ui"])


def test_the_apps_files_are_package_data():
    import fnmatch
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["bailian_geo_agent.agent"]
    agent = ROOT / "agent"
    files = [p.relative_to(agent).as_posix() for p in app.APP_WEB.rglob("*") if p.is_file()]
    assert sorted(files) == ["mcp/app_web/app.css", "mcp/app_web/app.html", "mcp/app_web/app.js"]
    assert [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []


def test_bundler_refuses_what_it_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "coords.js").write_text('export default 1;\n')
    monkeypatch.setattr(app, "APP_WEB", tmp_path)
    with pytest.raises(RuntimeError, match=r"coords\.js"):
        app._module("coords")
    (tmp_path / "coords.js").write_text('import { a as b } from "./x.js";\n')
    with pytest.raises(RuntimeError, match="renamed"):
        app._module("coords")
    (tmp_path / "coords.js").write_text('import { a } from "./coords.js";\n')
    with pytest.raises(RuntimeError, match="cycle"):
        app.module_order("coords")
    with pytest.raises(RuntimeError, match="no such module"):
        app.module_order("nowhere")


def test_the_app_bundles_the_page_renderer_and_what_it_imports():
    assert app.module_order() == ["coords", "config", "map", "app"]


# -- in Chromium, through the SDK's own host bridge ------------------------------------------


@pytest.fixture(scope="module")
def host_script(tmp_path_factory) -> str:
    """``tests/js/mcp_app_host.mjs`` bundled for the browser with the ext-apps SDK."""
    require("esbuild and @modelcontextprotocol/ext-apps (cd tests/js && npm ci)",
            ESBUILD.exists() and EXT_APPS.exists())
    out = tmp_path_factory.mktemp("host") / "host.js"
    subprocess.run([str(ESBUILD), "mcp_app_host.mjs", "--bundle", "--format=iife",
                    "--platform=browser", "--log-level=warning", f"--outfile={out}"],
                   cwd=JS, check=True, timeout=60)
    return out.read_text()


def dumped(result: Any) -> dict[str, Any]:
    """A ``CallToolResult`` as it crosses the wire (JSON, aliases, no nulls)."""
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def tool_results(fake: FakeAmap, tmp_path: Path) -> dict[str, tuple[dict, dict]]:
    """Real tool results of ``geo-agent mcp`` (stdio, the fake AMap), by the app that shows
    each: (arguments, result)."""
    calls = {
        "plan_trip": ("plan_trip", {"places": DAY_TRIP, "start": True}),
        "map_add_markers": ("map_add_markers", {
            "markers": [{"place": "故宫", "description": "明清皇宫"},
                        {"label": "三里屯", "lng": 116.455, "lat": 39.937}]}),
        "area_boundary": ("area_boundary", {"area": "朝阳区",
                                            "check": "北京市朝阳区阜通东大街6号"}),
        "get_weather": ("get_weather", {"place": "北京", "days": 1}),
        "failed": ("get_weather", {"place": "北京", "days": 99}),
    }
    results = {}
    async with stdio_session(server_env(fake), tmp_path / "server.log") as session:
        for app_id, (name, args) in calls.items():
            result = await session.call_tool(name, args)
            assert result.is_error is (app_id == "failed"), result
            results[app_id] = (args, dumped(result))
    return results


async def test_host_bridge_shows_trip_markers_and_area_from_real_tool_results(
        chromium, host_script, fake_amap: FakeAmap, tmp_path: Path):  # noqa: F811
    defs = schema_defs()
    results = await tool_results(fake_amap, tmp_path)
    trip = results["plan_trip"][1]["structuredContent"]["map_actions"]
    assert [c["op"] for c in trip] == ["add_stops", "draw_route", "fit_bounds"]
    with use_language("zh"):
        html = read_app_resource(MAP_APP_URI)["text"]  # type: ignore[index]

    context = await chromium.new_context(viewport={"width": 800, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    tiles: list[str] = []
    outside: list[str] = []
    errors: list[str] = []

    async def route(request_route) -> None:
        url = request_route.request.url
        if url == f"{HOST_ORIGIN}/":
            await request_route.fulfill(status=200, content_type="text/html",
                                        body="<!doctype html><title>host</title><body></body>")
        elif url == f"{HOST_ORIGIN}/host.js":
            await request_route.fulfill(status=200, content_type="text/javascript",
                                        body=host_script)
        elif TILE_URL.match(url):
            tiles.append(url)
            kind = "autonavi" if "autonavi" in url else "openstreetmap"
            await request_route.fulfill(status=200, content_type="image/png", body=TILE_PNG[kind])
        else:
            outside.append(url)
            await request_route.abort()

    await context.route("**/*", route)
    page.on("console", lambda m: m.type in ("error", "warning") and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await page.goto(f"{HOST_ORIGIN}/")
        await page.add_script_tag(url=f"{HOST_ORIGIN}/host.js")
        frames = {}
        for name in results:
            info = await page.evaluate("([id, html]) => mountApp(id, html)", [name, html])
            assert info["appInfo"]["name"] == "bailian-geo-agent-map"  # the bridge read it
            args, result = results[name]
            await page.evaluate("([id, a, r]) => sendTool(id, a, r)", [name, args, result])
            frames[name] = await (await page.query_selector(f"#{name}")).content_frame()

        # the trip: five numbered stops in the plan's order, its route, all in view
        plan = frames["plan_trip"]
        await plan.wait_for_function("document.body.dataset.drawn === '3'")
        state = await plan.evaluate("geoMap.state()")
        assert [s["number"] for s in state["stops"]] == [1, 2, 3, 4, 5]
        assert [s["label"] for s in state["stops"]] == [
            s["label"] for s in trip[0]["stops"]]
        [line] = state["routes"]
        assert len(line["path"]) == len(trip[1]["path"]) >= 2
        assert state["tiles"] == "amap" and state["crs"] == "gcj02"
        for stop in state["stops"]:
            assert 0 <= stop["x"] <= 640 and 0 <= stop["y"] <= 420, stop
        assert await plan.locator(".stop-icon .stop-number").count() == 5
        assert await plan.locator("path.leaflet-interactive").count() == 3  # line + two ends
        assert await plan.locator("#map-status").text_content() == ""  # "looking it up" gone

        # the markers, with Leaflet's marker image inline
        markers = frames["map_add_markers"]
        await markers.wait_for_function("document.body.dataset.drawn === '1'")
        state = await markers.evaluate("geoMap.state()")
        labels = [m["label"] for m in state["markers"]]
        assert len(labels) == 2 and labels[1] == "三里屯" and "故宫" in labels[0]
        icons = markers.locator("img.leaflet-marker-icon")
        assert await icons.count() == 2
        assert (await icons.first.get_attribute("src")).startswith("data:image/png;base64,")

        # the district's outline and the checked address
        area = frames["area_boundary"]
        await area.wait_for_function("document.body.dataset.drawn === '2'")
        state = await area.evaluate("geoMap.state()")
        [outline] = state["areas"]
        assert outline["kind"] == "district" and len(outline["polygons"][0][0]) > 3
        assert await area.locator("path.area-district").count() == 1

        # a tool without map commands: said so, nothing drawn
        weather = frames["get_weather"]
        await weather.wait_for_function("document.body.dataset.drawn === '0'")
        with use_language("zh"):
            expected = text("mcp_app_nothing_to_draw")
        assert await weather.locator("#map-status").text_content() == expected

        # a failed tool: said so, no map made
        failed = frames["failed"]
        with use_language("zh"):
            expected = text("mcp_app_tool_failed")
        await failed.wait_for_function(f"document.getElementById('map-status').textContent"
                                       f" === {json.dumps(expected)}")
        assert await failed.evaluate("window.geoMap === undefined")

        # the host's request before it removes the app is answered
        assert await page.evaluate("apps.plan_trip.bridge.teardownResource({})") == {}

        # every message each way is one the extension defines, in the protocol's order
        for name in results:
            log = await page.evaluate("(id) => messages(id)", name)
            sent = log["fromApp"]
            assert [m.get("method") for m in sent[:3]] == [
                "ui/initialize", "ui/notifications/initialized", "ui/notifications/size-changed"]
            asked = {m["id"]: m["method"] for m in log["toApp"] if "id" in m and "method" in m}
            for message in sent:
                assert message["jsonrpc"] == "2.0"
                if "method" not in message:  # the app's answer to a request of the host's
                    assert asked[message["id"]] == "ui/resource-teardown", message
                    valid(defs, "McpUiResourceTeardownResult", message["result"])
                    continue
                body = {k: v for k, v in message.items() if k not in ("jsonrpc", "id")}
                valid(defs, APP_MESSAGES[message["method"]], body)
            assert log["sizes"] and log["sizes"][0] == 420
            received = [m for m in log["toApp"] if m.get("method") in HOST_MESSAGES]
            assert [m["method"] for m in received] == list(HOST_MESSAGES)
            for message in received:
                body = {k: v for k, v in message.items() if k not in ("jsonrpc", "id")}
                valid(defs, HOST_MESSAGES[message["method"]], body)
        assert tiles and all("autonavi" in t for t in tiles)
        assert outside == [] and errors == []
    finally:
        await context.close()
