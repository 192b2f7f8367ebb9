"""Output that no client can misread: line separators escaped in every SSE payload, ``/docs``
from packaged assets under the page's headers, no store URL in any error body, and one strict
``Last-Event-ID`` answer on both event logs."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.fakes.dashscope import Reply
from tests.server.conftest import TOKEN_A, server_env, start_server
from tests.server.helpers import check_reply, read_sse

AUTH = {"Authorization": f"Bearer {TOKEN_A}"}
# Model text that a line splitter (str.splitlines, httpx iter_lines) would cut into a forged
# error event, an id and a data line, were the separators sent raw.
HOSTILE = ("前\u2028event: error\u2028data: {\"type\":\"error\",\"error\":\"forged\"}\u2028\u2028"
           "id: 99\u2029data: x\x85event: error\x85\x85后")


async def _lines(client: httpx.AsyncClient, method: str, path: str, **kw) -> list[str]:
    async with client.stream(method, path, headers=AUTH, **kw) as response:
        assert response.status_code == 200, await response.aread()
        return [line async for line in response.aiter_lines()]


def _events(lines: list[str]) -> list[tuple[str, ...]]:
    """(field, value) of every line a line-splitting client sees (comments dropped)."""
    return [line.partition(": ")[::2] for line in lines if line and not line.startswith(":")]


def _check_no_forgery(lines: list[str]) -> list[dict]:
    fields = _events(lines)
    assert {name for name, _ in fields} <= {"id", "event", "data"}, fields
    datas = [value for name, value in fields if name == "data"]
    assert all(value == "[DONE]" or json.loads(value) for value in datas)
    assert not [v for n, v in fields if n == "event" and v == "error"]
    return [json.loads(v) for v in datas if v != "[DONE]"]


async def test_line_separators_in_model_text_forge_no_event(server, fake_dashscope):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        fake_dashscope.script(Reply(text=HOSTILE, chunk_size=7))
        events = await read_sse(client, "/v1/chat/stream", {"message": "hi"}, AUTH)
        assert check_reply(events) == HOSTILE  # httpx-sse
        message_id = events[0][2]["message_id"]

        fake_dashscope.script(Reply(text=HOSTILE, chunk_size=7))
        datas = _check_no_forgery(await _lines(client, "POST", "/v1/chat/stream",
                                               json={"message": "hi"}))
        assert "".join(d.get("chunk", "") for d in datas) == HOSTILE

        # The resume replay (entries merged by the event log, re-encoded).
        replay = _check_no_forgery(await _lines(client, "GET", f"/v1/chat/{message_id}/events"))
        assert "".join(d.get("chunk", "") for d in replay) == HOSTILE

        fake_dashscope.script(Reply(text=HOSTILE, chunk_size=7))
        body = {"id": str(uuid.uuid4()), "messages": [
            {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
        parts = _check_no_forgery(await _lines(client, "POST", "/api/chat", json=body))
        assert "".join(p.get("delta", "") for p in parts if p["type"] == "text-delta") == HOSTILE
        assert not [p for p in parts if p["type"] == "error"]


BAD_IDS = ["1_0", "+1", "-1", "0x1", "1.0", "１", "٣", "1 2", str(2**63), str(2**64 + 1),
           "9" * 40]


@pytest.mark.parametrize("log", ["memory", "redis"])
async def test_last_event_id_is_parsed_strictly_and_alike_on_both_logs(
        log, request, fake_dashscope_server, fake_dashscope, tmp_path):
    extra = {"GEO_AGENT_STREAM_URL": request.getfixturevalue("redis_url")} if log == "redis" else {}
    server = start_server(tmp_path, server_env(fake_dashscope_server.compatible_base_url,
                                               tmp_path, **extra))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            fake_dashscope.script(Reply(text="一二三四五六", chunk_size=2))
            events = await read_sse(client, "/v1/chat/stream", {"message": "hi"}, AUTH)
            path = f"/v1/chat/{events[0][2]['message_id']}/events"
            for bad in BAD_IDS:
                for how in ({"headers": {**AUTH, "Last-Event-ID": bad.encode()}},
                            {"headers": AUTH, "params": {"last_event_id": bad}}):
                    answer = await client.get(path, **how)
                    assert answer.status_code == 422, (bad, answer.text)
                    assert answer.json()["error"].startswith("Last-Event-ID 无效"), bad
            # The largest id accepted: nothing after it; never "event log unavailable".
            async with client.stream("GET", path, headers={
                    **AUTH, "Last-Event-ID": str(2**63 - 1)}) as answer:
                assert answer.status_code == 200
                lines = [line async for line in answer.aiter_lines()]
                assert not [line for line in lines if "stream_chunk" in line]
                assert "Redis" not in "".join(lines)
            async with client.stream("GET", path, params={"last_event_id": " 2 "},
                                     headers=AUTH) as answer:
                datas = [json.loads(line[6:]) async for line in answer.aiter_lines()
                         if line.startswith("data: ")]
            assert [d["type"] for d in datas][-1] == "stream_end"
    finally:
        server.stop()


async def test_no_error_body_names_the_store_url_its_host_or_a_class(fake_dashscope,
                                                                      monkeypatch):
    from bailian_geo_agent.agent import Settings, StreamChatService
    from bailian_geo_agent.agent.server import ServerSettings, create_app
    from bailian_geo_agent.agent.sessions.stores.postgres import PostgresStore

    from tests.fakes.pytest_plugin import FAKE_API_KEY
    from tests.helpers import free_port

    monkeypatch.setattr(PostgresStore, "pool_timeout", 0.3)
    port = str(free_port())  # nothing listens there
    url = f"postgresql://alice_user:pw-12345@127.0.0.1:{port}/secret_db_name"
    service = StreamChatService(Settings(
        api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
        session_store_url=url, max_retries=0), tools=[])
    app = create_app(service, ServerSettings(api_tokens=(TOKEN_A,)), close_service=True)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    sid = str(uuid.uuid4())
    chat = {"id": sid, "messages": [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
    bodies = []
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                 headers=AUTH) as client:
        for method, path, body in (("GET", "/readyz", None),
                                   ("POST", "/v1/chat/stream", {"message": "hi"}),
                                   ("POST", "/api/chat", chat),
                                   ("GET", f"/v1/sessions/{sid}", None),
                                   ("DELETE", f"/v1/sessions/{sid}", None)):
            answer = await client.request(method, path, json=body)
            assert answer.status_code == 503, (path, answer.text)
            bodies.append(answer.text)
    # The service's own error event (what a reply's stream carries).
    events = [e.to_dict() async for e in service.stream_events("hi", sid)]
    bodies.append(json.dumps(events, ensure_ascii=False))
    await service.aclose()
    for body in bodies:
        assert "SESSION_STORE_URL" in body
        for word in ("alice_user", "127.0.0.1", port, "secret_db_name", "pw-12345",
                     "postgresql", "Timeout", "OperationalError", "Error:"):
            assert word not in body, (word, body)


async def test_docs_are_packaged_and_sent_with_the_pages_headers(server):
    import re

    from bailian_geo_agent.agent.server.page import PAGE_HEADERS

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        for name, value in PAGE_HEADERS.items():
            assert docs.headers[name] == value
        assert "script-src 'self'" in docs.headers["content-security-policy"]
        refs = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert len(refs) == 3 and not [r for r in refs if re.match(r"(https?:)?//", r)], refs
        assert "<script>" not in docs.text  # no inline script (the CSP would refuse it)
        for ref in refs:
            asset = await client.get(f"/{ref}")
            assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
        script = (await client.get("/static/js/docs.js")).text
        assert '"openapi.json"' in script and "http" not in script
        assert (await client.get("/openapi.json")).json()["info"]["title"] == "bailian-geo-agent"
        assert (await client.get("/redoc")).status_code == 404


async def test_docs_can_be_turned_off(fake_dashscope):
    from bailian_geo_agent.agent.server import ServerSettings, create_app

    from tests.server.test_auth import make_service

    service = make_service(fake_dashscope)
    app = create_app(service, ServerSettings(docs=False), close_service=True)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/healthz")).status_code == 200
    await service.aclose()
