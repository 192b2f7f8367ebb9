"""Place tools: autocomplete suggestions, geocoding and reverse geocoding."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from bailian_geo_agent.tools.common import (
    CRS_DESCRIPTION,
    GeoTool,
    Latitude,
    Longitude,
    OptionalText,
    ShortText,
    coordinate_label,
    join_region,
    optional,
    source_name,
    truncate,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.links import family_from, links_artifact, place_links, places_links
from bailian_geo_agent.tools.outputs import (
    PlacesData,
    ReverseGeocodeData,
    place_data,
    point_data,
    with_data,
)
from bailian_geo_agent.tools.providers.base import Place
from pydantic import BaseModel, Field

MAX_STEPS = 8


def format_place(index: int, place: Place) -> str:
    """One compact line per place."""
    line = f"{index}. {place.name}"
    region = join_region(place.province, place.city, place.district)
    extra = [truncate(place.address, 50)] if place.address and place.address != place.name else []
    if region and region not in place.name:
        extra.append(region)
    # Country and postcode tell same-named places apart (Berlin DE / Berlin RU).
    if place.country and place.country not in place.name and place.country not in region:
        extra.append(place.country)
    if place.postcode:
        extra.append(f"邮编{place.postcode}")
    if place.location is not None:
        extra.append(coordinate_label(place.location))
    else:
        extra.append("关键词建议，无坐标")
    return line + "；" + "；".join(extra)


class SuggestInput(BaseModel):
    """Arguments of ``suggest_places``."""

    text: ShortText = Field(description="Partial input.")
    city: OptionalText = optional("City to prefer.")
    limit: int = Field(default=5, ge=1, le=10)


class SuggestPlacesTool(GeoTool):
    """Place autocomplete (``suggest_places``)."""

    name: str = "suggest_places"
    description: str = (
        "Candidate places with coordinates for a partial or ambiguous name. "
        "例：text='北京西' -> 北京西站"
    )
    args_schema: type[BaseModel] = SuggestInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = PlacesData

    async def _execute(self, args: SuggestInput) -> Any:
        places = await self.geo.suggest(args.text, args.city, args.limit)
        source = source_name(places, self.geo)
        head = f"“{args.text}”的地点建议（{source}）："
        text = "\n".join([head, *(format_place(i, p) for i, p in enumerate(places, 1))])
        return text, with_data(links_artifact(places_links(places, self.geo)),
                               _places_data(args.text, places, source))


class GeocodeInput(BaseModel):
    """Arguments of ``geocode``."""

    address: ShortText = Field(description="Address or place name.")
    city: OptionalText = optional("City hint.")


class GeocodeTool(GeoTool):
    """Address -> coordinates (``geocode``)."""

    name: str = "geocode"
    description: str = (
        "Address or place name -> coordinates. 例：address='西湖', city='杭州'"
    )
    args_schema: type[BaseModel] = GeocodeInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = PlacesData

    async def _execute(self, args: GeocodeInput) -> Any:
        places = await self.geo.geocode(args.address, args.city)
        source = source_name(places, self.geo)
        head = f"“{args.address}”的地理编码结果（{source}）："
        text = "\n".join([head, *(format_place(i, p) for i, p in enumerate(places[:5], 1))])
        return text, with_data(links_artifact(places_links(places[:5], self.geo)),
                               _places_data(args.address, places[:5], source))


class ReverseGeocodeInput(BaseModel):
    """Arguments of ``reverse_geocode``."""

    lng: Longitude
    lat: Latitude
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)


class ReverseGeocodeTool(GeoTool):
    """Coordinates -> address (``reverse_geocode``)."""

    name: str = "reverse_geocode"
    description: str = (
        "Coordinates -> address. 例：lng=116.48, lat=39.99 -> 北京市朝阳区…"
    )
    args_schema: type[BaseModel] = ReverseGeocodeInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = ReverseGeocodeData

    async def _execute(self, args: ReverseGeocodeInput) -> Any:
        point = Coordinate(args.lng, args.lat, args.crs)
        place = await self.geo.reverse_geocode(point.to(self.geo.crs))
        region = join_region(place.province, place.city, place.district)
        address = place.address or place.name
        source = source_name([place], self.geo)
        bits = [f"{coordinate_label(point)} 的地址（{source}）：{address}"]
        if region:
            bits.append(f"行政区：{region}")
        if place.adcode:
            bits.append(f"adcode：{place.adcode}")
        links = place_links(point, address or point.lnglat(), family_from(place, self.geo))
        data = ReverseGeocodeData(location=point_data(point), place=place_data(place),
                                  source=source)
        return "；".join(bits), with_data(links_artifact(links), data)


def _places_data(query: str, places: list[Place], source: str) -> PlacesData:
    return PlacesData(query=query, places=[place_data(p) for p in places], source=source)


__all__ = [
    "GeocodeTool",
    "ReverseGeocodeTool",
    "SuggestPlacesTool",
    "format_place",
]
