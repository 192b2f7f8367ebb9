"""Route tools: driving and walking (``plan_route``), cycling and public transport."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar, Literal

from bailian_geo_agent.tools.capabilities import capability
from bailian_geo_agent.tools.common import (
    CRS_DESCRIPTION,
    GeoTool,
    OptionalText,
    ShortText,
    coordinate_label,
    format_distance,
    format_duration,
    mode_name,
    optional,
    resolve_point,
    truncate,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.links import TravelMode, family_from, links_artifact, route_links
from bailian_geo_agent.tools.outputs import (
    RouteData,
    TransitData,
    route_data,
    transit_data,
    with_data,
)
from bailian_geo_agent.tools.providers.base import Route
from bailian_geo_agent.tools.providers.extras import TransitPlan, TransitRoutes, TransitSegment
from pydantic import BaseModel, Field

MAX_STEPS = 8
MAX_PLANS = 3


class RouteInput(BaseModel):
    """Arguments of ``plan_route`` (each end a place name or ``"lng,lat"``)."""

    origin: ShortText
    destination: ShortText
    mode: Literal["driving", "walking"] = "driving"
    city: OptionalText = optional("City hint.")
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)


def format_route(route: Route, origin: str, destination: str, source: str) -> str:
    """Distance, duration and the main steps."""
    lines = [
        f"{origin} → {destination}（{mode_name(route.mode)}，{source}）："
        f"全程{format_distance(route.distance_m)}，约{format_duration(route.duration_s)}"
    ]
    return "\n".join(lines + step_lines(route, destination))


def step_lines(route: Route, destination: str) -> list[str]:
    """The route's main steps, numbered (at most ``MAX_STEPS`` lines)."""
    steps = route.steps
    shown = steps if len(steps) <= MAX_STEPS else steps[: MAX_STEPS - 1]
    lines = []
    for i, step in enumerate(shown, 1):
        extra = f"（{format_distance(step.distance_m)}）" if step.distance_m else ""
        lines.append(f"{i}. {truncate(step.instruction, 80)}{extra}")
    if len(steps) > len(shown):
        lines.append(f"…（另有{len(steps) - len(shown)}步，最后到达{destination}）")
    return lines


async def resolve_ends(
    tool: GeoTool, args: Any, destination_city: str | None = None
) -> tuple[Coordinate, str, Coordinate, str]:
    """Both ends of a trip (``args.origin``, ``args.destination``) as points and labels."""
    a, a_label = await resolve_point(
        tool.geo, place=args.origin, lng=None, lat=None, crs=args.crs, city=args.city
    )
    b, b_label = await resolve_point(
        tool.geo, place=args.destination, lng=None, lat=None, crs=args.crs,
        city=destination_city or args.city,
    )
    return a, a_label, b, b_label


class RoutePlanTool(GeoTool):
    """Route advice (``plan_route``)."""

    name: str = "plan_route"
    description: str = (
        "Driving or walking route between two places (names or 'lng,lat'): distance, time, "
        "main steps. 3+ places: plan_trip. 例：origin='北京南站', destination='故宫'"
    )
    args_schema: type[BaseModel] = RouteInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = RouteData

    async def _execute(self, args: RouteInput) -> Any:
        route, a, b = await compute_route(self, args.origin, args.destination, args)
        source = route.source or self.geo.name
        text = format_route(route, a, b, source)
        return text, with_data(_route_artifact(route, a, b, args.mode, self.geo),
                               route_data(route, a, b, source))


def _route_artifact(
    result: Any, a: str, b: str, mode: TravelMode, geo: object
) -> dict[str, Any]:
    """The links navigating from ``result.origin`` to ``result.destination``."""
    stops = [(result.origin, a), (result.destination, b)]
    return links_artifact(route_links(stops, mode, family_from(result, geo)))


async def compute_route(
    tool: GeoTool, origin: str, destination: str, args: Any
) -> tuple[Route, str, str]:
    """Resolve both ends and ask the provider for a route."""
    a, a_label, b, b_label = await resolve_ends(
        tool, SimpleNamespace(origin=origin, destination=destination, crs=args.crs, city=args.city)
    )
    route = await tool.geo.route(a, b, args.mode)
    return route, a_label, b_label



class CyclingInput(BaseModel):
    """Arguments of ``cycling_route`` (each end a place name or ``"lng,lat"``)."""

    origin: ShortText
    destination: ShortText
    city: OptionalText = optional("City hint.")
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)


def format_cycling(route: Route, origin: str, destination: str, source: str) -> str:
    """Distance, duration, both ends with their system, and the main steps."""
    lines = [
        f"{origin} → {destination}（骑行，{source}）：全程{format_distance(route.distance_m)}，"
        f"约{format_duration(route.duration_s)}",
        f"起点{coordinate_label(route.origin)}，终点{coordinate_label(route.destination)}",
    ]
    return "\n".join(lines + step_lines(route, destination))


class CyclingRouteTool(GeoTool):
    """Bicycle route (``cycling_route``)."""

    name: str = "cycling_route"
    description: str = (
        "Bicycle route between two places (names or 'lng,lat'): distance, time, main steps. "
        "例：origin='西湖', destination='灵隐寺', city='杭州'"
    )
    args_schema: type[BaseModel] = CyclingInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = RouteData

    async def _execute(self, args: CyclingInput) -> Any:
        plan = capability(self.geo, "cycling_route", "geo_capability_cycling_route")
        a, a_label, b, b_label = await resolve_ends(self, args)
        route = await plan(a, b)
        source = route.source or self.geo.name
        text = format_cycling(route, a_label, b_label, source)
        return text, with_data(_route_artifact(route, a_label, b_label, "cycling", self.geo),
                               route_data(route, a_label, b_label, source))


class TransitInput(BaseModel):
    """Arguments of ``transit_route`` (each end a place name or ``"lng,lat"``)."""

    origin: ShortText
    destination: ShortText
    city: ShortText = Field(description="Origin's city.")
    cityd: OptionalText = optional("Destination's city, if another.")
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)


def _segment(leg: TransitSegment) -> str:
    if leg.kind == "walk":
        return f"步行{format_distance(leg.distance_m)}"
    if leg.kind == "taxi":
        return f"打车{format_distance(leg.distance_m)}"
    ends = "→".join(p for p in (leg.departure, leg.arrival) if p)
    bits = [ends] if ends else []
    if leg.stops:
        bits.append(f"{leg.stops}站")
    inner = f"（{'，'.join(bits)}）" if bits else ""
    return f"{truncate(leg.name, 40)}{inner}"


def format_plan(index: int, plan: TransitPlan) -> str:
    """``方案1：约45分钟，票价4元，步行800米：步行300米 → 地铁4号线（…）``."""
    facts = [f"约{format_duration(plan.duration_s)}"] if plan.duration_s is not None else []
    if plan.cost_yuan is not None:
        facts.append(f"票价{plan.cost_yuan:g}元")
    if plan.walking_m:
        facts.append(f"步行{format_distance(plan.walking_m)}")
    if plan.night:
        facts.append("夜班")
    legs = " → ".join(_segment(leg) for leg in plan.segments) or "（无分段信息）"
    return f"方案{index}：{'，'.join(facts)}：{legs}"


def format_transit(routes: TransitRoutes, origin: str, destination: str, source: str) -> str:
    """The first plans, with the ends' coordinates labelled."""
    where = f"{routes.city}市内" if routes.cityd == routes.city else f"{routes.city}→{routes.cityd}"
    lines = [
        f"{origin} → {destination}（公共交通，{where}，{source}，共{len(routes.plans)}个方案）：",
        f"起点{coordinate_label(routes.origin)}，终点{coordinate_label(routes.destination)}",
    ]
    lines += [format_plan(i, p) for i, p in enumerate(routes.plans[:MAX_PLANS], 1)]
    if routes.taxi_cost_yuan is not None:
        lines.append(f"打车约{routes.taxi_cost_yuan:g}元")
    return "\n".join(lines)


class TransitRouteTool(GeoTool):
    """Public-transport route (``transit_route``)."""

    name: str = "transit_route"
    description: str = (
        "Public transport (bus, metro; trains between cities) between two places (names or "
        "'lng,lat'): up to 3 options with time, fare, walking, lines. Needs AMap. "
        "例：origin='北京南站', destination='上海虹桥站', city='北京', cityd='上海'"
    )
    args_schema: type[BaseModel] = TransitInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = TransitData

    async def _execute(self, args: TransitInput) -> Any:
        plan = capability(self.geo, "transit_route", "geo_capability_transit_route")
        a, a_label, b, b_label = await resolve_ends(self, args, args.cityd)
        routes = await plan(a, b, args.city, args.cityd)
        source = routes.source or self.geo.name
        text = format_transit(routes, a_label, b_label, source)
        return text, with_data(_route_artifact(routes, a_label, b_label, "transit", self.geo),
                               transit_data(routes, a_label, b_label, source))
