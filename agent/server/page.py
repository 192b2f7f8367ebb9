"""The web page at ``/``: a chat panel beside a live map (static files in ``agent/server/web``).

``install_page(app)`` serves ``index.html`` at ``/`` and the page's scripts, styles and the
vendored Leaflet under ``/static``. The page talks to the same app's ``/v1`` endpoints with the
same bearer token, so it needs nothing else; the only outside requests are map tiles (AMap or
OpenStreetMap), which the Content-Security-Policy allows and nothing more. What the page needs
to know from the server (``page_config``: the optional events to ask for, every tool's name in
the user's language) is written into ``index.html`` as inline JSON (a data block, not a script).
``MAP_ACTION_SCHEMA_FILE`` is the JSON Schema of the map commands the page executes, generated
from ``tools.map_commands`` (``python -m bailian_geo_agent.agent.server.page`` rewrites it).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from bailian_geo_agent.agent.events import FRONT_END_EVENTS
from bailian_geo_agent.prompts.catalogue import LANGUAGES, Language, language, text, use_language
from fastapi import FastAPI
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

WEB_ROOT = Path(__file__).with_name("web")
"""The page's files, shipped as package data."""

MAP_ACTION_SCHEMA_FILE = WEB_ROOT / "map_action.schema.json"
"""The map commands' JSON Schema, committed beside the page (its tests validate against it)."""

CONFIG_ELEMENT = '<script id="page-config" type="application/json">'
"""Where ``index.html`` takes the page's configuration (``{}`` in the file as shipped)."""

TILE_HOSTS = ("https://*.is.autonavi.com", "https://tile.openstreetmap.org")
"""Where the map's tiles come from (``js/map.js``'s ``TILES``)."""

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    f"img-src 'self' data: {' '.join(TILE_HOSTS)}",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


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


def page_config(lang: Language) -> dict[str, Any]:
    """What the page reads from the server: its language, the optional events it asks for,
    and the tools' names."""
    return {"language": lang, "events": list(FRONT_END_EVENTS), "tools": tool_names(lang)}


@lru_cache(maxsize=len(LANGUAGES))
def render_index(lang: Language) -> str:
    """``index.html`` with ``page_config(lang)`` written into its configuration element."""
    template = (WEB_ROOT / "index.html").read_text(encoding="utf-8")
    data = json.dumps(page_config(lang), ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        data = data.replace(char, escaped)  # cannot close the element, whatever a name holds
    empty = CONFIG_ELEMENT + "{}</script>"
    if empty not in template:
        raise RuntimeError(f"index.html lacks {empty}")
    return template.replace(empty, CONFIG_ELEMENT + data + "</script>")


def install_page(app: FastAPI, lang: Language | None = None) -> None:
    """Serve the page at ``/`` and its assets under ``/static``. ``lang``: the language of its
    tool names (default: the request's, which ``create_app`` sets to the service's)."""

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> HTMLResponse:
        """The single-page app."""
        html = render_index(lang or language())
        return HTMLResponse(html, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    app.mount("/static", _StaticFiles(directory=WEB_ROOT), name="static")


def map_action_schema_text() -> str:
    """The content ``MAP_ACTION_SCHEMA_FILE`` must have."""
    from bailian_geo_agent.tools.map_commands import map_action_json_schema

    return json.dumps(map_action_json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # regenerate the committed schema after changing a map command
    MAP_ACTION_SCHEMA_FILE.write_text(map_action_schema_text(), encoding="utf-8")
