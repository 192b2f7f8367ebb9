"""The web page at ``/``: a chat panel beside a live map (static files in ``agent/server/web``).

``install_page(app)`` serves ``index.html`` at ``/`` and the page's scripts, styles and the
vendored Leaflet under ``/static``. The page talks to the same app's ``/v1`` endpoints with the
same bearer token, so it needs nothing else; the only outside requests are map tiles (AMap or
OpenStreetMap), which the Content-Security-Policy allows and nothing more.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

WEB_ROOT = Path(__file__).with_name("web")
"""The page's files, shipped as package data."""

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


def install_page(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/static``."""
    index = WEB_ROOT / "index.html"

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        """The single-page app."""
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    app.mount("/static", _StaticFiles(directory=WEB_ROOT), name="static")
