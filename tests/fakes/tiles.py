"""A loopback raster tile server (``/{z}/{x}/{y}.png``) serving real PNG tiles made with Pillow.

Each tile is one flat colour, ``tile_color(x, y)`` (a checkerboard of two light greys), so a
test can tell the base map from what is drawn over it. Requests are recorded with their
User-Agent; ``fail_with(status)`` and ``serve_garbage()`` make every tile fail.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from aiohttp import web
from PIL import Image

from tests.fakes.loopback import LoopbackServer

LIGHT, DARK = (238, 238, 238), (210, 210, 210)


def tile_color(x: int, y: int) -> tuple[int, int, int]:
    """The colour of tile ``x, y`` (any zoom)."""
    return LIGHT if (x + y) % 2 == 0 else DARK


def tile_png(x: int, y: int, size: int = 256) -> bytes:
    """Tile ``x, y`` as PNG bytes."""
    out = io.BytesIO()
    Image.new("RGB", (size, size), tile_color(x, y)).save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class TileRequest:
    """One request: the tile asked for and the User-Agent sent."""

    z: int
    x: int
    y: int
    user_agent: str


class FakeTiles(LoopbackServer):
    """The tile server; ``url_template`` is its ``GEO_TILE_URL``."""

    thread_name = "fake-tiles"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TileRequest] = []
        self.status = 200
        self.garbage = False
        self._lock = threading.Lock()

    @property
    def url_template(self) -> str:
        """``http://127.0.0.1:<port>/{z}/{x}/{y}.png``."""
        return f"http://127.0.0.1:{self.port}/{{z}}/{{x}}/{{y}}.png"

    def fail_with(self, status: int) -> None:
        """Answer every tile with HTTP ``status``."""
        self.status = status

    def serve_garbage(self) -> None:
        """Answer every tile with a body that is not an image."""
        self.garbage = True

    def reset(self) -> None:
        """Good tiles, empty request log."""
        with self._lock:
            self.requests.clear()
        self.status, self.garbage = 200, False

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{z}/{x}/{y}.png", self._tile)
        return app

    async def _tile(self, request: web.Request) -> web.Response:
        z, x, y = (int(request.match_info[k]) for k in ("z", "x", "y"))
        with self._lock:
            self.requests.append(TileRequest(z, x, y, request.headers.get("User-Agent", "")))
        if self.status != 200:
            return web.Response(status=self.status, text="tile server says no")
        if self.garbage:
            return web.Response(body=b"<html>not a tile</html>", content_type="text/html")
        if not (0 <= x < 2**z and 0 <= y < 2**z):
            return web.Response(status=404)
        return web.Response(body=tile_png(x, y), content_type="image/png")
