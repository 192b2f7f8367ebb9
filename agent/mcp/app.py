"""The map app for MCP hosts (MCP Apps, a ``ui://`` resource) — placeholder interface.

The server (``server.py``) lists ``app_resources()``, answers ``read_app_resource(uri)`` and puts
``tool_meta(tool_name)`` into the ``_meta`` of each tool that returns map commands.
"""

from __future__ import annotations

from typing import Any

MAP_APP_URI = "ui://bailian-geo-agent/map.html"
MAP_APP_MIME = "text/html;profile=mcp-app"


def app_resources() -> list[dict[str, Any]]:
    """The app's resources as ``types.Resource`` keyword arguments (``uri``, ``name``,
    ``title``, ``description``, ``mimeType``, ``_meta``)."""
    return [{"uri": MAP_APP_URI, "name": "map", "title": "Map", "mimeType": MAP_APP_MIME}]


def read_app_resource(uri: str) -> dict[str, Any] | None:
    """``uri``'s contents as ``types.TextResourceContents`` keyword arguments (``uri``,
    ``mimeType``, ``text``, ``_meta``), or None for a URI that is not the app's."""
    if uri != MAP_APP_URI:
        return None
    html = "<!doctype html><title>map</title>"
    return {"uri": MAP_APP_URI, "mimeType": MAP_APP_MIME, "text": html}


def tool_meta(tool_name: str) -> dict[str, Any] | None:
    """The ``_meta`` linking a tool that returns map commands to the app (None: no link)."""
    return None
