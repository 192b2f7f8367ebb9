"""Scale: 1,000 concurrent SSE clients on one ``geo-agent serve`` process (the DashScope fake in
a process of its own), and two server processes sharing one PostgreSQL session store."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from tests.server.conftest import TOKEN_A, TOKEN_B, server_env, start_server
from tests.server.helpers import check_reply, read_sse
from tests.test_load import fake_in_another_process  # noqa: F401 - the fixture

CLIENTS = 1000
A = {"Authorization": f"Bearer {TOKEN_A}"}
B = {"Authorization": f"Bearer {TOKEN_B}"}


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_a_thousand_concurrent_sse_clients_each_get_their_own_text(
        fake_in_another_process, tmp_path):  # noqa: F811
    env = server_env(fake_in_another_process, tmp_path, GEO_AGENT_SSE_PING="15",
                     GEO_AGENT_MAX_CONNECTIONS=str(CLIENTS + 100))  # above the default 900
    server = start_server(tmp_path, env, "--log-level", "warning")
    try:
        sessions = [str(uuid.uuid4()) for _ in range(CLIENTS)]
        messages = [f"会话{i:04d}请回答这一条只属于我的消息-{s[:8]}"
                    for i, s in enumerate(sessions)]
        limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=CLIENTS)
        # The warm-up on a connection of its own: none of the 1,000 may reuse an idle keep-alive
        # connection the server is closing (uvicorn closes idle ones after 5 s).
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as warm:
            await read_sse(warm, "/v1/chat/stream", {"message": "预热"}, A)
        rss_before = peak_rss_mb(server.process.pid)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:

            async def one(message: str, sid: str) -> str:
                events = await read_sse(client, "/v1/chat/stream",
                                        {"message": message, "session_id": sid}, A)
                assert {e[2]["session_id"] for e in events} == {sid}
                assert events[-1][2]["type"] == "stream_end", events[-1]
                return check_reply(events)

            started = time.perf_counter()
            try:
                texts = await asyncio.wait_for(asyncio.gather(
                    *(one(m, s) for m, s in zip(messages, sessions, strict=True))), 120)
            except httpx.TransportError as exc:  # say what the server saw
                raise AssertionError(f"{exc!r}; the server's log ends:\n"
                                     f"{server.logs()[-3000:]}") from exc
            wall = time.perf_counter() - started
            history = (await client.get(f"/v1/sessions/{sessions[-1]}", headers=A)).json()
        peak = peak_rss_mb(server.process.pid)
    finally:
        server.stop()
    assert texts == [f"ECHO[1]: {m}" for m in messages], "each client got exactly its text"
    assert [m["content"] for m in history["messages"]] == [messages[-1],
                                                           f"ECHO[1]: {messages[-1]}"]
    print(f"\nserve: {CLIENTS} concurrent SSE clients, wall {wall:.2f} s; server RSS after "
          f"warm-up {rss_before:.0f} MB, peak {peak:.0f} MB")
    assert wall < 60
    assert peak < 600


async def test_a_conversation_begun_on_one_instance_continues_on_another(
        fake_dashscope, pg_url, tmp_path):
    base = fake_dashscope.compatible_base_url
    one = start_server(tmp_path / "a", server_env(base, tmp_path / "a", SESSION_STORE_URL=pg_url))
    two = start_server(tmp_path / "b", server_env(base, tmp_path / "b", SESSION_STORE_URL=pg_url))
    try:
        sid = str(uuid.uuid4())
        async with httpx.AsyncClient(base_url=one.url, timeout=30) as a, \
                httpx.AsyncClient(base_url=two.url, timeout=30) as b:
            first = await read_sse(a, "/v1/chat/stream", {"message": "我在杭州", "session_id": sid},
                                   A)
            assert check_reply(first) == "ECHO[1]: 我在杭州"
            second = await read_sse(b, "/v1/chat/stream", {"message": "那里天气如何",
                                                          "session_id": sid}, A)
            assert check_reply(second) == "ECHO[2]: 那里天气如何"
            history = (await a.get(f"/v1/sessions/{sid}", headers=A)).json()["messages"]
            assert [m["content"] for m in history] == [
                "我在杭州", "ECHO[1]: 我在杭州", "那里天气如何", "ECHO[2]: 那里天气如何"]
            # Ownership is shared too: B's token is refused on both instances.
            for client in (a, b):
                other = await client.post("/v1/chat/stream",
                                          json={"message": "偷看", "session_id": sid}, headers=B)
                assert other.status_code == 404
                assert (await client.get(f"/v1/sessions/{sid}", headers=B)).status_code == 404
            assert (await b.delete(f"/v1/sessions/{sid}", headers=A)).status_code == 204
            assert (await a.get(f"/v1/sessions/{sid}", headers=A)).status_code == 404
            ready = await b.get("/readyz")
            assert ready.json()["status"] == "ready"
    finally:
        one.stop()
        two.stop()
    assert [r.messages[-1]["content"] for r in fake_dashscope.requests] == [
        "我在杭州", "那里天气如何"]
    assert len(fake_dashscope.requests[1].messages) >= 3  # B sent A's turn to the model
