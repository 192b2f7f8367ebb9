"""Bounded under hostile upstreams (issue 16): linear SSE parsing with a line cap, deadlines that
release the session, the answer cap, the tool-round limit and the partial answer kept in history.
Every test ends within seconds; the hostile behaviours live in ``tests/fakes/dashscope.py``."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.errors import StreamLimitError
from bailian_geo_agent.agent.providers._sse import EventSplitter, iter_sse_data
from langchain_core.tools import tool

from tests.fakes.dashscope import Reply, ToolCall, echo_responder
from tests.helpers import free_port, stop_after_chunks
from tests.test_service import assert_well_formed, collect, make_settings

PROVIDERS = ["openai", "tongyi", "responses"]
MB = 1024 * 1024


def _pieces(total: int, size: int = 65536, head: bytes = b'data: {"a":"', tail: bytes = b""):
    yield head
    for _ in range(total // size):
        yield b"x" * size
    if tail:
        yield tail


def test_a_20_mb_line_parses_in_linear_time():
    splitter = EventSplitter(max_event_bytes=32 * MB)
    started = time.perf_counter()
    blocks = []
    for piece in _pieces(20 * MB, tail=b'"}\n\n'):
        blocks += splitter.feed(piece)
    elapsed = time.perf_counter() - started
    assert len(blocks) == 1 and len(blocks[0]) > 20 * MB
    assert elapsed < 1.5, elapsed  # the old parser took about 12 s


def test_a_line_past_the_cap_fails_at_the_cap():
    splitter = EventSplitter(max_event_bytes=MB)
    fed = 0
    with pytest.raises(StreamLimitError, match="GEO_AGENT_MAX_SSE_LINE_BYTES"):
        for piece in _pieces(20 * MB):
            fed += len(piece)
            splitter.feed(piece)
    assert fed <= MB + 65536 + 16


def test_crlf_split_across_pieces_and_many_events_per_piece():
    splitter = EventSplitter(max_event_bytes=1024)
    assert splitter.feed(b"data: 1\r") == []
    assert splitter.feed(b"\n\r") == [b"data: 1"]  # a lone "\r" ends a line at once
    assert splitter.feed(b"\ndata: 2\n\ndata: 3\n\ndata: 4") == [b"data: 2", b"data: 3"]
    assert splitter.rest() == b"data: 4"
    many = b"data: x\n\n" * 1000  # far more than the cap in one piece, each event small
    assert len(EventSplitter(1024).feed(many)) == 1000


async def test_iter_sse_data_caps_an_endless_line():
    async def endless():
        while True:
            yield b"y" * 65536

    with pytest.raises(StreamLimitError):
        async for _ in iter_sse_data(endless(), 2 * MB):
            pass


async def _bystander(service: StreamChatService) -> str:
    return assert_well_formed(await collect(service.stream_chat("旁观者")))


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("hostile", ["huge_line", "endless_line"])
async def test_hostile_lines_end_fast_and_bystanders_keep_streaming(fake_dashscope, provider,
                                                                    hostile):
    def responder(request):
        reply = echo_responder(request)
        if request.messages[-1].get("content") == "坏":
            return Reply(text="不会到达", hostile=hostile)
        reply.chunk_size, reply.chunk_delay = 1, 0.01
        return reply

    fake_dashscope.responder = responder
    settings = make_settings(fake_dashscope, provider, max_retries=0)
    async with StreamChatService(settings, tools=[]) as service:
        started = time.perf_counter()
        bad, *others = await asyncio.wait_for(asyncio.gather(
            collect(service.stream_chat("坏")), *(_bystander(service) for _ in range(3))), 20)
        assert bad[-1]["type"] == "error" and "无法解析" in bad[-1]["error"]
        assert "GEO_AGENT_MAX_SSE_LINE_BYTES" in bad[-1]["error"]
        assert time.perf_counter() - started < 8
        assert others == ["ECHO[1]: 旁观者"] * 3


def _drip(request, text: str = "一点一点地" * 40):
    if request.messages[-1].get("content") == "慢":
        return Reply(text=text, chunk_size=1, chunk_delay=0.1)
    return echo_responder(request)


def _sent(fake) -> list[tuple[str, str]]:
    return [(m["role"], m.get("content") or "") for m in fake.requests[-1].messages
            if m["role"] != "system"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("deadline", ["model_call_timeout", "reply_timeout"])
async def test_a_slow_drip_ends_at_its_deadline_and_frees_the_session(fake_dashscope, provider,
                                                                      deadline):
    fake_dashscope.responder = _drip
    overrides = {"model_call_timeout": 0.0, "reply_timeout": 0.0, deadline: 1.0}
    settings = make_settings(fake_dashscope, provider, **overrides)
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        started = time.perf_counter()
        events = await asyncio.wait_for(collect(service.stream_chat("慢", session)), 10)
        assert time.perf_counter() - started < 4
        partial = assert_well_formed(events, ok=False)
        assert partial and events[-1]["type"] == "error"
        variable = "GEO_AGENT_" + deadline.upper()
        assert variable in events[-1]["error"]
        # The session is free at once, and the next request carries the partial answer.
        after = await asyncio.wait_for(collect(service.stream_chat("还在吗", session)), 10)
        assert assert_well_formed(after) == "ECHO[2]: 还在吗"
        assert _sent(fake_dashscope) == [("user", "慢"), ("assistant", partial),
                                         ("user", "还在吗")]
        stored = (await service.get_history(session))[1]
        assert stored.response_metadata.get("interrupted") is True


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_runaway_answer_is_cut_at_the_cap(fake_dashscope, provider):
    fake_dashscope.script(Reply(text="长" * 5000, chunk_size=3))
    settings = make_settings(fake_dashscope, provider, max_answer_chars=100)
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        events = await asyncio.wait_for(collect(service.stream_chat("说很多", session)), 10)
        text = assert_well_formed(events, ok=False)
        assert text == "长" * 100
        assert "GEO_AGENT_MAX_ANSWER_CHARS" in events[-1]["error"]
        await collect(service.stream_chat("好了", session))
        assert _sent(fake_dashscope) == [("user", "说很多"), ("assistant", "长" * 100),
                                         ("user", "好了")]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_a_tool_loop_ends_with_an_actionable_message(fake_dashscope, language):
    @tool
    def lookup(city: str) -> str:
        """Looks a city up."""
        return f"{city}: ok"

    fake_dashscope.responder = lambda request: Reply(
        tool_calls=[ToolCall("lookup", {"city": "北京"})])
    settings = make_settings(fake_dashscope, "openai", max_tool_rounds=3, language=language)
    async with StreamChatService(settings, tools=[lookup]) as service:
        events = await asyncio.wait_for(collect(service.stream_chat("查")), 20)
    error = events[-1]["error"]
    assert events[-1]["type"] == "error" and "GEO_AGENT_MAX_TOOL_ROUNDS" in error
    assert "Recursion" not in error and "recursion_limit" not in error
    assert ("3 轮" in error) if language == "zh" else ("3 rounds" in error)
    assert len(fake_dashscope.requests) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_stopped_reply_keeps_what_was_sent(fake_dashscope, provider):
    fake_dashscope.responder = _drip
    settings = make_settings(fake_dashscope, provider)
    session = str(uuid.uuid4())
    async with StreamChatService(settings, tools=[]) as service:
        shown = await stop_after_chunks(service.stream_chat("慢", session), 5)
        await asyncio.wait_for(collect(service.stream_chat("继续", session)), 10)
        role, content = _sent(fake_dashscope)[1]
        assert role == "assistant" and content.startswith("".join(shown))


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("where", ["dns", "refused"])
async def test_connect_failures_name_the_cause_host_and_variable(fake_dashscope, provider, where):
    # an unresolvable host, or a port nothing listens on
    url = "http://no-such-host.invalid:9/" if where == "dns" else f"http://127.0.0.1:{free_port()}/"
    settings = make_settings(fake_dashscope, provider, max_retries=0,
                             allow_insecure_http=True,
                             base_url=url + "compatible-mode/v1", native_base_url=url + "api/v1",
                             responses_base_url=url + "api/v2")
    async with StreamChatService(settings, tools=[]) as service:
        events = await asyncio.wait_for(collect(service.stream_chat("你好")), 10)
    error = events[-1]["error"]
    assert ("无法解析主机名" if where == "dns" else "拒绝了连接") in error, error
    assert settings.base_url_variable in error and settings.host.split(":")[0] in error


@pytest.mark.parametrize("variable", ["DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL",
                                      "DASHSCOPE_RESPONSES_BASE_URL", "AMAP_BASE_URL"])
def test_plain_http_beyond_loopback_is_refused(monkeypatch, variable):
    from bailian_geo_agent.agent import Settings
    from bailian_geo_agent.agent.errors import ConfigurationError

    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-x")
    monkeypatch.setenv(variable, "http://api.example.com/v1")
    with pytest.raises(ConfigurationError, match="GEO_AGENT_ALLOW_INSECURE_HTTP") as caught:
        Settings.from_env()
    assert variable in str(caught.value) and "https://" in str(caught.value)
    monkeypatch.setenv("GEO_AGENT_ALLOW_INSECURE_HTTP", "true")
    Settings.from_env()
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:1/v1", "http://10.1.2.3/v1",
                "http://vllm:8000/v1"):
        monkeypatch.setenv("GEO_AGENT_ALLOW_INSECURE_HTTP", "false")
        monkeypatch.setenv(variable, url)
        Settings.from_env()


async def test_amap_results_are_capped_and_never_echo_the_key(fake_amap_env):
    from bailian_geo_agent.tools import GeoToolkit
    from bailian_geo_agent.tools.config import GeoConfig

    key = fake_amap_env.api_key if hasattr(fake_amap_env, "api_key") else None
    config = GeoConfig.from_env()
    key = key or config.amap_api_key
    fake_amap_env.set_response("/v3/weather/weatherInfo",
                               {"status": "0", "infocode": "10001", "info": f"BAD KEY {key}"})
    tools = {t.name: t for t in GeoToolkit(config=config).get_tools()}
    result = await tools["get_weather"].ainvoke({"place": "北京"})
    assert key not in str(result)
    fake_amap_env.set_response("/v3/place/text", {"status": "1", "count": "1", "pois": [
        {"id": "B1", "name": "大" * 50000, "location": "116.4,39.9", "address": "x"}]})
    capped = GeoToolkit(config=config.with_overrides(tool_result_max_chars=500)).get_tools()
    search = next(t for t in capped if t.name == "search_poi")
    result = await search.ainvoke({"keywords": "咖啡", "city": "北京"})
    assert len(str(result)) < 600 and "截断" in str(result)


def test_cache_ttl_zero_turns_every_cache_off():
    from bailian_geo_agent.tools.cache import TTLCache

    cache = TTLCache(ttl=0)
    cache.set("k", "v", ttl=86400)  # a provider's own fixed lifetime
    assert cache.get("k") is None
