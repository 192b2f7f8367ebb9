"""The official MCP Inspector's CLI (npm ``@modelcontextprotocol/inspector``, pinned in
tests/js/package.json) lists and calls our tools over stdio and streamable HTTP, in both of its
protocol eras: ``legacy`` (initialize, 2025-11-25) and ``modern`` (2026-07-28, stateless)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.mcp.conftest import GEO_AGENT, ROOT, HttpServer, server_env

JS = ROOT / "tests" / "js"
INSPECTOR = JS / "node_modules" / ".bin" / "mcp-inspector"
NODE = shutil.which("node")
# In CI (.ci/run installs node and runs npm ci) a missing client fails instead of skipping.
pytestmark = pytest.mark.skipif(not (NODE and INSPECTOR.exists()) and not os.environ.get("CI"),
                                reason="needs node and `npm ci` in tests/js")
ERAS = ["legacy", "modern"]
STAMP = "io.modelcontextprotocol/serverInfo"  # a 2026-07-28 result's _meta names the server


def inspector(home: Path, target: list[str], *args: str, status: int = 0) -> dict[str, Any]:
    """One ``mcp-inspector --cli`` run; its JSON result (``status`` 5: a tool's isError)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
           "MCP_INSPECTOR_SECRET_STORE": "memory", "NO_PROXY": "127.0.0.1,localhost"}
    done = subprocess.run([str(INSPECTOR), "--cli", "-q", "--format", "json", *args, *target],
                          capture_output=True, text=True, timeout=90, env=env, cwd=JS)
    assert done.returncode == status, (done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(done.stdout)["result"]


def check(home: Path, target: list[str], era: str) -> None:
    listed = inspector(home, target, "--protocol-era", era, "--method", "tools/list")["tools"]
    assert len(listed) == 20
    assert all(t["title"] and t["icons"] and t["outputSchema"] and t["annotations"]
               for t in listed)
    cleared = inspector(home, target, "--protocol-era", era, "--method", "tools/call",
                        "--tool-name", "map_clear", "--tool-args-json", '{"target": "markers"}')
    assert cleared["isError"] is False
    assert cleared["structuredContent"] == {"map_action": {"op": "clear", "target": "markers"}}
    assert (STAMP in (cleared.get("_meta") or {})) is (era == "modern")
    bad = inspector(home, target, "--protocol-era", era, "--method", "tools/call",
                    "--tool-name", "get_weather", "--tool-args-json", '{"days": 99}', status=5)
    assert bad["isError"] is True and "days" in bad["content"][0]["text"]
    assert FAKE_AMAP_KEY not in json.dumps([listed, cleared, bad], ensure_ascii=False)


@pytest.mark.parametrize("era", ERAS)
def test_inspector_over_stdio(fake_amap: FakeAmap, tmp_path: Path, era: str):
    env = [part for key, value in server_env(fake_amap).items()
           for part in ("-e", f"{key}={value}")]
    check(tmp_path, [*env, "--cwd", str(ROOT), "--", GEO_AGENT, "mcp"], era)


@pytest.mark.parametrize("era", ERAS)
def test_inspector_over_http(http_server: HttpServer, tmp_path: Path, era: str):
    check(tmp_path, [http_server.url], era)
    sessions = http_server.log().count("Created new transport with session ID")
    assert sessions == (3 if era == "legacy" else 0)  # one a run; 2026-07-28 is stateless
