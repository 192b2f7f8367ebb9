"""``/docs``: the API's documentation from packaged assets, under the page's security headers.

FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a CDN and send no
Content-Security-Policy; ``create_app`` turns them off and ``install_docs`` serves
``web/docs.html`` instead: the vendored Swagger UI (``web/vendor/swagger-ui``, copied from the
``swagger-ui-dist`` npm package by ``web/vendor.mjs``) and ``web/js/docs.js`` from ``/static``,
with ``page.PAGE_HEADERS``. ``GEO_AGENT_DOCS=false`` turns ``/docs`` and ``/openapi.json`` off;
``/redoc`` is gone either way.
"""

from __future__ import annotations

from functools import lru_cache

from bailian_geo_agent.agent.server.page import PAGE_HEADERS, WEB_ROOT
from fastapi import FastAPI
from starlette.responses import HTMLResponse

DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"


@lru_cache(maxsize=1)
def docs_html() -> str:
    """``web/docs.html``."""
    return (WEB_ROOT / "docs.html").read_text(encoding="utf-8")


def install_docs(app: FastAPI) -> None:
    """Serve the documentation page at ``/docs`` (the app's ``openapi_url`` must be set)."""

    @app.api_route(DOCS_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI on ``/openapi.json``."""
        return HTMLResponse(docs_html(), media_type="text/html; charset=utf-8",
                            headers=PAGE_HEADERS)
