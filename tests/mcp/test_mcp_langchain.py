"""Our MCP server's tools loaded by ``langchain-mcp-adapters`` into a ``create_agent`` agent on
the fake DashScope, streamed through ``ChunkStreamHandler``."""

from __future__ import annotations

import asyncio
from typing import Any

import jsonschema
from bailian_geo_agent.agent import ChunkStreamHandler
from bailian_geo_agent.agent.providers.openai_compatible import DashScopeChatOpenAI
from bailian_geo_agent.tools.map_commands import map_tool_output_schema
from langchain.agents import create_agent
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.fakes.dashscope import ToolCall, tool_then_answer
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.mcp.conftest import GEO_AGENT, ROOT, server_env


def model_for(fake: Any) -> DashScopeChatOpenAI:
    return DashScopeChatOpenAI(model="qwen-plus", api_key=FAKE_API_KEY,
                               base_url=fake.compatible_base_url, streaming=True, max_retries=0)


async def drain(handler: ChunkStreamHandler, coro: Any) -> tuple[list[dict[str, Any]], Any]:
    task = asyncio.create_task(coro)
    events = [event async for event in handler.dicts()]
    return events, await task


async def test_adapter_tools_in_a_streaming_agent(fake_dashscope, fake_amap: FakeAmap):
    client = MultiServerMCPClient({"geo": {
        "transport": "stdio", "command": GEO_AGENT, "args": ["mcp"], "cwd": str(ROOT),
        "env": server_env(fake_amap),
    }})
    fake_dashscope.responder = tool_then_answer(
        [ToolCall("get_weather", {"place": "北京", "days": 1}),
         ToolCall("map_set_view", {"place": "故宫", "zoom": 15})],
        answer=lambda results: "结果：" + " | ".join(r.splitlines()[0] for r in results),
    )
    async with client.session("geo") as session:
        tools = await load_mcp_tools(session)
        assert len(tools) == 20 and {"get_weather", "poi_detail", "map_clear"} <= {
            t.name for t in tools
        }
        agent = create_agent(model_for(fake_dashscope), tools)
        handler = ChunkStreamHandler(events={"tool_start", "tool_end"})
        events, state = await drain(handler, agent.ainvoke(
            {"messages": [("user", "北京天气怎么样？把地图移到故宫")]}, {"callbacks": [handler]}
        ))

    types = [e["type"] for e in events]
    chunks = types.count("stream_chunk")
    # ToolNode runs both calls of the turn concurrently: both start before either ends.
    assert types == ["stream_start", "tool_start", "tool_start", "tool_end", "tool_end"] + [
        "stream_chunk"] * chunks + ["stream_end"]
    assert chunks >= 2
    answer = "".join(e["chunk"] for e in events if e["type"] == "stream_chunk")
    assert answer == (
        "结果：北京 北京市天气（来源：高德地图） | "
        "地图已定位到北京市东城区故宫博物院（缩放级别15）。"
    )
    assert {e["tool"] for e in events if e["type"] == "tool_start"} == {"get_weather",
                                                                       "map_set_view"}
    # The request the model got lists our tools with the toolkit's own schemas.
    sent = {t["function"]["name"]: t["function"] for t in fake_dashscope.requests[0].tools}
    assert sent["get_weather"]["parameters"]["properties"]["days"]["maximum"] == 7
    # The map tool's structured content reaches the agent as the ToolMessage artifact.
    tool_messages = [m for m in state["messages"] if m.type == "tool"]
    by_name = {m.name: m for m in tool_messages}
    structured = by_name["map_set_view"].artifact["structured_content"]
    jsonschema.Draft202012Validator(map_tool_output_schema()).validate(structured)
    action = structured["map_action"]
    assert action == {"op": "set_view", "zoom": 15, "label": "北京市东城区故宫博物院",
                      "center": {"lng": 116.397026, "lat": 39.918058, "crs": "gcj02"}}
    assert all(FAKE_AMAP_KEY not in str(m.content) for m in tool_messages)
    assert fake_amap.requests_to("/v3/weather/weatherInfo")
