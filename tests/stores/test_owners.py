"""The sessions' owners live in each store, beside the sessions: a second store on the same
database (another instance) sees them; ``memory://`` keeps them in the process."""

from __future__ import annotations

import uuid

import pytest
from bailian_geo_agent.agent.sessions.stores import SessionOwners, open_store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


async def test_owners_claim_check_and_forget(store_url):
    session = str(uuid.uuid4())
    store, other = open_store(store_url), open_store(store_url)
    try:
        owners = SessionOwners(lambda: store)
        await owners.ping()
        seen = [await owners.claim(session, "alice"), await owners.claim(session, "bob"),
                await owners.owns(session, "alice"), await owners.owns(session, "bob"),
                await other.is_owner(session, "alice"), await other.claim_owner(session, "bob")]
        await owners.forget(session)
        after = [await owners.owns(session, "alice"), await other.is_owner(session, "alice")]
    finally:
        await store.aclose()
        await other.aclose()
    shared = store_url != "memory://"  # another instance on the same database
    assert seen == [True, False, True, False, shared, not shared]
    assert after == [False, False]


async def test_sessions_per_owner_are_capped(store_url):
    """A new session beyond the cap claims nothing; existing sessions go on; a deleted or
    released session frees its place; each owner has its own count; a second store on the same
    database (another instance) counts the same rows."""
    from bailian_geo_agent.agent.sessions.stores import Claim

    ids = [str(uuid.uuid4()) for _ in range(5)]
    store, other = open_store(store_url), open_store(store_url)
    owners = SessionOwners(lambda: store)
    try:
        seen = [await owners.claim_session(ids[0], "alice", 2),
                await owners.claim_session(ids[1], "alice", 2),
                await owners.claim_session(ids[2], "alice", 2),
                await owners.claim_session(ids[0], "alice", 2),
                await owners.claim_session(ids[0], "bob", 2),
                await owners.claim_session(ids[2], "bob", 2),
                await owners.claim_session(ids[3], "alice", 0)]
        assert not await owners.owns(ids[2], "alice")
        await owners.release(ids[3], "bob")  # not bob's: kept
        kept = await owners.owns(ids[3], "alice")
        await owners.release(ids[3], "alice")
        await owners.forget(ids[1])
        after = [await owners.claim_session(ids[4], "alice", 2),
                 await owners.claim_session(str(uuid.uuid4()), "alice", 2)]
        shared = await other.claim_session(str(uuid.uuid4()), "alice", 2)
    finally:
        await store.aclose()
        await other.aclose()
    assert seen == [Claim.NEW, Claim.NEW, Claim.FULL, Claim.OWNED, Claim.REFUSED, Claim.NEW,
                    Claim.NEW]
    assert kept
    assert after == [Claim.NEW, Claim.FULL]
    assert shared is (Claim.FULL if store_url != "memory://" else Claim.NEW)


async def test_owner_rows_expire_with_their_sessions(store_url, fake_dashscope):
    """``expire_idle_sessions`` and ``delete_session`` drop the sessions' owner rows too."""
    from bailian_geo_agent.agent import StreamChatService

    from tests.helpers import collect
    from tests.stores.test_postgres_store import settings_for

    ids = [str(uuid.uuid4()) for _ in range(3)]
    settings = settings_for(fake_dashscope, store_url)
    async with StreamChatService(settings, tools=[]) as service:
        owners = service.session_owners()
        for sid in ids:
            assert await owners.claim(sid, "alice")
            await collect(service.stream_chat("你好", sid))
        await service.delete_session(ids[0])
        assert sorted(await service.expire_idle_sessions(0)) == sorted(ids[1:])
        assert [await owners.owns(sid, "alice") for sid in ids] == [False, False, False]
        # Those places are free again: the rows are gone, not only the checkpoints.
        from bailian_geo_agent.agent.sessions.stores import Claim

        assert await owners.claim_session(str(uuid.uuid4()), "alice", 1) is Claim.NEW


async def test_owner_rows_without_history_go_two_sweeps_later(store_url, fake_dashscope,
                                                               monkeypatch):
    """A claim whose reply never wrote anything (the process died), or a row left by a session
    deleted before owner rows went with it: dropped by a sweep that finds it without history
    ``orphan_grace`` after one that did; a session with history, or one that gets it in
    between, keeps its row."""
    from bailian_geo_agent.agent import StreamChatService
    from bailian_geo_agent.agent.sessions.stores import SessionStore

    monkeypatch.setattr(SessionStore, "orphan_grace", 0.0)

    from tests.helpers import collect
    from tests.stores.test_postgres_store import settings_for

    lost, late, kept = (str(uuid.uuid4()) for _ in range(3))
    settings = settings_for(fake_dashscope, store_url, session_idle_ttl=0)  # no sweep by itself
    async with StreamChatService(settings, tools=[]) as service:
        owners, store = service.session_owners(), service._session_store()
        for sid in (lost, late, kept):
            assert await owners.claim(sid, "alice")
        await collect(service.stream_chat("你好", kept))
        assert await service.expire_idle_sessions(3600) == []  # first sweep: only noted
        assert await owners.owns(lost, "alice") and await owners.owns(late, "alice")
        await collect(service.stream_chat("你好", late))  # its history began in between
        assert await store.forget_orphan_owners() == [lost]
        monkeypatch.setattr(SessionStore, "orphan_grace", 3600.0)
        again = str(uuid.uuid4())
        assert await owners.claim(again, "alice")
        assert await store.forget_orphan_owners() == []
        assert await store.forget_orphan_owners() == []  # not an hour yet: kept
        assert await owners.owns(again, "alice")
        assert [await owners.owns(sid, "alice") for sid in (lost, late, kept)] == [
            False, True, True]
