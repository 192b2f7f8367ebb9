"""Secrets: no configured API key (DashScope, AMap) or database password ever appears in an
event, a log record, an exception message or a cassette.

Keys come from the fakes' fixtures, the developer's environment and ./.env (read when this module
is imported, before the tests isolate the environment), and distinctive secrets configured below.
A root log handler installed at import time (collection) also catches every record the rest of
the suite logs before this module's last test runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent import service as agent_service
from langchain_core.tools import tool

from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.fakes.dashscope import Reply, ToolCall, echo_responder
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.test_faults import MALFORMED, malformed_sse  # noqa: F401  (fixture)

TESTS = Path(__file__).resolve().parent
SECRET_KEY = f"sk-secret-{uuid.uuid4().hex}"
WRONG_KEY = f"sk-wrong-{uuid.uuid4().hex}"
AMAP_SECRET = f"amap{uuid.uuid4().hex}"
DB_PASSWORD = f"pw{uuid.uuid4().hex[:12]}"
KEY_VARIABLES = ("DASHSCOPE_API_KEY", "DASHSCOPE_LIVE_API_KEY", "AMAP_API_KEY",
                 "AMAP_LIVE_API_KEY")


def _configured_keys() -> set[str]:
    keys = {FAKE_API_KEY, FAKE_AMAP_KEY}
    keys |= {os.environ.get(name, "").strip() for name in KEY_VARIABLES}
    for dotenv in (Path.cwd() / ".env", TESTS.parent / ".env"):
        if dotenv.is_file():
            for line in dotenv.read_text(encoding="utf-8", errors="replace").splitlines():
                name, _, value = line.partition("=")
                if name.strip().removeprefix("export ").strip() in KEY_VARIABLES:
                    keys.add(value.strip().strip("'\""))
    return {k for k in keys if len(k) >= 8}


CONFIGURED = _configured_keys()  # read before any test isolates the environment


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        self.texts.append(text)


SUITE_LOGS = _Recorder()
logging.getLogger().addHandler(SUITE_LOGS)


def leaks(texts: list[str], secrets: set[str]) -> list[tuple[str, str]]:
    return [(s[:6] + "…", t[:300]) for t in texts for s in secrets if s and s in t]


def test_cassettes_hold_no_keys():
    cassettes = [p for p in TESTS.rglob("*") if p.is_file() and "cassettes" in p.parts]
    assert cassettes, "the suite records cassettes"
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in cassettes]
    assert leaks(texts, CONFIGURED) == []


@pytest.fixture
def recorded_errors(monkeypatch) -> list[str]:
    """``str`` and ``repr`` of every exception the service turns into an error event."""
    seen: list[str] = []
    original = agent_service.to_agent_error

    def recording(exc: BaseException, **kwargs: Any):
        chain: BaseException | None = exc
        visited: set[int] = set()
        while chain is not None and id(chain) not in visited:
            visited.add(id(chain))
            seen.extend([str(chain), repr(chain), *map(str, getattr(chain, "args", ()))])
            chain = chain.__cause__ or chain.__context__
        mapped = original(exc, **kwargs)
        seen.append(str(mapped))
        return mapped

    monkeypatch.setattr(agent_service, "to_agent_error", recording)
    return seen


def scenario_responder(request) -> Reply:
    last = request.messages[-1]
    text = str(last.get("content"))
    if last.get("role") == "tool":
        return Reply(text=f"根据工具结果：{text}")
    replies = {
        "天气": Reply(tool_calls=[ToolCall("get_weather", {"place": "北京"})]),
        "坏工具": Reply(tool_calls=[ToolCall("explode", {"city": "北京"})]),
        "限流": Reply(status=429, error_code="limit_requests"),
        "故障": Reply(status=503, error_code="service_unavailable"),
        "中断": Reply(text="前半句后半句", cut_after=1),
        "卡住": Reply(text="前半句后半句", stall_after=1, stall_seconds=2),
        "审核": Reply(text="一些内容然后", moderation_after=1),
        "坏行": Reply(text=MALFORMED),
    }
    return replies.get(text, echo_responder(request))


@tool
def explode(city: str) -> str:
    """A tool that fails."""
    raise RuntimeError(f"lookup for {city} failed")


@pytest.mark.parametrize("provider", ["openai", "tongyi", "responses"])
async def test_no_key_in_events_logs_or_errors(
    fake_dashscope, fake_amap, provider, caplog, recorded_errors, monkeypatch, malformed_sse,  # noqa: F811
    unused_tcp_port,
):
    from bailian_geo_agent.tools import GeoToolkit
    from bailian_geo_agent.tools.config import GeoConfig
    from bailian_geo_agent.tools.http import HttpClient
    from bailian_geo_agent.tools.providers.amap import AmapProvider

    caplog.set_level(logging.DEBUG)
    fake_dashscope.valid_keys = {SECRET_KEY}
    fake_dashscope.responder = scenario_responder
    fake_amap.api_key = AMAP_SECRET
    http = HttpClient(timeout=2.0, retries=0)
    provider_ = AmapProvider(AMAP_SECRET, http, base_url=fake_amap.base_url, rate_limit_delay=0)
    geo = GeoToolkit(config=GeoConfig(provider="amap", amap_api_key=AMAP_SECRET),
                     provider=provider_, http=http).get_tools()
    values = {"api_key": SECRET_KEY, "base_url": fake_dashscope.compatible_base_url,
              "native_base_url": fake_dashscope.native_base_url,
              "responses_base_url": fake_dashscope.responses_base_url, "provider": provider,
              "timeout": 0.8, "max_retries": 1}
    events: list[dict] = []

    async def chat(settings: Settings, message: Any, session: Any = None, tools=None) -> None:
        service = StreamChatService(settings, tools=[*geo, explode] if tools is None else tools)
        async with service:
            events.extend([e async for e in service.stream_chat(message, session,
                                                                 events={"tool_end",
                                                                         "tool_start"})])

    good = Settings(**values)
    try:
        for message in ("你好", "天气", "坏工具", "限流", "故障", "中断", "卡住", "审核", "坏行"):
            await asyncio.wait_for(chat(good, message), 20)
        fake_amap.api_key = "another-key"  # AMap rejects ours: its error must not show it
        await chat(good, "天气")
        await chat(Settings(**{**values, "api_key": WRONG_KEY}), "你好")  # DashScope rejects
        unreachable = f"http://127.0.0.1:{unused_tcp_port}"
        await chat(Settings(**{**values, "base_url": unreachable + "/compatible-mode/v1",
                               "native_base_url": unreachable + "/api/v1",
                               "responses_base_url": unreachable + "/api/v2"}), "你好")
        store = f"postgresql://agent:{DB_PASSWORD}@127.0.0.1:{unused_tcp_port}/sessions"
        monkeypatch.setattr(
            "bailian_geo_agent.agent.sessions.stores.PostgresStore.pool_timeout", 0.3)
        await chat(Settings(**{**values, "session_store_url": store}), "你好")
        await chat(good, "x" * 100_000)
        await chat(good, "你好", f"{SECRET_KEY}")  # a key pasted as the session id
    finally:
        http.close()

    kinds = {e["type"] for e in events}
    assert {"stream_start", "stream_chunk", "stream_end", "error", "tool_end"} <= kinds
    errors = [e["error"] for e in events if e["type"] == "error"]
    assert any("API Key无效" in e for e in errors) and any("会话存储不可用" in e for e in errors)
    stored = [e for e in errors if "会话存储不可用" in e]
    assert all("SESSION_STORE_URL" in e and "postgresql://" not in e and "agent:" not in e
               for e in stored), "the store is named by its setting, never by its URL"
    secrets = CONFIGURED | {SECRET_KEY, WRONG_KEY, AMAP_SECRET, DB_PASSWORD}
    assert leaks([str(e) for e in events], secrets) == []
    assert caplog.records, "logs were captured"
    assert leaks([r.getMessage() for r in caplog.records] + [caplog.text], secrets) == []
    assert recorded_errors
    assert leaks(recorded_errors, secrets) == []


async def test_no_key_in_any_log_record_of_the_suite_so_far(fake_dashscope, caplog):
    """Every record logged so far by the suite (this module runs after the cancellation,
    concurrency, faults, fuzz, load and store tests), and by a rejected key here at DEBUG."""
    caplog.set_level(logging.DEBUG)
    before = len(SUITE_LOGS.texts)
    fake_dashscope.valid_keys = {SECRET_KEY}
    settings = Settings(api_key=WRONG_KEY, base_url=fake_dashscope.compatible_base_url,
                        session_store_url="memory://", max_retries=0)
    async with StreamChatService(settings, tools=[]) as service:
        events = [e async for e in service.stream_chat("你好")]
    assert events[-1]["type"] == "error"
    assert len(SUITE_LOGS.texts) > before, "the root handler records this test's logs too"
    assert leaks(SUITE_LOGS.texts, CONFIGURED | {SECRET_KEY, WRONG_KEY, AMAP_SECRET,
                                                 DB_PASSWORD}) == []


def test_the_access_log_survives_a_secret_in_a_request_url():
    """uvicorn's real access formatter reads ``record.args`` as its five fields: the redacted
    record keeps that shape, so the line is written, masked."""
    import io

    from bailian_geo_agent.tools.security import RedactSecrets
    from uvicorn.logging import AccessFormatter

    secret = "tok-in-the-url-0123456789"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                                         use_colors=False))
    handler.addFilter(RedactSecrets([secret]))
    logger = logging.getLogger("tests.access_log")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False
    errors: list[BaseException] = []
    handler.handleError = lambda record: errors.append(record)  # type: ignore[method-assign]
    try:
        for path in (f"/v1/sessions/{secret}", "/v1/chat/stream?key=sk-abcdef123456&x=1"):
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 404)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.warning("plain %s and %d", f"auth {secret}", 7)
        logger.warning("%(who)s said %(n)d", {"who": secret, "n": 3})
        logger.warning("split tok-in-%s", "the-url-0123456789")  # across message and argument
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert not errors
    assert lines == ['127.0.0.1:5000 - "GET /v1/sessions/*** HTTP/1.1" 404 Not Found',
                     '127.0.0.1:5000 - "GET /v1/chat/stream?key=***&x=1 HTTP/1.1" 404 Not Found',
                     "plain auth *** and 7", "*** said 3", "split ***"]
