"""The map app for MCP hosts (MCP Apps, the ``io.modelcontextprotocol/ui`` extension, SEP-1865,
spec revision 2026-01-26): one ``ui://`` resource that draws the map commands a tool returns.

The server (``server.py``) lists ``app_resources()``, answers ``read_app_resource(uri)`` and puts
``tool_meta(tool_name)`` into the ``_meta`` of each tool that returns map commands. A host that
renders apps loads the resource into a sandboxed iframe and sends it each such tool's result
(``ui/notifications/tool-result``); the app draws the result's ``structuredContent.map_action``
and ``structuredContent.map_actions`` (``tools.map_commands`` wire forms) with the web page's own
renderer (``server/web/js/map.js``) on the packaged Leaflet. The resource is one self-contained
HTML document (no CDN: Leaflet, its images and the scripts are inlined); the only outside
requests are map tiles, which its ``_meta.ui.csp`` declares and its own CSP ``<meta>`` allows,
and nothing else. Hosts without app support ignore all of this and read the text and
structured content.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from bailian_geo_agent.agent.tool_selection import MAP_TOOL_PREFIX
from bailian_geo_agent.prompts.catalogue import Language, language, text, use_language
from bailian_geo_agent.tools.config import BASE_MAPS, tile_hosts
from bailian_geo_agent.tools.infra import version

MAP_APP_URI = "ui://bailian-geo-agent/map.html"
MAP_APP_MIME = "text/html;profile=mcp-app"
APP_EXTENSION = "io.modelcontextprotocol/ui"
"""The extension's identifier (client capabilities ``extensions``)."""
APP_PROTOCOL_VERSION = "2026-01-26"
"""The MCP Apps revision the app speaks in ``ui/initialize``."""
LEGACY_URI_KEY = "ui/resourceUri"
"""The tool ``_meta`` key of the app's URI before ``_meta.ui.resourceUri`` (hosts read both)."""

MAP_COMMAND_LOOKUPS = frozenset({"plan_trip", "search_along_route", "area_boundary",
                                 "reachable_area"})
"""The lookup tools whose results carry map commands (``map_actions``) beside their text."""

APP_WEB = Path(__file__).with_name("app_web")
"""The app's own files: the page, its styles and its protocol side (``app.js``)."""
WEB_ROOT = Path(__file__).parents[1] / "server" / "web"
"""The web page's files, whose renderer and vendored Leaflet the app shares."""
LEAFLET = WEB_ROOT / "vendor" / "leaflet"
ENTRY = "app"
"""The app's ES module (``app_web/app.js``); it and what it imports are bundled (a module is
looked up in ``app_web``, then in the page's ``web/js``)."""

TILE_URLS: dict[str, str] = BASE_MAPS
"""The base maps (the web page's): AMap for GCJ-02 commands, OpenStreetMap for WGS-84 ones."""
APP_TEXTS = ("page_tiles_failed", "mcp_app_drawing", "mcp_app_tool_failed",
             "mcp_app_nothing_to_draw", "mcp_app_cancelled")
"""The catalogue keys of the app's texts (sent in the server's language, prefix dropped)."""

_IMPORT = re.compile(r'^import \{([\w\s,]*)\} from "\./(\w+)\.js";$', re.MULTILINE)
_EXPORT = re.compile(r"^export ((?:async )?(?:const|let|function|class) (\w+))", re.MULTILINE)
_MODULE_SYNTAX = re.compile(r"^\s*(?:import|export)\b", re.MULTILINE)
_IMAGE_URL = re.compile(r"url\(images/([\w.-]+\.png)\)")


def base_maps(tile_url: str | None = None) -> dict[str, str]:
    """``TILE_URLS``, the OpenStreetMap one replaced by ``tile_url`` (``GEO_TILE_URL``) if given."""
    return {**TILE_URLS, "osm": tile_url} if tile_url else dict(TILE_URLS)


def ui_meta(tile_url: str | None = None) -> dict[str, Any]:
    """The resource's ``_meta.ui`` (``McpUiResourceMeta``): no connections, images from the tile
    servers only, and a border around the map."""
    return {"csp": {"connectDomains": [], "resourceDomains": list(tile_hosts(base_maps(tile_url)))},
            "prefersBorder": True}


def app_resources(*, tile_url: str | None = None) -> list[dict[str, Any]]:
    """The app's resources as ``types.Resource`` keyword arguments (``uri``, ``name``,
    ``title``, ``description``, ``mimeType``, ``_meta``). ``tile_url``: the configured
    OpenStreetMap tile server (``GeoConfig.tile_url``), as the web page takes it."""
    return [{"uri": MAP_APP_URI, "name": "map", "title": text("mcp_app_title"),
             "description": text("mcp_app_description"), "mimeType": MAP_APP_MIME,
             "_meta": {"ui": ui_meta(tile_url)}}]


def read_app_resource(uri: str, *, tile_url: str | None = None) -> dict[str, Any] | None:
    """``uri``'s contents as ``types.TextResourceContents`` keyword arguments (``uri``,
    ``mimeType``, ``text``, ``_meta``), or None for a URI that is not the app's. ``tile_url``:
    as for ``app_resources``."""
    if uri != MAP_APP_URI:
        return None
    return {"uri": MAP_APP_URI, "mimeType": MAP_APP_MIME,
            "text": app_html(language(), tile_url), "_meta": {"ui": ui_meta(tile_url)}}


def links_to_app(tool_name: str) -> bool:
    """Tools whose results carry map commands: the map tools and ``MAP_COMMAND_LOOKUPS``."""
    return tool_name.startswith(MAP_TOOL_PREFIX) or tool_name in MAP_COMMAND_LOOKUPS


def tool_meta(tool_name: str) -> dict[str, Any] | None:
    """The ``_meta`` linking a tool that returns map commands to the app (None: no link)."""
    if not links_to_app(tool_name):
        return None
    return {"ui": {"resourceUri": MAP_APP_URI}, LEGACY_URI_KEY: MAP_APP_URI}


@lru_cache(maxsize=4)
def app_html(lang: Language, tile_url: str | None = None) -> str:
    """The app's document in ``lang`` on ``base_maps(tile_url)`` (built once for each)."""
    with use_language(lang):
        title = text("mcp_app_title")
        texts = {key.removeprefix("page_").removeprefix("mcp_app_"): text(key)
                 for key in APP_TEXTS}
    config = {"language": lang, "tiles": base_maps(tile_url), "text": texts}
    style = _leaflet_css() + "\n" + (APP_WEB / "app.css").read_text(encoding="utf-8")
    leaflet = (LEAFLET / "leaflet.js").read_text(encoding="utf-8")
    app = _app_script()
    for name, part in (("style", style), ("script", leaflet), ("script", app)):
        if f"</{name}" in part.lower() or "<!--" in part:
            raise RuntimeError(f"an inlined {name} would end its element early")
    csp = content_security_policy(scripts=(leaflet, app), styles=(style,), tile_url=tile_url)
    values = {
        "lang": "en" if lang == "en" else "zh-CN", "title": title, "csp": csp, "style": style,
        "config": _json_in_html(config), "leaflet": leaflet, "app": app,
    }
    template = (APP_WEB / "app.html").read_text(encoding="utf-8")
    return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], template)  # one pass: parts not rescanned


def content_security_policy(scripts: tuple[str, ...], styles: tuple[str, ...],
                            tile_url: str | None = None) -> str:
    """The document's CSP: exactly its inline scripts and styles (by hash), images from the
    tile servers and inline data, nothing else; the same domains as ``ui_meta(tile_url)``."""
    csp = ui_meta(tile_url)["csp"]
    return "; ".join((
        "default-src 'none'",
        "script-src " + " ".join(_hash(s) for s in scripts),
        "style-src " + " ".join(_hash(s) for s in styles),
        "img-src data: " + " ".join(csp["resourceDomains"]),
        "connect-src " + (" ".join(csp["connectDomains"]) or "'none'"),
        "font-src 'none'",
        "frame-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ))


def _hash(source: str) -> str:
    digest = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def _data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _leaflet_css() -> str:
    """Leaflet's styles with their images inline (the document has no place to load them from)."""
    css = (LEAFLET / "leaflet.css").read_text(encoding="utf-8")
    return _IMAGE_URL.sub(lambda m: f"url({_data_url(LEAFLET / 'images' / m[1])})", css)


def _json_in_html(value: Any) -> str:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        data = data.replace(char, escaped)  # cannot close the element, whatever a text holds
    return data


def _source(name: str) -> tuple[Path, str]:
    path = next((p for p in (APP_WEB / f"{name}.js", WEB_ROOT / "js" / f"{name}.js")
                 if p.exists()), None)
    if path is None:
        raise RuntimeError(f"{name}.js: no such module in app_web or web/js")
    return path, path.read_text(encoding="utf-8")


def module_order(entry: str = ENTRY) -> list[str]:
    """``entry`` and every module it imports, each after the modules it imports."""
    order: list[str] = []

    def visit(name: str, seen: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in seen:
            raise RuntimeError(f"{name}.js: an import cycle")
        for imported in _IMPORT.finditer(_source(name)[1]):
            visit(imported[2], (*seen, name))
        order.append(name)

    visit(entry, ())
    return order


def _module(name: str) -> str:
    """One ES module as a function scope whose result holds its exports (imports from the
    modules before it)."""
    path, source = _source(name)
    body = _IMPORT.sub(lambda m: f"const {{{m[1]}}} = modules.{m[2]};", source)
    exports = [m[2] for m in _EXPORT.finditer(body)]
    body = _EXPORT.sub(lambda m: m[1], body)
    if any(" as " in m[1] for m in _IMPORT.finditer(source)):
        raise RuntimeError(f"{path.name}: renamed imports are not bundled")
    if _MODULE_SYNTAX.search(body):
        raise RuntimeError(f"{path.name}: an import or export the app's bundler does not read")
    return f"modules.{name} = (() => {{\n{body}\nreturn {{ {', '.join(exports)} }};\n}})();\n"


def _app_script() -> str:
    """The renderer and the app's protocol side as one classic script, after Leaflet: Leaflet's
    marker images inline, then the modules in ``module_order()``."""
    images = {key: _data_url(LEAFLET / "images" / file) for key, file in (
        ("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
        ("shadowUrl", "marker-shadow.png"))}
    prelude = (
        '"use strict";\n'
        f"const APP_INFO = {json.dumps({'name': 'bailian-geo-agent-map', 'version': version()})};\n"
        f"const PROTOCOL_VERSION = {json.dumps(APP_PROTOCOL_VERSION)};\n"
        'L.Icon.Default.imagePath = "";\n'
        f"L.Icon.Default.mergeOptions({json.dumps(images)});\n"
        "const modules = {};\n"
    )
    return "(() => {\n" + prelude + "".join(_module(name) for name in module_order()) + "})();\n"
