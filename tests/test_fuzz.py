"""Bad input, fuzzed (hypothesis): arbitrary unicode, control characters, huge messages, wrong
types and malformed session ids at ``stream_chat``; arbitrary argument dicts at every geo tool
(on the fake AMap) and garbage tool arguments from the model. Always a clear error event or tool
result, never an exception out of the generator, never a model call for invalid input."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService
from bailian_geo_agent.agent.errors import GeoAgentError
from bailian_geo_agent.agent.validation import normalize_session_id, validate_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import ToolMessage

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import DOCUMENTED_KEYS, assert_well_formed, collect, make_settings

MAX_CHARS = 200
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.binary(max_size=20),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                               max_size=2),
    st.builds(object), st.just(b"\x00"), st.just(["你好"]),
)
messages = st.one_of(
    st.text(max_size=MAX_CHARS + 20),  # any unicode, including control characters
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Cs"]),
            max_size=30),
    st.tuples(st.characters(), st.integers(MAX_CHARS + 1, 50_000)).map(lambda t: t[0] * t[1]),
    st.text(min_size=1, max_size=20).map(lambda s: s + "\x00" + s),
    anything,
)
session_ids = st.one_of(
    st.none(), st.uuids().map(str), st.uuids(), st.uuids().map(lambda u: f"  {u}  "),
    st.uuids().map(lambda u: str(u).upper()), st.text(max_size=60), anything,
    st.just(""), st.just("../../etc/passwd"), st.just("'; DROP TABLE checkpoints; --"),
)
event_sets = st.one_of(st.none(), st.just(()), st.just({"tool_start"}), st.just("map_action"),
                       st.sets(st.text(max_size=8), max_size=2), anything)


def expected_valid(message: Any, session_id: Any, events: Any) -> bool:
    from bailian_geo_agent.agent.validation import validate_events

    try:
        validate_message(message, MAX_CHARS)
        normalize_session_id(session_id)
        validate_events(events)
    except GeoAgentError:
        return False
    return True


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@FUZZ
@given(message=messages, session_id=session_ids, events=event_sets)
def test_stream_chat_never_raises_and_rejects_bad_input_without_a_model_call(
    fake_dashscope, loop, message, session_id, events
):
    settings_ = make_settings(fake_dashscope, "openai", max_message_chars=MAX_CHARS,
                              session_store_url="memory://")
    service = StreamChatService(settings_, tools=[])
    before = len(fake_dashscope.requests)

    result = loop.run_until_complete(collect(service.stream_chat(message, session_id,
                                                                 events=events)))

    for event in result:
        assert set(event) == DOCUMENTED_KEYS[event["type"]]
        uuid.UUID(event["session_id"])
    if expected_valid(message, session_id, events):
        assert assert_well_formed(result).startswith("ECHO[1]: ")
        assert len(fake_dashscope.requests) == before + 1
        if isinstance(session_id, (str, uuid.UUID)):
            assert result[0]["session_id"] == str(uuid.UUID(str(session_id).strip()))
    else:
        assert [e["type"] for e in result] == ["error"]
        assert result[0]["error"].strip() and "Traceback" not in result[0]["error"]
        assert len(result[0]["error"]) < 500, "no echo of a huge input"
        assert len(fake_dashscope.requests) == before, "no model call for invalid input"


async def test_a_failing_service_setup_is_an_error_event_too(fake_dashscope):
    settings_ = make_settings(fake_dashscope, "openai", session_store_url="nosuch://x")
    events = await collect(StreamChatService(settings_, tools=[]).stream_chat("你好"))
    assert [e["type"] for e in events] == ["error"] and "SESSION_STORE_URL" in events[0]["error"]
    assert fake_dashscope.requests == []


@pytest.fixture(scope="module")
def amap_tools(fake_amap_server):
    from bailian_geo_agent.tools import GeoToolkit
    from bailian_geo_agent.tools.config import GeoConfig
    from bailian_geo_agent.tools.http import HttpClient
    from bailian_geo_agent.tools.providers.amap import AmapProvider

    from tests.fakes.amap_plugin import FAKE_AMAP_KEY

    http = HttpClient(timeout=2.0, retry_delay=0.01)
    provider = AmapProvider(FAKE_AMAP_KEY, http, base_url=fake_amap_server.base_url,
                            rate_limit_delay=0.0)
    config = GeoConfig(provider="amap", amap_api_key=FAKE_AMAP_KEY)
    yield GeoToolkit(config=config, provider=provider, http=http).get_tools()
    http.close()


values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=200), st.text(alphabet=st.characters(categories=["Cc", "Cs", "Co"]),
                                   max_size=10),
    st.sampled_from(["北京", "故宫", "116.397,39.908", "wgs84", "gcj02", "driving", "餐厅"]),
    st.lists(st.one_of(st.floats(-200, 200), st.text(max_size=5),
                       st.dictionaries(st.sampled_from(["lng", "lat", "place", "label"]),
                                       st.one_of(st.floats(-200, 200), st.text(max_size=8)),
                                       max_size=4)), max_size=3),
)


def field_names(tool) -> st.SearchStrategy[str]:
    fields = list(tool.args) or ["x"]
    return st.one_of(st.sampled_from(fields), st.text(max_size=10))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_tool_answers_any_arguments_with_a_result(amap_tools, loop, data):
    tool = data.draw(st.sampled_from(amap_tools))
    args = data.draw(st.dictionaries(field_names(tool), values, max_size=6))
    call = {"type": "tool_call", "id": "call_1", "name": tool.name, "args": args}

    message = loop.run_until_complete(tool.ainvoke(call))

    assert isinstance(message, ToolMessage) and isinstance(message.content, str)
    assert message.content.strip() and len(message.content) < 4000
    if message.status == "error":
        assert "Traceback" not in message.content


@pytest.mark.parametrize("arguments", [
    "{not json", "[]", "null", '"北京"', '{"place": 12}', '{"place": "' + "长" * 5000 + '"}',
    '{"unexpected": {"deep": [1, 2, {"x": null}]}}', "", '{"place": "\\u0000"}',
])
async def test_garbage_tool_arguments_from_the_model(fake_dashscope, fake_amap_env, arguments):
    from bailian_geo_agent.tools import GeoToolkit

    fake_dashscope.responder = tool_then_answer([ToolCall("get_weather", arguments)])
    service = StreamChatService(make_settings(fake_dashscope, "openai"),
                                tools=GeoToolkit().get_tools())
    events = await asyncio.wait_for(collect(service.stream_chat("北京天气", str(uuid.uuid4()))),
                                    20)
    assert events[-1]["type"] in ("stream_end", "error")
    if events[-1]["type"] == "error":
        assert "Traceback" not in events[-1]["error"]
    elif arguments.startswith("{") and arguments.endswith("}"):  # an object: the tool answers
        assert assert_well_formed(events).startswith("根据工具结果：")
    else:  # not an object: LangChain drops the call (invalid_tool_calls), the reply ends
        assert_well_formed(events)
    assert FAKE_API_KEY not in str(events)
    fake_dashscope.script(Reply(text="好"))
