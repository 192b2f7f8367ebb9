"""Sessions per token are capped (409 with what to do), and a refused request or a reply that
never began claims no session."""

from __future__ import annotations

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
FULL = ("会话过多：每个令牌最多保存 2 个会话（GEO_AGENT_MAX_SESSIONS_PER_TOKEN）。"
        "请先用 DELETE /v1/sessions/{id} 删除不再需要的会话，或继续使用已有的会话。")


@pytest.fixture(params=["sqlite", "postgres"])
def capped(request, fake_dashscope_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("capped")
    extra = {"GEO_AGENT_MAX_SESSIONS_PER_TOKEN": "2", "GEO_AGENT_MAX_CONCURRENT_REPLIES": "1"}
    if request.param == "postgres":
        extra["SESSION_STORE_URL"] = request.getfixturevalue("pg_url")
    server = start_server(workdir, server_env(fake_dashscope_server.compatible_base_url, workdir,
                                              **extra))
    try:
        yield server
    finally:
        server.stop()


async def chat(client: httpx.AsyncClient, sid: str, headers: dict[str, str]) -> str:
    return check_reply(await read_sse(client, "/v1/chat/stream",
                                      {"message": "你好", "session_id": sid}, headers))


async def test_a_new_session_beyond_the_cap_is_refused(capped):
    s1, s2, s3 = (str(uuid.uuid4()) for _ in range(3))
    async with httpx.AsyncClient(base_url=capped.url, timeout=30) as client:
        await chat(client, s1, A)
        await chat(client, s2, A)
        full = await client.post("/v1/chat/stream", json={"message": "三", "session_id": s3},
                                 headers=A)
        assert full.status_code == 409
        assert full.json() == {"type": "error", "error": FULL}
        assert "retry-after" not in full.headers
        assert (await client.get(f"/v1/sessions/{s3}", headers=A)).status_code == 404
        await chat(client, s1, A)  # an existing session goes on
        assert (await client.delete(f"/v1/sessions/{s1}", headers=A)).status_code == 204
        await chat(client, s3, A)  # its place is free again


async def test_a_request_refused_with_429_claims_nothing(capped, fake_dashscope):
    """A's second reply is refused (one at a time): the session it named stays free, so B can
    take it; before, A's refused request had claimed it and B got 404."""
    wanted = str(uuid.uuid4())
    fake_dashscope.script(Reply(text="慢慢说" * 20, chunk_delay=0.02))
    async with httpx.AsyncClient(base_url=capped.url, timeout=30) as client:
        async with aconnect_sse(client, "POST", "/v1/chat/stream", json={"message": "一"},
                                headers=A) as source:
            events = source.aiter_sse()
            first = json.loads((await anext(events)).data)
            assert first["type"] == "stream_start"
            busy = await client.post("/v1/chat/stream",
                                     json={"message": "二", "session_id": wanted}, headers=A)
            assert busy.status_code == 429
            async for _ in events:
                pass
        await chat(client, wanted, B)
        assert (await client.get(f"/v1/sessions/{wanted}", headers=A)).status_code == 404


async def test_a_reply_that_never_began_leaves_no_claim():
    """No API key: every reply's first event is its error (503); the session it named has no
    owner afterwards, and the token's count is unchanged."""
    from bailian_geo_agent.agent import Settings, StreamChatService
    from bailian_geo_agent.agent.server.auth import Identity
    from bailian_geo_agent.agent.server.errors import ApiError
    from bailian_geo_agent.agent.server.state import ServerState
    from bailian_geo_agent.agent.serving import ServerSettings
    from bailian_geo_agent.agent.sessions.stores import Claim

    service = StreamChatService(Settings(api_key=None, session_store_url="memory://"))
    state = ServerState(service, ServerSettings(max_sessions_per_token=1))
    identity = Identity(owner="alice", limit_key="alice")
    sid = str(uuid.uuid4())
    with pytest.raises(ApiError) as refused:
        await state.start_reply(identity, "你好", sid, frozenset())
    assert refused.value.status == 503
    assert not await state.owners.owns(sid, "alice")
    assert await state.owners.claim_session(str(uuid.uuid4()), "alice", 1) is Claim.NEW
    assert state.concurrency._running.get("alice", 0) == 0
    await service.aclose()
