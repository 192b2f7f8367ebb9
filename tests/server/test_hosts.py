"""Trust only what is configured: forwarded headers from listed proxies only, ``Host`` and
``Origin`` against an allow-list (real ``geo-agent serve`` processes, forged headers)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from bailian_geo_agent.agent.server.hosts import HostAllowList, ProxyHeaders, host_name

from tests.server.conftest import TOKEN_A, server_env, start_server

EVIL = "rebind.evil.example"


def _open_env(fake_dashscope_server, workdir, **extra: str) -> dict[str, str]:
    """No tokens (loopback): limits key on the client's address."""
    return server_env(fake_dashscope_server.compatible_base_url, workdir,
                      GEO_AGENT_API_TOKENS="", **extra)


@pytest.fixture(scope="module")
def open_server(fake_dashscope_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hosts-open")
    server = start_server(workdir, _open_env(fake_dashscope_server, workdir,
                                             GEO_AGENT_REQUESTS_PER_MINUTE="5"))
    try:
        yield server
    finally:
        server.stop()


async def _session_statuses(url: str, forwarded: list[str]) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for address in forwarded:
            answer = await client.get(f"/v1/sessions/{uuid.uuid4()}",
                                      headers={"X-Forwarded-For": address})
            statuses.append(answer.status_code)
    return statuses


async def test_forged_forwarded_for_meets_the_limit_when_no_proxy_is_trusted(open_server):
    forged = [f"198.51.100.{i}" for i in range(1, 41)]
    statuses = await _session_statuses(open_server.url, forged)
    assert statuses[:5] == [404] * 5  # the session does not exist: counted, answered
    assert statuses[5:] == [429] * 35  # one key (127.0.0.1) whatever the header says


async def test_a_trusted_proxy_gives_each_real_client_its_own_key(
        fake_dashscope_server, tmp_path):
    env = _open_env(fake_dashscope_server, tmp_path, GEO_AGENT_REQUESTS_PER_MINUTE="5",
                    GEO_AGENT_TRUSTED_PROXIES="127.0.0.1")
    server = start_server(tmp_path, env)
    try:
        first = await _session_statuses(server.url, ["203.0.113.1"] * 6)
        assert first == [404] * 5 + [429]
        # A client forging an earlier hop is still the address the proxy saw (rightmost).
        assert await _session_statuses(server.url, ["10.9.9.9, 203.0.113.1"]) == [429]
        # Distinct real clients have distinct keys.
        others = await _session_statuses(server.url, [f"203.0.113.{i}" for i in range(2, 12)])
        assert others == [404] * 10
    finally:
        server.stop()
    assert "203.0.113.2" in server.logs()  # the access log names the real client


async def test_a_foreign_host_gets_421_and_health_checks_answer_any_host(open_server):
    async with httpx.AsyncClient(base_url=open_server.url, timeout=10) as client:
        for method, path in (("POST", "/v1/chat/stream"), ("GET", "/"),
                             ("GET", f"/v1/sessions/{uuid.uuid4()}"), ("GET", "/docs")):
            answer = await client.request(method, path, headers={"Host": EVIL},
                                          json={"message": "hi"} if method == "POST" else None)
            assert answer.status_code == 421, (path, answer.text)
            body = answer.json()
            assert body["type"] == "error" and "GEO_AGENT_ALLOWED_HOSTS" in body["error"]
            assert EVIL not in answer.text
        port = open_server.url.rsplit(":", 1)[1]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
            answer = await client.get(f"/v1/sessions/{uuid.uuid4()}", headers={"Host": host})
            assert answer.status_code in (404, 429), host
        for path in ("/healthz", "/readyz"):
            assert (await client.get(path, headers={"Host": EVIL})).status_code == 200


async def test_a_foreign_origin_cannot_change_anything(open_server):
    stop = f"/v1/chat/{uuid.uuid4()}/stop"
    async with httpx.AsyncClient(base_url=open_server.url, timeout=10) as client:
        for origin in ("https://evil.example", "null", f"http://{EVIL}:8000"):
            for method, path in (("POST", stop), ("DELETE", f"/v1/sessions/{uuid.uuid4()}")):
                answer = await client.request(method, path, headers={"Origin": origin})
                assert answer.status_code == 403, (origin, path)
                assert "GEO_AGENT_CORS_ORIGINS" in answer.json()["error"]
        # The page's own origin passes (the reply is unknown: 404), reads are CORS's business.
        own = await client.post(stop, headers={"Origin": open_server.url})
        assert own.status_code in (404, 429)
        read = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert read.status_code == 200


async def test_configured_hosts_and_cors_origins(fake_dashscope_server, tmp_path):
    env = server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                     GEO_AGENT_ALLOWED_HOSTS="chat.example.com,*.internal.example",
                     GEO_AGENT_CORS_ORIGINS="https://app.example.com")
    server = start_server(tmp_path, env)
    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    stop = f"/v1/chat/{uuid.uuid4()}/stop"
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=auth) as client:
            for host, status in (("chat.example.com", 404), ("a.internal.example:443", 404),
                                 ("localhost", 421), ("internal.example", 421), (EVIL, 421)):
                answer = await client.post(stop, headers={"Host": host})
                assert answer.status_code == status, host
            host = {"Host": "chat.example.com"}
            for origin, status in (("https://app.example.com", 404),
                                   ("https://chat.example.com", 404),
                                   ("https://other.example.com", 403)):
                answer = await client.post(stop, headers={**host, "Origin": origin})
                assert answer.status_code == status, origin
    finally:
        server.stop()


def test_host_names_and_the_default_allow_list():
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM:80") == "example.com"
    assert host_name("::1") == "::1" and host_name("") == ""
    default = HostAllowList()
    assert default.allows_host("localhost", "127.0.0.1")
    assert default.allows_host("10.0.0.5", "10.0.0.5")  # the address it was reached on
    assert default.allows_host("10.0.0.5", "::ffff:10.0.0.5")
    assert not default.allows_host("10.0.0.6", "10.0.0.5")
    assert not default.allows_host(EVIL, "10.0.0.5")
    assert not default.allows_origin("null", "127.0.0.1")
    assert HostAllowList(["*"]).allows_host(EVIL, None)
    assert HostAllowList(origins=["*"]).allows_origin("https://evil.example", None)


async def test_forwarded_proto_and_for_are_read_from_trusted_proxies_only():
    seen: list[tuple[str, object]] = []

    async def app(scope, receive, send):
        seen.append((scope["scheme"], scope["client"]))

    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    for proxies in ((), ("10.0.0.0/8",), ("127.0.0.1",)):
        scope = {"type": "http", "scheme": "http", "client": ("127.0.0.1", 5000),
                 "headers": headers}
        await ProxyHeaders(app, proxies)(scope, None, None)
    assert seen == [("http", ("127.0.0.1", 5000)), ("http", ("127.0.0.1", 5000)),
                    ("https", ("203.0.113.7", 0))]


def test_bad_trusted_proxies_are_refused():
    from bailian_geo_agent.agent.errors import ConfigurationError
    from bailian_geo_agent.agent.serving import ServerSettings

    with pytest.raises(ConfigurationError, match="GEO_AGENT_TRUSTED_PROXIES"):
        ServerSettings.from_env(GEO_AGENT_TRUSTED_PROXIES="nginx")
    settings = ServerSettings.from_env(GEO_AGENT_TRUSTED_PROXIES="10.0.0.1, 172.16.0.0/12")
    assert settings.trusted_proxies == ("10.0.0.1", "172.16.0.0/12")
