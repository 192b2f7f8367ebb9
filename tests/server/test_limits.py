"""Limits per token: concurrent replies and requests per minute answer 429 with Retry-After."""

from __future__ import annotations

import json

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
