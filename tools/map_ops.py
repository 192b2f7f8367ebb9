"""Map operation tools: structured commands for the map front end.

Each tool uses ``response_format="content_and_artifact"`` and returns
``(short_confirmation, {"map_action": command})``: the model reads the confirmation, the caller
gets ``ToolMessage.artifact["map_action"]`` and forwards it to the front end. The commands are
the models of ``tools.map_commands`` (``set_view``, ``add_markers``, ``draw_route``,
``fit_bounds``, ``clear``), handed on in their wire form (``to_dict()``). Every coordinate
carries its system (``crs``: ``gcj02`` or ``wgs84``, the tool's ``map_crs``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.common import (
    CRS_DESCRIPTION,
    GeoTool,
    Latitude,
    Longitude,
    OptionalLat,
    OptionalLng,
    OptionalText,
    check_place_or_lnglat,
    format_distance,
    format_duration,
    mode_name,
    optional,
    resolve_point,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.errors import NotFoundError, OutOfCoverageError
from bailian_geo_agent.tools.map_commands import (
    DIGITS,
    AddMarkers,
    Bounds,
    Clear,
    DrawRoute,
    FitBounds,
    LabelledPoint,
    LayerCommand,
    MapCommand,
    MapPoint,
    Marker,
    SetView,
    thin,
)
from bailian_geo_agent.tools.providers.base import RouteMode
from bailian_geo_agent.tools.routes import compute_route
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema


def _no_description(schema: dict[str, Any]) -> None:
    schema.pop("description", None)  # the docstring: the field that holds it says enough


class PointSpec(BaseModel):
    """A point given by a place name or by lng+lat."""

    model_config = ConfigDict(json_schema_extra=_no_description)

    place: OptionalText = optional()
    lng: OptionalLng = optional()
    lat: OptionalLat = optional()
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)

    @model_validator(mode="after")
    def _place_or_point(self) -> PointSpec:
        check_place_or_lnglat(self.place, self.lng, self.lat)
        return self


class MapTool(GeoTool):
    """Base of the map tools: content-and-artifact output in ``map_crs``."""

    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    map_crs: CRS = "gcj02"
    """System of every coordinate in the commands (what the front end's map uses)."""

    def point(self, coordinate: Coordinate) -> MapPoint:
        """A command point in ``map_crs``."""
        return MapPoint.of(coordinate.to(self.map_crs))

    def labelled(self, coordinate: Coordinate, label: str) -> LabelledPoint:
        """A labelled command point in ``map_crs``."""
        return LabelledPoint.of(coordinate.to(self.map_crs), label=label)

    async def locate(self, spec: PointSpec, city: str | None = None) -> tuple[Coordinate, str]:
        """Resolve a ``PointSpec`` (geocoding place names)."""
        return await resolve_point(
            self.geo, place=spec.place, lng=spec.lng, lat=spec.lat, crs=spec.crs, city=city
        )


def artifact(command: MapCommand) -> dict[str, Any]:
    """A map tool's artifact: ``{"map_action": command}`` in the wire form."""
    return {"map_action": command.to_dict()}


# --------------------------------------------------------------------------- set_view


class SetViewInput(PointSpec):
    """Arguments of ``map_set_view``."""

    zoom: int = Field(default=14, ge=3, le=20, description="5 country, 11 city, 16 street.")
    city: OptionalText = optional("City hint.")


class MapSetViewTool(MapTool):
    """Center the map (``map_set_view``)."""

    name: str = "map_set_view"
    description: str = (
        "Center the user's map on a place or lng/lat. 例：place='天安门', zoom=16"
    )
    args_schema: type[BaseModel] = SetViewInput

    async def _execute(self, args: SetViewInput) -> Any:
        center, label = await self.locate(args, args.city)
        action = SetView(center=self.point(center), zoom=args.zoom, label=label)
        return f"地图已定位到{label}（缩放级别{args.zoom}）。", artifact(action)


# --------------------------------------------------------------------------- add_markers


class MarkerSpec(PointSpec):
    """One marker."""

    label: OptionalText = optional("Title (default: place).")
    description: str | SkipJsonSchema[None] = optional("Popup text.", max_length=300)


class AddMarkersInput(BaseModel):
    """Arguments of ``map_add_markers``."""

    markers: list[MarkerSpec] = Field(min_length=1, max_length=50)
    city: OptionalText = optional("City hint.")


class MapAddMarkersTool(MapTool):
    """Add markers (``map_add_markers``)."""

    name: str = "map_add_markers"
    description: str = (
        "Add labelled markers (place or lng/lat) to the user's map. "
        "例：markers=[{'place':'故宫'},{'label':'三里屯','lng':116.455,'lat':39.937}]"
    )
    args_schema: type[BaseModel] = AddMarkersInput

    async def _execute(self, args: AddMarkersInput) -> Any:
        markers: list[Marker] = []
        missing: list[str] = []
        for spec in args.markers:
            try:
                point, found = await self.locate(spec, args.city)
            except (NotFoundError, OutOfCoverageError):
                missing.append(spec.label or spec.place or "?")
                continue
            extra = {"description": spec.description} if spec.description else {}
            label = spec.label or spec.place or found
            markers.append(Marker.of(point.to(self.map_crs), label=label, **extra))
        if not markers:
            raise_not_found(missing)
        names = "、".join(m.label for m in markers[:5]) + ("等" if len(markers) > 5 else "")
        text = f"已在地图上添加{len(markers)}个标记：{names}。"
        if missing:
            text += f"未能定位：{'、'.join(missing[:5])}。"
        return text, artifact(AddMarkers(markers=markers))


def raise_not_found(missing: list[str]) -> None:
    """No marker could be placed."""
    places = message_text("geo_name_separator").join(missing[:5])
    raise NotFoundError(message_text("geo_map_places_not_located", places=places))


# --------------------------------------------------------------------------- draw_route


class PathPoint(BaseModel):
    """A vertex of an explicit path."""

    model_config = ConfigDict(json_schema_extra=_no_description)

    lng: Longitude
    lat: Latitude


class DrawRouteInput(BaseModel):
    """Arguments of ``map_draw_route``: origin+destination (planned), or an explicit path."""

    origin: OptionalText = optional()
    destination: OptionalText = optional()
    mode: Literal["driving", "walking"] = "driving"
    city: OptionalText = optional("City hint.")
    path: (
        Annotated[list[PathPoint], Field(min_length=2, max_length=2000)] | SkipJsonSchema[None]
    ) = optional("Explicit polyline instead.")
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)

    @model_validator(mode="after")
    def _check(self) -> DrawRouteInput:
        if self.path is None and (self.origin is None or self.destination is None):
            raise ValueError("give origin and destination, or a path of at least 2 points")
        return self


class MapDrawRouteTool(MapTool):
    """Draw a route (``map_draw_route``)."""

    name: str = "map_draw_route"
    description: str = (
        "Draw a route on the user's map: planned between origin and destination (names or "
        "'lng,lat'), or an explicit path. 例：origin='北京南站', destination='故宫'"
    )
    args_schema: type[BaseModel] = DrawRouteInput

    async def _execute(self, args: DrawRouteInput) -> Any:
        if args.path is not None:
            path = [Coordinate(p.lng, p.lat, args.crs) for p in args.path]
            action = self._action(path, None, None, None, "起点", "终点")
            return f"已在地图上绘制路线（{len(path)}个点）。", artifact(action)
        assert args.origin is not None and args.destination is not None
        route, a, b = await compute_route(self, args.origin, args.destination, args)
        action = self._action(
            route.path, args.mode, route.distance_m, route.duration_s, a, b, route
        )
        text = (
            f"已在地图上绘制{a}到{b}的{mode_name(route.mode)}路线：{format_distance(route.distance_m)}，"
            f"约{format_duration(route.duration_s)}。"
        )
        return text, artifact(action)

    def _action(
        self,
        path: list[Coordinate],
        mode: RouteMode | None,
        distance: float | None,
        duration: float | None,
        a_label: str,
        b_label: str,
        route: Any = None,
    ) -> DrawRoute:
        converted = [p.to(self.map_crs) for p in thin(path)]
        start = route.origin if route is not None else path[0]
        end = route.destination if route is not None else path[-1]
        return DrawRoute(
            crs=self.map_crs,
            path=[(round(p.lng, DIGITS), round(p.lat, DIGITS)) for p in converted],
            mode=mode,
            origin=self.labelled(start, a_label),
            destination=self.labelled(end, b_label),
            distance_m=distance,
            duration_s=duration,
        )


# --------------------------------------------------------------------------- fit_bounds


class FitBoundsInput(BaseModel):
    """Arguments of ``map_fit_bounds``."""

    points: list[PointSpec] = Field(min_length=1, max_length=100)
    padding: int = Field(default=40, ge=0, le=300, description="Pixels.")
    city: OptionalText = optional("City hint.")


class MapFitBoundsTool(MapTool):
    """Zoom to show points (``map_fit_bounds``)."""

    name: str = "map_fit_bounds"
    description: str = (
        "Zoom the user's map to show all the points (place or lng/lat). "
        "例：points=[{'place':'故宫'},{'place':'颐和园'}]"
    )
    args_schema: type[BaseModel] = FitBoundsInput

    async def _execute(self, args: FitBoundsInput) -> Any:
        located = [(await self.locate(spec, args.city))[0].to(self.map_crs) for spec in args.points]
        west, east = min(p.lng for p in located), max(p.lng for p in located)
        south, north = min(p.lat for p in located), max(p.lat for p in located)
        if east - west < 0.002 and north - south < 0.002:  # one point: a ~500 m box
            west, east, south, north = west - 0.003, east + 0.003, south - 0.003, north + 0.003
        crs = self.map_crs
        bounds = Bounds(southwest=MapPoint.of(Coordinate(west, south, crs)),
                        northeast=MapPoint.of(Coordinate(east, north, crs)))
        action = FitBounds(bounds=bounds, padding=args.padding)
        return f"地图已缩放到包含{len(located)}个地点的范围。", artifact(action)


# --------------------------------------------------------------------------- clear


class ClearInput(BaseModel):
    """Arguments of ``map_clear``."""

    target: Literal["all", "markers", "routes", "stops", "areas"] = "all"
    layer: OptionalText = optional("Only this named layer, e.g. a trip's 'day 2'.")
    action: Literal["clear", "hide", "show"] = "clear"

    @model_validator(mode="after")
    def _layer_for_hide_show(self) -> ClearInput:
        if self.action != "clear" and self.layer is None:
            raise ValueError("hide and show need the layer's name")
        return self


class MapClearTool(MapTool):
    """Clear the map (``map_clear``)."""

    name: str = "map_clear"
    description: str = (
        "Remove markers, routes, stops or areas from the user's map, or clear, hide or show "
        "one named layer. 例：清空地图 -> target='all'"
    )
    args_schema: type[BaseModel] = ClearInput

    async def _execute(self, args: ClearInput) -> Any:
        if args.layer is not None:
            done = message_text("map_layer_done", layer=args.layer,
                                action=message_text(f"map_layer_{args.action}"))
            return done, artifact(LayerCommand(name=args.layer, action=args.action))
        what = message_text(f"map_cleared_{args.target}")
        return message_text("map_cleared", what=what), artifact(Clear(target=args.target))
