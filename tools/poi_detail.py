"""POI detail tool: everything known about one place, by the id ``search_poi`` returned."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from bailian_geo_agent.tools.capabilities import capability
from bailian_geo_agent.tools.common import (
    GeoTool,
    coordinate_label,
    format_distance,
    join_region,
    truncate,
)
from bailian_geo_agent.tools.links import links_artifact, places_links
from bailian_geo_agent.tools.outputs import PoiDetailData, poi_detail_data, with_data
from bailian_geo_agent.tools.providers.extras import PoiDetail
from pydantic import BaseModel, Field

_OSM_KINDS = {"N": "node", "W": "way", "R": "relation"}
_OSM_ID = re.compile(r"([NWR])([0-9]{1,15})")


def source_pages(poi: PoiDetail) -> list[dict[str, str]]:
    """The web pages a detail came from, ``{"url", "title"}`` each (the artifact's
    ``"sources"``): its OpenStreetMap object's page on open data, and the place's own
    website."""
    pages: list[dict[str, str]] = []
    match = _OSM_ID.fullmatch(poi.id)
    if match is not None and "OpenStreetMap" in poi.source:
        url = f"https://www.openstreetmap.org/{_OSM_KINDS[match[1]]}/{match[2]}"
        pages.append({"url": url, "title": f"{poi.name} · OpenStreetMap"})
    website = poi.website.strip()
    if website.lower().startswith(("https://", "http://")):
        pages.append({"url": website, "title": poi.name or website})
    return pages


class PoiDetailInput(BaseModel):
    """Arguments of ``poi_detail``."""

    id: str = Field(
        min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_/:-]+$", description="From search_poi."
    )


def format_detail(poi: PoiDetail, source: str) -> str:
    """One line per known fact."""
    head = f"{poi.name}（{source}，ID {poi.id}）"
    lines = [head]
    facts = [
        ("类别", poi.category),
        ("别名", poi.alias),
        ("地址", truncate(poi.address, 80)),
        ("行政区", join_region(poi.province, poi.city, poi.district)),
        ("商圈", poi.business_area),
        ("电话", truncate(poi.phone, 40)),
        ("评分", f"{poi.rating:g}" if poi.rating is not None else ""),
        ("人均消费", f"{poi.cost_yuan:g}元" if poi.cost_yuan is not None else ""),
        ("营业时间", truncate(poi.opening_hours, 80)),
        ("网站", truncate(poi.website, 80)),
        ("邮箱", poi.email),
        ("距离", format_distance(poi.distance_m)),
        ("坐标", coordinate_label(poi.location) if poi.location is not None else ""),
    ]
    lines += [f"{label}：{value}" for label, value in facts if value]
    lines += [f"{key}：{truncate(value, 60)}" for key, value in poi.tags.items()]
    if poi.photos:
        lines.append(f"照片：{poi.photos[0]}")
    return "\n".join(lines)


class PoiDetailTool(GeoTool):
    """Details of one POI (``poi_detail``)."""

    name: str = "poi_detail"
    description: str = (
        "Details of one search_poi result by id: phone, rating, price, opening hours, "
        "website, address. 例：第一家店几点关门"
    )
    args_schema: type[BaseModel] = PoiDetailInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = PoiDetailData

    async def _execute(self, args: PoiDetailInput) -> Any:
        detail = capability(self.geo, "poi_detail", "geo_capability_poi_detail")
        poi = await detail(args.id)
        source = poi.source or self.geo.name
        text = format_detail(poi, source)
        return text, with_data({**links_artifact(places_links([poi], self.geo)),
                                "sources": source_pages(poi)}, poi_detail_data(poi, source))
