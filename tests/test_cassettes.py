"""Main flows through ``StreamChatService`` replayed from vcrpy cassettes (pytest-recording).

Replay (the default, ``--record-mode=none``): the service talks to the REAL default DashScope
base URLs with a placeholder key, and a test passes only by replaying ``tests/cassettes/
test_cassettes/<test>.yaml``: the network is blocked and every recorded interaction must be
played. Recording (``--record-mode=rewrite``): against live DashScope when
``DASHSCOPE_LIVE_API_KEY`` is set, otherwise against the loopback fake, whose URLs are rewritten
to the real ones before they are written (live recording also needs ``--force-enable-socket``,
as pytest-socket keeps the suite on loopback). See tests/README.md.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.config import DEFAULT_BASE_URL, DEFAULT_NATIVE_BASE_URL
from langchain_core.tools import tool

from tests.fakes.dashscope import FakeDashScope, Reply, ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY

LIVE_KEY_VARIABLE = "DASHSCOPE_LIVE_API_KEY"
# Read at import: tests/conftest.py removes every DASHSCOPE_* variable before each test runs.
LIVE_API_KEY = os.environ.get(LIVE_KEY_VARIABLE, "").strip()
REPLAY_KEY = "sk-cassette-replay"
INVALID_KEY = "sk-cassette-invalid"  # what the 401 flow sends when recording
KEY_PLACEHOLDER = "<DASHSCOPE_API_KEY>"
CASSETTES = Path(__file__).parent / "cassettes"
REAL_ORIGIN = "https://dashscope.aliyuncs.com"
_LOOPBACK_ORIGIN = re.compile(r"^http://(?:127\.0\.0\.1|localhost):\d+")

PROVIDERS = ["openai", "tongyi"]


# -- vcr configuration ---------------------------------------------------------------------------

# Everything else a client sends or a server answers is noise (SDK versions, platform strings,
# per-process session ids, request ids, cookies, timings) and is not written to cassettes.
_KEPT_REQUEST_HEADERS = {"accept", "content-type", "x-dashscope-sse"}
_KEPT_RESPONSE_HEADERS = {"content-type", "cache-control", "content-length", "transfer-encoding"}


def _secrets() -> list[str]:
    return [v for v in (FAKE_API_KEY, LIVE_API_KEY) if v]


def _scrub_body(body: Any) -> Any:
    """``body`` with any known key replaced by a placeholder (bytes stay bytes)."""
    if isinstance(body, (bytes, str)):
        raw = body.encode("utf-8") if isinstance(body, str) else body
        for secret in _secrets():
            raw = raw.replace(secret.encode("utf-8"), KEY_PLACEHOLDER.encode("utf-8"))
        return raw.decode("utf-8") if isinstance(body, str) else raw
    return body


def _before_record_request(request: Any) -> Any:
    """Loopback fake URL → the real default endpoint; no key or noise in the request.

    vcrpy also runs this on every request before matching it against the cassette, so a
    request to the fake and one to the real endpoint match the same recording.
    """
    request.uri = _LOOPBACK_ORIGIN.sub(REAL_ORIGIN, request.uri)
    request.headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() in _KEPT_REQUEST_HEADERS
    }
    request.body = _scrub_body(request.body)
    return request


def _before_record_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {
        name: values
        for name, values in response["headers"].items()
        if name.lower() in _KEPT_RESPONSE_HEADERS
    }
    body = response.get("body") or {}
    if "string" in body:
        body["string"] = _scrub_body(body["string"])
    return response


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": ["authorization", "x-api-key", "api-key", "cookie", "x-dashscope-uid"],
        "filter_query_parameters": ["key", "api_key"],
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
        "decode_compressed_response": True,
        "before_record_request": _before_record_request,
        "before_record_response": _before_record_response,
    }


# -- where requests go -----------------------------------------------------------------------


@dataclass
class Endpoint:
    """What the service is pointed at for this run (replay, fake recording or live recording)."""

    mode: str  # "replay" | "fake" | "live"
    api_key: str
    base_url: str = DEFAULT_BASE_URL
    native_base_url: str = DEFAULT_NATIVE_BASE_URL
    fake: FakeDashScope | None = None

    def settings(self, provider: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "native_base_url": self.native_base_url,
            "provider": provider,
            "model": "qwen-plus",
            "timeout": 30.0,
            "max_retries": 0,
        }
        values.update(overrides)
        return Settings(**values)

    def script(self, configure: Callable[[FakeDashScope], None]) -> None:
        """Set up the fake's answers (only when recording from the fake)."""
        if self.fake is not None:
            configure(self.fake)


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, vcr: Any) -> Endpoint:
    """Replay when the cassette is write-protected (``--record-mode=none``, or ``once`` with the
    cassette present); otherwise record from live DashScope or from the loopback fake."""
    if vcr is None or vcr.write_protected:  # (None: --disable-recording, nothing can replay)
        return Endpoint("replay", REPLAY_KEY)
    if LIVE_API_KEY:
        if request.config.getoption("--allow-hosts", default=None) and not (
            request.config.getoption("--force-enable-socket", default=False)
        ):
            pytest.fail(
                "recording from live DashScope needs --force-enable-socket: pytest-socket "
                "(--allow-hosts in pyproject.toml) keeps the suite on loopback"
            )
        return Endpoint("live", LIVE_API_KEY)
    fake: FakeDashScope = request.getfixturevalue("fake_dashscope")
    return Endpoint("fake", FAKE_API_KEY, fake.compatible_base_url, fake.native_base_url, fake)


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


# -- reading cassettes ---------------------------------------------------------------------------


def _text(body: Any) -> str:
    if isinstance(body, dict):
        body = body.get("string", b"")
    if isinstance(body, bytes):
        return body.decode("utf-8")
    return "" if body is None else str(body)


def _sse_events(body: str) -> list[dict[str, Any]]:
    """The JSON ``data`` of each event of a recorded SSE body (either protocol)."""
    events = []
    for line in body.splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data and data != "[DONE]":
                events.append(json.loads(data))
    return events


def _deltas(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each streamed message delta: OpenAI ``choices[].delta``, native ``output.choices[].message``
    (the service asks the native API for incremental output)."""
    for event in _sse_events(_text(response["body"])):
        for choice in event.get("choices") or []:
            yield choice.get("delta") or {}
        for choice in (event.get("output") or {}).get("choices") or []:
            yield choice.get("message") or {}


def recorded_answer(response: dict[str, Any]) -> str:
    """The assistant text of one recorded streamed response."""
    return "".join(delta.get("content") or "" for delta in _deltas(response))


def recorded_tool_calls(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(name, arguments)`` of the tool calls one recorded streamed response asks for."""
    calls: dict[int, dict[str, str]] = {}
    for delta in _deltas(response):
        for fragment in delta.get("tool_calls") or []:
            call = calls.setdefault(fragment.get("index", 0), {"name": "", "arguments": ""})
            function = fragment.get("function") or {}
            call["name"] = call["name"] or function.get("name") or ""
            call["arguments"] += function.get("arguments") or ""
    return [(c["name"], json.loads(c["arguments"] or "{}")) for _, c in sorted(calls.items())]


def request_messages(request: Any) -> list[dict[str, Any]]:
    """The chat messages of one recorded request (either protocol)."""
    body = json.loads(_text(request.body))
    return body.get("messages") or (body.get("input") or {}).get("messages") or []


# -- helpers -------------------------------------------------------------------------------------


class WeatherTool:
    """A ``get_weather`` tool that remembers the cities it was asked about."""

    def __init__(self) -> None:
        self.cities: list[str] = []

        @tool
        def get_weather(city: str) -> str:
            """Current weather for a city, e.g. 北京."""
            self.cities.append(city)
            return f"{city}：晴，25°C"

        self.tool = get_weather


async def collect(stream: Any) -> list[dict[str, Any]]:
    return [event async for event in stream]


def assert_reply(events: list[dict[str, Any]], *, ok: bool = True) -> str:
    """The whole event sequence: start, non-empty chunks, then end (or start, then one error);
    one message id and session id. Returns the joined text."""
    types = [e["type"] for e in events]
    if ok:
        assert len(types) >= 3, events
        assert types[0] == "stream_start" and types[-1] == "stream_end", events
        assert set(types[1:-1]) == {"stream_chunk"}, events
    else:
        assert types == ["stream_start", "error"], events
    assert len({e["message_id"] for e in events}) == 1
    assert len({e["session_id"] for e in events}) == 1
    chunks = [e["chunk"] for e in events if e["type"] == "stream_chunk"]
    assert all(chunks), "empty chunk sent"
    return "".join(chunks)


def assert_cassette_used(vcr: Any, endpoint: Endpoint, interactions: int) -> None:
    """Replay played every recorded interaction exactly once; recording wrote them all."""
    assert vcr is not None, "the test is not running under a cassette"
    assert len(vcr) == interactions, f"{len(vcr)} interactions in the cassette, not {interactions}"
    if endpoint.mode == "replay":
        assert vcr.play_count == interactions
        assert vcr.all_played
    else:
        assert vcr.play_count == 0, "recording replayed an old interaction"
        assert endpoint.fake is None or len(endpoint.fake.requests) == interactions
    for request in vcr.requests:
        assert request.uri.startswith(REAL_ORIGIN + "/"), request.uri


def weather_tool_calls(vcr: Any) -> list[str]:
    """Cities in the recorded first response's ``get_weather`` calls."""
    calls = recorded_tool_calls(vcr.responses[0])
    assert calls and {name for name, _ in calls} == {"get_weather"}, calls
    return [args["city"] for _, args in calls]


# -- flows (replayed from cassettes) --------------------------------------------------------------

cassette = pytest.mark.vcr
no_network = pytest.mark.block_network  # pytest-recording: connect() fails unless recording


@cassette
@no_network
async def test_plain_answer(vcr, endpoint, provider):
    endpoint.script(lambda fake: fake.script(Reply(text="北京是中国的首都。", chunk_size=2)))
    service = StreamChatService(endpoint.settings(provider), tools=[])

    events = await collect(service.stream_chat("用一句话介绍北京。"))

    text = assert_reply(events)
    assert_cassette_used(vcr, endpoint, 1)
    assert text == recorded_answer(vcr.responses[0])
    assert text
    if endpoint.mode == "fake":
        assert text == "北京是中国的首都。"


@cassette
@no_network
async def test_tool_call_then_answer(vcr, endpoint, provider):
    endpoint.script(
        lambda fake: setattr(
            fake, "responder", tool_then_answer([ToolCall("get_weather", {"city": "北京"})])
        )
    )
    weather = WeatherTool()
    service = StreamChatService(endpoint.settings(provider), tools=[weather.tool])

    events = await collect(service.stream_chat("北京今天天气怎么样？"))

    text = assert_reply(events)
    assert_cassette_used(vcr, endpoint, 2)
    assert weather.cities == weather_tool_calls(vcr)
    assert len(weather.cities) == 1 and "北京" in weather.cities[0]
    tool_results = [m["content"] for m in request_messages(vcr.requests[1]) if m["role"] == "tool"]
    assert tool_results == [f"{weather.cities[0]}：晴，25°C"]
    assert text == recorded_answer(vcr.responses[1])
    assert text
    if endpoint.mode == "fake":
        assert text == "根据工具结果：北京：晴，25°C"


@cassette
@no_network
async def test_two_tool_calls_in_one_turn(vcr, endpoint, provider):
    calls = [ToolCall("get_weather", {"city": "北京"}), ToolCall("get_weather", {"city": "上海"})]
    endpoint.script(lambda fake: setattr(fake, "responder", tool_then_answer(calls)))
    weather = WeatherTool()
    service = StreamChatService(endpoint.settings(provider), tools=[weather.tool])
    session_id = str(uuid.uuid4())

    events = await collect(service.stream_chat("比较一下北京和上海今天的天气。", session_id))

    text = assert_reply(events)
    assert_cassette_used(vcr, endpoint, 2)
    recorded = weather_tool_calls(vcr)
    assert len(recorded) == 2
    assert any("北京" in c for c in recorded) and any("上海" in c for c in recorded)
    assert sorted(weather.cities) == sorted(recorded)  # the two calls run concurrently
    tool_messages = [m for m in request_messages(vcr.requests[1]) if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == [f"{c}：晴，25°C" for c in recorded]
    assert text == recorded_answer(vcr.responses[1])
    assert text
    history = await service.get_history(session_id)
    assert history[-1].content == text
    if endpoint.mode == "fake":
        assert text == "根据工具结果：北京：晴，25°C；上海：晴，25°C"


@cassette
@no_network
async def test_two_turns_in_one_session_remember_the_first(vcr, endpoint, provider):
    service = StreamChatService(endpoint.settings(provider), tools=[])  # fake: echo responder
    session_id = str(uuid.uuid4())

    first = await collect(service.stream_chat("我叫小明，请记住我的名字。", session_id))
    second = await collect(service.stream_chat("我叫什么名字？", session_id))

    first_text, second_text = assert_reply(first), assert_reply(second)
    assert_cassette_used(vcr, endpoint, 2)
    assert {e["session_id"] for e in first + second} == {session_id}
    assert first[0]["message_id"] != second[0]["message_id"]
    assert first_text == recorded_answer(vcr.responses[0])
    assert second_text == recorded_answer(vcr.responses[1])
    assert first_text and second_text
    sent = [(m["role"], m["content"]) for m in request_messages(vcr.requests[1])[1:]]
    assert sent == [
        ("user", "我叫小明，请记住我的名字。"),
        ("assistant", first_text),
        ("user", "我叫什么名字？"),
    ]
    if endpoint.mode == "fake":
        assert second_text == "ECHO[2]: 我叫什么名字？"
    elif endpoint.mode == "live":
        assert "小明" in second_text


@cassette
@no_network
async def test_rejected_key_is_an_error_event(vcr, endpoint, provider, caplog):
    endpoint.script(lambda fake: setattr(fake, "valid_keys", {FAKE_API_KEY}))
    key = REPLAY_KEY if endpoint.mode == "replay" else INVALID_KEY
    service = StreamChatService(endpoint.settings(provider, api_key=key), tools=[])

    events = await collect(service.stream_chat("你好"))

    assert_reply(events, ok=False)
    assert "API Key无效" in events[-1]["error"]
    assert key not in repr(events) and key not in caplog.text
    assert_cassette_used(vcr, endpoint, 1)  # and not retried
    assert vcr.responses[0]["status"]["code"] == 401


# -- the cassettes themselves ---------------------------------------------------------------------

_KEY_PATTERNS = {
    "the fake's FAKE_API_KEY": re.compile(re.escape(FAKE_API_KEY)),
    "sk- and 16+ letters or digits": re.compile(r"sk-[A-Za-z0-9]{16,}"),
    "a Bearer token": re.compile(r"bearer\s", re.IGNORECASE),
}


def _cassette_files() -> list[Path]:
    tests = Path(__file__).parent
    return sorted(
        path
        for path in tests.rglob("*")
        if path.is_file() and "cassettes" in path.relative_to(tests).parts[:-1]
    )


def test_no_cassette_contains_an_api_key():
    files = _cassette_files()
    assert any(path.suffix in (".yaml", ".yml", ".json") for path in files), "no cassettes found"
    patterns = dict(_KEY_PATTERNS)
    if LIVE_API_KEY:
        patterns["DASHSCOPE_LIVE_API_KEY"] = re.compile(re.escape(LIVE_API_KEY))
    found = []  # where and what kind, never the match itself
    for path in files:
        raw = path.read_text(encoding="utf-8", errors="replace")
        views = {"": raw}
        if path.suffix in (".yaml", ".yml"):  # YAML may fold a long string across lines
            views[" (decoded)"] = json.dumps(yaml.safe_load(raw), ensure_ascii=False, default=str)
        for view, text in views.items():
            for kind, pattern in patterns.items():
                for match in pattern.finditer(text):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{path.relative_to(CASSETTES)}:{line}{view}: {kind}")
    assert not found, f"cassettes contain something like an API key: {found}"


FLOWS = [
    test_plain_answer,
    test_tool_call_then_answer,
    test_two_tool_calls_in_one_turn,
    test_two_turns_in_one_session_remember_the_first,
    test_rejected_key_is_an_error_event,
]


def test_every_flow_has_its_cassettes():
    recorded = {path.name for path in (CASSETTES / "test_cassettes").glob("*.yaml")}
    expected = {f"{flow.__name__}[{p}].yaml" for flow in FLOWS for p in PROVIDERS}
    assert not expected - recorded, f"missing cassettes: {sorted(expected - recorded)}"
    assert not recorded - expected, f"stale cassettes: {sorted(recorded - expected)}"


@cassette
@no_network
def test_replay_cannot_reach_the_network(vcr, unused_tcp_port):
    """What makes replay trustworthy: under these marks a connection attempt fails loudly."""
    if not vcr.write_protected:
        pytest.skip("recording: the network is open")
    with pytest.raises(RuntimeError, match="Network is disabled"):
        socket.create_connection(("127.0.0.1", unused_tcp_port), timeout=1)
    assert len(vcr) == 0
