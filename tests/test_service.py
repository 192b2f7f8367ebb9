"""StreamChatService end to end, through the real ChatOpenAI/openai and ChatTongyi/dashscope stacks,
against the loopback DashScope fake (both protocols)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import (  # noqa: F401 - re-exported for tests written against this module
    DOCUMENTED_KEYS,
    PROVIDERS,
    assert_well_formed,
    collect,
    make_settings,
    tool_name,
)


@tool
def get_weather(city: str) -> str:
    """Current weather for a city, e.g. 北京."""
    return f"{city}：晴，25°C"


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_plain_answer_streams_in_documented_schema(fake_dashscope, provider):
    fake_dashscope.script(Reply(text="北京今天晴，最高25度。", chunk_size=2))
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])

    events = await collect(service.stream_chat("北京天气？"))

    assert assert_well_formed(events) == "北京今天晴，最高25度。"
    assert [e["chunk"] for e in events[1:-1]] == ["北京", "今天", "晴，", "最高", "25", "度。"]
    assert len(fake_dashscope.requests) == 1
    assert fake_dashscope.requests[0].protocol == provider.replace("tongyi", "native")


async def test_default_constructor_reads_environment_and_dotenv(
    fake_dashscope, tmp_path, monkeypatch
):
    (tmp_path / ".env").write_text(
        f"DASHSCOPE_API_KEY={FAKE_API_KEY}\nDASHSCOPE_BASE_URL={fake_dashscope.compatible_base_url}\n"
        "DASHSCOPE_MODEL=qwen-max\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DASHSCOPE_MODEL", "qwen-turbo")  # the environment wins over .env
    service = StreamChatService(tools=[])

    events = await collect(service.stream_chat("你好"))

    assert assert_well_formed(events) == "ECHO[1]: 你好"
    assert fake_dashscope.requests[0].model == "qwen-turbo"
    assert fake_dashscope.requests[0].api_key == FAKE_API_KEY


async def test_text_arrives_while_the_model_is_still_streaming(fake_dashscope, provider):
    fake_dashscope.script(Reply(text="abcdefgh", chunk_size=2, stall_after=2, stall_seconds=0.8))
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])

    started = time.perf_counter()
    arrivals: list[tuple[str, float]] = []
    async for event in service.stream_chat("hi"):
        arrivals.append((event["type"], time.perf_counter() - started))

    first_chunk = next(t for kind, t in arrivals if kind == "stream_chunk")
    end = arrivals[-1][1]
    assert arrivals[-1][0] == "stream_end"
    assert first_chunk < 0.6 < 0.8 <= end + 0.05


async def test_tool_call_then_answer_is_one_reply(fake_dashscope, provider):
    fake_dashscope.responder = tool_then_answer([ToolCall("get_weather", {"city": "北京"})])
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[get_weather])

    events = await collect(service.stream_chat("北京天气怎么样？"))

    assert assert_well_formed(events) == "根据工具结果：北京：晴，25°C"
    assert len(fake_dashscope.requests) == 2
    assert [tool_name(t) for t in fake_dashscope.requests[0].tools] == ["get_weather"]
    tool_messages = [m for m in fake_dashscope.requests[1].messages if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["北京：晴，25°C"]


async def test_two_tool_calls_in_one_turn(fake_dashscope, provider):
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("get_weather", {"city": "北京"}), ToolCall("get_weather", {"city": "上海"})]
    )
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[get_weather])
    session_id = str(uuid.uuid4())

    events = await collect(service.stream_chat("比较北京和上海的天气", session_id))

    assert assert_well_formed(events) == "根据工具结果：北京：晴，25°C；上海：晴，25°C"
    history = await service.get_history(session_id)
    calls = next(m for m in history if isinstance(m, AIMessage) and m.tool_calls).tool_calls
    assert [(c["name"], c["args"]) for c in calls] == [
        ("get_weather", {"city": "北京"}),
        ("get_weather", {"city": "上海"}),
    ]
    assert len({c["id"] for c in calls}) == 2
    assert history[-1].content == "根据工具结果：北京：晴，25°C；上海：晴，25°C"


async def test_same_session_continues_the_conversation(fake_dashscope, provider):
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])
    session_id = str(uuid.uuid4())

    first = await collect(service.stream_chat("我叫小明", session_id))
    second = await collect(service.stream_chat("我叫什么？", session_id))

    assert assert_well_formed(first) == "ECHO[1]: 我叫小明"
    assert assert_well_formed(second) == "ECHO[2]: 我叫什么？"
    assert {e["session_id"] for e in first + second} == {session_id}
    assert first[0]["message_id"] != second[0]["message_id"]
    sent = [(m["role"], m["content"]) for m in fake_dashscope.requests[1].messages[1:]]
    assert sent == [
        ("user", "我叫小明"),
        ("assistant", "ECHO[1]: 我叫小明"),
        ("user", "我叫什么？"),
    ]


async def test_sessions_never_see_each_other(fake_dashscope, provider):
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])
    a, b = str(uuid.uuid4()), str(uuid.uuid4())

    await collect(service.stream_chat("A的秘密", a))
    reply_b = await collect(service.stream_chat("B的问题", b))

    assert assert_well_formed(reply_b) == "ECHO[1]: B的问题"
    assert all("A的秘密" not in str(m["content"]) for m in fake_dashscope.requests[1].messages)


async def test_fifty_concurrent_sessions_each_get_their_own_text(fake_dashscope, provider):
    fake_dashscope.responder = lambda request: Reply(
        text=f"ECHO: {request.messages[-1]['content']}", chunk_size=1, chunk_delay=0.002
    )
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])
    sessions = [str(uuid.uuid4()) for _ in range(50)]

    replies = await asyncio.gather(
        *(collect(service.stream_chat(f"消息{i}", sid)) for i, sid in enumerate(sessions))
    )

    for i, (sid, events) in enumerate(zip(sessions, replies, strict=False)):
        assert assert_well_formed(events) == f"ECHO: 消息{i}"
        assert events[0]["session_id"] == sid
    assert len({events[0]["message_id"] for events in replies}) == 50


async def test_consumer_that_stops_early_leaves_the_session_usable(fake_dashscope, provider):
    fake_dashscope.script(Reply(text="x" * 40, chunk_size=1, chunk_delay=0.02))
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])
    session_id = str(uuid.uuid4())

    stream = service.stream_chat("长一点的回答", session_id)
    async for event in stream:
        if event["type"] == "stream_chunk":
            break
    started = time.perf_counter()
    await stream.aclose()
    assert time.perf_counter() - started < 0.5

    events = await asyncio.wait_for(collect(service.stream_chat("继续", session_id)), 10)
    assert assert_well_formed(events).startswith("ECHO[")


# -- errors --------------------------------------------------------------------------------


async def test_missing_key_is_an_error_event_before_any_request(fake_dashscope, provider):
    settings = make_settings(fake_dashscope, provider, api_key=None)
    events = await collect(StreamChatService(settings, tools=[]).stream_chat("你好"))

    assert [e["type"] for e in events] == ["error"]
    assert "阿里云百炼API Key未配置" in events[0]["error"]
    assert "在.env文件中配置DASHSCOPE_API_KEY" in events[0]["error"]
    assert fake_dashscope.requests == []


async def test_default_constructor_without_key_reports_how_to_fix(fake_dashscope):
    events = await collect(StreamChatService().stream_chat("你好"))
    assert [e["type"] for e in events] == ["error"]
    assert "阿里云百炼API Key未配置" in events[0]["error"]
    assert fake_dashscope.requests == []


async def test_rejected_key_says_so_without_showing_it(fake_dashscope, provider, caplog):
    secret = "sk-rejected-secret-1234567890"
    fake_dashscope.valid_keys = {FAKE_API_KEY}
    service = StreamChatService(make_settings(fake_dashscope, provider, api_key=secret), tools=[])

    events = await collect(service.stream_chat("你好"))

    assert_well_formed(events, ok=False)
    assert "API Key无效" in events[-1]["error"]
    assert len(fake_dashscope.requests) == 1, "a rejected key must not be retried"
    assert secret not in repr(events) and secret not in caplog.text


async def test_unknown_model_names_the_model(fake_dashscope, provider):
    settings = make_settings(fake_dashscope, provider, model="qwen-does-not-exist")
    events = await collect(StreamChatService(settings, tools=[]).stream_chat("你好"))

    assert_well_formed(events, ok=False)
    assert "模型不存在" in events[-1]["error"] and "qwen-does-not-exist" in events[-1]["error"]


@pytest.mark.parametrize(
    ("failure", "expected_requests"),
    [
        (Reply(status=429, error_code="limit_requests"), 2),
        (Reply(status=500, error_code="internal_error"), 2),
        (Reply(status=503, error_code="service_unavailable"), 2),
    ],
    ids=["429", "500", "503"],
)
async def test_transient_failure_is_retried_before_any_text(
    fake_dashscope, provider, failure, expected_requests
):
    fake_dashscope.script(failure, Reply(text="重试后成功"))
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])

    events = await collect(service.stream_chat("你好"))

    assert assert_well_formed(events) == "重试后成功"
    assert len(fake_dashscope.requests) == expected_requests


async def test_rate_limit_storm_ends_with_a_clear_error(fake_dashscope, provider):
    fake_dashscope.script(*[Reply(status=429, error_code="limit_requests")] * 5)
    settings = make_settings(fake_dashscope, provider, max_retries=1)
    events = await collect(StreamChatService(settings, tools=[]).stream_chat("你好"))

    assert_well_formed(events, ok=False)
    assert "请求过于频繁" in events[-1]["error"]
    assert len(fake_dashscope.requests) == 2


async def test_stream_cut_midway_is_an_error_after_the_text_sent(fake_dashscope, provider):
    fake_dashscope.script(
        Reply(text="前半句话后半句话", chunk_size=2, cut_after=2), Reply(text="X")
    )
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])

    events = await collect(service.stream_chat("你好"))

    assert assert_well_formed(events, ok=False) == "前半句话"
    assert "中断" in events[-1]["error"]
    assert len(fake_dashscope.requests) == 1, "text was sent: no retry may duplicate it"


async def test_stream_cut_before_any_text_is_retried(fake_dashscope, provider):
    fake_dashscope.script(Reply(text="完整回答", cut_after=0), Reply(text="完整回答"))
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])

    events = await collect(service.stream_chat("你好"))

    assert assert_well_formed(events) == "完整回答"
    assert len(fake_dashscope.requests) == 2


async def test_moderation_error_inside_a_200_stream(fake_dashscope, provider):
    fake_dashscope.script(Reply(text="一些内容然后", chunk_size=2, moderation_after=2))
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])

    events = await collect(service.stream_chat("你好"))

    assert assert_well_formed(events, ok=False) == "一些内容"
    assert "内容安全检查未通过" in events[-1]["error"]
    assert len(fake_dashscope.requests) == 1


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("data_inspection_failed", "内容安全"),
        ("Arrearage", "欠费"),
        ("invalid_parameter_error", "过长"),
    ],
)
async def test_request_rejections_have_their_own_messages(fake_dashscope, provider, code, words):
    message = "Range of input length should be [1, 129024]" if "param" in code else None
    fake_dashscope.script(Reply(status=400, error_code=code, error_message=message))
    service = StreamChatService(make_settings(fake_dashscope, provider), tools=[])

    events = await collect(service.stream_chat("你好"))

    assert_well_formed(events, ok=False)
    assert words in events[-1]["error"]


async def test_stall_longer_than_timeout_is_a_network_timeout(fake_dashscope, provider):
    fake_dashscope.script(Reply(text="abcdef", chunk_size=2, stall_after=1, stall_seconds=3))
    settings = make_settings(fake_dashscope, provider, timeout=0.4, max_retries=0)

    started = time.perf_counter()
    events = await collect(StreamChatService(settings, tools=[]).stream_chat("你好"))

    assert assert_well_formed(events, ok=False) == "ab"
    assert "网络连接超时" in events[-1]["error"]
    assert f"127.0.0.1:{fake_dashscope.port}" in events[-1]["error"]
    assert time.perf_counter() - started < 2.5


async def test_unreachable_endpoint_is_a_network_error(provider, unused_tcp_port):
    settings = Settings(
        api_key=FAKE_API_KEY,
        base_url=f"http://127.0.0.1:{unused_tcp_port}/compatible-mode/v1",
        native_base_url=f"http://127.0.0.1:{unused_tcp_port}/api/v1",
        responses_base_url=f"http://127.0.0.1:{unused_tcp_port}/api/v2",
        provider=provider,
        timeout=1,
        max_retries=0,
    )
    events = await collect(StreamChatService(settings, tools=[]).stream_chat("你好"))
    assert [e["type"] for e in events][-1] == "error"
    assert "拒绝了连接" in events[-1]["error"]  # issue 16: refused is named as such
    assert f"127.0.0.1:{unused_tcp_port}" in events[-1]["error"]
    assert settings.base_url_variable in events[-1]["error"]


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("", "不能为空"),
        ("   \n\t ", "不能为空"),
        (42, "字符串"),
        (None, "字符串"),
        ("x" * 9000, "过长"),
    ],
    ids=["empty", "whitespace", "int", "none", "too-long"],
)
async def test_bad_message_is_rejected_without_a_model_call(fake_dashscope, message, words):
    service = StreamChatService(make_settings(fake_dashscope, "openai"), tools=[])
    events = await collect(service.stream_chat(message))
    assert [e["type"] for e in events] == ["error"]
    assert words in events[0]["error"]
    assert fake_dashscope.requests == []


@pytest.mark.parametrize("session_id", ["not-a-uuid", 123, "", "🙂" * 50])
async def test_malformed_session_id_is_rejected(fake_dashscope, session_id):
    service = StreamChatService(make_settings(fake_dashscope, "openai"), tools=[])
    events = await collect(service.stream_chat("你好", session_id))
    assert [e["type"] for e in events] == ["error"]
    assert "session_id" in events[0]["error"]
    uuid.UUID(events[0]["session_id"])
    assert fake_dashscope.requests == []


async def test_a_failed_reply_does_not_disturb_other_sessions(fake_dashscope):
    def responder(request):
        text = request.messages[-1]["content"]
        if text == "坏":
            return Reply(text="半截", cut_after=1)
        return Reply(text=f"好:{text}", chunk_size=1, chunk_delay=0.005)

    fake_dashscope.responder = responder
    service = StreamChatService(make_settings(fake_dashscope, "openai"), tools=[])

    bad, *good = await asyncio.gather(
        collect(service.stream_chat("坏")),
        *(collect(service.stream_chat(f"{i}")) for i in range(5)),
    )

    assert bad[-1]["type"] == "error"
    assert [assert_well_formed(events) for events in good] == [f"好:{i}" for i in range(5)]


async def test_closing_one_service_leaves_another_streaming(fake_dashscope, provider):
    fake_dashscope.responder = lambda request: Reply(text="x" * 60, chunk_size=1, chunk_delay=0.005)
    streaming = StreamChatService(make_settings(fake_dashscope, provider), tools=[])
    other = StreamChatService(make_settings(fake_dashscope, provider), tools=[])
    await collect(other.stream_chat("热身"))

    async def close_other_midway() -> None:
        await asyncio.sleep(0.05)
        await other.aclose()

    events, _ = await asyncio.gather(collect(streaming.stream_chat("长回答")), close_other_midway())

    assert assert_well_formed(events) == "x" * 60
    await streaming.aclose()


async def test_invalid_settings_fail_every_public_method_clearly(monkeypatch):
    from bailian_geo_agent.agent.errors import ConfigurationError

    monkeypatch.setenv("SESSION_LOCK_TIMEOUT", "abc")
    service = StreamChatService(tools=[])
    session_id = str(uuid.uuid4())
    for call in (
        service.delete_session(session_id),
        service.get_history(session_id),
        service.expire_idle_sessions(),
    ):
        with pytest.raises(ConfigurationError, match="SESSION_LOCK_TIMEOUT"):
            await call


async def test_prepare_builds_the_agent_without_a_model_call_and_reports_what_a_reply_would(
        fake_dashscope, provider, tmp_path, monkeypatch):
    from bailian_geo_agent.agent.errors import ConfigurationError

    store = tmp_path / "sessions.sqlite"
    settings = make_settings(fake_dashscope, provider).model_copy(
        update={"session_store_url": f"sqlite:///{store}"})
    service = StreamChatService(settings, tools=[])
    await service.prepare()
    assert store.exists() and fake_dashscope.requests == []
    fake_dashscope.script(Reply(text="好的。"))
    assert assert_well_formed(await collect(service.stream_chat("你好"))) == "好的。"
    await service.aclose()

    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    keyless = StreamChatService(settings.model_copy(update={"api_key": None}), tools=[])
    with pytest.raises(ConfigurationError, match="DASHSCOPE_API_KEY"):
        await keyless.prepare()
