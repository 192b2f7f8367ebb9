"""A PostgreSQL restart mid-session costs no request an error: every pooled connection and the
advisory-lock connection are checked (and replaced) before use. A private cluster: the test
restarts it."""

from __future__ import annotations

import asyncio
import uuid

from bailian_geo_agent.agent import StreamChatService

from tests.helpers import assert_well_formed, collect
from tests.stores.test_postgres_store import settings_for


async def test_restart_costs_no_request(fake_dashscope, private_postgres):
    session = str(uuid.uuid4())
    async with StreamChatService(settings_for(fake_dashscope, private_postgres.url),
                                 tools=[]) as service:
        owners = service.session_owners()
        assert await owners.claim(session, "alice")
        assert_well_formed(await collect(service.stream_chat("我叫小明", session)))
        # Several connections in the pool, all broken by the restart.
        others = [str(uuid.uuid4()) for _ in range(4)]
        await asyncio.gather(*(collect(service.stream_chat("你好", sid)) for sid in others))

        await asyncio.to_thread(private_postgres.stop)  # pg_ctl stop -m fast
        await asyncio.to_thread(private_postgres.start)

        # What the server does per request: the owners check, then the reply; none may fail.
        for round_ in range(3):
            assert await owners.owns(session, "alice")
            events = await collect(service.stream_chat(f"第{round_}次", session))
            assert events[-1]["type"] == "stream_end", events[-1]
        replies = await asyncio.gather(*(collect(service.stream_chat("再见", sid))
                                         for sid in others))
        assert all(r[-1]["type"] == "stream_end" for r in replies), replies
        history = await service.get_history(session)
    assert [m.content for m in history][:2] == ["我叫小明", "ECHO[1]: 我叫小明"]
    assert len(history) == 8


async def test_restart_costs_no_http_request(fake_dashscope_server, private_postgres, tmp_path):
    """The same through ``geo-agent serve``: after the restart, every request (a message in
    the session, its history, a new session) answers 200, none 503."""
    import httpx

    from tests.server.conftest import TOKEN_A, server_env, start_server
    from tests.server.helpers import check_reply, read_sse

    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    env = server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                     SESSION_STORE_URL=private_postgres.url)
    server = start_server(tmp_path, env)
    try:
        session = str(uuid.uuid4())
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            body = {"message": "我叫小明", "session_id": session}
            assert check_reply(await read_sse(client, "/v1/chat/stream", body, auth))
            await asyncio.to_thread(private_postgres.stop)
            await asyncio.to_thread(private_postgres.start)
            for round_ in range(3):
                body = {"message": f"第{round_}次", "session_id": session}
                events = await read_sse(client, "/v1/chat/stream", body, auth)
                assert events[-1][2]["type"] == "stream_end", events[-1]
                history = await client.get(f"/v1/sessions/{session}", headers=auth)
                assert history.status_code == 200, history.text
                fresh = {"message": "你好", "session_id": str(uuid.uuid4())}
                assert check_reply(await read_sse(client, "/v1/chat/stream", fresh, auth))
            assert (await client.get("/readyz")).status_code == 200
    finally:
        server.stop()
    assert len(history.json()["messages"]) == 8
