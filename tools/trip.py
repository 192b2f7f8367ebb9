"""Trip planning (``plan_trip``): the best order to visit 2-25 places, each leg, the totals,
optionally split into days, with the map commands and hand-off links to show and take it.

The provider does the ordering (``optimal_trip``, see ``providers.trips``); this module resolves
the places (names, AMap POI ids, ``lng,lat``), splits the days (``trip_order.split_days``) and
writes the answer: a text for the model, and the artifact ``{"map_actions": [add_stops,
draw_route per day, fit_bounds], "links": [...]}`` (a day per ``layer`` and colour).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from bailian_geo_agent.prompts.catalogue import CATALOGUE
from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.common import (
    GeoTool,
    ShortText,
    format_distance,
    format_duration,
    mode_name,
    resolve_point,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.errors import InvalidParamsError, NotFoundError, OutOfCoverageError
from bailian_geo_agent.tools.infra import gather_limited
from bailian_geo_agent.tools.links import Link, family_from, place_links, route_links
from bailian_geo_agent.tools.map_commands import (
    AddStops,
    Bounds,
    DrawRoute,
    FitBounds,
    LabelledPoint,
    MapCommand,
    MapPoint,
    Stop,
    thin,
)
from bailian_geo_agent.tools.outputs import (
    TripData,
    TripDay,
    TripStop,
    point_data,
    trip_leg_data,
    with_data,
)
from bailian_geo_agent.tools.providers.trips import (
    OptimalTrip,
    OutsideCoverageError,
    TripLeg,
    UnreachablePlacesError,
)
from bailian_geo_agent.tools.trip_order import split_days
from pydantic import BaseModel, Field, model_validator

MIN_PLACES, MAX_PLACES = 2, 25
DAY_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6")
"""One colour per day (cycled), told apart on both base maps."""
PARALLEL_LOOKUPS = 3
"""Place look-ups in flight at once (AMap's per-second limits on personal keys are low)."""
_POI_ID = re.compile(r"^B[0-9A-Z]{9}$")


class TripInput(BaseModel):
    """Arguments of ``plan_trip``."""

    places: list[ShortText] = Field(description="2-25 names, AMap POI ids or 'lng,lat'.")
    mode: Literal["driving", "walking", "cycling"] = "driving"
    start: bool = Field(default=False, description="Begin at the first place.")
    end: bool = Field(default=False, description="Finish at the last place.")
    round_trip: bool = Field(default=False, description="Return to the start.")
    day_hours: float | None = Field(default=None, ge=1, le=16,
                                    description="Split into days of N hours.")
    stay_minutes: int = Field(default=0, ge=0, le=600, description="Time at each place.")
    city: ShortText | None = Field(default=None, description="City hint.")
    crs: CRS = Field(default="gcj02", description="System of 'lng,lat'.")

    @model_validator(mode="after")
    def _ends(self) -> TripInput:
        if self.round_trip and self.end:
            raise ValueError(message_text("trip_round_trip_end"))
        return self


def _mode_text(mode: str) -> str:
    return message_text("trip_mode_cycling") if mode == "cycling" else mode_name(mode)


class PlanTripTool(GeoTool):
    """Trip planning (``plan_trip``)."""

    name: str = "plan_trip"
    description: str = (
        "Best order to visit 2-25 places, each leg's distance and time, totals, optionally "
        "split into days; shows it on the map. Use it instead of chaining plan_route for 3+ "
        "places. E.g. " + CATALOGUE["trip_tool_example"]["zh"] + "."
    )
    args_schema: type[BaseModel] = TripInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = TripData
    map_crs: CRS | None = None
    """System of the map commands' points (default: the provider's)."""

    async def _execute(self, args: TripInput) -> Any:
        count = len(args.places)
        if count < MIN_PLACES:
            raise InvalidParamsError(message_text("trip_too_few", count=count))
        if count > MAX_PLACES:
            raise InvalidParamsError(message_text("trip_too_many", count=count,
                                                  limit=MAX_PLACES))
        plan = getattr(self.geo, "optimal_trip", None)
        provider = getattr(self.geo, "name", "") or message_text("geo_map_service")
        if plan is None:
            raise OutOfCoverageError(message_text("trip_not_offered", provider=provider))
        points, labels = await self._resolve(args)
        try:
            trip: OptimalTrip = await plan(points, args.mode, fixed_start=args.start,
                                           fixed_end=args.end, roundtrip=args.round_trip)
        except UnreachablePlacesError as exc:
            raise NotFoundError(message_text("trip_unreachable",
                                             places=_names(labels, exc.indices))) from None
        except OutsideCoverageError as exc:
            raise OutOfCoverageError(message_text(
                "trip_outside_coverage", places=_names(labels, exc.indices),
                provider=exc.provider)) from None
        return self._answer(args, trip, dict(enumerate(points)), labels, provider)

    async def _resolve(self, args: TripInput) -> tuple[list[Coordinate], list[str]]:
        """Every place as a point in the provider's system, and its label; raises
        ``NotFoundError`` naming every place that cannot be found."""
        async def locate(place: str) -> tuple[Coordinate, str] | NotFoundError:
            try:
                return await self._locate(place, args)
            except NotFoundError as exc:  # named with the others below
                return exc

        results = await gather_limited((locate(p) for p in args.places), PARALLEL_LOOKUPS)
        missing = [p for p, r in zip(args.places, results, strict=True)
                   if isinstance(r, NotFoundError)]
        if missing:
            raise NotFoundError(message_text(
                "trip_places_not_found",
                places=message_text("geo_name_separator").join(missing)))
        found = [r for r in results if isinstance(r, tuple)]
        return [point for point, _ in found], [label for _, label in found]

    async def _locate(self, place: str, args: TripInput) -> tuple[Coordinate, str]:
        """A place (an AMap POI id, ``lng,lat`` or a name) in the provider's system, labelled
        by the POI's name or the user's own words."""
        detail = getattr(self.geo, "poi_detail", None)
        if _POI_ID.match(place) and detail is not None:
            poi = await detail(place)
            if poi.location is None:
                raise NotFoundError(message_text("geo_place_not_located", place=place))
            return poi.location.to(self.geo.crs), poi.name or place
        point, _ = await resolve_point(self.geo, place=place, lng=None, lat=None, crs=args.crs,
                                       city=args.city)
        return point, place

    # ------------------------------------------------------------------ the answer

    def _answer(self, args: TripInput, trip: OptimalTrip, points: dict[int, Coordinate],
                labels: list[str], provider: str) -> tuple[str, dict[str, Any]]:
        legs = trip.route.legs
        stay = args.stay_minutes * 60.0
        days = (split_days([leg.duration_s or 0.0 for leg in legs], stay, args.day_hours * 3600,
                           stay_at_end=not args.round_trip)  # back at the start: no visit
                if args.day_hours else [list(range(len(legs)))])
        number = {place: k for k, place in enumerate(trip.order, 1)}
        source = trip.route.source or provider
        lines = [message_text(
            "trip_header", mode=_mode_text(args.mode), source=source, count=len(trip.order),
            distance=format_distance(trip.route.distance_m),
            duration=format_duration(trip.route.duration_s),
            method=_method_text(trip))]
        if args.round_trip:
            lines.append(message_text("trip_round", place=labels[trip.order[0]]))
        commands: list[MapCommand] = []
        links: list[Link] = []
        family = family_from(trip.route, self.geo)  # whose data: under a fallback, either
        split = len(days) > 1
        day_data: list[TripDay] = []
        seen: set[int] = set()
        for day_number, day in enumerate(days, 1):
            day_legs = [legs[k] for k in day]
            visits = [day_legs[0].from_index] + [leg.to_index for leg in day_legs]
            new = list(dict.fromkeys(i for i in visits if i not in seen))
            if split:
                travel = sum(leg.duration_s or 0.0 for leg in day_legs)
                lines.append(message_text(
                    "trip_day", day=day_number, first=labels[visits[0]],
                    last=labels[visits[-1]], travel=format_duration(travel),
                    total=format_duration(travel + stay * len(new))))
                day_data.append(TripDay(day=day_number, places=visits, travel_s=travel,
                                        total_s=travel + stay * len(new)))
            lines += self._stop_lines(visits, day_legs, labels, number, seen)
            layer = message_text("trip_layer", day=day_number) if split else None
            color = DAY_COLORS[(day_number - 1) % len(DAY_COLORS)] if split else None
            if split and new:
                commands.append(self._stops(new, labels, number, points, layer, color))
            seen.update(visits)
            commands.append(self._route(args, day_legs, points, labels, layer, color))
            stops = [(points[i], labels[i]) for i in visits if i in points]
            if split and len(stops) >= 2:
                links += route_links(stops, args.mode, family)
        if not split:
            commands.insert(0, self._stops(trip.order, labels, number, points, None, None))
        visit = trip.order + ([trip.order[0]] if args.round_trip else [])
        whole = [(points[i], labels[i]) for i in visit if i in points]
        if len(whole) >= 2:
            links = route_links(whole, args.mode, family) + links
        for i in trip.order:
            if i in points:
                links += place_links(points[i], labels[i], family)
        every = [p for leg in legs for p in leg.path] + list(points.values())
        commands.append(self._fit(every))
        artifact = {"map_actions": [c.to_dict() for c in commands],
                    "links": [link.to_dict() for link in links]}
        data = TripData(
            mode=args.mode, method=trip.method, round_trip=args.round_trip, gap=trip.gap,
            order=trip.order, legs=[trip_leg_data(leg) for leg in legs], days=day_data,
            stops=[TripStop(index=i, number=number[i], label=labels[i],
                            location=point_data(points[i])) for i in trip.order if i in points],
            distance_m=trip.route.distance_m, duration_s=trip.route.duration_s, source=source)
        return "\n".join(lines), with_data(artifact, data)

    @staticmethod
    def _stop_lines(visits: list[int], legs: list[TripLeg], labels: list[str],
                    number: dict[int, int], seen: set[int]) -> list[str]:
        lines = []
        first = visits[0]
        if first not in seen:
            lines.append(message_text("trip_stop", number=number[first], place=labels[first]))
        for leg in legs:
            lines.append(message_text("trip_leg", distance=format_distance(leg.distance_m),
                                      duration=format_duration(leg.duration_s)))
            where = leg.to_index
            if where in seen or where == first:
                lines.append(message_text("trip_back", place=labels[where]))
            else:
                lines.append(message_text("trip_stop", number=number[where],
                                          place=labels[where]))
        return lines

    def _crs(self) -> CRS:
        return self.map_crs or self.geo.crs

    def _stops(self, order: list[int], labels: list[str], number: dict[int, int],
               points: dict[int, Coordinate], layer: str | None,
               color: str | None) -> AddStops:
        stops = [Stop.of(points[i].to(self._crs()), label=labels[i], number=number[i])
                 for i in order if i in points]
        return AddStops(stops=stops, **_layered(layer, color))

    def _route(self, args: TripInput, legs: list[TripLeg], points: dict[int, Coordinate],
               labels: list[str], layer: str | None, color: str | None) -> DrawRoute:
        crs = self._crs()
        path = [p.to(crs) for leg in legs for p in leg.path]
        path = thin([p for k, p in enumerate(path) if k == 0 or p != path[k - 1]])
        if len(path) < 2:
            path = [points[legs[0].from_index].to(crs), points[legs[-1].to_index].to(crs)]
        first, last = legs[0], legs[-1]
        origin = points[first.from_index]
        destination = points[last.to_index]
        meters = [leg.distance_m for leg in legs]
        seconds = [leg.duration_s for leg in legs]
        return DrawRoute(
            crs=crs, path=[(round(p.lng, 6), round(p.lat, 6)) for p in path], mode=args.mode,
            origin=LabelledPoint.of(origin.to(crs), label=labels[first.from_index]),
            destination=LabelledPoint.of(destination.to(crs), label=labels[last.to_index]),
            distance_m=None if None in meters else sum(m or 0.0 for m in meters),
            duration_s=None if None in seconds else sum(s or 0.0 for s in seconds),
            **_layered(layer, color),
        )

    def _fit(self, points: list[Coordinate]) -> FitBounds:
        crs = self._crs()
        converted = [p.to(crs) for p in points]
        lngs = [p.lng for p in converted]
        lats = [p.lat for p in converted]
        return FitBounds(bounds=Bounds(
            southwest=MapPoint.of(Coordinate(min(lngs), min(lats), crs)),
            northeast=MapPoint.of(Coordinate(max(lngs), max(lats), crs))), padding=40)


def _layered(layer: str | None, color: str | None) -> dict[str, str]:
    """``layer``/``color`` keyword arguments, absent (not null) when not set."""
    return {k: v for k, v in (("layer", layer), ("color", color)) if v is not None}


def _method_text(trip: OptimalTrip) -> str:
    if trip.method == "heuristic" and trip.gap is not None:
        return message_text("trip_method_heuristic_bound", gap=f"{trip.gap * 100:.1f}")
    return message_text(f"trip_method_{trip.method}")


def _names(labels: list[str], indices: list[int]) -> str:
    return message_text("geo_name_separator").join(
        labels[i] for i in indices if 0 <= i < len(labels))
