"""The map commands the map tools send to a map front end: one Pydantic model per command.

``MapAction`` is their discriminated union (on ``op``): adding a command is adding a model here and
to the union. ``command.to_dict()`` is the wire form (``ToolMessage.artifact["map_action"]``,
the ``map_action`` event's ``action``, MCP structured content); ``parse_map_action`` reads it
back. ``map_action_json_schema()`` is the JSON Schema of that wire form (the page's tests check
what it receives against it) and ``map_tool_output_schema()`` the MCP ``outputSchema`` of the map
tools (``{"map_action": command}``). Every point carries its system ``crs``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, get_args

from bailian_geo_agent.tools.coords import CRS, Coordinate
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    field_validator,
    model_serializer,
)
from pydantic.json_schema import SkipJsonSchema

DIGITS = 6
"""Decimals of every command coordinate (about 0.1 m)."""
MAX_PATH_POINTS = 500
"""Most vertices of a drawn route (longer polylines are thinned by the tool)."""

Lng = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]


def _no_default(schema: dict[str, Any]) -> None:
    """An optional key that is absent rather than null: no ``default: null`` in the schema."""
    schema.pop("default", None)


def _require_op(schema: dict[str, Any]) -> None:
    """``op`` has a default in Python but is always on the wire: required in the schema."""
    schema["required"] = ["op", *(name for name in schema.get("required", []) if name != "op")]


class _Part(BaseModel):
    """A piece of a command: strict about its keys, like the commands themselves."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MapPoint(_Part):
    """A point in its coordinate system."""

    lng: Lng
    lat: Lat
    crs: CRS

    @classmethod
    def of(cls, coordinate: Coordinate, **extra: Any) -> Self:
        """The command point of ``coordinate`` (rounded to ``DIGITS``), with ``extra`` fields."""
        return cls(lng=round(coordinate.lng, DIGITS), lat=round(coordinate.lat, DIGITS),
                   crs=coordinate.crs, **extra)


class LabelledPoint(MapPoint):
    """A point with a label (a view's center has none; route ends do)."""

    label: str


class Marker(LabelledPoint):
    """A marker: its label, and an optional popup text."""

    description: Annotated[str, Field(max_length=300)] | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_no_default
    )

    @field_validator("description", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # as the schema says: leave the key out instead
            raise ValueError("description is a string when present")
        return value

    @model_serializer(mode="wrap")
    def _without_empty_description(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if data.get("description") is None:  # optional: absent rather than null on the wire
            data.pop("description", None)
        return data


class Bounds(_Part):
    """A box given by its south-west and north-east corners."""

    southwest: MapPoint
    northeast: MapPoint


class MapCommand(BaseModel):
    """Base of the map commands; ``op`` names the command."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_require_op)

    def to_dict(self) -> dict[str, Any]:
        """The command's wire form (``op`` first)."""
        return self.model_dump(mode="json")


class SetView(MapCommand):
    """Center the map on a point at a zoom level."""

    op: Literal["set_view"] = "set_view"
    center: MapPoint
    zoom: int = Field(ge=3, le=20)
    label: str


class AddMarkers(MapCommand):
    """Add labelled markers."""

    op: Literal["add_markers"] = "add_markers"
    markers: list[Marker] = Field(min_length=1)


class DrawRoute(MapCommand):
    """Draw a route: its polyline in ``crs``, its ends, and its length and time when planned
    (``null`` for an explicit path)."""

    op: Literal["draw_route"] = "draw_route"
    crs: CRS
    path: list[tuple[Lng, Lat]] = Field(max_length=MAX_PATH_POINTS)
    mode: Literal["driving", "walking"] | None
    origin: LabelledPoint
    destination: LabelledPoint
    distance_m: float | None
    duration_s: float | None


class FitBounds(MapCommand):
    """Zoom and pan so that a box is visible, with ``padding`` screen pixels around it."""

    op: Literal["fit_bounds"] = "fit_bounds"
    bounds: Bounds
    padding: int = Field(ge=0, le=300)


class Clear(MapCommand):
    """Remove markers, routes, or both."""

    op: Literal["clear"] = "clear"
    target: Literal["all", "markers", "routes"] = "all"


MapAction = Annotated[
    SetView | AddMarkers | DrawRoute | FitBounds | Clear,
    Field(discriminator="op"),
]
"""Any map command, told apart by ``op``."""

_ADAPTER: TypeAdapter[Any] = TypeAdapter(MapAction)


class MapToolOutput(BaseModel):
    """What a map tool hands its caller: ``{"map_action": command}``."""

    model_config = ConfigDict(extra="forbid")

    map_action: MapAction


def parse_map_action(data: Any) -> MapCommand:
    """The command of a wire-form dict; raises ``pydantic.ValidationError`` when it is none."""
    command: MapCommand = _ADAPTER.validate_python(data)
    return command


def map_ops() -> tuple[str, ...]:
    """Every command's ``op``, in the union's order."""
    return tuple(_op(cls) for cls in _commands())


def _commands() -> tuple[type[MapCommand], ...]:
    union = get_args(MapAction)[0]  # Annotated[Union[...], Field(...)]
    return tuple(get_args(union))


def _op(cls: type[MapCommand]) -> str:
    default = cls.model_fields["op"].default
    assert isinstance(default, str)
    return default


def map_action_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one command's wire form."""
    schema = _ADAPTER.json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "map_action", **schema}


def map_tool_output_schema() -> dict[str, Any]:
    """The MCP ``outputSchema`` of the map tools: ``{"map_action": command}``."""
    return MapToolOutput.model_json_schema()
