"""Safe to expose: bearer tokens, sessions owned by their token, no secret in any log line,
event or error body, CORS off unless allowed, and no open bind off loopback."""

from __future__ import annotations

import subprocess
import sys
import uuid

import httpx
import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.server import ServerSettings, create_app

from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.server.conftest import REPO, TOKEN_A, TOKEN_B, server_env, start_server
from tests.server.helpers import check_reply, read_sse


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN_A}"},
    {"Authorization": "Bearer"}, {"Authorization": TOKEN_A}])
async def test_requests_without_a_valid_token_are_401(client, fake_dashscope, headers):
    sid = str(uuid.uuid4())
    for method, path, body in [("POST", "/v1/chat/stream", {"message": "hi"}),
                               ("POST", "/api/chat", {"id": "c", "messages": []}),
                               ("GET", f"/v1/sessions/{sid}", None),
                               ("DELETE", f"/v1/sessions/{sid}", None),
                               ("POST", f"/v1/chat/{sid}/stop", None)]:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["type"] == "error"
        assert TOKEN_A not in response.text
    assert fake_dashscope.requests == []
    assert (await client.get("/healthz")).status_code == 200  # probes need no token


async def test_a_session_belongs_to_the_token_that_created_it(client, fake_dashscope, auth_a,
                                                              auth_b):
    sid = str(uuid.uuid4())
    events = await read_sse(client, "/v1/chat/stream", {"message": "秘密", "session_id": sid},
                            auth_a)
    assert check_reply(events) == "ECHO[1]: 秘密"
    not_found = {"type": "error", "error": "会话不存在。"}
    for method, path, body in [("GET", f"/v1/sessions/{sid}", None),
                               ("DELETE", f"/v1/sessions/{sid}", None),
                               ("POST", "/v1/chat/stream", {"message": "偷看", "session_id": sid}),
                               ("POST", "/api/chat", {"id": sid, "messages": [
                                   {"role": "user", "parts": [{"type": "text", "text": "x"}]}]})]:
        response = await client.request(method, path, json=body, headers=auth_b)
        assert (response.status_code, response.json()) == (404, not_found), path
    # Unknown sessions look the same as someone else's.
    unknown = await client.get(f"/v1/sessions/{uuid.uuid4()}", headers=auth_b)
    assert (unknown.status_code, unknown.json()) == (404, not_found)
    assert len(fake_dashscope.requests) == 1  # B's attempts made no model call
    mine = await client.get(f"/v1/sessions/{sid}", headers=auth_a)
    assert [m["content"] for m in mine.json()["messages"]] == ["秘密", "ECHO[1]: 秘密"]


def test_a_non_loopback_bind_without_tokens_refuses_to_start(tmp_path, fake_dashscope_server):
    env = server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                     GEO_AGENT_API_TOKENS="")
    result = subprocess.run(
        [sys.executable, "-m", "bailian_geo_agent.agent.cli", "serve", "--host", "0.0.0.0",
         "--port", "0"],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=60)
    assert result.returncode == 2
    assert "GEO_AGENT_API_TOKENS" in result.stderr and "GEO_AGENT_API_TOKENS_FILE" in result.stderr
    assert "listening" not in result.stdout


async def test_no_token_or_key_in_logs_events_or_errors_at_debug(tmp_path, fake_dashscope):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"# team tokens\n{TOKEN_A}\n\n{TOKEN_B}\n", encoding="utf-8")
    env = server_env(fake_dashscope.compatible_base_url, tmp_path, GEO_AGENT_API_TOKENS="",
                     GEO_AGENT_API_TOKENS_FILE=str(tokens))
    server = start_server(tmp_path, env, "--log-level", "debug")
    bodies = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            auth = {"Authorization": f"Bearer {TOKEN_A}"}
            events = await read_sse(client, "/v1/chat/stream", {"message": "你好"}, auth)
            assert check_reply(events) == "ECHO[1]: 你好"  # a token from the file works
            bodies.append(str(events))
            fake_dashscope.valid_keys = {"sk-some-other-key"}  # our key is now rejected
            events = await read_sse(client, "/v1/chat/stream", {"message": "再来"}, auth)
            assert events[-1][2]["error"].startswith("阿里云百炼API Key无效")
            bodies.append(str(events))
            for headers in ({"Authorization": f"Bearer {TOKEN_A}x"}, auth):
                response = await client.post("/v1/chat/stream", json={"message": ""},
                                             headers=headers)
                assert response.status_code in (401, 422)
                bodies.append(response.text)
            bodies.append((await client.get("/readyz")).text)
    finally:
        server.stop()
    logs = server.logs()
    assert "DEBUG" in logs and "POST /v1/chat/stream" in logs  # it did log, verbosely
    assert "/chat/completions" in logs  # including the upstream calls
    for secret in (TOKEN_A, TOKEN_B, FAKE_API_KEY):
        assert secret not in logs
        assert all(secret not in body for body in bodies)


def make_service(fake) -> StreamChatService:
    settings = Settings(api_key=FAKE_API_KEY, base_url=fake.compatible_base_url,
                        max_retries=0, session_store_url="memory://")
    return StreamChatService(settings, tools=[])


async def test_without_tokens_on_loopback_anyone_local_may_call(fake_dashscope):
    service = make_service(fake_dashscope)
    app = create_app(service, ServerSettings())
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        sid = str(uuid.uuid4())
        response = await client.post("/v1/chat/stream", json={"message": "hi", "session_id": sid})
        assert response.status_code == 200 and "ECHO[1]: hi" not in response.text  # chunked
        assert "event: stream_end" in response.text
        history = await client.get(f"/v1/sessions/{sid}")
        assert [m["content"] for m in history.json()["messages"]] == ["hi", "ECHO[1]: hi"]
    await service.aclose()


async def test_cors_is_off_by_default_and_opens_only_to_the_allow_list(fake_dashscope):
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    for origins, allowed in (((), None), (("https://app.example.com",), "https://app.example.com")):
        service = make_service(fake_dashscope)
        app = create_app(service, ServerSettings(cors_origins=origins,
                                                 api_tokens=(TOKEN_A,)))
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.options("/v1/chat/stream", headers=preflight)
            assert response.headers.get("access-control-allow-origin") == allowed
            other = await client.options("/v1/chat/stream", headers={
                **preflight, "Origin": "https://evil.example.com"})
            assert "access-control-allow-origin" not in other.headers
        await service.aclose()


def test_server_settings_name_the_variable_of_a_bad_value(monkeypatch):
    from bailian_geo_agent.agent.errors import ConfigurationError

    monkeypatch.setenv("GEO_AGENT_MAX_CONCURRENT_REPLIES", "many")
    with pytest.raises(ConfigurationError, match="GEO_AGENT_MAX_CONCURRENT_REPLIES"):
        ServerSettings.from_env()
    monkeypatch.delenv("GEO_AGENT_MAX_CONCURRENT_REPLIES")
    monkeypatch.setenv("GEO_AGENT_CORS_ORIGINS", "app.example.com")
    with pytest.raises(ConfigurationError, match="GEO_AGENT_CORS_ORIGINS"):
        ServerSettings.from_env()


async def test_answers_speak_the_service_language_even_when_only_dotenv_says_so(
        fake_dashscope, tmp_path, monkeypatch):
    """GEO_AGENT_LANGUAGE=en in ./.env only (not in the process environment, where the
    catalogue would fall back to zh): the 401, the 404 and a 413 are English."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEO_AGENT_LANGUAGE", raising=False)  # the catalogue's fallback: zh
    (tmp_path / ".env").write_text("GEO_AGENT_LANGUAGE=en\n", encoding="utf-8")
    service = StreamChatService(Settings(api_key=FAKE_API_KEY,
                                         base_url=fake_dashscope.compatible_base_url,
                                         session_store_url="memory://"), tools=[])
    assert service.settings.language == "en"
    app = create_app(service, ServerSettings(api_tokens=TOKEN_A, max_body_bytes=2000),
                     close_service=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        unauthorized = await client.get(f"/v1/sessions/{uuid.uuid4()}")
        missing = await client.get(f"/v1/sessions/{uuid.uuid4()}",
                                   headers={"Authorization": f"Bearer {TOKEN_A}"})
        too_big = await client.post("/v1/chat/stream", content=b"{" + b" " * 5000 + b"}",
                                    headers={"Authorization": f"Bearer {TOKEN_A}",
                                             "Content-Type": "application/json"})
    assert (unauthorized.status_code, missing.status_code, too_big.status_code) == (401, 404, 413)
    for response in (unauthorized, missing, too_big):
        text = response.json()["error"]
        assert text.isascii() and text, (response.status_code, text)
    assert missing.json()["error"] == "No such session."
