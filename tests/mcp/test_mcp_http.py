"""``geo-agent mcp --http``: a real server process on a loopback ephemeral port, the ``mcp`` 2.x
SDK's streamable-HTTP client on both revisions (2025-11-25 sessions with ``Mcp-Session-Id``,
stateless 2026-07-28) at the same endpoint, and the bearer-token rule."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
from bailian_geo_agent.agent.exit_codes import ExitCode
from bailian_geo_agent.prompts.catalogue import text, use_language
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.mcp.checks import check_calls, check_errors, check_tool_list
from tests.mcp.conftest import MODES, HttpServer, server_env, start_http_server, stop

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "raw-httpx", "version": "0"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@asynccontextmanager
async def http_session(url: str, headers: dict[str, str] | None = None, mode: str = "legacy"):
    """A 2.x SDK client at ``url``: ``legacy`` (initialize, 2025-11-25) or ``auto`` (discover,
    2026-07-28)."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        assert client.protocol_version == MODES[mode]
        yield client


@pytest.mark.parametrize("mode", list(MODES))
async def test_http_lists_the_toolkit_and_answers_from_the_fake(
    http_server: HttpServer, fake_amap: FakeAmap, mode: str
):
    assert http_server.url.startswith("http://127.0.0.1:")
    async with http_session(http_server.url, mode=mode) as session:
        await check_tool_list(session)
        await check_calls(session, fake_amap)
        await check_errors(session, fake_amap)
    assert http_server.process.poll() is None  # still serving after every error
    stop(http_server)
    log = http_server.log()
    assert FAKE_AMAP_KEY not in log and "/v3/place/around" in log
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


async def test_tokens_are_required_when_set(fake_amap: FakeAmap):
    server = start_http_server(server_env(fake_amap, GEO_AGENT_API_TOKENS=" tok-a , tok-b "))
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            statuses = []
            for auth in (None, "Bearer wrong", "Basic tok-a", "Bearer tok-b"):
                headers = HEADERS | ({"Authorization": auth} if auth else {})
                answer = await client.post(server.url, json=INITIALIZE, headers=headers)
                statuses.append(answer.status_code)
                if answer.status_code == 401:
                    assert answer.headers["www-authenticate"].startswith("Bearer")
        assert statuses == [401, 401, 401, 200]
        # A 2026-07-28 request (no session, no initialize) meets the same rule.
        discover = {"jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw-httpx", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {}}}}
        modern = HEADERS | {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}
        async with httpx.AsyncClient(timeout=10) as client:
            refused = await client.post(server.url, json=discover, headers=modern)
            answered = await client.post(server.url, json=discover,
                                         headers=modern | {"Authorization": "Bearer tok-b"})
        assert refused.status_code == 401 and answered.status_code == 200, answered.text
        assert "2026-07-28" in answered.text and "mcp-session-id" not in answered.headers
        for mode in MODES:
            async with http_session(server.url, {"Authorization": "Bearer tok-a"},
                                    mode) as session:
                result = await session.call_tool("geocode", {"address": "故宫"})
                assert not result.is_error
    finally:
        stop(server)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_public_bind_without_tokens_refuses_to_start(fake_amap: FakeAmap, language: str):
    server = start_http_server(server_env(fake_amap, GEO_AGENT_LANGUAGE=language),
                               "--host", "0.0.0.0")
    assert server.ended.wait(10) and server.process.wait(10) == ExitCode.USAGE
    assert server.url == ""
    with use_language(language):  # the catalogue's text, in the configured language
        assert server.log() == f"geo-agent mcp: {text('mcp_needs_tokens', host='0.0.0.0')}\n"


async def _statuses(url: str) -> list[tuple[int, dict]]:
    """Status and body of ``initialize`` without a token, with a wrong one and with ``tok-a``."""
    answers = []
    async with httpx.AsyncClient(timeout=10) as client:
        for auth in (None, "Bearer wrong", "Bearer tok-a"):
            headers = HEADERS | ({"Authorization": auth} if auth else {})
            answer = await client.post(url, json=INITIALIZE, headers=headers)
            body = answer.json() if answer.status_code == 401 else {}
            answers.append((answer.status_code, body))
    return answers


REFUSALS = [
    (401, {"type": "error",
           "error": "缺少访问令牌：请在请求头中加上 Authorization: Bearer <令牌>。"}),
    (401, {"type": "error", "error": "访问令牌无效。"}),
    (200, {}),
]
"""The same 401 answers as ``geo-agent serve`` (``tests/server/test_auth.py``), then success."""


async def test_tokens_in_dotenv_are_required(fake_amap: FakeAmap, tmp_path: Path):
    """The token only in ``./.env``: ``mcp --http`` reads it as ``serve`` does (it ran open)."""
    (tmp_path / ".env").write_text("GEO_AGENT_API_TOKENS=tok-a\n", encoding="utf-8")
    server = start_http_server(server_env(fake_amap), cwd=tmp_path)
    try:
        assert server.url, server.log()
        assert await _statuses(server.url) == REFUSALS
    finally:
        stop(server)
    assert "tok-a" not in server.log()


async def test_tokens_file_named_in_dotenv_is_read(fake_amap: FakeAmap, tmp_path: Path):
    (tmp_path / "tokens.txt").write_text("# ours\ntok-a\n", encoding="utf-8")
    (tmp_path / ".env").write_text(f"GEO_AGENT_API_TOKENS_FILE={tmp_path / 'tokens.txt'}\n",
                                   encoding="utf-8")
    server = start_http_server(server_env(fake_amap), cwd=tmp_path)
    try:
        assert server.url, server.log()
        assert await _statuses(server.url) == REFUSALS
    finally:
        stop(server)


def test_an_unreadable_tokens_file_refuses_to_start(fake_amap: FakeAmap, tmp_path: Path):
    missing = tmp_path / "no-such-tokens.txt"
    server = start_http_server(server_env(fake_amap, GEO_AGENT_API_TOKENS_FILE=str(missing),
                                          GEO_AGENT_LANGUAGE="en"), cwd=tmp_path)
    assert server.ended.wait(10) and server.process.wait(10) == 1
    with use_language("en"):
        expected = text("tokens_file_unreadable", path=missing, error="FileNotFoundError")
    assert server.log() == f"geo-agent mcp: {expected}\n"


async def test_a_session_answers_only_the_token_that_opened_it(fake_amap: FakeAmap):
    server = start_http_server(server_env(fake_amap, GEO_AGENT_API_TOKENS="tok-a,tok-b"))
    try:
        a = HEADERS | {"Authorization": "Bearer tok-a"}
        b = HEADERS | {"Authorization": "Bearer tok-b"}
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        async with httpx.AsyncClient(timeout=10) as client:
            opened = await client.post(server.url, json=INITIALIZE, headers=a)
            assert opened.status_code == 200
            session = {"Mcp-Session-Id": opened.headers["mcp-session-id"],
                       "MCP-Protocol-Version": "2025-06-18"}
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            assert (await client.post(server.url, json=note, headers=a | session)).status_code \
                == 202
            # Another valid token with the session's id: as if the session did not exist.
            foreign = await client.post(server.url, json=listing, headers=b | session)
            assert foreign.status_code == 404
            assert foreign.json()["error"]["message"] == "Session not found"
            gone = await client.delete(server.url, headers=b | session)
            assert gone.status_code == 404
            # Its own token still uses it, and ends it.
            own = await client.post(server.url, json=listing, headers=a | session)
            assert own.status_code == 200 and "get_weather" in own.text
            assert (await client.delete(server.url, headers=a | session)).status_code == 200
    finally:
        stop(server)
