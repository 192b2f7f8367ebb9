"""``geo-agent mcp`` over stdio, driven by the ``mcp`` 2.x SDK's own client in a subprocess, on
both protocol revisions: 2025-11-25 (``initialize``) and 2026-07-28 (``server/discover``,
stateless)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.mcp.checks import check_calls, check_errors, check_tool_list, text_of
from tests.mcp.conftest import GEO_AGENT, MODES, ROOT, server_env


@asynccontextmanager
async def stdio_session(env: dict[str, str], log: Path, *args: str, mode: str = "legacy"):
    """A client on a fresh ``geo-agent mcp`` process; its stderr goes to ``log``. ``mode``:
    ``legacy`` (the handshake, 2025-11-25) or ``auto`` (discover: 2026-07-28)."""
    params = StdioServerParameters(command=GEO_AGENT, args=["mcp", *args], env=env, cwd=ROOT)
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
            assert client.protocol_version == MODES[mode]
            assert client.server_capabilities.tools is not None
            assert client.server_capabilities.resources is not None
            if mode == "legacy":  # 2026-07-28 servers need not name themselves
                assert client.server_info.name == "bailian-geo-agent"
            else:  # capabilities.extensions is a 2026-07-28 field: MCP Apps is advertised
                assert "io.modelcontextprotocol/ui" in client.server_capabilities.extensions
            yield client


@pytest.mark.parametrize("mode", list(MODES))
async def test_stdio_lists_the_toolkit_and_answers_from_the_fake(fake_amap: FakeAmap, tmp_path,
                                                                 mode: str):
    log = tmp_path / "server.log"
    async with stdio_session(server_env(fake_amap), log, mode=mode) as session:
        await check_tool_list(session)
        await check_calls(session, fake_amap)
        await check_errors(session, fake_amap)
    logged = log.read_text()
    assert "/v3/place/around" in logged  # the debug log did record the requests...
    assert FAKE_AMAP_KEY not in logged  # ...without the key
    assert "Traceback" not in logged and "ERROR" not in logged, logged[-3000:]
    assert all(r.params["key"] == FAKE_AMAP_KEY for r in fake_amap.requests)


async def test_stdio_on_the_open_provider_explains_what_needs_amap(fake_amap: FakeAmap, tmp_path):
    env = server_env(fake_amap, GEO_PROVIDER="open")
    del env["AMAP_API_KEY"]
    async with stdio_session(env, tmp_path / "server.log", "--no-map-tools") as session:
        names = [t.name for t in (await session.list_tools()).tools]
        assert "transit_route" in names and not any(n.startswith("map_") for n in names)
        result = await session.call_tool(
            "transit_route", {"origin": "2.2945,48.8582", "destination": "2.3376,48.8606",
                              "city": "Paris", "crs": "wgs84"}
        )
        assert result.is_error and text_of(result).startswith("公交/地铁换乘规划需要高德地图")
        ip = await session.call_tool("ip_location", {"ip": "114.247.50.2"})
        assert ip.is_error and text_of(ip).startswith("IP定位需要高德地图")
    assert fake_amap.requests == []
