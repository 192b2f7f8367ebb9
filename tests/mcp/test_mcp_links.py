"""MCP results of tools whose artifact carries links or map commands (in process: the server's
``call`` and ``describe`` on real toolkit tools over the fake open providers, and on a tool that
returns both links and several map commands)."""

from __future__ import annotations

from typing import Any, Literal

import jsonschema
import pytest
from bailian_geo_agent.agent.mcp.server import HANDOFF_SCHEMA, call, describe
from bailian_geo_agent.prompts.catalogue import use_language
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.links import links_artifact, route_links
from bailian_geo_agent.tools.map_commands import AddStops, LayerCommand, Stop
from langchain_core.tools import BaseTool

from tests.tools import conftest as tool_fixtures

# pytest takes fixtures from the tests' own conftest only: re-export the open providers' ones.
fake_open_server = tool_fixtures.fake_open_server
fake_open = tool_fixtures.fake_open
http_client = tool_fixtures.http_client
open_provider = tool_fixtures.open_provider
open_tools = tool_fixtures.open_tools


class TripLike(BaseTool):
    """Answers with links and two map commands, as a trip tool does."""

    name: str = "trip_like"
    description: str = "test tool"
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    def _run(self, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        a, b = Coordinate(116.397026, 39.918058), Coordinate(116.396906, 39.925237)
        stops = AddStops(layer="day 1", stops=[
            Stop.of(a, label="故宫", number=1), Stop.of(b, label="景山", number=2)])
        layer = LayerCommand(name="day 1", action="show")
        links = route_links([(a, "故宫"), (b, "景山")], "walking", "amap")
        return "2 stops", links_artifact(links) | {
            "map_actions": [stops.to_dict(), layer.to_dict()]}


async def test_links_and_map_actions_are_structured_and_links_are_text_lines() -> None:
    tool = TripLike()
    listed = describe(tool)
    assert listed.output_schema == HANDOFF_SCHEMA
    assert listed.annotations is not None and listed.annotations.read_only_hint  # not map_*
    with use_language("en"):
        result = await call(tool, {})
    assert not result.is_error
    jsonschema.Draft202012Validator(HANDOFF_SCHEMA).validate(result.structured_content)
    [nav] = result.structured_content["links"]
    assert nav["kind"] == "amap_navigation"
    assert [c["op"] for c in result.structured_content["map_actions"]] == ["add_stops", "layer"]
    [part] = result.content
    answer, lines = part.text.split("\n\n")
    assert answer == "2 stops"
    assert lines.splitlines() == ["Open on a phone:", f"AMap route | 故宫 → 景山: {nav['url']}"]


async def test_open_data_links_over_mcp_are_wgs84(open_tools) -> None:
    result = await call(open_tools["plan_route"], {
        "origin": "2.2945,48.8582", "destination": "2.3376,48.8606", "crs": "wgs84"})
    assert not result.is_error
    [link] = result.structured_content["links"]
    assert link["kind"] == "osm_directions"
    assert "route=48.858200%2C2.294500%3B48.860600%2C2.337600" in link["url"]
    assert link["url"] in result.content[0].text


@pytest.mark.parametrize("name", ["get_weather", "measure_distance"])
def test_lookups_without_links_have_their_typed_output_schema(open_tools, name: str) -> None:
    # every lookup answers with its typed data (tools/outputs.py) plus the hand-off fields
    tool = open_tools[name]
    properties = describe(tool).output_schema["properties"]
    assert (set(tool.output_model.model_fields) | {"links", "map_actions", "sources"}
            == set(properties))



class WithSources(BaseTool):
    """Answers as ``poi_detail`` does: its artifact names the pages the result came from."""

    name: str = "with_sources"
    description: str = "test tool"
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    def _run(self, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        return "Somewhere", {"links": [], "sources": [PAGE]}


PAGE = {"url": "https://www.openstreetmap.org/way/1", "title": "Somewhere · OpenStreetMap"}


async def test_the_pages_a_result_came_from_reach_an_mcp_client() -> None:
    # Over MCP they are structured content (what an agent loading the tools over MCP turns
    # into source events), valid against the listed schema.
    tool = WithSources()
    result = await call(tool, {})
    assert not result.is_error and result.structured_content["sources"] == [PAGE]
    jsonschema.Draft202012Validator(describe(tool).output_schema).validate(
        result.structured_content)
