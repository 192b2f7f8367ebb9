"""The web page at ``/``: a chat panel beside a live map (static files in ``agent/server/web``).

``install_page(app)`` serves ``index.html`` at ``/`` and the page's scripts, styles and the
vendored Leaflet under ``/static``. The page talks to the same app's ``/v1`` endpoints with the
same bearer token, so it needs nothing else; the only outside requests are map tiles (AMap or
OpenStreetMap), which the Content-Security-Policy allows and nothing more. What the page needs
to know from the server (``page_config``: the optional events to ask for, every tool's name and
the page's own texts in the user's language, the tile URLs) is written into ``index.html`` as
inline JSON (a data block, not a script). Markdown (marked + DOMPurify) and QR codes
(qrcode-generator) are vendored ES modules under ``/static/vendor``.
``MAP_ACTION_SCHEMA_FILE`` is the JSON Schema of the map commands the page executes, generated
from ``tools.map_commands`` (``python -m bailian_geo_agent.agent.server.page`` rewrites it).
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from bailian_geo_agent.agent.events import FRONT_END_EVENTS
from bailian_geo_agent.prompts.catalogue import LANGUAGES, Language, language, text, use_language
from bailian_geo_agent.tools.config import BASE_MAPS, tile_hosts
from fastapi import FastAPI
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

WEB_ROOT = Path(__file__).with_name("web")
"""The page's files, shipped as package data."""

MAP_ACTION_SCHEMA_FILE = WEB_ROOT / "map_action.schema.json"
"""The map commands' JSON Schema, committed beside the page (its tests validate against it)."""

CONFIG_ELEMENT = '<script id="page-config" type="application/json">'
"""Where ``index.html`` takes the page's configuration (``{}`` in the file as shipped)."""

TILE_URLS: dict[str, str] = BASE_MAPS
"""Each base map's tile URL template (``tools.config.BASE_MAPS``): what ``js/map.js`` shows."""

PAGE_TEXTS = ("page_tiles_failed", "page_links", "page_link_qr", "page_link_unsafe",
              "page_sources", "page_send_interrupts")
"""The catalogue keys of the page's own texts (sent in its language)."""

PAGE_TEXT_PREFIX = "page_"


TILE_HOSTS = tile_hosts(TILE_URLS)
"""Where the map's tiles come from (``TILE_URLS``)."""


def content_security_policy(tiles: Mapping[str, str] = TILE_URLS) -> str:
    """The page's CSP: its own files, and images from the tile servers of ``tiles`` only."""
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: {' '.join(tile_hosts(tiles))}",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


CONTENT_SECURITY_POLICY = content_security_policy()

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

mimetypes.add_type("text/javascript", ".mjs")  # the vendored ES modules (module scripts need it)


class _StaticFiles(StaticFiles):
    """Static files with ``nosniff``, revalidated on each load (ETag) so upgrades show at once."""

    async def get_response(self, path: str, scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def tool_names(lang: Language) -> dict[str, str]:
    """Every toolkit tool's name as the page shows it, in ``lang`` (the catalogue's
    ``tool_name_<tool>``)."""
    from bailian_geo_agent.tools.toolkit import LOOKUP_TOOLS, MAP_TOOLS  # the agent's import

    names = [cls.model_fields["name"].default for cls in (*LOOKUP_TOOLS, *MAP_TOOLS)]
    with use_language(lang):
        return {name: text(f"tool_name_{name}") for name in names}


def page_texts(lang: Language) -> dict[str, str]:
    """The page's own texts in ``lang``, by key without the ``page_`` prefix."""
    with use_language(lang):
        return {key.removeprefix(PAGE_TEXT_PREFIX): text(key) for key in PAGE_TEXTS}


def page_config(lang: Language, tiles: Mapping[str, str] = TILE_URLS) -> dict[str, Any]:
    """What the page reads from the server: its language, the optional events it asks for,
    the tools' names, its own texts and the tile URL of each base map."""
    return {"language": lang, "events": list(FRONT_END_EVENTS), "tools": tool_names(lang),
            "text": page_texts(lang), "tiles": dict(tiles)}


def _render(lang: Language, tiles: Mapping[str, str]) -> str:
    template = (WEB_ROOT / "index.html").read_text(encoding="utf-8")
    data = json.dumps(page_config(lang, tiles), ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        data = data.replace(char, escaped)  # cannot close the element, whatever a name holds
    empty = CONFIG_ELEMENT + "{}</script>"
    if empty not in template:
        raise RuntimeError(f"index.html lacks {empty}")
    return template.replace(empty, CONFIG_ELEMENT + data + "</script>")


@lru_cache(maxsize=len(LANGUAGES))
def render_index(lang: Language) -> str:
    """``index.html`` with ``page_config(lang)`` written into its configuration element."""
    return _render(lang, TILE_URLS)


def install_page(app: FastAPI, lang: Language | None = None,
                 tiles: Mapping[str, str] | None = None) -> None:
    """Serve the page at ``/`` and its assets under ``/static``. ``lang``: the language of its
    tool names (default: the request's, which ``create_app`` sets to the service's). ``tiles``:
    other tile URL templates by base map (``TILE_URLS``' keys), allowed by its CSP."""
    custom = {**TILE_URLS, **tiles} if tiles else None
    headers = {**PAGE_HEADERS, "Content-Security-Policy": content_security_policy(custom)
               } if custom else PAGE_HEADERS

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> HTMLResponse:
        """The single-page app."""
        shown = lang or language()
        html = _render(shown, custom) if custom else render_index(shown)
        return HTMLResponse(html, media_type="text/html; charset=utf-8", headers=headers)

    app.mount("/static", _StaticFiles(directory=WEB_ROOT), name="static")


def map_action_schema_text() -> str:
    """The content ``MAP_ACTION_SCHEMA_FILE`` must have."""
    from bailian_geo_agent.tools.map_commands import map_action_json_schema

    return json.dumps(map_action_json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # regenerate the committed schema after changing a map command
    MAP_ACTION_SCHEMA_FILE.write_text(map_action_schema_text(), encoding="utf-8")
