"""Search along a route (``search_along_route``): POIs within N metres of a planned route,
ranked by detour.

The detour is an estimate: twice the straight-line distance from the route to the POI (leave
the route, go there, come back), not a routed extra distance; the result says so.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar, Literal

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools import geometry
from bailian_geo_agent.tools.capabilities import capability
from bailian_geo_agent.tools.common import (
    GeoTool,
    ShortText,
    format_distance,
    format_duration,
    mode_name,
    source_name,
    truncate,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.errors import NotFoundError
from bailian_geo_agent.tools.links import family_from, links_dicts, place_links, route_links
from bailian_geo_agent.tools.map_commands import (
    DIGITS,
    MAX_STOPS,
    AddStops,
    DrawRoute,
    LabelledPoint,
    Stop,
    thin,
)
from bailian_geo_agent.tools.outputs import AlongRouteData, along_poi, route_summary, with_data
from bailian_geo_agent.tools.providers.base import Poi
from bailian_geo_agent.tools.routes import compute_route
from pydantic import BaseModel, Field

LAYER = "along_route"
ROUTE_COLOR = "#1e6fd9"
STOP_COLOR = "#e8590c"


class AlongRouteInput(BaseModel):
    """Arguments of ``search_along_route``."""

    origin: ShortText = Field(description="Start: place or 'lng,lat'.")
    destination: ShortText = Field(description="End: place or 'lng,lat'.")
    keywords: ShortText = Field(description="Keyword or category, e.g. 'fuel'.")
    mode: Literal["driving", "walking"] = "driving"
    within_m: int = Field(default=500, ge=50, le=3000, description="Max metres off the route.")
    limit: int = Field(default=8, ge=1, le=20)
    crs: CRS = "gcj02"


def rank(pois: list[Poi], path: list[Coordinate], crs: CRS,
         within_m: int) -> list[tuple[Poi, float, float]]:
    """``(poi, metres off the route, metres along it)`` of the POIs within ``within_m``, by
    detour, then by position along the route."""
    line = geometry.RouteLine([(p.to(crs).lng, p.to(crs).lat) for p in path])
    ranked = []
    for poi in pois:
        if poi.location is None:
            continue
        point = poi.location.to(crs)
        off, at = line.offset(point.lng, point.lat)
        if off <= within_m:
            ranked.append((poi, off, at))
    ranked.sort(key=lambda item: (round(item[1]), item[2]))
    return ranked


class AlongRouteTool(GeoTool):
    """POIs along a route (``search_along_route``)."""

    name: str = "search_along_route"
    description: str = (
        "Find places within within_m metres of the route origin -> destination, ranked by "
        "detour; draws the route and numbered stops. Use it, not search_poi, for 'a gas station "
        "on the way'. E.g. keywords='gas station'."
    )
    args_schema: type[BaseModel] = AlongRouteInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = AlongRouteData

    async def _execute(self, args: AlongRouteInput) -> Any:
        along = capability(self.geo, "pois_along", "areas_capability_along")
        hints = SimpleNamespace(crs=args.crs, city=None, mode=args.mode)
        route, a_label, b_label = await compute_route(self, args.origin, args.destination, hints)
        crs: CRS = self.geo.crs
        path = route.path or [route.origin, route.destination]
        pois = await along(path, args.keywords, None, args.within_m, args.limit)
        what = args.keywords
        ranked = rank(pois, path, crs, args.within_m)[: min(args.limit, MAX_STOPS)]
        if not ranked:
            raise NotFoundError(message_text(
                "along_nothing", what=what, within=format_distance(args.within_m),
                origin=a_label, destination=b_label))
        source = source_name([p for p, _, _ in ranked], self.geo)
        lines = [message_text(
            "along_head", what=what, origin=a_label, destination=b_label,
            mode=mode_name(route.mode), distance=format_distance(route.distance_m),
            duration=format_duration(route.duration_s), within=format_distance(args.within_m),
            count=len(ranked), source=source)]
        for index, (poi, off, at) in enumerate(ranked, 1):
            lines.append(message_text(
                "along_item", index=index, name=poi.name, detour=format_distance(2 * off),
                off=format_distance(off), at=format_distance(at),
                address=truncate(poi.address or poi.district, 40), id=poi.id or "-"))
        lines.append(message_text("along_detour_note"))
        data = AlongRouteData(
            keywords=what, within_m=args.within_m,
            route=route_summary(route, a_label, b_label),
            pois=[along_poi(poi, off, at) for poi, off, at in ranked], source=source)
        artifact = self._artifact(route, path, a_label, b_label, ranked, args)
        return "\n".join(lines), with_data(artifact, data)

    def _artifact(self, route: Any, path: list[Coordinate], a_label: str, b_label: str,
                  ranked: list[tuple[Poi, float, float]], args: AlongRouteInput) -> dict[str, Any]:
        crs: CRS = self.geo.crs
        points = [p.to(crs) for p in thin(path)]
        draw = DrawRoute(
            crs=crs, path=[(round(p.lng, DIGITS), round(p.lat, DIGITS)) for p in points],
            mode=route.mode, origin=_labelled(route.origin, a_label, crs),
            destination=_labelled(route.destination, b_label, crs),
            distance_m=route.distance_m, duration_s=route.duration_s, layer=LAYER,
            color=ROUTE_COLOR,
        )
        stops = []
        for index, (poi, off, _at) in enumerate(ranked, 1):
            assert poi.location is not None
            spot = poi.location.to(crs)
            stops.append(Stop(
                lng=round(spot.lng, DIGITS), lat=round(spot.lat, DIGITS), crs=crs,
                label=truncate(poi.name, 40), number=index,
                description=message_text("along_stop_note", detour=format_distance(2 * off)),
            ))
        family = family_from(route, self.geo)  # the route's own data (either, under a fallback)
        top = ranked[0][0]
        assert top.location is not None
        links = [*route_links([(route.origin, a_label), (route.destination, b_label)],
                              args.mode, family),
                 *place_links(top.location, top.name, family)]
        return {"map_actions": [draw.to_dict(), AddStops(stops=stops, layer=LAYER,
                                                         color=STOP_COLOR).to_dict()],
                "links": links_dicts(links)}


def _labelled(point: Coordinate, label: str, crs: CRS) -> LabelledPoint:
    p = point.to(crs)
    return LabelledPoint(lng=round(p.lng, DIGITS), lat=round(p.lat, DIGITS), crs=crs,
                         label=label)
