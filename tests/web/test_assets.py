"""The page's files: served by ``geo-agent serve`` with their headers, shipped as package data,
Leaflet vendored at the version ``web/package.json`` pins. No browser needed."""

from __future__ import annotations

import fnmatch
import json
import re

import httpx
import pytest
from bailian_geo_agent.agent.server.page import WEB_ROOT

from tests.web.conftest import REPO


def test_every_page_file_is_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["bailian_geo_agent.agent"]
    files = [p.relative_to(WEB_ROOT.parents[1]).as_posix() for p in WEB_ROOT.rglob("*")
             if p.is_file()]
    assert len(files) >= 14
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert missing == []


def test_leaflet_is_vendored_at_the_pinned_version_with_its_licence():
    pinned = json.loads((REPO / "web" / "package.json").read_text())["dependencies"]["leaflet"]
    vendor = WEB_ROOT / "vendor" / "leaflet"
    assert (vendor / "VERSION").read_text().startswith(f"leaflet {pinned} ")
    assert f"Leaflet {pinned}, a JS library" in (vendor / "leaflet.js").read_text()
    licence = (vendor / "LICENSE").read_text()
    assert licence.startswith("BSD 2-Clause License\n")  # Leaflet's own, whole
    assert "Volodymyr Agafonkin" in licence
    assert "Redistribution and use in source and binary forms" in licence


VENDORED = {  # npm package -> (folder, its file, what that says of its version, licence start)
    "marked": ("marked", "marked.esm.js", "marked v{v} - a markdown parser", "# License"),
    "dompurify": ("dompurify", "purify.es.mjs", "@license DOMPurify {v} |", "Apache License"),
    "qrcode-generator": ("qrcode-generator", "qrcode.mjs", "QR Code Generator for JavaScript",
                         "Copyright (c) 2009 Kazuhiko Arase"),
}


@pytest.mark.parametrize("package", VENDORED)
def test_the_page_libraries_are_vendored_at_their_pinned_versions_with_their_licences(package):
    pinned = json.loads((REPO / "web" / "package.json").read_text())["dependencies"][package]
    folder, file, marker, licence_start = VENDORED[package]
    vendor = WEB_ROOT / "vendor" / folder
    assert (vendor / "VERSION").read_text() == (
        f"{package} {pinned} (npm), copied by web/vendor.mjs\n")
    assert marker.format(v=pinned) in (vendor / file).read_text()
    licence = (vendor / "LICENSE").read_text()
    assert licence.lstrip().startswith(licence_start)
    if package == "dompurify":  # dual licensed: both texts
        assert "Mozilla Public License" in (vendor / "LICENSE-MPL").read_text()
    else:
        assert "MIT" in licence and "Permission is hereby granted" in licence


def test_the_page_references_only_its_own_files():
    index = (WEB_ROOT / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert refs and all(not re.match(r"(https?:)?//", r) for r in refs), refs
    for ref in refs:
        if ref.startswith("static/"):
            assert (WEB_ROOT / ref.removeprefix("static/")).is_file(), ref
    for script in (WEB_ROOT / "js").glob("*.js"):
        source = script.read_text()
        code = re.sub(r"//[^\n]*|/\*.*?\*/", "", source, flags=re.S)  # not the comments
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", code), (
            script.name)
        for module in re.findall(r'from "\./([^"]+)"', source):
            assert (WEB_ROOT / "js" / module).is_file(), (script.name, module)
        for module in re.findall(r'from "\.\./(vendor/[^"]+)"', source):
            assert (WEB_ROOT / module).is_file(), (script.name, module)


def test_the_server_serves_the_page_and_its_assets(web_server):
    with httpx.Client(base_url=web_server.url, timeout=10) as client:
        page = client.get("/")  # no token needed for the page itself
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "https://*.is.autonavi.com" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        script = client.get("/static/js/main.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith(("text/javascript",
                                                          "application/javascript"))
        assert client.get("/static/vendor/leaflet/leaflet.css").status_code == 200
        assert client.get("/static/vendor/leaflet/images/marker-icon.png").status_code == 200
        assert client.get("/static/nope.js").status_code == 404
        assert client.get("/v1/sessions/x").status_code == 401  # the API still wants a token
        assert "/" not in client.get("/openapi.json").json()["paths"]
