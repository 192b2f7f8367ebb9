"""The map commands: one model per command, their wire form byte for byte (tools/README.md's
``map_action`` contract) and the JSON Schema generated from the union."""

from __future__ import annotations

import json

import jsonschema
import pytest
from bailian_geo_agent.tools.map_commands import (
    AddMarkers,
    Clear,
    MapCommand,
    map_action_json_schema,
    map_ops,
    map_tool_output_schema,
    parse_map_action,
)
from bailian_geo_agent.tools.toolkit import MAP_TOOLS
from langchain_core.messages import ToolMessage
from pydantic import ValidationError

PALACE = '{"lng": 116.397026, "lat": 39.918058, "crs": "gcj02"'
# (tool, arguments, the artifact's map_action exactly as json.dumps writes it)
WIRE = [
    ("map_set_view", {"place": "故宫", "zoom": 16},
     '{"op": "set_view", "center": ' + PALACE + '}, "zoom": 16, '
     '"label": "北京市东城区故宫博物院"}'),
    ("map_add_markers", {"markers": [{"place": "故宫", "description": "明清皇宫"},
                                     {"label": "三里屯", "lng": 116.455, "lat": 39.937}]},
     '{"op": "add_markers", "markers": [' + PALACE + ', "label": "故宫", '
     '"description": "明清皇宫"}, '
     '{"lng": 116.455, "lat": 39.937, "crs": "gcj02", "label": "三里屯"}]}'),
    ("map_draw_route", {"path": [{"lng": 116.4, "lat": 39.9}, {"lng": 116.41, "lat": 39.91}]},
     '{"op": "draw_route", "crs": "gcj02", "path": [[116.4, 39.9], [116.41, 39.91]], "mode": null, '
     '"origin": {"lng": 116.4, "lat": 39.9, "crs": "gcj02", "label": "起点"}, '
     '"destination": {"lng": 116.41, "lat": 39.91, "crs": "gcj02", "label": "终点"}, '
     '"distance_m": null, "duration_s": null}'),
    ("map_fit_bounds", {"points": [{"place": "故宫"}, {"lng": 116.5, "lat": 40.0}], "padding": 20},
     '{"op": "fit_bounds", "bounds": {"southwest": ' + PALACE + '}, '
     '"northeast": {"lng": 116.5, "lat": 40.0, "crs": "gcj02"}}, "padding": 20}'),
    ("map_clear", {"target": "routes"}, '{"op": "clear", "target": "routes"}'),
]


def call(tool, args: dict) -> ToolMessage:
    return tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": args})


@pytest.mark.parametrize(("name", "args", "wire"), WIRE, ids=[w[0] for w in WIRE])
def test_each_tool_sends_its_command_in_the_documented_wire_form(amap_tools, name, args, wire):
    message = call(amap_tools[name], args)
    assert message.status == "success", message.content
    action = message.artifact["map_action"]
    assert json.dumps(action, ensure_ascii=False) == wire  # same keys, same order, same numbers
    assert parse_map_action(action).to_dict() == action
    jsonschema.Draft202012Validator(map_action_json_schema()).validate(action)


def test_a_planned_route_carries_its_mode_length_and_time(amap_tools):
    message = call(amap_tools["map_draw_route"], {"origin": "北京南站", "destination": "故宫"})
    action = message.artifact["map_action"]
    assert list(action) == ["op", "crs", "path", "mode", "origin", "destination", "distance_m",
                            "duration_s"]
    assert action["mode"] == "driving" and isinstance(action["distance_m"], float)
    jsonschema.Draft202012Validator(map_action_json_schema()).validate(action)


def test_every_map_tool_has_its_command_in_the_union():
    assert map_ops() == ("set_view", "add_markers", "draw_route", "fit_bounds", "clear",
                         "add_stops", "draw_area", "layer")
    assert [cls.model_fields["name"].default.removeprefix("map_") for cls in MAP_TOOLS] == list(
        map_ops()[:5])  # the trip and area tools send the others


def test_the_schema_lists_every_command_and_tells_them_apart_by_op():
    schema = map_action_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    branches = [schema["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in schema["oneOf"]]
    assert [b["properties"]["op"]["const"] for b in branches] == list(map_ops())
    assert all(b["required"][0] == "op" and b["additionalProperties"] is False
               for b in branches)
    assert schema["discriminator"]["propertyName"] == "op"


@pytest.mark.parametrize("bad", [
    {"op": "teleport"},  # no such command
    {"target": "all"},  # no op
    {"op": "clear", "target": "everything"},
    {"op": "clear", "target": "all", "extra": 1},  # unknown keys are a contract change
    {"op": "set_view", "center": {"lng": 200, "lat": 0, "crs": "gcj02"}, "zoom": 5, "label": "x"},
    {"op": "set_view", "center": {"lng": 1, "lat": 0, "crs": "bd09"}, "zoom": 5, "label": "x"},
    {"op": "add_markers", "markers": []},
    {"op": "add_markers", "markers": [{"lng": 1, "lat": 2, "crs": "gcj02", "label": "a",
                                       "description": None}]},  # absent, never null
    {"op": "draw_route", "crs": "gcj02", "path": [[1, 2, 3]], "mode": None,
     "origin": {"lng": 1, "lat": 2, "crs": "gcj02", "label": "a"},
     "destination": {"lng": 1, "lat": 2, "crs": "gcj02", "label": "b"},
     "distance_m": None, "duration_s": None},
    {"op": "fit_bounds", "bounds": {"southwest": {"lng": 1, "lat": 2, "crs": "gcj02"}},
     "padding": 40},
])
def test_the_schema_and_the_models_refuse_the_same_malformed_commands(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(map_action_json_schema()).validate(bad)
    with pytest.raises(ValidationError):
        parse_map_action(bad)


def test_a_marker_without_description_has_no_description_key():
    command = AddMarkers(markers=[{"lng": 1.0, "lat": 2.0, "crs": "wgs84", "label": "a"}])
    assert command.to_dict() == {"op": "add_markers", "markers": [
        {"lng": 1.0, "lat": 2.0, "crs": "wgs84", "label": "a"}]}
    assert isinstance(parse_map_action(command.to_dict()), AddMarkers)
    assert Clear().to_dict() == {"op": "clear", "target": "all"}
    assert isinstance(Clear(), MapCommand)


def test_the_mcp_output_schema_wraps_one_command():
    schema = map_tool_output_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["required"] == ["map_action"]
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate({"map_action": {"op": "clear", "target": "markers"}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"map_action": {"op": "clear", "target": "trees"}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"op": "clear", "target": "all"})


def test_map_clear_clears_hides_or_shows_one_named_layer(amap_tools):
    from bailian_geo_agent.prompts.catalogue import use_language

    tool = amap_tools["map_clear"]
    hidden = call(tool, {"layer": "第2天", "action": "hide"})
    assert hidden.artifact["map_action"] == {"op": "layer", "name": "第2天", "action": "hide"}
    assert hidden.content == "已隐藏地图图层“第2天”。"
    with use_language("en"):
        shown = call(tool, {"layer": "day 2", "action": "show"})
        stops = call(tool, {"target": "stops"})
    assert shown.content == "Map layer 'day 2': shown."
    assert stops.artifact["map_action"] == {"op": "clear", "target": "stops"}
    refused = call(tool, {"action": "hide"})  # hide what? the model is told
    assert refused.status == "error" and "layer" in refused.content
    for message in (hidden, shown, stops):
        jsonschema.Draft202012Validator(map_action_json_schema()).validate(
            message.artifact["map_action"])
