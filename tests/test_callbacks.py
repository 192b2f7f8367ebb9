"""ChunkStreamHandler used on its own, in chains and agents the caller builds."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import openai
import pytest
from bailian_geo_agent.agent import ChunkStreamHandler
from bailian_geo_agent.agent.providers.openai_compatible import DashScopeChatOpenAI
from langchain_core.messages import ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY


def model_for(fake) -> DashScopeChatOpenAI:
    return DashScopeChatOpenAI(
        model="qwen-plus",
        api_key=FAKE_API_KEY,
        base_url=fake.compatible_base_url,
        streaming=True,
        max_retries=0,
    )


async def drain(handler: ChunkStreamHandler, coro) -> tuple[list[dict[str, Any]], Any]:
    task = asyncio.create_task(coro)
    events = [event async for event in handler.dicts()]
    return events, await task


async def test_handler_streams_a_plain_chain(fake_dashscope):
    fake_dashscope.script(Reply(text="你好，世界", chunk_size=2))
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | model_for(fake_dashscope)
    handler = ChunkStreamHandler(session_id="s-1")

    events, result = await drain(handler, chain.ainvoke({"q": "hi"}, {"callbacks": [handler]}))

    assert [e["type"] for e in events] == ["stream_start"] + ["stream_chunk"] * 3 + ["stream_end"]
    assert "".join(e["chunk"] for e in events[1:-1]) == result.content == "你好，世界"
    assert {e["session_id"] for e in events} == {"s-1"}
    assert len({e["message_id"] for e in events}) == 1


async def test_handler_on_a_bare_model_call(fake_dashscope):
    fake_dashscope.script(Reply(text="abc", chunk_size=1))
    handler = ChunkStreamHandler()

    events, _ = await drain(
        handler, model_for(fake_dashscope).ainvoke("hi", {"callbacks": [handler]})
    )

    assert [e.get("chunk") for e in events] == [None, "a", "b", "c", None]
    assert events[-1]["type"] == "stream_end"


async def test_handler_reports_a_failed_chain_as_an_error_event(fake_dashscope):
    fake_dashscope.script(Reply(status=404, error_code="model_not_found"))
    handler = ChunkStreamHandler()
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | model_for(fake_dashscope)

    task = asyncio.create_task(chain.ainvoke({"q": "hi"}, {"callbacks": [handler]}))
    events = [event async for event in handler.dicts()]

    assert [e["type"] for e in events] == ["stream_start", "error"]
    assert "模型不存在" in events[-1]["error"]
    with pytest.raises(openai.NotFoundError):  # the caller's own chain still raises
        await task


async def test_tool_call_fragments_never_become_chunks(fake_dashscope):
    fake_dashscope.script(
        Reply(
            text="我查一下。",
            tool_calls=[ToolCall("get_weather", {"city": "杭州市"})],
            empty_function_fragment=True,
        )
    )
    handler = ChunkStreamHandler()
    model = model_for(fake_dashscope).bind_tools([get_weather])

    events, message = await drain(handler, model.ainvoke("杭州天气", {"callbacks": [handler]}))

    assert "".join(e.get("chunk", "") for e in events) == "我查一下。" == message.content
    assert message.tool_calls[0]["args"] == {"city": "杭州市"}
    assert fake_dashscope.requests[0].body["parallel_tool_calls"] is True


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"{city}：小雨"


@tool(response_format="content_and_artifact")
def show_on_map(lng: float, lat: float) -> tuple[str, dict]:
    """Center the user's map on a point."""
    action = {"op": "set_view", "center": {"lng": lng, "lat": lat, "crs": "gcj02"}, "zoom": 14}
    return "地图已定位", {"map_action": action}


async def test_optional_tool_and_map_events(fake_dashscope):
    from langchain.agents import create_agent

    fake_dashscope.responder = tool_then_answer(
        [ToolCall("show_on_map", {"lng": 116.397, "lat": 39.909})], answer=lambda r: "好的。"
    )
    agent = create_agent(model_for(fake_dashscope), [show_on_map])
    handler = ChunkStreamHandler(events={"map_action", "tool_start", "tool_end"})

    events, _ = await drain(
        handler, agent.ainvoke({"messages": [("user", "天安门")]}, {"callbacks": [handler]})
    )

    types = [e["type"] for e in events]
    assert types == [
        "stream_start",
        "tool_start",
        "map_action",
        "tool_end",
        "stream_chunk",
        "stream_chunk",
        "stream_end",
    ]
    assert events[1]["tool"] == "show_on_map" and events[1]["arguments"]["lng"] == 116.397
    assert events[2]["action"]["center"] == {"lng": 116.397, "lat": 39.909, "crs": "gcj02"}
    assert events[3]["result"] == "地图已定位"


async def test_optional_events_are_off_by_default(fake_dashscope):
    from langchain.agents import create_agent

    fake_dashscope.responder = tool_then_answer(
        [ToolCall("show_on_map", {"lng": 1.0, "lat": 2.0})], answer=lambda r: "好"
    )
    agent = create_agent(model_for(fake_dashscope), [show_on_map])
    handler = ChunkStreamHandler()

    events, state = await drain(
        handler, agent.ainvoke({"messages": [("user", "x")]}, {"callbacks": [handler]})
    )

    assert [e["type"] for e in events] == ["stream_start", "stream_chunk", "stream_end"]
    assert any(isinstance(m, ToolMessage) for m in state["messages"])


async def test_nostream_tagged_models_are_not_streamed(fake_dashscope):
    fake_dashscope.script(Reply(text="secret"))
    handler = ChunkStreamHandler()
    model = model_for(fake_dashscope).with_config(tags=["nostream"])

    events, _ = await drain(handler, model.ainvoke("x", {"callbacks": [handler]}))

    assert [e["type"] for e in events] == ["stream_start", "stream_end"]


def test_unknown_optional_event_is_refused():
    with pytest.raises(ValueError, match="unknown optional events"):
        ChunkStreamHandler(events={"map_actions"})


async def test_agent_ending_on_invalid_tool_arguments_is_an_error(fake_dashscope):
    from langchain.agents import create_agent

    fake_dashscope.script(Reply(tool_calls=[ToolCall("get_weather", "[]")]))
    agent = create_agent(model_for(fake_dashscope), [get_weather])
    handler = ChunkStreamHandler()

    events, _ = await drain(
        handler, agent.ainvoke({"messages": [("user", "天气")]}, {"callbacks": [handler]})
    )

    assert [e["type"] for e in events] == ["stream_start", "error"]
    assert "工具调用参数无效" in events[-1]["error"]


async def test_agent_ending_without_any_text_is_an_error(fake_dashscope):
    from langchain.agents import create_agent

    fake_dashscope.script(Reply(text=""))
    handler = ChunkStreamHandler()
    agent = create_agent(model_for(fake_dashscope), [])

    events, _ = await drain(
        handler, agent.ainvoke({"messages": [("user", "x")]}, {"callbacks": [handler]})
    )

    assert [e["type"] for e in events] == ["stream_start", "error"]
    assert "没有返回任何内容" in events[-1]["error"]


async def test_a_model_without_streaming_flag_still_streams_through_the_handler(fake_dashscope):
    from langchain_openai import ChatOpenAI

    fake_dashscope.script(Reply(text="逐字输出", chunk_size=1))
    plain = ChatOpenAI(  # the caller's own model, streaming not switched on
        model="qwen-plus", api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url
    )
    handler = ChunkStreamHandler()

    events, message = await drain(handler, plain.ainvoke("hi", {"callbacks": [handler]}))

    assert [e.get("chunk") for e in events[1:-1]] == ["逐", "字", "输", "出"]
    assert message.content == "逐字输出"


def test_every_event_type_has_its_documented_dict_form():
    from bailian_geo_agent.agent.events import (
        MapAction,
        StreamChunk,
        StreamEnd,
        StreamError,
        StreamStart,
        ToolEnd,
        ToolStart,
    )

    ids = {"message_id": "m", "session_id": "s"}
    assert StreamStart(**ids).to_dict() == {"type": "stream_start", **ids}
    assert StreamChunk(chunk="字", **ids).to_dict() == {
        "type": "stream_chunk",
        **ids,
        "chunk": "字",
    }
    assert StreamEnd(**ids).to_dict() == {"type": "stream_end", **ids}
    assert StreamError(error="坏", **ids).to_dict() == {"type": "error", **ids, "error": "坏"}
    assert MapAction(action={"op": "clear"}, **ids).to_dict() == {
        "type": "map_action",
        **ids,
        "action": {"op": "clear"},
    }
    assert ToolStart(tool="t", arguments={"a": 1}, **ids).to_dict() == {
        "type": "tool_start",
        **ids,
        "tool": "t",
        "arguments": {"a": 1},
        "tool_call_id": None,
    }
    assert ToolStart(tool="t", arguments="x", tool_call_id="call_1", **ids).to_dict() == {
        "type": "tool_start", **ids, "tool": "t", "arguments": "x", "tool_call_id": "call_1"}
    assert ToolEnd(tool="t", result="ok", **ids).to_dict() == {
        "type": "tool_end",
        **ids,
        "tool": "t",
        "result": "ok",
        "tool_call_id": None,
    }
    assert next(iter(StreamError(error="x", **ids).to_dict())) == "type"


async def test_content_block_tokens_stream_as_plain_text():
    """A model with output_version="v1" hands the handler lists of content blocks."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    model = GenericFakeChatModel(messages=iter([AIMessage(content="北京 今天 晴")]),
                                 output_version="v1")
    handler = ChunkStreamHandler()
    events, _ = await drain(handler, model.ainvoke("天气", {"callbacks": [handler]}))
    chunks = [e["chunk"] for e in events if e["type"] == "stream_chunk"]
    assert chunks and all(isinstance(chunk, str) for chunk in chunks)
    assert "".join(chunks) == "北京 今天 晴"


async def test_map_commands_of_tools_loaded_over_mcp_become_map_action_events():
    """langchain-mcp-adapters puts a tool's structured content under "structured_content"."""
    from langchain_core.messages import ToolMessage

    handler = ChunkStreamHandler(events={"map_action"})
    action = {"op": "set_view", "center": {"lng": 116.397, "lat": 39.909, "crs": "gcj02"}}
    output = ToolMessage("ok", tool_call_id="c1", artifact={"structured_content": {
        "map_action": action}})
    run_id = uuid.uuid4()
    await handler.on_tool_end(output, run_id=run_id)
    handler.finish()
    events = [e async for e in handler.dicts()]
    assert [e["type"] for e in events] == ["map_action", "stream_end"]
    assert events[0]["action"] == action


async def test_handed_call_text_leaves_out_the_chunks_the_reader_never_took():
    # A stopped reply keeps in history what its reader was handed, not what still waited.
    import uuid

    from bailian_geo_agent.agent.events import StreamChunk, ToolStart

    handler = ChunkStreamHandler(session_id="s-1")
    run = uuid.uuid4()
    await handler.on_chat_model_start({}, [[]], run_id=run)
    events = aiter(handler)
    assert (await anext(events)).type == "stream_start"
    for token in ("北京", "今天", "晴。"):
        await handler.on_llm_new_token(token, run_id=run)
    taken = await anext(events)
    assert isinstance(taken, StreamChunk) and taken.chunk == "北京"
    handler.queue.put_nowait(ToolStart(handler.message_id, "s-1", "get_weather", {}))
    assert handler.call_text == "北京今天晴。"
    assert handler.handed_call_text() == "北京"
    # other events stay queued, in order; the dropped chunks are gone
    assert isinstance(await anext(events), ToolStart) and handler.queue.empty()


async def test_handed_call_text_is_empty_when_an_earlier_calls_text_still_waits():
    # The reader stopped before it took the first model call's text: none of the second
    # call's was handed either (the queue is in order), not a slice of it.
    import uuid

    handler = ChunkStreamHandler(session_id="s-1")
    first, second = uuid.uuid4(), uuid.uuid4()
    await handler.on_chat_model_start({}, [[]], run_id=first)
    await handler.on_llm_new_token("好。", run_id=first)
    await handler.on_chat_model_start({}, [[]], run_id=second, parent_run_id=first)
    await handler.on_llm_new_token("北京今天晴。", run_id=second)
    assert handler.call_text == "北京今天晴。"
    assert handler.handed_call_text() == ""
