"""Typed results of the lookup tools: the figures a client reads as fields, not from the text.

Each lookup tool names its model (``output_model``) and puts ``model.model_dump(mode="json",
exclude_none=True)`` under its artifact's ``"data"`` key (``with_data``), beside the ``links`` /
``map_actions`` it may carry; the models never repeat those two. One conversion per provider
result type (``point``, ``place_data``, ``poi_data``, ``route_data``, ...), shared by the tools.

Conventions: a value the provider did not give is left out (never null; its schema shows the
type alone); every point carries its system (``crs``), the provider's as in the text; outlines
and route lines are not repeated (the map commands in ``map_actions`` have them). The data is
stored with the tool message in the conversation history, so it stays compact: no raw provider
payloads, no polylines.
"""

from __future__ import annotations

from typing import Any, Literal, overload

from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.providers.areas import AreaKind, IsochroneMode
from bailian_geo_agent.tools.providers.base import (
    CurrentWeather,
    DailyForecast,
    Place,
    Poi,
    Route,
    RouteStep,
    WeatherReport,
)
from bailian_geo_agent.tools.providers.extras import (
    Distance,
    DistanceMode,
    IpLocation,
    PoiDetail,
    TransitPlan,
    TransitRoutes,
    TransitSegment,
)
from bailian_geo_agent.tools.providers.trips import OrderMethod, TripLeg, TripMode
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

DIGITS = 6
"""Decimals of every coordinate (about 0.1 m), as in the map commands."""
MAX_STEPS = 50
"""Most steps of a route kept in its data (``steps_total`` counts them all)."""
MAX_PHOTOS = 3
"""Most photo URLs of a POI's details."""

OptStr = str | SkipJsonSchema[None]
OptFloat = float | SkipJsonSchema[None]
OptInt = int | SkipJsonSchema[None]


def _none() -> None:
    return None


def absent(description: str) -> Any:
    """An optional field: left out of the data when unknown (no ``null``, no default shown)."""
    return Field(default_factory=_none, description=description)


def _text(value: str) -> str | None:
    """An empty string (the providers' "unknown") as None, so that it is left out."""
    return value or None


def with_data(artifact: dict[str, Any] | None, data: BaseModel) -> dict[str, Any]:
    """``artifact`` with ``"data"``: ``data`` in its wire form (JSON types, unknowns left out)."""
    return {**(artifact or {}), "data": data.model_dump(mode="json", exclude_none=True)}


class Data(BaseModel):
    """Base of the output models: built on first use, not at import (a library's cold start
    pays for none of them; a tool pays for its own on its first answer)."""

    model_config = ConfigDict(defer_build=True)


# ------------------------------------------------------------------------------ points


class Point(Data):
    """A point and its coordinate system."""

    lng: float = Field(description="Longitude, degrees.")
    lat: float = Field(description="Latitude, degrees.")
    crs: CRS = Field(description="gcj02 (AMap, China) or wgs84 (GPS/OSM).")


class NamedPoint(Point):
    """A point with the name the answer gives it."""

    label: str = Field(description="The place's name, or the caller's words.")


@overload
def point_data(location: Coordinate) -> Point: ...


@overload
def point_data(location: None) -> None: ...


@overload
def point_data(location: Coordinate | None) -> Point | None: ...


def point_data(location: Coordinate | None) -> Point | None:
    """``location`` rounded to ``DIGITS`` decimals, with its system."""
    if location is None:
        return None
    return Point(lng=round(location.lng, DIGITS), lat=round(location.lat, DIGITS),
                 crs=location.crs)


def named_point(location: Coordinate, label: str) -> NamedPoint:
    """``location`` (rounded) named ``label``."""
    return NamedPoint(lng=round(location.lng, DIGITS), lat=round(location.lat, DIGITS),
                      crs=location.crs, label=label)


# ------------------------------------------------------------------------------ weather


class Conditions(Data):
    """Live conditions."""

    text: OptStr = absent("Sky, e.g. Clear.")
    temperature_c: OptFloat = absent("Air temperature, °C.")
    humidity_pct: OptFloat = absent("Relative humidity, %.")
    wind: OptStr = absent("Wind, as the provider words it.")
    observed_at: OptStr = absent("When observed (provider's local time).")


class ForecastDay(Data):
    """One forecast day."""

    date: str = Field(description="YYYY-MM-DD.")
    week: OptStr = absent("Day of the week.")
    day_text: OptStr = absent("Daytime sky.")
    night_text: OptStr = absent("Night sky.")
    temp_max_c: OptFloat = absent("Highest temperature, °C.")
    temp_min_c: OptFloat = absent("Lowest temperature, °C.")
    precipitation_mm: OptFloat = absent("Precipitation, mm.")
    wind: OptStr = absent("Wind, as the provider words it.")


class WeatherData(Data):
    """``get_weather``: live conditions and forecast days of one place."""

    place: str = Field(description="The place the report is for.")
    location: Point | SkipJsonSchema[None] = absent("Where the report is for.")
    current: Conditions | SkipJsonSchema[None] = absent("Now, if the provider says.")
    daily: list[ForecastDay] = Field(default_factory=list, description="Forecast days.")
    issued_at: OptStr = absent("When the provider issued it.")
    source: str = Field(description="Who answered.")


def conditions(current: CurrentWeather) -> Conditions:
    """Live conditions as data."""
    return Conditions(text=_text(current.text), temperature_c=current.temperature_c,
                      humidity_pct=current.humidity_pct, wind=_text(current.wind),
                      observed_at=_text(current.observed_at))


def forecast_day(day: DailyForecast) -> ForecastDay:
    """One forecast day as data."""
    return ForecastDay(date=day.date, week=_text(day.week), day_text=_text(day.day_text),
                       night_text=_text(day.night_text), temp_max_c=day.temp_max_c,
                       temp_min_c=day.temp_min_c, precipitation_mm=day.precipitation_mm,
                       wind=_text(day.wind))


def weather_data(report: WeatherReport, source: str,
                 location: Coordinate | None = None) -> WeatherData:
    """A weather report as data (``location``: the point asked about, if the report has none)."""
    return WeatherData(
        place=report.place, location=point_data(report.location or location),
        current=conditions(report.current) if report.current is not None else None,
        daily=[forecast_day(day) for day in report.daily], issued_at=_text(report.issued_at),
        source=source)


# ------------------------------------------------------------------------------ places


class PlaceData(Data):
    """A named place."""

    name: str = Field(description="Name.")
    location: Point | SkipJsonSchema[None] = absent("Where it is (none: a keyword suggestion).")
    address: OptStr = absent("Address.")
    province: OptStr = absent("Province or state.")
    city: OptStr = absent("City.")
    district: OptStr = absent("District.")
    adcode: OptStr = absent("China's administrative division code.")
    level: OptStr = absent("What kind of place (the provider's word).")
    country: OptStr = absent("Country.")
    postcode: OptStr = absent("Postcode.")


class PlacesData(Data):
    """``geocode`` / ``suggest_places``: the candidate places of a query, best first."""

    query: str = Field(description="The address or text looked up.")
    places: list[PlaceData] = Field(description="Candidates, best first.")
    source: str = Field(description="Who answered.")


class ReverseGeocodeData(Data):
    """``reverse_geocode``: the address at a point."""

    location: Point = Field(description="The point asked about, in the caller's system.")
    place: PlaceData = Field(description="What is there.")
    source: str = Field(description="Who answered.")


def place_data(place: Place) -> PlaceData:
    """A place as data."""
    return PlaceData(name=place.name, location=point_data(place.location),
                     address=_text(place.address), province=_text(place.province),
                     city=_text(place.city), district=_text(place.district),
                     adcode=_text(place.adcode), level=_text(place.level),
                     country=_text(place.country), postcode=_text(place.postcode))


# ------------------------------------------------------------------------------ POIs


class PoiData(Data):
    """A point of interest."""

    id: OptStr = absent("The provider's id (for poi_detail).")
    name: str = Field(description="Name.")
    category: OptStr = absent("Category.")
    location: Point | SkipJsonSchema[None] = absent("Where it is.")
    address: OptStr = absent("Address.")
    city: OptStr = absent("City.")
    district: OptStr = absent("District.")
    distance_m: OptFloat = absent("Metres from the search centre.")
    phone: OptStr = absent("Phone number(s).")
    rating: OptFloat = absent("Rating (AMap: 0-5).")


class PoiSearchData(Data):
    """``search_poi``: the POIs found, nearest (or best) first."""

    query: str = Field(description="The keywords or category searched.")
    city: OptStr = absent("City searched in (keyword mode).")
    center: NamedPoint | SkipJsonSchema[None] = absent("Centre of a nearby search.")
    radius_m: OptInt = absent("Radius of a nearby search, metres.")
    pois: list[PoiData] = Field(description="The POIs found.")
    source: str = Field(description="Who answered.")


class PoiDetailData(PoiData):
    """``poi_detail``: everything known about one POI."""

    province: OptStr = absent("Province or state.")
    alias: OptStr = absent("Other name.")
    business_area: OptStr = absent("Business area.")
    cost_yuan: OptFloat = absent("Average spend per person, yuan.")
    opening_hours: OptStr = absent("Opening hours, as the provider words them.")
    website: OptStr = absent("Website.")
    email: OptStr = absent("E-mail.")
    photos: list[str] = Field(default_factory=list,
                              description=f"Up to {MAX_PHOTOS} photo URLs.")
    tags: dict[str, str] = Field(default_factory=dict, description="Other facts (OSM tags).")
    source: str = Field(description="Who answered.")


def _poi_fields(poi: Poi) -> dict[str, Any]:
    return {"id": _text(poi.id), "name": poi.name, "category": _text(poi.category),
            "location": point_data(poi.location), "address": _text(poi.address),
            "city": _text(poi.city), "district": _text(poi.district),
            "distance_m": poi.distance_m, "phone": _text(poi.phone), "rating": poi.rating}


def poi_data(poi: Poi) -> PoiData:
    """A POI as data."""
    return PoiData(**_poi_fields(poi))


def poi_detail_data(poi: PoiDetail, source: str) -> PoiDetailData:
    """A POI's details as data."""
    return PoiDetailData(
        **_poi_fields(poi), province=_text(poi.province), alias=_text(poi.alias),
        business_area=_text(poi.business_area), cost_yuan=poi.cost_yuan,
        opening_hours=_text(poi.opening_hours), website=_text(poi.website),
        email=_text(poi.email), photos=poi.photos[:MAX_PHOTOS], tags=dict(poi.tags),
        source=source)


# ------------------------------------------------------------------------------ routes


class StepData(Data):
    """One manoeuvre."""

    instruction: str = Field(description="What to do.")
    road: OptStr = absent("Road name.")
    distance_m: OptFloat = absent("Length, metres.")
    duration_s: OptFloat = absent("Time, seconds.")


class RouteSummary(Data):
    """A route's ends and totals."""

    mode: Literal["driving", "walking", "cycling"] = Field(description="How.")
    distance_m: float = Field(description="Length, metres.")
    duration_s: float = Field(description="Travel time, seconds.")
    origin: NamedPoint = Field(description="Start.")
    destination: NamedPoint = Field(description="End.")


class RouteData(RouteSummary):
    """``plan_route`` / ``cycling_route``: a route, its totals and steps (no line: ask
    ``map_draw_route`` to draw it)."""

    steps: list[StepData] = Field(default_factory=list,
                                  description=f"Manoeuvres in order (at most {MAX_STEPS}).")
    steps_total: int = Field(description="How many manoeuvres the route has.")
    source: str = Field(description="Who answered.")


def step_data(step: RouteStep) -> StepData:
    """A manoeuvre as data."""
    return StepData(instruction=step.instruction, road=_text(step.road),
                    distance_m=step.distance_m, duration_s=step.duration_s)


def route_summary(route: Route, origin: str, destination: str) -> RouteSummary:
    """A route's ends (named) and totals."""
    return RouteSummary(mode=route.mode, distance_m=route.distance_m,
                        duration_s=route.duration_s, origin=named_point(route.origin, origin),
                        destination=named_point(route.destination, destination))


def route_data(route: Route, origin: str, destination: str, source: str) -> RouteData:
    """A route as data: ends, totals, the first ``MAX_STEPS`` steps."""
    summary = route_summary(route, origin, destination)
    return RouteData(**dict(summary), steps=[step_data(s) for s in route.steps[:MAX_STEPS]],
                     steps_total=len(route.steps), source=source)


class SegmentData(Data):
    """One leg of a public-transport plan."""

    kind: Literal["walk", "bus", "subway", "railway", "taxi"] = Field(description="How.")
    name: OptStr = absent("Line or train name.")
    departure: OptStr = absent("Stop or station boarded at.")
    arrival: OptStr = absent("Stop or station left at.")
    stops: OptInt = absent("Stops ridden.")
    distance_m: OptFloat = absent("Length, metres.")
    duration_s: OptFloat = absent("Time, seconds.")


class TransitPlanData(Data):
    """One public-transport option."""

    duration_s: OptFloat = absent("Door-to-door time, seconds.")
    cost_yuan: OptFloat = absent("Fare, yuan.")
    walking_m: OptFloat = absent("Walking, metres.")
    distance_m: OptFloat = absent("Length, metres.")
    night: bool = Field(default=False, description="Night service.")
    segments: list[SegmentData] = Field(default_factory=list, description="Legs in order.")


class TransitData(Data):
    """``transit_route``: public-transport options between two points."""

    origin: NamedPoint = Field(description="Start.")
    destination: NamedPoint = Field(description="End.")
    city: str = Field(description="Origin's city.")
    cityd: str = Field(description="Destination's city.")
    distance_m: OptFloat = absent("Straight distance between the ends, metres.")
    taxi_cost_yuan: OptFloat = absent("Estimated taxi fare, yuan.")
    plans: list[TransitPlanData] = Field(description="Options, the provider's best first.")
    source: str = Field(description="Who answered.")


def segment_data(segment: TransitSegment) -> SegmentData:
    """A transit leg as data."""
    return SegmentData(kind=segment.kind, name=_text(segment.name),
                       departure=_text(segment.departure), arrival=_text(segment.arrival),
                       stops=segment.stops, distance_m=segment.distance_m,
                       duration_s=segment.duration_s)


def transit_plan_data(plan: TransitPlan) -> TransitPlanData:
    """A transit option as data."""
    return TransitPlanData(duration_s=plan.duration_s, cost_yuan=plan.cost_yuan,
                           walking_m=plan.walking_m, distance_m=plan.distance_m,
                           night=plan.night, segments=[segment_data(s) for s in plan.segments])


def transit_data(routes: TransitRoutes, origin: str, destination: str,
                 source: str) -> TransitData:
    """Public-transport options as data."""
    return TransitData(
        origin=named_point(routes.origin, origin),
        destination=named_point(routes.destination, destination), city=routes.city,
        cityd=routes.cityd, distance_m=routes.distance_m, taxi_cost_yuan=routes.taxi_cost_yuan,
        plans=[transit_plan_data(p) for p in routes.plans], source=source)


# ------------------------------------------------------------------------------ distances


class DistanceItem(Data):
    """From one origin to the destination."""

    origin: str = Field(description="The origin, as given or as found.")
    location: Point | SkipJsonSchema[None] = absent("The origin's point (none: not found).")
    distance_m: OptFloat = absent("Metres (none: no result, see note).")
    duration_s: OptFloat = absent("Travel time, seconds (none for straight lines).")
    note: OptStr = absent("Why there is no result.")


class DistanceData(Data):
    """``measure_distance``: from each origin to one destination, in the order given."""

    mode: DistanceMode = Field(description="driving, walking or straight.")
    destination: NamedPoint = Field(description="The destination.")
    results: list[DistanceItem] = Field(description="One per origin, in the order given.")
    source: str = Field(description="Who answered.")


def distance_item(label: str, location: Coordinate | None,
                  found: Distance | None) -> DistanceItem:
    """One origin's distance as data (``found`` None: no result)."""
    if found is None:
        return DistanceItem(origin=label, location=point_data(location))
    return DistanceItem(origin=label, location=point_data(location), distance_m=found.distance_m,
                        duration_s=found.duration_s, note=_text(found.note))


# ------------------------------------------------------------------------------ IP location


class IpLocationData(Data):
    """``ip_location``: the city of an IP address (city level only)."""

    ip: str = Field(description="The address located.")
    province: OptStr = absent("Province.")
    city: OptStr = absent("City.")
    adcode: OptStr = absent("China's administrative division code.")
    center: Point | SkipJsonSchema[None] = absent("Middle of the city's box.")
    southwest: Point | SkipJsonSchema[None] = absent("South-west corner of the city's box.")
    northeast: Point | SkipJsonSchema[None] = absent("North-east corner of the city's box.")
    source: str = Field(description="Who answered.")


def ip_location_data(found: IpLocation, source: str) -> IpLocationData:
    """An IP's location as data."""
    return IpLocationData(ip=found.ip, province=_text(found.province), city=_text(found.city),
                          adcode=_text(found.adcode), center=point_data(found.center),
                          southwest=point_data(found.southwest),
                          northeast=point_data(found.northeast), source=source)


# ------------------------------------------------------------------------------ trips


class TripStop(Data):
    """A place of a trip."""

    index: int = Field(description="0-based position in the request's places.")
    number: int = Field(description="Visiting number, from 1.")
    label: str = Field(description="The place's name.")
    location: Point = Field(description="Where it is.")


class TripLegData(Data):
    """The way from one place to the next (indices into the request's places)."""

    from_index: int = Field(description="From this place.")
    to_index: int = Field(description="To this place.")
    distance_m: OptFloat = absent("Length, metres.")
    duration_s: OptFloat = absent("Travel time, seconds.")


class TripDay(Data):
    """One day of a trip split into days."""

    day: int = Field(description="Day number, from 1.")
    places: list[int] = Field(description="Places visited that day, in order (indices).")
    travel_s: float = Field(description="Travel time, seconds.")
    total_s: float = Field(description="Travel and stays, seconds.")


class TripData(Data):
    """``plan_trip``: the visiting order, legs, totals and days (the lines: ``map_actions``)."""

    mode: TripMode = Field(description="driving, walking or cycling.")
    method: OrderMethod = Field(description="How the order was found.")
    round_trip: bool = Field(description="Back to the start at the end.")
    gap: OptFloat = absent("A heuristic order's most above the best (fraction).")
    order: list[int] = Field(description="Visiting order (indices into the request's places).")
    stops: list[TripStop] = Field(description="The places in visiting order.")
    legs: list[TripLegData] = Field(description="The legs in order.")
    days: list[TripDay] = Field(default_factory=list, description="Only when split into days.")
    distance_m: float = Field(description="Total length, metres.")
    duration_s: float = Field(description="Total travel time, seconds.")
    source: str = Field(description="Who answered.")


def trip_leg_data(leg: TripLeg) -> TripLegData:
    """A trip leg as data (without its line)."""
    return TripLegData(from_index=leg.from_index, to_index=leg.to_index,
                       distance_m=leg.distance_m, duration_s=leg.duration_s)


# ------------------------------------------------------------------------------ along a route


class AlongPoi(PoiData):
    """A POI near the route."""

    off_route_m: float = Field(description="Straight distance from the route, metres.")
    detour_m: float = Field(description="Estimated detour: twice off_route_m, metres.")
    along_m: float = Field(description="Where along the route, metres from the start.")


class AlongRouteData(Data):
    """``search_along_route``: POIs near a route, least detour first (the route line and the
    numbered stops: ``map_actions``)."""

    keywords: str = Field(description="What was searched.")
    within_m: int = Field(description="Most metres off the route.")
    route: RouteSummary = Field(description="The route searched along.")
    pois: list[AlongPoi] = Field(description="Found, least detour first (stop numbers 1..n).")
    source: str = Field(description="Who answered.")


def along_poi(poi: Poi, off_m: float, along_m: float) -> AlongPoi:
    """A POI near a route as data."""
    return AlongPoi(**_poi_fields(poi), off_route_m=round(off_m, 1),
                    detour_m=round(2 * off_m, 1), along_m=round(along_m, 1))


# ------------------------------------------------------------------------------ areas


class AreaCheck(Data):
    """Whether a place is inside the area."""

    place: NamedPoint = Field(description="The place checked.")
    inside: bool = Field(description="Inside the outline.")
    on_boundary: bool = Field(description="Too near the outline to be sure.")
    distance_m: float = Field(description="Metres to the outline.")


class AreaBoundaryData(Data):
    """``area_boundary``: a district's or AOI's facts. The outline itself is not repeated
    here: it is the ``draw_area`` command in ``map_actions`` (simplified for the map)."""

    name: str = Field(description="The area's name.")
    kind: AreaKind = Field(description="district, aoi or region.")
    level: OptStr = absent("Administrative level (province, city, district...).")
    adcode: OptStr = absent("China's administrative division code.")
    center: Point | SkipJsonSchema[None] = absent("The area's centre.")
    area_km2: float = Field(description="Size, km².")
    parts: int = Field(description="Separate pieces of the outline.")
    vertices: int = Field(description="Points of the full outline (before simplifying).")
    same_name: int = Field(description="Areas the name matched (>1: this is one of them).")
    check: AreaCheck | SkipJsonSchema[None] = absent("The point-in-area check, if asked.")
    source: str = Field(description="Who answered.")


class ReachableAreaData(Data):
    """``reachable_area``: what is reachable within a time. The area itself is not repeated
    here: it is the ``draw_area`` command (kind ``isochrone``) in ``map_actions``."""

    center: NamedPoint = Field(description="The start.")
    minutes: int = Field(description="Travel time.")
    mode: IsochroneMode = Field(description="walking, driving or cycling.")
    method: Literal["isochrone", "grid"] = Field(
        description="isochrone: the router's own; grid: travel times of grid points.")
    area_km2: float = Field(description="Size, km².")
    cell_m: OptFloat = absent("Grid resolution, metres (grid only).")
    probed: OptInt = absent("Grid points asked (grid only).")
    reachable: OptInt = absent("Grid points within the time (grid only).")
    source: str = Field(description="Who answered.")


LOOKUP_OUTPUTS: tuple[type[BaseModel], ...] = (
    WeatherData, PlacesData, ReverseGeocodeData, PoiSearchData, PoiDetailData, RouteData,
    TransitData, DistanceData, IpLocationData, TripData, AlongRouteData, AreaBoundaryData,
    ReachableAreaData,
)
"""Every lookup tool's output model (some tools share one)."""
