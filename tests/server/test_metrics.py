"""Metrics (``GET /metrics``), request ids and logs, and usage per API token, with the app
in-process against the DashScope fake (and the real Redis for the shared counts)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import httpx
import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.access import token_hash
from bailian_geo_agent.agent.server import ServerSettings, create_app
from bailian_geo_agent.agent.server.auth import Identity
from bailian_geo_agent.agent.server.request_log import JsonFormatter, RequestIdFilter
from bailian_geo_agent.agent.server.usage import token_id
from langchain_core.tools import ToolException, tool
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.server.conftest import TOKEN_A, TOKEN_B
from tests.server.helpers import read_sse

A = {"Authorization": f"Bearer {TOKEN_A}"}
B = {"Authorization": f"Bearer {TOKEN_B}"}


@tool
def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city}: sunny"


@tool
def broken(city: str) -> str:
    """Always fails (handled: the model is told)."""
    raise ToolException("no")


broken.handle_tool_error = True


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def make_app(fake, tools=(), **server: object):
    settings = Settings(api_key=FAKE_API_KEY, base_url=fake.compatible_base_url, max_retries=0,
                        session_store_url="memory://", model="qwen-plus")
    service = StreamChatService(settings, tools=list(tools))
    return create_app(service, ServerSettings(**{"api_tokens": (TOKEN_A, TOKEN_B), **server}),
                      close_service=True)


def client_of(app) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


async def scrape(client: httpx.AsyncClient) -> dict:
    response = await client.get("/metrics", headers=A)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_replies_tools_tokens_and_errors_are_counted(fake_dashscope):
    calls = iter([[ToolCall("lookup", {"city": "北京"})], [ToolCall("broken", {"city": "x"})]])
    fake_dashscope.responder = tool_then_answer(lambda r: next(calls), lambda r: "好的")
    app = make_app(fake_dashscope, [lookup, broken])
    async with client_of(app) as client:
        first = await read_sse(client, "/v1/chat/stream", {"message": "天气"}, A)
        # the metrics asked for tool events; the client that did not gets none
        assert [e[0] for e in first] == ["stream_start", "stream_chunk", "stream_end"]
        wanted = await read_sse(client, "/v1/chat/stream",
                                {"message": "坏", "events": ["tool_end", "usage"]}, B)
        kinds = [e[0] for e in wanted]
        assert "tool_end" in kinds and "usage" in kinds and "tool_start" not in kinds
        fake_dashscope.responder = None
        fake_dashscope.script(Reply(status=429, error_code="limit_requests"))
        failed = await read_sse(client, "/v1/chat/stream", {"message": "x"}, A)
        assert failed[-1][0] == "error"
        m = await scrape(client)
    assert value(m, "geo_agent_replies_started_total") == 3
    assert value(m, "geo_agent_replies_finished_total", outcome="completed") == 2
    assert value(m, "geo_agent_replies_finished_total", outcome="error") == 1
    assert value(m, "geo_agent_replies_in_flight") == 0
    assert value(m, "geo_agent_chunks_sent_total") == 2
    assert value(m, "geo_agent_upstream_errors_total", error_type="RateLimitError") == 1
    tool_count = "gen_ai_execute_tool_duration_seconds_count"
    assert value(m, tool_count, gen_ai_tool_name="lookup", outcome="ok") == 1
    assert value(m, tool_count, gen_ai_tool_name="broken", outcome="error") == 1
    model = {"gen_ai_request_model": "qwen-plus"}
    assert value(m, "gen_ai_server_time_to_first_token_seconds_count", **model) == 2
    duration = "gen_ai_client_operation_duration_seconds_count"
    assert value(m, duration, gen_ai_operation_name="invoke_agent", error_type="", **model) == 2
    assert value(m, duration, gen_ai_operation_name="invoke_agent",
                 error_type="RateLimitError", **model) == 1
    usage = next(e[2] for e in wanted if e[0] == "usage")
    b_id = token_id(token_hash(TOKEN_B))
    assert TOKEN_B not in b_id and len(b_id) == 12
    tokens = "gen_ai_client_token_usage_total"
    assert value(m, tokens, gen_ai_token_type="input", api_token=b_id,
                 **model) == usage["input_tokens"] > 0
    assert value(m, tokens, gen_ai_token_type="output", api_token=b_id,
                 **model) == usage["output_tokens"] > 0
    a_id = token_id(token_hash(TOKEN_A))
    assert value(m, tokens, gen_ai_token_type="input", api_token=a_id, **model) > 0


async def test_cached_tokens_reach_usage_events_metrics_and_the_usage_endpoint(fake_dashscope):
    fake_dashscope.script(Reply(text="好的", cached_tokens=7))
    app = make_app(fake_dashscope)
    async with client_of(app) as client:
        events = await read_sse(client, "/v1/chat/stream", {"message": "hi", "events": ["usage"]},
                                A)
        usage = next(e[2] for e in events if e[0] == "usage")
        assert usage["cached_tokens"] == 7
        m = await scrape(client)
        mine = (await client.get("/v1/usage", headers=A)).json()
        theirs = (await client.get("/v1/usage", headers=B)).json()
    assert value(m, "gen_ai_client_token_usage_total", gen_ai_token_type="cached",
                 gen_ai_request_model="qwen-plus", api_token=token_id(token_hash(TOKEN_A))) == 7
    assert mine["api_token"] == token_id(token_hash(TOKEN_A))
    for period in ("today", "all_time"):
        assert mine[period] == {
            "input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"],
            "reasoning_tokens": 0, "cached_tokens": 7, "cache_creation_tokens": 0,
            "total_tokens": usage["total_tokens"], "replies": 1}
        assert theirs[period]["replies"] == 0 and theirs[period]["total_tokens"] == 0
    assert mine["daily_token_budget"] is None


async def test_metrics_need_a_token_unless_public_and_are_absent_when_off(fake_dashscope):
    for mode, anonymous, with_token in (("auth", 401, 200), ("public", 200, 200),
                                        ("off", 404, 404)):
        app = make_app(fake_dashscope, metrics=mode)
        async with client_of(app) as client:
            assert (await client.get("/metrics")).status_code == anonymous, mode
            assert (await client.get("/metrics", headers=A)).status_code == with_token, mode


async def test_two_apps_in_one_process_keep_their_own_counts(fake_dashscope):
    one, two = make_app(fake_dashscope), make_app(fake_dashscope)
    async with client_of(one) as client:
        await read_sse(client, "/v1/chat/stream", {"message": "hi"}, A)
        assert value(await scrape(client), "geo_agent_replies_started_total") == 1
    async with client_of(two) as client:
        assert value(await scrape(client), "geo_agent_replies_started_total") == 0


async def test_refusals_are_counted_by_limit(fake_dashscope):
    app = make_app(fake_dashscope, requests_per_minute=2, max_body_bytes=30000)
    async with client_of(app) as client:
        events = await read_sse(client, "/v1/chat/stream", {"message": "hi"}, A)
        message_id = events[0][2]["message_id"]
        resumed = await client.get(f"/v1/chat/{message_id}/events", headers=A)
        assert resumed.status_code == 200 and "stream_end" in resumed.text
        refused = await client.post("/v1/chat/stream", json={"message": "hi"}, headers=A)
        assert refused.status_code == 429
        big = await client.post("/v1/chat/stream", content=b"{" + b" " * 40000 + b"}",
                                headers={**B, "Content-Type": "application/json"})
        assert big.status_code == 413
        long = await client.post("/v1/chat/stream", json={"message": "长" * 9000}, headers=B)
        assert long.status_code == 413
        m = await scrape(client)
    assert value(m, "geo_agent_limit_refusals_total", limit="requests_per_minute") == 1
    assert value(m, "geo_agent_limit_refusals_total", limit="body_bytes") == 1
    assert value(m, "geo_agent_limit_refusals_total", limit="message_chars") == 1
    assert value(m, "geo_agent_resume_reads_total", protocol="sse") == 1


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records():
    handler = _Records()
    root = logging.getLogger("bailian_geo_agent")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_request_id_in_header_and_in_every_record_of_the_request(fake_dashscope, records):
    app = make_app(fake_dashscope)
    async with client_of(app) as client:
        sane = await read_sse_with_headers(client, {**A, "X-Request-ID": "req-123.abc"})
        assert sane == "req-123.abc"
        for bad in ("x" * 200, "a b", "<script>"):
            response = await client.get("/healthz", headers={"X-Request-ID": bad})
            new = response.headers["x-request-id"]
            assert new != bad and len(new) == 32
    mine = [r for r in records if r.request_id == "req-123.abc"]
    lines = [r.getMessage() for r in mine]
    reply = next(r for r in mine if r.name.endswith("server.metrics"))
    assert reply.outcome == "completed" and reply.chunks > 0 and reply.input_tokens > 0
    assert reply.message_id and reply.message_id in reply.getMessage()
    request = next(r for r in mine if r.getMessage().startswith("request "))
    assert request.status == 200 and request.route == "/v1/chat/stream"
    assert len(lines) >= 2
    formatted = json.loads(JsonFormatter().format(reply))
    assert formatted["request_id"] == "req-123.abc" and formatted["outcome"] == "completed"
    assert formatted["session_id"] == reply.session_id and formatted["level"] == "INFO"


async def read_sse_with_headers(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    async with client.stream("POST", "/v1/chat/stream", json={"message": "hi"},
                             headers=headers) as response:
        await response.aread()
        return response.headers["x-request-id"]


async def test_a_spent_daily_budget_answers_429_until_midnight(fake_dashscope):
    app = make_app(fake_dashscope, daily_token_budget=5)
    async with client_of(app) as client:
        await read_sse(client, "/v1/chat/stream", {"message": "hi"}, A)  # spends more than 5
        sid = str(uuid.uuid4())
        refused = await client.post("/v1/chat/stream", json={"message": "hi", "session_id": sid},
                                    headers=A)
        assert refused.status_code == 429
        assert "GEO_AGENT_DAILY_TOKEN_BUDGET" in refused.json()["error"]
        assert 0 < int(refused.headers["retry-after"]) <= 86400
        other = await read_sse(client, "/v1/chat/stream", {"message": "hi"}, B)  # B's own
        assert other[-1][0] == "stream_end"
        report = (await client.get("/v1/usage", headers=A)).json()
        assert report["daily_token_budget"] == 5 and report["budget_left"] == 0
        m = await scrape(client)
    assert value(m, "geo_agent_limit_refusals_total", limit="daily_token_budget") == 1


async def test_instances_on_one_redis_share_usage_and_budget(fake_dashscope, redis_url):
    url = redis_url.rsplit("/", 1)[0] + "/9"  # a database the shared fixture does not flush
    token = f"tok-{uuid.uuid4().hex}"
    auth = {"Authorization": f"Bearer {token}"}
    one = make_app(fake_dashscope, api_tokens=(token,), stream_url=url, daily_token_budget=10)
    two = make_app(fake_dashscope, api_tokens=(token,), stream_url=url, daily_token_budget=10)
    async with client_of(one) as first, client_of(two) as second:
        events = await read_sse(first, "/v1/chat/stream",
                                {"message": "hi", "events": ["usage"]}, auth)
        usage = next(e[2] for e in events if e[0] == "usage")
        await one.state.geo_agent.usage.settled()
        report = (await second.get("/v1/usage", headers=auth)).json()
        assert report["today"]["total_tokens"] == usage["total_tokens"] > 10
        assert report["all_time"]["replies"] == 1
        refused = await second.post("/v1/chat/stream", json={"message": "hi"}, headers=auth)
        assert refused.status_code == 429
    for app in (one, two):
        await app.state.geo_agent.usage.aclose()
    await asyncio.sleep(0)


async def test_a_stopped_reply_is_cancelled_and_a_restart_interrupted(fake_dashscope):
    fake_dashscope.script(Reply(text="慢慢说" * 20, chunk_size=1, chunk_delay=0.05))
    app = make_app(fake_dashscope)
    state = app.state.geo_agent
    identity = Identity(token_hash(TOKEN_A), "key")
    async with client_of(app) as client:
        reply, _ = await state.start_reply(identity, "hi", str(uuid.uuid4()), frozenset())
        async for _batch in reply.rest_batches():  # a chunk has come
            break
        await reply.stop()
        m = await scrape(client)
    assert value(m, "geo_agent_replies_finished_total", outcome="cancelled") == 1
    assert value(m, "geo_agent_replies_in_flight") == 0

    from bailian_geo_agent.agent.events import StreamChunk, StreamStart
    from bailian_geo_agent.agent.server.metrics import Metrics

    metrics = Metrics("m")
    gate = asyncio.Event()

    async def endless():
        yield StreamStart("m", "s")
        yield StreamChunk("m", "s", "x")
        await gate.wait()

    async def read() -> None:
        async for _ in metrics.observe(endless(), frozenset(), "t", 0.0):
            pass

    task = asyncio.get_running_loop().create_task(read())
    while metrics.in_flight._value.get() == 0:  # begun; it then waits at once
        await asyncio.sleep(0)
    task.cancel("interrupted")
    await asyncio.wait({task})
    text = samples(generate_latest(metrics.registry).decode())
    assert value(text, "geo_agent_replies_finished_total", outcome="interrupted") == 1
    assert value(text, "geo_agent_chunks_sent_total") == 1


async def test_a_reply_that_fails_after_a_model_call_still_counts_its_tokens(fake_dashscope):
    fake_dashscope.script(Reply(tool_calls=[ToolCall("lookup", {"city": "北京"})]),
                          Reply(status=500, error_code="internal_error"))
    app = make_app(fake_dashscope, [lookup])
    async with client_of(app) as client:
        events = await read_sse(client, "/v1/chat/stream", {"message": "hi"}, A)
        assert [e[0] for e in events] == ["stream_start", "error"]  # usage not asked for
        report = (await client.get("/v1/usage", headers=A)).json()
        m = await scrape(client)
    assert report["today"]["replies"] == 1 and report["today"]["input_tokens"] > 0
    assert value(m, "gen_ai_client_token_usage_total", gen_ai_token_type="input",
                 gen_ai_request_model="qwen-plus",
                 api_token=report["api_token"]) == report["today"]["input_tokens"]
    assert value(m, "geo_agent_upstream_errors_total", error_type="ServerError") == 1


@pytest.mark.parametrize("provider", ["openai", "tongyi", "responses"])
async def test_cached_prompt_tokens_are_read_on_both_wire_protocols(fake_dashscope, provider):
    from tests.helpers import make_settings

    fake_dashscope.script(Reply(text="好的", cached_tokens=11))
    settings = make_settings(fake_dashscope, provider, session_store_url="memory://")
    async with StreamChatService(settings, tools=[]) as service:
        events = [e async for e in service.stream_events("hi", events=["usage"])]
    usage = next(e for e in events if e.type == "usage")
    assert usage.cached_tokens == 11 and usage.input_tokens >= 11
