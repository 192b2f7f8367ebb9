"""Fixtures for the browser tests: ``geo-agent serve`` on loopback against the DashScope fake,
and Debian's headless ``chromium`` driven by Playwright (never a downloaded browser).

Outside CI the tests are skipped when the browser (or Playwright) is missing; with ``CI`` set
to anything but ``0``/``false`` they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.server.conftest import TOKEN_A, Server, server_env, start_server

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TILE_URL = re.compile(r"^https://(webrd0[1-4]\.is\.autonavi\.com|tile\.openstreetmap\.org)/")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require(what: str, found: bool) -> None:
    """Skip (or, in CI, fail) when a prerequisite of the browser tests is missing."""
    if found:
        return
    if in_ci():
        pytest.fail(f"{what} is missing (CI: .ci/run installs it)")
    pytest.skip(f"{what} is missing")


def chromium_path() -> str:
    path = os.environ.get("GEO_AGENT_TEST_CHROMIUM") or shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    require("Chromium (Debian/Ubuntu: sudo apt-get install chromium fonts-wqy-microhei; or set "
            "GEO_AGENT_TEST_CHROMIUM to a Chromium binary; never `playwright install`)",
            path is not None)
    assert path is not None
    return path


def png(rgb: tuple[int, int, int]) -> bytes:
    """A 1x1 PNG of one colour: what the routed tile requests answer with."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = zlib.compress(b"\x00" + bytes(rgb))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


TILE_PNG = {"autonavi": png((236, 232, 222)), "openstreetmap": png((226, 236, 226))}


@dataclass
class Browser:
    """A page on the server, and every request it made beyond the server."""

    page: object
    context: object
    url: str
    tiles: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def web_server_env(base_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """``tests/server``'s server environment (two tokens, SQLite, the fake), plus ``extra``."""
    return server_env(base_url, workdir, **extra)


@pytest.fixture(scope="module")
def web_server(fake_dashscope_server, tmp_path_factory) -> Iterator[Server]:
    """``geo-agent serve`` with tokens, map commands in GCJ-02 (the default)."""
    workdir = tmp_path_factory.mktemp("web")
    running = start_server(workdir, web_server_env(fake_dashscope_server.compatible_base_url,
                                                   workdir))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def chromium() -> AsyncIterator[object]:
    """Headless Debian chromium under Playwright."""
    path = chromium_path()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        require('Playwright for Python (pip install -c constraints.txt -e ".[test,browser]")',
                False)
        raise
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(chromium, url: str, *, viewport=(1280, 800), token: str | None = None,
                    passthrough: tuple[str, ...] = ()) -> Browser:
    """A fresh context on ``url`` with tiles answered locally and everything else outside the
    server refused (and recorded). ``token``: put into the page's storage before it loads;
    ``passthrough``: URL prefixes (loopback) requested for real, like the server's."""
    context = await chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                         locale="zh-CN")
    page = await context.new_page()
    result = Browser(page, context, url)

    async def route(request_route) -> None:
        request = request_route.request
        if request.url.startswith((url, *passthrough)):
            await request_route.continue_()
        elif TILE_URL.match(request.url):
            result.tiles.append(request.url)
            kind = "autonavi" if "autonavi" in request.url else "openstreetmap"
            await request_route.fulfill(status=200, content_type="image/png", body=TILE_PNG[kind])
        else:
            result.outside.append(request.url)
            await request_route.abort()

    await context.route("**/*", route)
    page.on("dialog", lambda dialog: (result.dialogs.append(dialog.message),
                                      dialog.dismiss()))
    page.on("console", lambda m: m.type == "error" and result.console_errors.append(m.text))
    page.on("pageerror", lambda e: result.console_errors.append(str(e)))
    if token:
        await context.add_init_script(
            f"sessionStorage.setItem('geo-agent.token', {token!r});")
    await page.goto(url)
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    return result


__all__ = ["TOKEN_A", "open_page"]
