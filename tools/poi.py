"""POI search tool: keyword search in a city, or nearby search around a place or coordinates."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from bailian_geo_agent.tools.common import (
    CRS_DESCRIPTION,
    GeoTool,
    OptionalLat,
    OptionalLng,
    OptionalText,
    check_lnglat,
    coordinate_label,
    format_distance,
    optional,
    resolve_point,
    source_name,
    truncate,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.links import (
    Link,
    family_from,
    links_artifact,
    places_links,
    search_links,
)
from bailian_geo_agent.tools.outputs import PoiSearchData, named_point, poi_data, with_data
from bailian_geo_agent.tools.providers.base import Poi
from pydantic import BaseModel, Field, model_validator


class PoiSearchInput(BaseModel):
    """Arguments of ``search_poi``. Nearby mode when ``near`` or lng/lat is given."""

    keywords: OptionalText = optional("What to find, e.g. '火锅'.")
    city: OptionalText = optional("City (keyword mode).")
    near: OptionalText = optional("Place to search around.")
    lng: OptionalLng = optional()
    lat: OptionalLat = optional()
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)
    radius: int = Field(default=1000, ge=10, le=50000, description="Metres (nearby mode).")
    category: OptionalText = optional("Category filter, e.g. '酒店'.")
    limit: int = Field(default=10, ge=1, le=25)

    @model_validator(mode="after")
    def _check(self) -> PoiSearchInput:
        check_lnglat(self.lng, self.lat)
        nearby = self.near is not None or self.lng is not None
        if not nearby and self.keywords is None and self.category is None:
            raise ValueError(
                "give keywords or category (with a city), or near / lng+lat for nearby search"
            )
        return self


def format_poi(index: int, poi: Poi) -> str:
    """One compact line per POI."""
    bits = [f"{index}. {poi.name}"]
    if poi.category:
        bits.append(f"[{poi.category}]")
    if poi.distance_m is not None:
        bits.append(f"距{format_distance(poi.distance_m)}")
    if poi.rating is not None:
        bits.append(f"评分{poi.rating:g}")
    line = " ".join(bits)
    details = []
    address = poi.address or "".join(p for p in (poi.city, poi.district) if p)
    if address:
        details.append(f"地址：{truncate(address, 50)}")
    if poi.phone:
        details.append(f"电话：{truncate(poi.phone, 30)}")
    if poi.location is not None:
        details.append(f"坐标：{coordinate_label(poi.location)}")
    if poi.id:
        details.append(f"ID：{poi.id}")
    return line + ("；" + "；".join(details) if details else "")


class PoiSearchTool(GeoTool):
    """POI search (``search_poi``)."""

    name: str = "search_poi"
    description: str = (
        "Find places (restaurants, hotels, sights, shops…) by keywords in a city, or near a "
        "place or lng/lat within radius. Returns name, address, coordinates, distance, phone, "
        "rating, id. 例：keywords='咖啡', near='国贸', radius=500"
    )
    args_schema: type[BaseModel] = PoiSearchInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = PoiSearchData

    async def _execute(self, args: PoiSearchInput) -> Any:
        geo = self.geo
        center: Coordinate | None = None
        label = ""
        if args.near is not None or args.lng is not None:
            center, label = await resolve_point(
                geo, place=args.near, lng=args.lng, lat=args.lat, crs=args.crs, city=args.city
            )
            pois = await geo.nearby_poi(
                center, args.keywords, args.category, args.radius, args.limit
            )
            what = args.keywords or args.category or "地点"
            radius = format_distance(args.radius)
            head = f"{label}附近{radius}内的“{what}”（{source_name(pois, geo)}，{len(pois)}个）："
        else:
            query = args.keywords or args.category or ""
            pois = await geo.search_poi(query, args.city, args.category, args.limit)
            where = args.city or ""
            head = f"{where}“{query}”搜索结果（{source_name(pois, geo)}，{len(pois)}个）："
        text = "\n".join([head, *(format_poi(i, p) for i, p in enumerate(pois, 1))])
        data = PoiSearchData(
            query=args.keywords or args.category or "", pois=[poi_data(p) for p in pois],
            city=None if center else args.city, source=source_name(pois, geo),
            center=named_point(center, label) if center else None,
            radius_m=args.radius if center else None)
        return text, with_data(links_artifact(_links(pois, args, center, geo)), data)


def _links(
    pois: list[Poi], args: PoiSearchInput, center: Coordinate | None, geo: object
) -> list[Link]:
    """Each POI's place links, then a link searching the same words (near the centre)."""
    links = places_links(pois, geo)
    keyword = args.keywords or args.category
    if keyword:
        family = family_from(pois[0], geo) if pois else family_from(center, geo)
        links += search_links(keyword, center, family, None if center else args.city)
    return links
