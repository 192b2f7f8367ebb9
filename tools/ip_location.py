"""IP location tool: the city of an IPv4 address (for "near me" questions in a server)."""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar, Literal

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.capabilities import capability
from bailian_geo_agent.tools.common import GeoTool, coordinate_label, join_region
from bailian_geo_agent.tools.errors import InvalidParamsError
from bailian_geo_agent.tools.links import family_of, links_artifact, place_links
from bailian_geo_agent.tools.outputs import IpLocationData, ip_location_data, with_data
from pydantic import BaseModel, Field, field_validator


class IpLocationInput(BaseModel):
    """Arguments of ``ip_location``."""

    ip: str = Field(min_length=2, max_length=45, description="The user's public IPv4.")

    @field_validator("ip")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError("not an IP address") from None


class IpLocationTool(GeoTool):
    """City of an IP address (``ip_location``)."""

    name: str = "ip_location"
    description: str = (
        "City (with adcode and bounding box) of an IP, for 'near me' without a city. "
        "Needs AMap; mainland China IPv4. 例：我附近有什么好吃的"
    )
    args_schema: type[BaseModel] = IpLocationInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = IpLocationData

    async def _execute(self, args: IpLocationInput) -> Any:
        address = ipaddress.ip_address(args.ip)
        if address.version != 4:
            raise InvalidParamsError(message_text("geo_ipv6", ip=args.ip))
        if not address.is_global:
            raise InvalidParamsError(message_text("geo_ip_not_public", ip=args.ip))
        locate = capability(self.geo, "ip_location", "geo_capability_ip_location")
        found = await locate(args.ip)
        region = join_region(found.province, found.city) or "未知"
        source = found.source or self.geo.name
        bits = [f"IP {args.ip} 位于{region}（{source}）"]
        if found.adcode:
            bits.append(f"adcode：{found.adcode}")
        if found.center is not None and found.southwest and found.northeast:
            bits.append(f"城市中心约{coordinate_label(found.center)}")
            bits.append(
                f"范围：{coordinate_label(found.southwest)} 至 {coordinate_label(found.northeast)}"
            )
        text = "；".join(bits) + "。（IP定位只精确到城市）"
        center = found.center
        links = place_links(center, region, family_of(center)) if center is not None else []
        return text, with_data(links_artifact(links), ip_location_data(found, source))
