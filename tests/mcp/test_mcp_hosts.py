"""``geo-agent mcp --http`` checks ``Host`` and ``Origin`` on every request, whatever the bind
(the check ``serve`` uses): a real server process on loopback, and the app built for a public
bind driven in process (tests cannot listen beyond loopback)."""

from __future__ import annotations

import httpx
from bailian_geo_agent.agent.mcp.server import build_server
from bailian_geo_agent.agent.mcp.transports import http_app

from tests.fakes.amap import FakeAmap
from tests.mcp.conftest import server_env, start_http_server, stop
from tests.mcp.test_mcp_http import HEADERS, INITIALIZE

EVIL = "rebind.evil.example"


async def test_a_foreign_host_or_origin_is_refused_before_anything_else(fake_amap: FakeAmap):
    server = start_http_server(server_env(fake_amap, GEO_AGENT_API_TOKENS="tok-a"))
    port = server.url.split(":")[2].split("/")[0]
    auth = {"Authorization": "Bearer tok-a"}
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            async def status(headers: dict[str, str], method: str = "POST") -> int:
                answer = await client.request(method, server.url, json=INITIALIZE,
                                              headers=HEADERS | headers)
                return answer.status_code

            assert await status({"Host": EVIL}) == 421  # before the token check
            assert await status({"Host": EVIL, **auth}) == 421
            assert await status({"Origin": "https://evil.example", **auth}) == 403
            assert await status({"Origin": "https://evil.example", **auth}, "GET") == 403
            assert await status({"Origin": f"http://localhost:{port}", **auth}) == 200
            assert await status({"Host": f"localhost:{port}", **auth}) == 200
            assert await status({}) == 401
    finally:
        stop(server)
    assert "evil" in server.log()  # the refusals are logged


async def test_a_public_bind_checks_host_and_origin_too():
    app = http_app(build_server([]), host="0.0.0.0", tokens=["tok-a"],
                   allowed_hosts=["mcp.example.com"], origins=["https://app.example.com"])
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://mcp.example.com") as client:
        async def status(headers: dict[str, str]) -> int:
            answer = await client.post("/mcp", json=INITIALIZE, headers=HEADERS | headers)
            return answer.status_code

        assert await status({}) == 401  # allowed host, no token: the bearer rule answers
        assert await status({"Host": EVIL}) == 421
        assert await status({"Host": "10.1.2.3"}) == 421  # not listed
        assert await status({"Origin": "https://evil.example"}) == 403
        assert await status({"Origin": "https://app.example.com"}) == 401
        assert await status({"Origin": "http://mcp.example.com:8765"}) == 401
        body = (await client.post("/mcp", headers={"Host": EVIL})).json()
        assert body["type"] == "error" and "GEO_AGENT_ALLOWED_HOSTS" in body["error"]


async def test_the_command_reads_the_allowed_hosts_and_cors_origins(fake_amap: FakeAmap):
    server = start_http_server(server_env(
        fake_amap, GEO_AGENT_ALLOWED_HOSTS="mcp.example.com",
        GEO_AGENT_CORS_ORIGINS="https://app.example.com"))
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            async def status(headers: dict[str, str]) -> int:
                answer = await client.post(server.url, json=INITIALIZE, headers=HEADERS | headers)
                return answer.status_code

            assert await status({"Host": "mcp.example.com"}) == 200
            assert await status({}) == 421  # 127.0.0.1 is not listed
            assert await status({"Host": "mcp.example.com",
                                 "Origin": "https://app.example.com"}) == 200
            assert await status({"Host": "mcp.example.com",
                                 "Origin": "https://evil.example"}) == 403
    finally:
        stop(server)
