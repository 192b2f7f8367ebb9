"""Every tool's ``outputSchema`` and ``structuredContent`` (the 2.x SDK's client in process, both
revisions): the typed-result contract of the lookup tools (a tool class's ``output_model``; its
artifact's ``data``), every real tool's result valid against the schema it is listed with, and the
map app's resources."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import jsonschema
import pytest
from bailian_geo_agent.agent.mcp import server as mcp_server
from bailian_geo_agent.agent.mcp.app import MAP_APP_URI, app_resources, read_app_resource
from bailian_geo_agent.agent.mcp.server import build_server
from bailian_geo_agent.prompts.catalogue import text, use_language
from bailian_geo_agent.tools.links import Link
from langchain_core.tools import BaseTool
from mcp import Client
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from tests.fakes.amap import FakeAmap
from tests.fakes.amap_areas import along_around_answer
from tests.mcp.checks import text_of
from tests.mcp.conftest import MODES
from tests.tools import conftest as tool_fixtures

amap = tool_fixtures.amap
amap_tools = tool_fixtures.amap_tools
http_client = tool_fixtures.http_client


class WeatherNow(BaseModel):
    """A lookup's figures as typed fields (what the tools' ``output_model``s look like)."""

    city: str
    temperature_c: float
    humidity_pct: int | None = None


class TypedLookup(BaseTool):
    """Answers text, and its figures as ``data`` of its ``output_model``, with a link."""

    name: str = "typed_lookup"
    description: str = "test tool"
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel] | None] = WeatherNow

    def _run(self, city: str = "北京", **kwargs: Any) -> tuple[str, dict[str, Any]]:
        data = WeatherNow(city=city, temperature_c=26.5).model_dump(mode="json",
                                                                    exclude_none=True)
        link = Link(kind="geo", label=city, url="geo:39.9,116.4").model_dump(mode="json")
        return f"{city} 26.5°C", {"data": data, "links": [link]}


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_typed_lookup_answers_its_model_with_links(mode: str):
    async with Client(build_server([TypedLookup()]), mode=mode if mode == "legacy"
                      else MODES[mode]) as client:
        [tool] = (await client.list_tools()).tools
        schema = tool.output_schema
        jsonschema.Draft202012Validator.check_schema(schema)
        assert set(schema["properties"]) == {"city", "temperature_c", "humidity_pct", "links",
                                             "map_actions", "sources"}
        assert set(schema["required"]) == {"city", "temperature_c"}
        result = await client.call_tool("typed_lookup", {"city": "杭州"})
    assert not result.is_error
    assert result.structured_content == {
        "city": "杭州", "temperature_c": 26.5,
        "links": [{"kind": "geo", "label": "杭州", "url": "geo:39.9,116.4"}]}
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(result.structured_content)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"city": "杭州", "temperature_c": "hot"})
    assert text_of(result).startswith("杭州 26.5°C\n\n")  # the link as a text line too


# Arguments the fake AMap answers for each tool of the toolkit.
CALLS: dict[str, dict[str, Any]] = {
    "get_weather": {"place": "北京", "days": 1},
    "search_poi": {"keywords": "咖啡", "near": "天安门"},
    "suggest_places": {"text": "故宫"},
    "geocode": {"address": "故宫"},
    "reverse_geocode": {"lng": 116.397026, "lat": 39.918058},
    "plan_route": {"origin": "北京南站", "destination": "故宫", "mode": "walking"},
    "plan_trip": {"places": ["故宫", "景山公园"]},
    "measure_distance": {"origins": ["北京南站"], "destination": "故宫"},
    "cycling_route": {"origin": "北京南站", "destination": "故宫"},
    "transit_route": {"origin": "北京南站", "destination": "故宫", "city": "北京"},
    "ip_location": {"ip": "114.247.50.2"},
    "poi_detail": {"id": "B0FFG3MGDB"},
    "search_along_route": {"origin": "北京南站", "destination": "故宫", "keywords": "加油站"},
    "area_boundary": {"area": "东城区"},
    "reachable_area": {"place": "故宫", "minutes": 10},
    "map_set_view": {"place": "故宫", "zoom": 15},
    "map_add_markers": {"markers": [{"label": "三里屯", "lng": 116.455, "lat": 39.937}]},
    "map_draw_route": {"origin": "北京南站", "destination": "故宫"},
    "map_fit_bounds": {"points": [{"place": "故宫"}, {"lng": 116.5, "lat": 40.0}]},
    "map_clear": {"target": "markers"},
}


async def test_every_tool_answers_structured_content_valid_against_its_schema(
        amap_tools, fake_amap: FakeAmap):
    async with Client(build_server(list(amap_tools.values())), mode="legacy") as client:
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        assert set(schemas) == set(CALLS) and all(schemas.values())
        for name, args in CALLS.items():
            if name == "search_along_route":  # gas stations along the way
                fake_amap.set_response("/v3/place/around", along_around_answer)
            result = await client.call_tool(name, args)  # the client validates it too
            assert not result.is_error, (name, text_of(result))
            jsonschema.Draft202012Validator(schemas[name]).validate(result.structured_content)
            if not name.startswith("map_"):
                assert "links" in result.structured_content, name


@pytest.mark.parametrize("mode", list(MODES))
async def test_the_map_app_is_a_resource_linked_from_the_tools(monkeypatch, mode: str):
    """``resources/list`` lists ``app_resources()``, ``resources/read`` answers
    ``read_app_resource``; an unknown URI is an MCP error saying what to do; a tool's ``_meta``
    is ``tool_meta(name)`` (a link given here: the app module decides which tools it links)."""
    link = {"ui": {"resourceUri": MAP_APP_URI}}
    monkeypatch.setattr(mcp_server, "tool_meta",
                        lambda name: link if name == "typed_lookup" else None)
    server = build_server([TypedLookup()])
    async with Client(server, mode=mode if mode == "legacy" else MODES[mode]) as client:
        if mode == "legacy":
            assert client.server_capabilities.resources is not None
        listed = (await client.list_resources()).resources
        assert [r.model_dump(by_alias=True, exclude_none=True) for r in listed] == [
            {k: v for k, v in fields.items() if v is not None} for fields in app_resources()]
        read = await client.read_resource(MAP_APP_URI)
        [contents] = read.contents
        expected = read_app_resource(MAP_APP_URI)
        assert contents.text == expected["text"] and contents.mime_type == expected["mimeType"]
        with pytest.raises(MCPError) as missing:
            await client.read_resource("ui://bailian-geo-agent/nope.html")
        [tool] = (await client.list_tools()).tools
    assert missing.value.code == -32002
    with use_language("zh"):
        assert missing.value.message == text("mcp_unknown_resource",
                                              uri="ui://bailian-geo-agent/nope.html")
    assert tool.meta == link


class Marker(BaseModel):
    """Named as a map command's definition in ``HANDOFF_SCHEMA``, but another shape."""

    note: str


class ClashingDefinition(BaseModel):
    spot: Marker


class ClashingField(BaseModel):
    links: list[str]


@pytest.mark.parametrize(("model", "name"), [(ClashingDefinition, "Marker"),
                                             (ClashingField, "links")])
def test_an_output_model_cannot_hide_the_handoff_schema(model: type[BaseModel], name: str):
    # Merged silently, the model's ``Marker`` would become the map commands' (their ``$ref``s
    # point at it) or the hand-off ``links`` would replace the model's own field.
    with pytest.raises(TypeError, match=name):
        mcp_server.typed_output_schema(model)


async def test_tool_titles_are_in_the_servers_language(amap_tools):
    # Hosts show a tool's title to the user: it comes from the catalogue, in zh and en.
    for lang, weather in (("zh", "天气"), ("en", "Weather")):
        with use_language(lang):
            server = build_server(list(amap_tools.values()))
            async with Client(server, mode="legacy") as client:
                titles = {t.name: t.title for t in (await client.list_tools()).tools}
            expected = {name: text(f"mcp_tool_title_{name}") for name in titles}  # none missing
        assert titles["get_weather"] == weather
        assert titles == expected
