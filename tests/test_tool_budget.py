"""The tools' schemas, sent with every model call, stay within today's size (issue 22 item 7),
and the map tools are offered only to a reply whose caller consumes map commands.

The size is the sum over the tools of ``len(json.dumps(schema, ensure_ascii=False))``: of
``convert_to_openai_tool`` (what LangChain binds), and of the ``tools`` a request to the fake
DashScope actually carried.
"""

from __future__ import annotations

import json

import pytest
from bailian_geo_agent.agent import Settings, StreamChatService
from bailian_geo_agent.agent.tool_selection import MAP_TOOL_PREFIX, ReplyContext, offered_tools
from bailian_geo_agent.tools import GeoToolkit
from bailian_geo_agent.tools.config import GeoConfig
from langchain_core.utils.function_calling import convert_to_openai_tool

from tests.fakes.dashscope import FakeDashScope, Reply
from tests.fakes.pytest_plugin import FAKE_API_KEY
from tests.helpers import PROVIDERS, assert_well_formed, collect, tool_name

BUDGET = 17_152
"""What the 16 tools of before issue 22 cost: every tool together must stay within it."""
FIRST_16_BUDGET = 11_000
"""Those 16 tools' share now, leaving room for the trip tools."""
FIRST_16 = frozenset({
    "get_weather", "search_poi", "suggest_places", "geocode", "reverse_geocode", "plan_route",
    "measure_distance", "cycling_route", "transit_route", "ip_location", "poi_detail",
    "map_set_view", "map_add_markers", "map_draw_route", "map_fit_bounds", "map_clear",
})


def size(schema: dict) -> int:
    return len(json.dumps(schema, ensure_ascii=False))


def sizes_report(sizes: dict[str, int]) -> str:
    rows = "\n".join(f"  {name:<22}{n:>6}" for name, n in sizes.items())
    return f"per tool (characters):\n{rows}\n  {'total':<22}{sum(sizes.values()):>6}"


@pytest.fixture
def toolkit_sizes() -> dict[str, int]:
    tools = GeoToolkit(config=GeoConfig(provider="amap", amap_api_key="k")).get_tools()
    return {tool.name: size(convert_to_openai_tool(tool)) for tool in tools}


def test_every_tool_together_stays_within_todays_size(toolkit_sizes):
    assert sum(toolkit_sizes.values()) <= BUDGET, sizes_report(toolkit_sizes)


def test_the_first_16_tools_leave_room_for_the_new_ones(toolkit_sizes):
    first = {name: n for name, n in toolkit_sizes.items() if name in FIRST_16}
    assert set(first) == FIRST_16
    assert sum(first.values()) <= FIRST_16_BUDGET, sizes_report(first)


@pytest.fixture(params=PROVIDERS)
def service(request, fake_dashscope: FakeDashScope, fake_amap_env) -> StreamChatService:
    settings = Settings(
        api_key=FAKE_API_KEY,
        base_url=fake_dashscope.compatible_base_url,
        native_base_url=fake_dashscope.native_base_url,
        responses_base_url=fake_dashscope.responses_base_url,
        provider=request.param,
        session_store_url="memory://",
    )
    return StreamChatService(settings)  # default tools: the whole GeoToolkit


async def sent_tools(service: StreamChatService, fake: FakeDashScope, events: list[str]) -> list:
    """The ``tools`` of the one model request a reply asking for ``events`` made."""
    fake.requests.clear()
    fake.script(Reply(text="好的。"))
    assert_well_formed(await collect(service.stream_chat("你好", events=events)))
    assert len(fake.requests) == 1
    return fake.requests[0].tools


def name_of(tool: dict) -> str:
    return tool_name(tool)


async def test_map_tools_only_for_a_reply_that_consumes_map_commands(service, fake_dashscope):
    expected = [t.name for t in GeoToolkit().get_tools()]
    assert any(n.startswith(MAP_TOOL_PREFIX) for n in expected)

    with_map = await sent_tools(service, fake_dashscope, ["map_action"])
    without = await sent_tools(service, fake_dashscope, ["tool_start", "tool_end"])

    assert [name_of(t) for t in with_map] == expected  # all of them, in the toolkit's order
    assert [name_of(t) for t in without] == [n for n in expected
                                             if not n.startswith(MAP_TOOL_PREFIX)]
    # the same bytes for the tools both carry: a fixed prefix, whatever the reply asks for
    as_sent = [json.dumps(t, ensure_ascii=False) for t in with_map]
    assert [json.dumps(t, ensure_ascii=False) for t in without] == as_sent[: len(without)]


async def test_what_a_request_carries_stays_within_todays_size(service, fake_dashscope):
    with_map = await sent_tools(service, fake_dashscope, ["map_action"])
    sizes = {name_of(t): size(t) for t in with_map}
    assert sum(sizes.values()) <= BUDGET, sizes_report(sizes)


def test_the_system_prompt_names_the_trip_tools_and_stays_short():
    from bailian_geo_agent.prompts import geo_assistant_prompt

    prompt = geo_assistant_prompt()  # sent with every model call too
    assert len(prompt) <= 1_800, len(prompt)  # 1,243 before issue 22, 1,757 with the trip rules
    for name in ("plan_trip", "search_along_route", "area_boundary", "reachable_area"):
        assert name in prompt
    assert "Markdown" in prompt and "table" in prompt


def test_without_a_reply_context_every_tool_is_offered():
    tools = [{"type": "function", "function": {"name": n}} for n in ("geocode", "map_clear")]
    assert offered_tools(tools, None) is tools  # a graph invoked directly: no context
    assert offered_tools(tools, ReplyContext.for_events({"map_action"})) is tools
    assert offered_tools(tools, ReplyContext.for_events({"tool_end"})) == tools[:1]
