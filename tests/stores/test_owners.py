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
