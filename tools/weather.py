"""Weather tool: live conditions and a multi-day forecast for a place name or coordinates."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from bailian_geo_agent.tools.common import (
    CRS_DESCRIPTION,
    GeoTool,
    OptionalLat,
    OptionalLng,
    OptionalText,
    check_place_or_lnglat,
    coordinate_label,
    optional,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.outputs import WeatherData, weather_data, with_data
from bailian_geo_agent.tools.providers.base import WeatherReport
from pydantic import BaseModel, Field, model_validator


class WeatherInput(BaseModel):
    """Arguments of ``get_weather``: a place name, or lng+lat."""

    place: OptionalText = optional("City or district, zh or en.")
    lng: OptionalLng = optional()
    lat: OptionalLat = optional()
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)
    days: int = Field(default=3, ge=0, le=7, description="Forecast days (AMap has 4).")

    @model_validator(mode="after")
    def _place_or_point(self) -> WeatherInput:
        check_place_or_lnglat(self.place, self.lng, self.lat)
        return self


def _temp(value: float | None) -> str:
    return "" if value is None else f"{value:g}°C"


def format_report(report: WeatherReport, source: str) -> str:
    """Compact text for the model."""
    lines = [f"{report.place}天气（来源：{source}）"]
    cur = report.current
    if cur is not None:
        bits = [cur.text, _temp(cur.temperature_c)]
        if cur.humidity_pct is not None:
            bits.append(f"湿度{cur.humidity_pct:g}%")
        bits.append(cur.wind)
        when = f"（{cur.observed_at}）" if cur.observed_at else ""
        lines.append("实况：" + "，".join(b for b in bits if b) + when)
    if report.daily:
        lines.append("预报：")
        for day in report.daily:
            sky = day.day_text
            if day.night_text and day.night_text != day.day_text:
                sky = f"{sky}转{day.night_text}" if sky else day.night_text
            low, high = day.temp_min_c, day.temp_max_c
            temps = f"{low:g}~{high:g}°C" if low is not None and high is not None else ""
            rain = f"降水{day.precipitation_mm:g}mm" if day.precipitation_mm else ""
            bits = [b for b in (sky, temps, rain, day.wind) if b]
            lines.append(f"- {day.date}{' ' + day.week if day.week else ''}：" + "，".join(bits))
    return "\n".join(lines)


class WeatherTool(GeoTool):
    """Live weather and forecast (``get_weather``)."""

    name: str = "get_weather"
    description: str = (
        "Current weather and forecast for a city/district or lng/lat. "
        "例：上海明天天气 -> place='上海', days=2"
    )
    args_schema: type[BaseModel] = WeatherInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = WeatherData

    async def _execute(self, args: WeatherInput) -> Any:
        point = None
        if args.lng is not None and args.lat is not None:
            point = Coordinate(args.lng, args.lat, args.crs).to(self.geo.crs)
        report = await self.geo.weather(args.place, point, args.days)
        source = report.source or self.geo.name
        text = format_report(report, source)
        if point is not None and args.place is None:
            text = text.replace("天气（", f"天气（{coordinate_label(point, 4)}；", 1)
        return text, with_data(None, weather_data(report, source, point))
