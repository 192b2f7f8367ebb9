"""DashScopeChatOpenAI's lean streaming path keeps ChatOpenAI's behaviour."""

from __future__ import annotations

import openai
import pytest
from bailian_geo_agent.agent.errors import StreamInterruptedError
from bailian_geo_agent.agent.providers._sse import iter_sse_data
from bailian_geo_agent.agent.providers.openai_compatible import DashScopeChatOpenAI
from langchain_core.messages import AIMessageChunk

from tests.fakes.dashscope import Reply, ToolCall
from tests.fakes.pytest_plugin import FAKE_API_KEY


async def _pieces(*pieces: bytes):
    for piece in pieces:
        yield piece


async def sse(*pieces: bytes) -> list[bytes]:
    return [data async for data in iter_sse_data(_pieces(*pieces))]


async def test_sse_events_split_across_reads_and_in_one_read():
    assert await sse(b'data: {"a":1}\n\ndata: {"b"', b":2}\n\n", b"data: [DONE]\n\n") == [
        b'{"a":1}',
        b'{"b":2}',
        b"[DONE]",
    ]


async def test_sse_crlf_comments_multiline_and_no_space():
    raw = b': keep-alive\r\n\r\nevent: x\r\ndata:{"a":\r\ndata: 1}\r\n\r\ndata:{"c":3}'
    assert await sse(raw) == [b'{"a":\n1}', b'{"c":3}']


def model(fake, **kwargs) -> DashScopeChatOpenAI:
    return DashScopeChatOpenAI(
        model="qwen-plus",
        api_key=FAKE_API_KEY,
        base_url=fake.compatible_base_url,
        streaming=True,
        stream_usage=True,
        max_retries=0,
        **kwargs,
    )


async def test_stream_matches_chatopenai_text_usage_and_finish_reason(fake_dashscope):
    fake_dashscope.script(Reply(text="你好世界"))
    chunks = [c async for c in model(fake_dashscope).astream("hi")]

    total = sum(chunks[1:], chunks[0])
    assert isinstance(total, AIMessageChunk)
    assert total.content == "你好世界"
    assert total.response_metadata["finish_reason"] == "stop"
    assert total.usage_metadata and total.usage_metadata["total_tokens"] > 0
    assert fake_dashscope.requests[0].body["stream_options"] == {"include_usage": True}


async def test_streamed_tool_calls_are_assembled(fake_dashscope):
    fake_dashscope.script(
        Reply(
            tool_calls=[ToolCall("a", {"x": 1}), ToolCall("b", {"y": "二"})],
            empty_function_fragment=True,
        )
    )
    bound = model(fake_dashscope).bind_tools(
        [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in "ab"
        ]
    )
    message = await bound.ainvoke("go")
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("a", {"x": 1}),
        ("b", {"y": "二"}),
    ]
    assert message.response_metadata["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("status", "code", "exception"),
    [
        (401, "invalid_api_key", openai.AuthenticationError),
        (404, "model_not_found", openai.NotFoundError),
        (429, "limit_requests", openai.RateLimitError),
        (500, "internal_error", openai.InternalServerError),
        (400, "data_inspection_failed", openai.BadRequestError),
    ],
)
async def test_status_errors_are_the_sdks_own_exceptions(fake_dashscope, status, code, exception):
    fake_dashscope.script(Reply(status=status, error_code=code))
    with pytest.raises(exception) as caught:
        await model(fake_dashscope).ainvoke("hi")
    assert caught.value.code == code


async def test_error_event_inside_a_200_stream_raises_api_error(fake_dashscope):
    fake_dashscope.script(Reply(text="abcd", moderation_after=1))
    seen = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in model(fake_dashscope).astream("hi"):
            seen.append(chunk.content)
    assert caught.value.code == "data_inspection_failed"
    assert "".join(seen) == "ab"


async def test_missing_finish_reason_is_an_interrupted_stream(fake_dashscope):
    fake_dashscope.script(Reply(text="abcdef", cut_after=1))
    with pytest.raises(StreamInterruptedError):
        await model(fake_dashscope).ainvoke("hi")


async def test_finish_reason_without_done_is_complete(fake_dashscope):
    fake_dashscope.script(Reply(text="完整", omit_done=True))
    assert (await model(fake_dashscope).ainvoke("hi")).content == "完整"


async def test_read_timeout_is_the_sdks_timeout_error(fake_dashscope):
    fake_dashscope.script(Reply(text="abcdef", stall_after=1, stall_seconds=2))
    with pytest.raises(openai.APITimeoutError):
        await model(fake_dashscope, timeout=0.3).ainvoke("hi")


def test_sync_invoke_still_works(fake_dashscope):
    fake_dashscope.script(Reply(text="同步"))
    assert model(fake_dashscope).invoke("hi").content == "同步"


async def test_sdk_request_options_still_reach_the_server(fake_dashscope):
    fake_dashscope.script(Reply(text="联网"))
    chat = model(fake_dashscope, extra_body={"enable_search": True})

    assert (await chat.ainvoke("hi")).content == "联网"
    assert fake_dashscope.requests[0].body["enable_search"] is True


async def test_plain_payload_is_posted_as_built(fake_dashscope):
    fake_dashscope.script(Reply(text="好"))
    await model(fake_dashscope).ainvoke("hi")
    body = fake_dashscope.requests[0].body
    assert body["model"] == "qwen-plus" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("call", [None, True, False])
@pytest.mark.parametrize("options", [None, {"include_usage": True}, {"include_usage": False}, {}])
@pytest.mark.parametrize("model_options", [None, {"include_usage": False}])
@pytest.mark.parametrize("field", [True, False])
def test_usage_is_asked_for_as_chatopenai_decides(call, options, model_options, field):
    """Our public-fields rule gives ChatOpenAI's own answer (its private
    ``_should_stream_usage``) for every combination of the four places it is set."""
    from bailian_geo_agent.agent.providers.openai_compatible import _stream_usage

    kwargs = {} if model_options is None else {"model_kwargs": {"stream_options": model_options}}
    chat = DashScopeChatOpenAI(model="qwen-plus", api_key="sk-test",
                               base_url="http://127.0.0.1:1", stream_usage=field, **kwargs)
    call_kwargs = {} if options is None else {"stream_options": options}
    expected = chat._should_stream_usage(call, **call_kwargs)
    assert _stream_usage(chat, call, call_kwargs) is expected


def test_input_messages_are_what_langchain_core_makes_of_them():
    from bailian_geo_agent.agent.providers.openai_compatible import _messages_of
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.prompt_values import ChatPromptValue

    chat = DashScopeChatOpenAI(model="qwen-plus", api_key="sk-test", base_url="http://127.0.0.1:1")
    history = [HumanMessage("hi"), AIMessage("yo", additional_kwargs={"reasoning_content": "r"})]
    pairs = [("human", "hi"), ("ai", "yo")]
    for given in ["北京天气", pairs, history, ChatPromptValue(messages=history)]:
        assert _messages_of(given) == chat._convert_input(given).to_messages()
