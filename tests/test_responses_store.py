"""The ``responses`` provider's chain survives the real session stores: the reply id kept in the
stored history (SQLite, PostgreSQL) is what another service instance chains from, and an
interrupted reply (no id) is sent again after the last finished one."""

from __future__ import annotations

from pathlib import Path

import pytest
from bailian_geo_agent.agent import StreamChatService
from langchain_core.messages import AIMessage

from tests.fakes.dashscope import FakeDashScope, Reply
from tests.helpers import assert_well_formed, collect, make_settings
from tests.stores.conftest import pg_url, postgres_url  # noqa: F401 - fixtures


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sessions.sqlite"
    return str(request.getfixturevalue("pg_url"))


def service(fake: FakeDashScope, store: str) -> StreamChatService:
    settings = make_settings(fake, "responses", session_store_url=store)
    return StreamChatService(settings, tools=[])


async def test_another_instance_chains_from_the_stored_reply_id(
    fake_dashscope: FakeDashScope, store_url: str
) -> None:
    async with service(fake_dashscope, store_url) as first:
        sid = (await collect(first.stream_chat("北京")))[0]["session_id"]
    async with service(fake_dashscope, store_url) as second:  # a restart, or another instance
        events = await collect(second.stream_chat("上海", sid))
        history = await second.get_history(sid)
    assert assert_well_formed(events) == "ECHO[2]: 上海"
    stored = [m.response_metadata.get("id") for m in history if isinstance(m, AIMessage)]
    assert all(isinstance(i, str) and i.startswith("resp_") for i in stored)
    chained = fake_dashscope.requests[1].body
    assert chained["previous_response_id"] == stored[0]
    assert chained["input"] == [{"type": "message", "role": "user", "content": "上海"}]


async def test_an_interrupted_reply_is_sent_after_the_last_finished_one(
    fake_dashscope: FakeDashScope, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path}/sessions.sqlite"
    fake_dashscope.script(Reply(text="北京晴"), Reply(text="上海多云有雨", cut_after=1),
                          Reply(text="好"))
    async with service(fake_dashscope, store) as chat:
        sid = (await collect(chat.stream_chat("北京")))[0]["session_id"]
        cut = await collect(chat.stream_chat("上海", sid))
        await collect(chat.stream_chat("广州", sid))
    assert cut[-1]["type"] == "error"
    first_id = fake_dashscope.requests[1].body["previous_response_id"]
    last = fake_dashscope.requests[-1].body
    assert last["previous_response_id"] == first_id  # the cut reply never got an id
    assert [(e.get("role"), text_of(e.get("content"))) for e in last["input"]] == [
        ("user", "上海"), ("assistant", "上海"), ("user", "广州")]


def text_of(content: object) -> str:
    """A message item's text: a string, or its ``output_text`` / ``input_text`` parts."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


async def test_a_retried_turn_chains_from_the_reply_before_the_one_it_replaces(
    fake_dashscope: FakeDashScope, tmp_path: Path
) -> None:
    # retry=True replaces the stored turn: chaining from the replaced reply would give the
    # model the question twice (and its old answer).
    store = f"sqlite:///{tmp_path}/sessions.sqlite"
    async with service(fake_dashscope, store) as chat:
        sid = (await collect(chat.stream_chat("北京")))[0]["session_id"]
        await collect(chat.stream_chat("上海", sid))
        replaced = (await chat.get_history(sid))[-1].response_metadata["id"]
        again = [e.to_dict() async for e in chat.stream_events("上海", sid, retry=True)]
        history = await chat.get_history(sid)
    assert assert_well_formed(again) == "ECHO[2]: 上海"
    first_id = fake_dashscope.requests[1].body["previous_response_id"]
    retried = fake_dashscope.requests[-1].body
    assert retried["previous_response_id"] == first_id != replaced
    assert retried["input"] == [{"type": "message", "role": "user", "content": "上海"}]
    ids = [m.response_metadata.get("id") for m in history if isinstance(m, AIMessage)]
    assert replaced not in ids and len(ids) == 2
