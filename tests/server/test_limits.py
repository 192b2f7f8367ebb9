"""Limits per token: concurrent streams (replies and resume readers) and requests per minute
answer 429 with Retry-After; failed authentications are throttled per client address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fakes.dashscope import Reply
from tests.server.conftest import TOKEN_A, TOKEN_B, server_env, start_server
from tests.server.helpers import check_reply, read_sse

A = {"Authorization": f"Bearer {TOKEN_A}"}
B = {"Authorization": f"Bearer {TOKEN_B}"}


@pytest.fixture(scope="module")
def limited(fake_dashscope_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("limited")
    env = server_env(fake_dashscope_server.compatible_base_url, workdir,
                     GEO_AGENT_MAX_CONCURRENT_REPLIES="1", GEO_AGENT_REQUESTS_PER_MINUTE="4")
    server = start_server(workdir, env)
    try:
        yield server
    finally:
        server.stop()


async def test_concurrent_replies_and_requests_per_minute_are_limited_per_token(
        limited, fake_dashscope):
    fake_dashscope.script(Reply(text="慢慢说" * 20, chunk_delay=0.02))
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as client:
        async with aconnect_sse(client, "POST", "/v1/chat/stream", json={"message": "一"},
                                headers=A) as source:  # request 1 of A, streaming
            events = source.aiter_sse()
            first = json.loads((await anext(events)).data)
            assert first["type"] == "stream_start"
            busy = await client.post("/v1/chat/stream", json={"message": "二"}, headers=A)
            assert busy.status_code == 429  # request 2 of A
            assert busy.headers["retry-after"] == "1"
            assert busy.json()["error"].startswith("同时进行的回复过多：每个令牌最多 1 个")
            # Another token is not held up by A.
            assert check_reply(await read_sse(client, "/v1/chat/stream", {"message": "乙"}, B))
            async for _ in events:
                pass
        # A's slot is free again once its reply ended.
        assert check_reply(await read_sse(client, "/v1/chat/stream", {"message": "三"}, A))
        await client.get(f"/v1/sessions/{first['session_id']}", headers=A)  # request 4
        limited_out = await client.post("/v1/chat/stream", json={"message": "五"}, headers=A)
        assert limited_out.status_code == 429
        wait = int(limited_out.headers["retry-after"])
        assert 1 <= wait <= 60
        assert limited_out.json() == {"type": "error", "error": (
            "请求过于频繁：每分钟最多 4 个请求（GEO_AGENT_REQUESTS_PER_MINUTE）。"
            f"请 {wait} 秒后重试。")}
        # B has its own budget.
        assert (await client.get("/healthz")).status_code == 200
        assert check_reply(await read_sse(client, "/v1/chat/stream", {"message": "丙"}, B))


@pytest.fixture(scope="module")
def two_streams(fake_dashscope_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("two-streams")
    env = server_env(fake_dashscope_server.compatible_base_url, workdir,
                     GEO_AGENT_MAX_CONCURRENT_REPLIES="2", GEO_AGENT_AUTH_FAILURES_PER_MINUTE="3")
    server = start_server(workdir, env)
    try:
        yield server
    finally:
        server.stop()


async def test_resume_readers_hold_a_stream_slot_of_their_token(two_streams, fake_dashscope):
    fake_dashscope.script(Reply(text="慢" * 40, chunk_size=1, chunk_delay=0.05))
    chat = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=two_streams.url, timeout=30) as client:
        async with aconnect_sse(client, "POST", "/v1/chat/stream",
                                json={"message": "一", "session_id": chat},
                                headers=A) as source:  # one of A's two slots
            first = json.loads((await anext(source.aiter_sse())).data)
            events = f"/v1/chat/{first['message_id']}/events"
            async with contextlib.AsyncExitStack() as readers:
                opened = await asyncio.gather(*(
                    readers.enter_async_context(client.stream("GET", events, headers=A))
                    for _ in range(40)))
                codes = sorted(r.status_code for r in opened)
                assert codes == [200] + [429] * 39  # the reply and one reader: two streams
                refused = next(r for r in opened if r.status_code == 429)
                assert refused.headers["retry-after"] == "1"
                assert (await refused.aread()).decode().startswith(
                    '{"type":"error","error":"同时进行的回复过多：每个令牌最多 2 个')
                # The AI SDK's resume hook is a reader too.
                ui = await client.get(f"/api/chat/{chat}/stream", headers=A)
                assert ui.status_code == 429
                # Another token's readers are not held up by A's (B may not read A's reply).
                assert (await client.get(events, headers=B)).status_code == 404
                reader = next(r for r in opened if r.status_code == 200)
                text = [json.loads(line[6:])["chunk"] async for line in reader.aiter_lines()
                        if line.startswith("data: ") and '"stream_chunk"' in line]
                assert "".join(text) == "慢" * 40
        # Both slots are free again: a reader that gets the whole logged reply.
        whole = await client.get(events, headers=A)
        assert whole.status_code == 200
        assert '"type":"stream_end"' in whole.text


async def test_failed_authentications_are_throttled_per_client_address(two_streams):
    wrong = {"Authorization": "Bearer not-a-token"}
    async with httpx.AsyncClient(base_url=two_streams.url, timeout=30) as client:
        for _ in range(3):  # GEO_AGENT_AUTH_FAILURES_PER_MINUTE=3
            assert (await client.get(f"/v1/sessions/{uuid.uuid4()}", headers=wrong)
                    ).status_code == 401
        # A missing token guesses nothing and is not counted; the fourth wrong token is.
        for headers in (wrong, A, {}):
            throttled = await client.get(f"/v1/sessions/{uuid.uuid4()}", headers=headers)
            assert throttled.status_code == 429, headers  # even with the right token
            wait = int(throttled.headers["retry-after"])
            assert 50 <= wait <= 60
            assert throttled.json() == {"type": "error", "error": (
                "来自此地址的认证失败次数过多：每分钟最多 3 次"
                f"（GEO_AGENT_AUTH_FAILURES_PER_MINUTE）。请检查令牌，{wait} 秒后重试。")}
        assert (await client.get("/healthz")).status_code == 200  # probes need no token
    # Another address is not throttled (the key is the connection's client address).
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=two_streams.url, timeout=30, transport=other) as client:
        response = await client.get(f"/v1/sessions/{uuid.uuid4()}", headers=A)
        assert response.status_code == 404


def test_the_throttle_forgets_a_failure_after_a_minute():
    from bailian_geo_agent.agent.access import BearerCheck, Throttled, Unauthorized

    now = [1000.0]
    check = BearerCheck(["right"], failures_per_minute=2)
    check.throttle._clock = lambda: now[0]
    for _ in range(2):
        with pytest.raises(Unauthorized):
            check.check("Bearer wrong", "10.0.0.1")
        now[0] += 10
    with pytest.raises(Throttled) as refused:
        check.check("Bearer right", "10.0.0.1")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "40"}
    assert check.check("Bearer right", "10.0.0.2")  # another address
    now[0] += 40  # the first failure is a minute old: one left in the window
    assert check.check("Bearer right", "10.0.0.1")
    assert check.check("Bearer right")  # no address (stdio, in-process): never throttled
