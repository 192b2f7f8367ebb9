"""A client that goes away over HTTP (mid-call, or after a call; either revision) costs the server
no ERROR and no traceback in its log, and it goes on serving; and what it lists is the same bytes
from one start to the next."""

from __future__ import annotations

import json

import anyio
import httpx

from tests.fakes.amap import FakeAmap
from tests.mcp.checks import text_of
from tests.mcp.conftest import MODES, server_env, start_http_server, stop
from tests.mcp.test_mcp_http import HEADERS, http_session

SLOW = 3.0  # the fake answers the weather this late; the client leaves before


async def wait_for_request(fake: FakeAmap, path: str, count: int) -> None:
    """Until the fake has had ``count`` requests to ``path`` (the call is in the tool)."""
    with anyio.fail_after(20):
        while len(fake.requests_to(path)) < count:
            await anyio.sleep(0.02)


def assert_quiet(log: str) -> None:
    assert "Traceback" not in log and "ERROR" not in log, log[-4000:]
    assert "ClosedResourceError" not in log and "CRITICAL" not in log, log[-4000:]


async def test_a_client_leaving_mid_call_or_after_logs_no_error(fake_amap: FakeAmap):
    server = start_http_server(server_env(fake_amap, GEO_HTTP_TIMEOUT="10"))
    weather = "/v3/weather/weatherInfo"
    try:
        for count, mode in enumerate(MODES, start=1):
            # Mid-call: the SDK client is cancelled while the tool waits on the fake.
            fake_amap.set_response(weather, {"status": "1", "lives": []}, delay=SLOW)
            async with anyio.create_task_group() as group:
                async def leave_mid_call(mode: str = mode) -> None:
                    async with http_session(server.url, mode=mode) as session:
                        await session.call_tool("get_weather", {"place": "北京"})

                group.start_soon(leave_mid_call)
                await wait_for_request(fake_amap, weather, count)
                group.cancel_scope.cancel()
            # After a call: a normal call, then the client closes.
            async with http_session(server.url, mode=mode) as session:
                result = await session.call_tool("geocode", {"address": "故宫"})
                assert not result.is_error, text_of(result)
        # A raw client drops the connection while the answer's SSE stream is open.
        fake_amap.set_response(weather, {"status": "1", "lives": []}, delay=SLOW)
        call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "get_weather", "arguments": {"place": "北京"}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {}}}}
        headers = HEADERS | {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                             "Mcp-Name": "get_weather"}
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream("POST", server.url, content=json.dumps(call), headers=headers) as answer,
        ):
            assert answer.status_code == 200, await answer.aread()
            await wait_for_request(fake_amap, weather, len(MODES) + 1)
        # Still serving, on both revisions.
        for mode in MODES:
            async with http_session(server.url, mode=mode) as session:
                result = await session.call_tool("reverse_geocode",
                                                 {"lng": 116.397026, "lat": 39.918058})
                assert not result.is_error, text_of(result)
        # The abandoned tools finish in the server when the fake answers them; their results
        # have nowhere to go. Nothing shows when that is done, hence the one wait.
        await anyio.sleep(SLOW)
    finally:
        stop(server)
    assert_quiet(server.log())


async def test_the_listing_is_the_same_bytes_across_starts(fake_amap: FakeAmap):
    """``tools/list`` and ``resources/list``, raw JSON, from two server processes."""
    listings = []
    for _ in range(2):
        server = start_http_server(server_env(fake_amap))
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                bodies = []
                for method in ("tools/list", "resources/list"):
                    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                        "io.modelcontextprotocol/clientCapabilities": {}}}}
                    answer = await client.post(server.url, json=request, headers=HEADERS | {
                        "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method})
                    assert answer.status_code == 200, answer.text
                    bodies.append(answer.content)
                listings.append(bodies)
        finally:
            stop(server)
    assert listings[0] == listings[1]
    tools = parse(listings[0][0])["result"]["tools"]
    assert len(tools) == 20 and all(t["outputSchema"] and t["title"] for t in tools)


def parse(body: bytes) -> dict:
    """A JSON body, or the one ``data:`` line of an SSE body."""
    text = body.decode()
    if text.lstrip().startswith("{"):
        return json.loads(text)
    [data] = [line[5:] for line in text.splitlines() if line.startswith("data:")]
    return json.loads(data)
