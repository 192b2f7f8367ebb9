"""Area tools: a district's or AOI's boundary, with an optional point-in-area check
(``area_boundary``), and what is reachable within T minutes (``reachable_area``).

Outlines are simplified (topology preserved, shapely) to ``MAX_AREA_POINTS`` for the map; the
point-in-area check uses the full outline.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools import geometry
from bailian_geo_agent.tools.capabilities import capability
from bailian_geo_agent.tools.common import (
    GeoTool,
    ShortText,
    format_distance,
    mode_name,
    resolve_point,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.errors import InvalidParamsError
from bailian_geo_agent.tools.links import family_of, links_dicts, place_links
from bailian_geo_agent.tools.map_commands import (
    DIGITS,
    MAX_AREA_POINTS,
    AddMarkers,
    DrawArea,
    Marker,
)
from bailian_geo_agent.tools.outputs import (
    AreaBoundaryData,
    AreaCheck,
    ReachableAreaData,
    named_point,
    point_data,
    with_data,
)
from bailian_geo_agent.tools.providers.areas import MAX_MINUTES, AreaBoundary, Isochrone
from pydantic import BaseModel, Field
from shapely.geometry import MultiPolygon

LAYER = "areas"
AREA_COLOR = "#7048e8"
REACH_COLOR = "#2b8a3e"
BOUNDARY_TOLERANCE_M = 30.0
"""Closer than this to the outline, a point's side is uncertain (outlines are approximate)."""


def _multipolygon(polygons: list[geometry.Rings]) -> MultiPolygon:
    return geometry.from_geojson({"type": "MultiPolygon", "coordinates": polygons})


def _draw(area: MultiPolygon, crs: CRS, label: str, kind: Any, color: str) -> tuple[DrawArea, int]:
    """The ``draw_area`` command of ``area`` simplified to the map's budget, and the vertex
    count before simplifying."""
    before = geometry.vertex_count(area)
    small = geometry.simplify(area, MAX_AREA_POINTS)
    command = DrawArea(crs=crs, label=label, kind=kind, polygons=geometry.to_coordinates(small),
                       layer=LAYER, color=color)
    return command, before


def _marker(point: Coordinate, label: str, note: str) -> Marker:
    return Marker(lng=round(point.lng, DIGITS), lat=round(point.lat, DIGITS), crs=point.crs,
                  label=label, description=note)


class AreaInput(BaseModel):
    """Arguments of ``area_boundary``."""

    area: ShortText = Field(description="District or AOI name.")
    check: ShortText | None = Field(
        default=None, description="Place or 'lng,lat' to test if inside.")
    city: ShortText | None = Field(default=None, description="City hint.")
    crs: CRS = Field(default="gcj02", description="System of a 'lng,lat' check.")


class AreaBoundaryTool(GeoTool):
    """District/AOI boundary and point-in-area check (``area_boundary``)."""

    name: str = "area_boundary"
    description: str = (
        "Outline of a district or area (AOI) drawn on the map, with its size; with check "
        "(a place or 'lng,lat') says whether it is inside: 'is X in Y district'."
    )
    args_schema: type[BaseModel] = AreaInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = AreaBoundaryData

    async def _execute(self, args: AreaInput) -> Any:
        find = capability(self.geo, "area_boundary", "areas_capability_boundary")
        boundary: AreaBoundary = await find(args.area, args.city)
        area = _multipolygon(boundary.polygons)
        command, before = _draw(area, boundary.crs, boundary.name, boundary.kind, AREA_COLOR)
        kind = message_text(f"areas_kind_{boundary.kind}")
        size = geometry.area_km2(area)
        lines = [message_text(
            "areas_boundary_head", name=boundary.name, kind=kind, source=boundary.source,
            area=f"{size:.1f}", parts=len(area.geoms))]
        after = geometry.vertex_count(_multipolygon(command.polygons))
        if after < before:
            lines.append(message_text("areas_simplified", before=before, after=after))
        if boundary.same_name > 1:
            lines.append(message_text("areas_same_name", count=boundary.same_name,
                                      adcode=boundary.adcode or "-"))
        actions = [command.to_dict()]
        family = family_of(boundary)
        links = place_links(boundary.center, boundary.name, family) if boundary.center else []
        data = AreaBoundaryData(
            name=boundary.name, kind=boundary.kind, level=boundary.level or None,
            adcode=boundary.adcode or None, center=point_data(boundary.center),
            area_km2=round(size, 3), parts=len(area.geoms), vertices=before,
            same_name=boundary.same_name, source=boundary.source or self.geo.name)
        if args.check is not None:
            point, label = await resolve_point(self.geo, place=args.check, lng=None, lat=None,
                                               crs=args.crs, city=args.city)
            point = point.to(boundary.crs)
            inside, distance = geometry.relation(area, point.lng, point.lat)
            if distance <= BOUNDARY_TOLERANCE_M:
                key = "areas_check_boundary"
            else:
                key = "areas_check_inside" if inside else "areas_check_outside"
            verdict = message_text(key, place=label, area=boundary.name,
                                   distance=format_distance(distance))
            lines.append(verdict)
            actions.append(AddMarkers(markers=[_marker(point, label, verdict)],
                                      layer=LAYER).to_dict())
            data.check = AreaCheck(place=named_point(point, label), inside=inside,
                                   on_boundary=distance <= BOUNDARY_TOLERANCE_M,
                                   distance_m=round(distance, 1))
        artifact = {"map_actions": actions, "links": links_dicts(links)}
        return "\n".join(lines), with_data(artifact, data)


class ReachInput(BaseModel):
    """Arguments of ``reachable_area``."""

    place: ShortText = Field(description="Start: place or 'lng,lat'.")
    minutes: int = Field(description=f"Travel time, 1-{MAX_MINUTES}.")
    mode: Literal["driving", "walking", "cycling"] = "walking"
    city: ShortText | None = Field(default=None, description="City hint.")
    crs: CRS = Field(default="gcj02", description="System of a 'lng,lat' place.")


class ReachableAreaTool(GeoTool):
    """Reachable area, an isochrone (``reachable_area``)."""

    name: str = "reachable_area"
    description: str = (
        "Area reachable from a place within N minutes by walking, driving or cycling "
        "(isochrone), drawn on the map, with its size. E.g. minutes=15, mode='walking'."
    )
    args_schema: type[BaseModel] = ReachInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = ReachableAreaData

    async def _execute(self, args: ReachInput) -> Any:
        if not 1 <= args.minutes <= MAX_MINUTES:
            raise InvalidParamsError(message_text("areas_minutes_range", limit=MAX_MINUTES,
                                                  minutes=args.minutes))
        reach = capability(self.geo, "isochrone", "areas_capability_isochrone")
        center, label = await resolve_point(self.geo, place=args.place, lng=None, lat=None,
                                            crs=args.crs, city=args.city)
        found: Isochrone = await reach(center, args.minutes, args.mode)
        area = _multipolygon(found.polygons)
        mode = (message_text("areas_mode_cycling") if args.mode == "cycling"
                else mode_name(args.mode))
        title = message_text("areas_reach_label", minutes=args.minutes, mode=mode)
        command, _before = _draw(area, found.crs, title, "isochrone", REACH_COLOR)
        size = geometry.area_km2(area)
        lines = [message_text(
            "areas_reach_head", place=label, minutes=args.minutes, mode=mode,
            source=found.source, area=f"{size:.1f}")]
        if found.method == "grid":
            lines.append(message_text(
                "areas_reach_grid", cell=format_distance(found.cell_m), probed=found.probed,
                reachable=found.reachable))
        else:
            lines.append(message_text("areas_reach_router"))
        here = found.center.to(found.crs)
        marker = AddMarkers(markers=[_marker(here, label, title)], layer=LAYER)
        links = place_links(here, label, family_of(found))
        grid = found.method == "grid"
        data = ReachableAreaData(
            center=named_point(here, label), minutes=args.minutes, mode=args.mode,
            method=found.method, area_km2=round(size, 3),
            cell_m=found.cell_m if grid else None, probed=found.probed if grid else None,
            reachable=found.reachable if grid else None,
            source=found.source or self.geo.name)
        artifact = {"map_actions": [command.to_dict(), marker.to_dict()],
                    "links": links_dicts(links)}
        return "\n".join(lines), with_data(artifact, data)
