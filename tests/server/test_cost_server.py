"""The cost work over HTTP: web sources as ``source`` SSE events and as ``source-url`` parts the
``ai`` package's own client accepts, and the context cache's tokens in the metrics."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.access import token_hash
from bailian_geo_agent.agent.server import ServerSettings, create_app
from bailian_geo_agent.agent.server.request_log import JsonFormatter
from bailian_geo_agent.agent.server.usage import token_id

from tests.fakes.dashscope import Reply
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.server.conftest import TOKEN_A, TOKEN_B, Server, server_env, start_server
from tests.server.helpers import check_reply, read_sse
from tests.server.test_aisdk import _READY, read_chat
from tests.server.test_metrics import A, client_of, scrape, value
from tests.server.test_metrics import records as records

SOURCES = [{"title": "北京天气", "url": "https://weather.example.cn/beijing"},
           {"title": "天气网", "url": "https://www.weather.example.com.cn/"}]


def app_with(fake, **settings: object):
    values = {"api_key": FAKE_API_KEY, "base_url": fake.compatible_base_url, "max_retries": 0,
              "session_store_url": "memory://", "model": "qwen-plus", **settings}
    service = StreamChatService(Settings(**values), tools=[])
    return create_app(service, ServerSettings(api_tokens=(TOKEN_A, TOKEN_B)), close_service=True)


async def test_sources_are_sse_events_when_asked_for(fake_dashscope):
    fake_dashscope.script(Reply(text="北京晴", search_results=SOURCES), Reply(text="北京晴"))
    async with client_of(app_with(fake_dashscope, enable_search=True)) as client:
        events = await read_sse(client, "/v1/chat/stream",
                                {"message": "北京天气", "events": ["source"]}, A)
        plain = await read_sse(client, "/v1/chat/stream", {"message": "北京天气"}, A)
    assert [name for name, _, _ in events] == ["stream_start", "source", "source",
                                               "stream_chunk", "stream_chunk", "stream_end"]
    assert [int(n) for _, n, _ in events] == list(range(1, 7))
    assert check_reply(plain) == "北京晴"
    sources = [data for name, _, data in events if name == "source"]
    assert [(s["url"], s["title"]) for s in sources] == [(s["url"], s["title"]) for s in SOURCES]
    assert all(name != "source" for name, _, _ in plain)


async def test_cache_tokens_reach_the_metrics(fake_dashscope):
    fake_dashscope.script(Reply(text="好的", cached_tokens=5, cache_creation_tokens=1100))
    async with client_of(app_with(fake_dashscope, context_cache="explicit")) as client:
        events = await read_sse(client, "/v1/chat/stream", {"message": "hi", "events": ["usage"]},
                                A)
        usage = next(data for name, _, data in events if name == "usage")
        m = await scrape(client)
    assert (usage["cached_tokens"], usage["cache_creation_tokens"]) == (5, 1100)
    labels = {"gen_ai_request_model": "qwen-plus", "api_token": token_id(token_hash(TOKEN_A))}
    tokens = "gen_ai_client_token_usage_total"
    assert value(m, tokens, gen_ai_token_type="cache_creation", **labels) == 1100
    assert value(m, tokens, gen_ai_token_type="cached", **labels) == 5


async def test_cache_tokens_reach_the_usage_endpoint_and_the_reply_log(fake_dashscope, records):
    fake_dashscope.script(Reply(text="好的", cached_tokens=5, cache_creation_tokens=1100),
                          Reply(text="好的", cached_tokens=1105))
    async with client_of(app_with(fake_dashscope, context_cache="explicit")) as client:
        for _ in range(2):
            await read_sse(client, "/v1/chat/stream", {"message": "hi"}, A)
        report = (await client.get("/v1/usage", headers=A)).json()
    for period in ("today", "all_time"):
        assert report[period]["cached_tokens"] == 1110
        assert report[period]["cache_creation_tokens"] == 1100
        assert report[period]["replies"] == 2
    replies = [r for r in records if r.name.endswith("server.metrics")]
    assert [(r.cached_tokens, r.cache_creation_tokens) for r in replies] == [(5, 1100), (1105, 0)]
    assert "cached 5, cache creation 1100" in replies[0].getMessage()
    line = json.loads(JsonFormatter().format(replies[0]))
    assert (line["cached_tokens"], line["cache_creation_tokens"]) == (5, 1100)


async def test_cache_tokens_add_up_in_redis(fake_dashscope, redis_url):
    token = f"tok-{uuid.uuid4().hex}"
    auth = {"Authorization": f"Bearer {token}"}
    fake_dashscope.script(Reply(text="好的", cached_tokens=3, cache_creation_tokens=1200))
    values = {"api_key": FAKE_API_KEY, "base_url": fake_dashscope.compatible_base_url,
              "max_retries": 0, "session_store_url": "memory://", "model": "qwen-plus"}
    app = create_app(StreamChatService(Settings(**values), tools=[]),
                     ServerSettings(api_tokens=(token,), stream_url=redis_url),
                     close_service=True)
    async with client_of(app) as client:
        await read_sse(client, "/v1/chat/stream", {"message": "hi"}, auth)
        await app.state.geo_agent.usage.settled()
        report = (await client.get("/v1/usage", headers=auth)).json()
    await app.state.geo_agent.usage.aclose()
    assert (report["today"]["cached_tokens"], report["today"]["cache_creation_tokens"]) == (3, 1200)
    assert report["all_time"]["cache_creation_tokens"] == 1200


@pytest.fixture(scope="module")
def searching_server(fake_dashscope_server, tmp_path_factory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("serve-search")
    env = server_env(fake_dashscope_server.compatible_base_url, workdir,
                     DASHSCOPE_ENABLE_SEARCH="true")
    running = start_server(workdir, env)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.skipif(not _READY, reason="needs node and `npm ci` in tests/js")
def test_the_ai_sdk_client_takes_the_sources(searching_server, fake_dashscope):
    fake_dashscope.script(Reply(text="北京晴", search_results=SOURCES))
    out = read_chat(searching_server.url, "chat-sources", "北京天气")
    assert out["errors"] == []
    parts = [c for c in out["chunks"] if c["type"] == "source-url"]
    assert parts == [{"type": "source-url", "sourceId": f"source-{i}", "url": s["url"],
                      "title": s["title"]} for i, s in enumerate(SOURCES, start=1)]
    assert [p for p in out["message"]["parts"] if p["type"] == "source-url"] == [
        {"type": "source-url", "sourceId": p["sourceId"], "url": p["url"], "title": p["title"]}
        for p in parts]
