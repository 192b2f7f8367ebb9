"""Our MCP server loaded by ``langchain-mcp-adapters`` (0.3.2, the version CI pins) as LangChain
tools, over stdio and streamable HTTP. The adapters need ``mcp<2``, so they run in their own
venv (``tests/mcp/adapters_venv.sh`` makes ``.venv-mcp-adapters``; ``.ci/run`` runs it): a client
script there, a subprocess of the test. Its 1.x SDK speaks 2025-11-25, so this is also the proof
that a client of the handshake revision works."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from bailian_geo_agent.tools.map_commands import map_tool_output_schema

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.mcp.conftest import GEO_AGENT, ROOT, HttpServer, server_env

SIDE_PYTHON = ROOT / ".venv-mcp-adapters" / "bin" / "python"
CLIENT = Path(__file__).with_name("adapters") / "client.py"
CALLS = [["get_weather", {"place": "北京", "days": 1}],
         ["map_set_view", {"place": "故宫", "zoom": 15}],
         ["get_weather", {"place": "北京", "days": 99}]]


def run_client(connection: dict[str, Any]) -> dict[str, Any]:
    if not SIDE_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("no .venv-mcp-adapters: run tests/mcp/adapters_venv.sh (.ci/run does)")
        pytest.skip("no .venv-mcp-adapters (make it with tests/mcp/adapters_venv.sh)")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "NO_PROXY": "127.0.0.1,localhost"}
    done = subprocess.run([str(SIDE_PYTHON), str(CLIENT)], input=json.dumps(
        {"connection": connection, "calls": CALLS}), capture_output=True, text=True, timeout=120,
        env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def check_report(report: dict[str, Any], fake: FakeAmap) -> None:
    assert report["versions"] == {"langchain-mcp-adapters": "0.3.2", "mcp": "1.30.0"}
    listed = {t["name"]: t for t in report["listed"]}
    assert len(listed) == 20 and {"get_weather", "poi_detail", "map_clear"} <= set(listed)
    assert all(t["title"] and t["outputSchema"] for t in listed.values())
    assert report["tools"]["get_weather"]["properties"]["days"]["maximum"] == 7
    weather, view, bad = report["calls"]
    assert weather["status"] == "success"
    assert str(weather["content"]).find("北京 北京市天气（来源：高德地图）") >= 0
    structured = view["artifact"]["structured_content"]
    jsonschema.Draft202012Validator(map_tool_output_schema()).validate(structured)
    assert structured["map_action"] == {
        "op": "set_view", "zoom": 15, "label": "北京市东城区故宫博物院",
        "center": {"lng": 116.397026, "lat": 39.918058, "crs": "gcj02"}}
    assert bad["status"] == "error"  # isError: the adapters raise it as a tool error
    assert bad["content"][0]["text"].startswith("工具参数无效（invalid arguments）：days")
    assert FAKE_AMAP_KEY not in json.dumps(report, ensure_ascii=False)
    assert fake.requests_to("/v3/weather/weatherInfo")


def test_adapters_over_stdio(fake_amap: FakeAmap):
    report = run_client({"transport": "stdio", "command": GEO_AGENT, "args": ["mcp"],
                         "cwd": str(ROOT), "env": server_env(fake_amap)})
    check_report(report, fake_amap)


def test_adapters_over_streamable_http(http_server: HttpServer, fake_amap: FakeAmap):
    report = run_client({"transport": "streamable_http", "url": http_server.url})
    check_report(report, fake_amap)
    assert "Traceback" not in http_server.log() and "ERROR" not in http_server.log()
