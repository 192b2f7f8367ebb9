"""The map commands the map tools send to a map front end: one Pydantic model per command.

``MapAction`` is their discriminated union (on ``op``): adding a command is adding a model here and
to the union. ``command.to_dict()`` is the wire form (``ToolMessage.artifact["map_action"]``,
the ``map_action`` event's ``action``, MCP structured content); ``parse_map_action`` reads it
back. ``map_action_json_schema()`` is the JSON Schema of that wire form (the page's tests check
what it receives against it) and ``map_tool_output_schema()`` the MCP ``outputSchema`` of the map
tools (``{"map_action": command}``). Every point carries its system ``crs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, get_args

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
MAX_AREA_POINTS = 2000
"""Most vertices of a drawn area, all rings together (longer outlines are simplified)."""
MAX_STOPS = 25
"""Most numbered stops of one command (a trip's places)."""
T = TypeVar("T")


def thin(points: Sequence[T], limit: int = MAX_PATH_POINTS) -> list[T]:
    """At most ``limit`` of ``points``, evenly kept, the first and last always."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


Lng = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Color = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
"""A CSS colour ``#rrggbb``."""
LayerName = Annotated[str, Field(min_length=1, max_length=40)]
"""A named group of drawn things (``"day 1"``) the map shows, hides or clears together."""


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


class _OptionalKeys(BaseModel):
    """A model whose ``_OPTIONAL`` keys are absent rather than null on the wire (and in the
    schema): a key the sender has no value for is left out."""

    _OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_empty_optionals(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for key in self._OPTIONAL:
            if data.get(key) is None:
                data.pop(key, None)
        return data


def _not_null(value: Any) -> Any:
    if value is None:  # as the schema says: leave the key out instead
        raise ValueError("leave the key out instead of null")
    return value


class Marker(LabelledPoint, _OptionalKeys):
    """A marker: its label, and an optional popup text."""

    _OPTIONAL: ClassVar[tuple[str, ...]] = ("description",)
    description: Annotated[str, Field(max_length=300)] | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_no_default
    )

    _check_description = field_validator("description", mode="before")(_not_null)


class Stop(Marker):
    """A numbered stop of a trip (1 is visited first)."""

    number: int = Field(ge=1, le=99)


class Bounds(_Part):
    """A box given by its south-west and north-east corners."""

    southwest: MapPoint
    northeast: MapPoint


class MapCommand(_OptionalKeys):
    """Base of the map commands; ``op`` names the command."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_require_op)

    def to_dict(self) -> dict[str, Any]:
        """The command's wire form (``op`` first)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        if next(iter(data)) != "op":  # a drawing command's inherited layer/color come first
            data = {"op": data.pop("op"), **data}
        return data


class _Layered(MapCommand):
    """A command that draws: optionally into a named ``layer``, in a ``color``."""

    _OPTIONAL: ClassVar[tuple[str, ...]] = ("layer", "color")
    layer: LayerName | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    """The named layer it belongs to (shown, hidden and cleared by ``layer`` commands); absent:
    the map's default layer."""
    color: Color | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    """Its colour; absent: the map's own."""

    _check_layered = field_validator("layer", "color", mode="before")(_not_null)


class SetView(MapCommand):
    """Center the map on a point at a zoom level."""

    op: Literal["set_view"] = "set_view"
    center: MapPoint
    zoom: int = Field(ge=3, le=20)
    label: str


class AddMarkers(_Layered):
    """Add labelled markers."""

    op: Literal["add_markers"] = "add_markers"
    markers: list[Marker] = Field(min_length=1)


class DrawRoute(_Layered):
    """Draw a route: its polyline in ``crs``, its ends, and its length and time when planned
    (``null`` for an explicit path)."""

    op: Literal["draw_route"] = "draw_route"
    crs: CRS
    path: list[tuple[Lng, Lat]] = Field(max_length=MAX_PATH_POINTS)
    mode: Literal["driving", "walking", "cycling"] | None
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
    """Remove markers, routes, stops, areas, or all of them (every layer)."""

    op: Literal["clear"] = "clear"
    target: Literal["all", "markers", "routes", "stops", "areas"] = "all"


class AddStops(_Layered):
    """Add a trip's numbered stops (drawn as numbered markers, in ``number`` order)."""

    op: Literal["add_stops"] = "add_stops"
    stops: list[Stop] = Field(min_length=1, max_length=MAX_STOPS)


Ring = Annotated[list[tuple[Lng, Lat]], Field(min_length=4)]
"""A closed ring of ``[lng, lat]`` vertices (the last equal to the first)."""


class DrawArea(_Layered):
    """Draw an area: a district or AOI boundary, a reachable area (isochrone) or any region.

    ``polygons`` is a GeoJSON MultiPolygon's coordinates in ``crs``: each polygon is a list of
    rings, the outer ring first, holes after."""

    op: Literal["draw_area"] = "draw_area"
    crs: CRS
    label: str
    kind: Literal["district", "aoi", "isochrone", "region"]
    polygons: list[Annotated[list[Ring], Field(min_length=1)]] = Field(min_length=1)

    @field_validator("polygons")
    @classmethod
    def _bounded(cls, polygons: list[list[list[tuple[float, float]]]]) -> Any:
        total = sum(len(ring) for polygon in polygons for ring in polygon)
        if total > MAX_AREA_POINTS:
            raise ValueError(f"at most {MAX_AREA_POINTS} vertices in all, got {total}")
        for polygon in polygons:
            for ring in polygon:
                if ring[0] != ring[-1]:
                    raise ValueError("each ring is closed: its last vertex equals its first")
        return polygons


class LayerCommand(MapCommand):
    """Show, hide or clear (remove) everything drawn into the named layer."""

    op: Literal["layer"] = "layer"
    name: LayerName
    action: Literal["show", "hide", "clear"]


MapAction = Annotated[
    SetView | AddMarkers | DrawRoute | FitBounds | Clear | AddStops | DrawArea | LayerCommand,
    Field(discriminator="op"),
]
"""Any map command, told apart by ``op``."""

_ADAPTER: TypeAdapter[Any] = TypeAdapter(MapAction)


class MapToolOutput(BaseModel):
    """What a map tool hands its caller: ``{"map_action": command}``."""

    model_config = ConfigDict(extra="forbid")

    map_action: MapAction


def artifact_commands(artifact: Any) -> list[dict[str, Any]]:
    """The wire-form commands of a tool's artifact: ``{"map_action": command}`` (one) or
    ``{"map_actions": [command, ...]}`` (several, in order); none for anything else."""
    if not isinstance(artifact, dict):
        return []
    one = artifact.get("map_action")
    if isinstance(one, dict):
        return [one]
    many = artifact.get("map_actions")
    if isinstance(many, list):
        return [command for command in many if isinstance(command, dict)]
    return []


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
