"""The SQLite store (the default): sessions survive a restart, in a fresh process each time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.sessions.stores import SqliteStore, default_store_url, open_store
from bailian_geo_agent.prompts.catalogue import text, use_language

from tests.fakes.dashscope import FakeDashScope
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import assert_well_formed, collect, make_settings
from tests.server.conftest import _ISOLATED
from tests.stores.helpers import REPO, chat_in_subprocess

FIRST_TURN = [("user", "我叫小明"), ("assistant", "ECHO[1]: 我叫小明")]


def sent_turns(fake: FakeDashScope, index: int) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in fake.requests[index].messages
            if m["role"] != "system"]


def test_default_store_is_a_sqlite_file_under_xdg_data_home(tmp_path):
    expected = tmp_path / "data" / "bailian-geo-agent" / "sessions.sqlite"
    assert default_store_url() == f"sqlite:///{expected}"
    store = open_store(None)
    assert isinstance(store, SqliteStore) and store.path == expected


async def test_a_restarted_service_continues_the_session(fake_dashscope, tmp_path):
    """With nothing configured, the default SQLite file under $XDG_DATA_HOME carries the
    conversation from this process's service (closed) to a service in a new process."""
    session = str(uuid.uuid4())
    settings = Settings(api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url)
    async with StreamChatService(settings, tools=[]) as service:
        first = [e async for e in service.stream_chat("我叫小明", session)]

    second = await asyncio.to_thread(
        chat_in_subprocess, fake_dashscope.compatible_base_url, None, session, "我叫什么？")

    assert assert_well_formed(first) == "ECHO[1]: 我叫小明"
    assert assert_well_formed(second) == "ECHO[2]: 我叫什么？"
    assert sent_turns(fake_dashscope, 1) == [*FIRST_TURN, ("user", "我叫什么？")]
    assert (tmp_path / "data" / "bailian-geo-agent" / "sessions.sqlite").is_file()


async def test_history_and_delete_across_instances(fake_dashscope, tmp_path):
    store = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'sessions.sqlite'}"  # parents created
    session = str(uuid.uuid4())
    settings = Settings(api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
                        session_store_url=store)
    async with StreamChatService(settings, tools=[]) as before:
        for message in ("我叫小明", "你好"):
            assert_well_formed([e async for e in before.stream_chat(message, session)])

    async with StreamChatService(settings, tools=[]) as service:  # a new instance: a restart
        history = await service.get_history(session)
        assert [m.content for m in history] == [
            "我叫小明", "ECHO[1]: 我叫小明", "你好", "ECHO[2]: 你好"]
        await service.delete_session(session)
        assert await service.get_history(session) == []

    async with StreamChatService(settings, tools=[]) as after:
        third = [e async for e in after.stream_chat("又来了", session)]
    assert assert_well_formed(third) == "ECHO[1]: 又来了", "a deleted session starts afresh"


async def test_expiry_runs_while_replies_write(fake_dashscope, tmp_path):
    """Listing sessions to expire never blocks a concurrent write (it used to hold the saver's
    lock across ``await``s: the next write deadlocked the event loop)."""
    settings = Settings(api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
                        session_store_url=f"sqlite:///{Path(tmp_path) / 's.sqlite'}")
    async with StreamChatService(settings, tools=[]) as service:
        sessions = [str(uuid.uuid4()) for _ in range(5)]
        for sid in sessions:
            [e async for e in service.stream_chat("你好", sid)]
        checkpointer = await service._session_store().checkpointer()

        async def write_while_listing():
            async for _ in checkpointer.alist(None):
                events = [e async for e in service.stream_chat("再来", sessions[0])]
                assert events[-1]["type"] == "stream_end"
                break

        await asyncio.wait_for(write_while_listing(), 10)
        assert await service.expire_idle_sessions(3600) == []
        assert sorted(await service.expire_idle_sessions(0)) == sorted(sessions)


async def test_sqlite_urls_follow_sqlalchemy_and_never_create_folders_by_surprise(
    fake_dashscope, tmp_path, monkeypatch
):
    from bailian_geo_agent.agent import StreamChatService

    from tests.helpers import collect, make_settings

    monkeypatch.chdir(tmp_path)
    relative = make_settings(fake_dashscope, "openai", session_store_url="sqlite:///rel.sqlite")
    async with StreamChatService(relative, tools=[]) as service:
        assert assert_well_formed(await collect(service.stream_chat("你好"))) == "ECHO[1]: 你好"
    assert (tmp_path / "rel.sqlite").is_file()

    absolute = tmp_path / "abs" / "x.sqlite"
    absolute.parent.mkdir()
    url = f"sqlite:///{absolute}"  # sqlite:////tmp/... : four slashes for an absolute path
    assert url.startswith("sqlite:////")
    async with StreamChatService(make_settings(fake_dashscope, "openai", session_store_url=url),
                                 tools=[]) as service:
        assert assert_well_formed(await collect(service.stream_chat("你好"))) == "ECHO[1]: 你好"
    assert absolute.is_file()

    sent = len(fake_dashscope.requests)
    missing = make_settings(fake_dashscope, "openai", session_store_url="sqlite:///no/such.db")
    async with StreamChatService(missing, tools=[]) as service:
        events = await collect(service.stream_chat("你好"))
    assert [e["type"] for e in events] == ["error"]
    assert "会话存储不可用" in events[-1]["error"] and "no/such.db" in events[-1]["error"]
    assert not (tmp_path / "no").exists()
    assert len(fake_dashscope.requests) == sent  # no model call without a store


BENEATH_A_FILE = ["x.db", "sub/x.db"]


@pytest.mark.parametrize("below", BENEATH_A_FILE)
async def test_a_store_path_beneath_a_file_is_the_documented_message(fake_dashscope, tmp_path,
                                                                     below):
    """No errno text (it was ``FileExistsError: [Errno 17] ...`` or ``NotADirectoryError:
    [Errno 20] ...``): the store-unavailable message, naming the path and the file in its way."""
    blocker = tmp_path / "afile"
    blocker.write_text("")
    path = blocker / below
    settings = make_settings(fake_dashscope, "openai", session_store_url=f"sqlite:///{path}")
    async with StreamChatService(settings, tools=[]) as service:
        events = await collect(service.stream_chat("你好"))
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["error"] == text(
        "store_unavailable", store=str(path), error=text("not_a_folder", path=str(blocker)))
    assert events[0]["error"].startswith("会话存储不可用") and "Errno" not in events[0]["error"]
    assert fake_dashscope.requests == []  # no model call without a store


@pytest.mark.parametrize("below", BENEATH_A_FILE)
def test_geo_agent_ask_with_a_store_path_beneath_a_file(fake_dashscope, tmp_path, below):
    """The same as a new user meets it: ``geo-agent ask``, a relative path and an absolute one,
    in both languages."""
    (tmp_path / "afile").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED)}
    env.update(DASHSCOPE_API_KEY=FAKE_API_KEY,
               DASHSCOPE_BASE_URL=fake_dashscope.compatible_base_url,
               XDG_DATA_HOME=str(tmp_path / "data"), PYTHONIOENCODING="utf-8", NO_COLOR="1",
               GEO_PROVIDER="open")
    command = [sys.executable, "-m", "bailian_geo_agent.agent.cli", "ask", "你好"]
    runs = {}
    for url, language in ((f"sqlite:///afile/{below}", "zh"),
                          (f"sqlite:///{tmp_path / 'afile' / below}", "en")):
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=90,
                              env={**env, "SESSION_STORE_URL": url, "GEO_AGENT_LANGUAGE": language,
                                   "PYTHONPATH": str(REPO)})
        runs[language] = (done.returncode, done.stdout, done.stderr.strip())
    with use_language("zh"):
        zh = text("cli_error", error=text("store_unavailable", store=f"afile/{below}",
                                          error=text("not_a_folder", path="afile")))
    with use_language("en"):
        en = text("cli_error", error=text(
            "store_unavailable", store=str(tmp_path / "afile" / below),
            error=text("not_a_folder", path=str(tmp_path / "afile"))))
    assert runs == {"zh": (1, "", zh), "en": (1, "", en)}
    assert fake_dashscope.requests == []
