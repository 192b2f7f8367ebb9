"""Open-Meteo (keyless): forecast and place-name geocoding. WGS-84.

Forecast: ``GET {OPEN_METEO_BASE_URL}/v1/forecast?latitude&longitude&current&daily&timezone=auto``
-> ``current{time,...}``, ``daily{time[],...}`` (weather codes are WMO 4677). Geocoding:
``GET {OPEN_METEO_GEOCODING_URL}/v1/search?name&count&language`` -> ``results[]`` (absent when
nothing matched; one-character names find nothing, two-character names match exactly only).
"""

from __future__ import annotations

import re
from typing import Any

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.cache import TTLCache, make_key
from bailian_geo_agent.tools.coords import Coordinate
from bailian_geo_agent.tools.errors import ProviderUnavailableError
from bailian_geo_agent.tools.http import HttpClient
from bailian_geo_agent.tools.providers.base import CurrentWeather, DailyForecast, Place

SERVICE = "Open-Meteo"

WMO_CODES = {
    0: "晴", 1: "大部晴朗", 2: "多云", 3: "阴", 45: "雾", 48: "冻雾",
    51: "小毛毛雨", 53: "毛毛雨", 55: "大毛毛雨", 56: "冻毛毛雨", 57: "强冻毛毛雨",
    61: "小雨", 63: "中雨", 65: "大雨", 66: "冻雨", 67: "强冻雨",
    71: "小雪", 73: "中雪", 75: "大雪", 77: "米雪",
    80: "小阵雨", 81: "阵雨", 82: "强阵雨", 85: "小阵雪", 86: "强阵雪",
    95: "雷阵雨", 96: "雷阵雨伴小冰雹", 99: "雷阵雨伴大冰雹",
}
_DIRECTIONS = ["北", "东北", "东", "东南", "南", "西南", "西", "西北"]
CURRENT_FIELDS = (
    "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m,wind_direction_10m"
)
DAILY_FIELDS = (
    "weather_code,temperature_2m_max,temperature_2m_min,precipitation_sum,"
    "wind_speed_10m_max,wind_direction_10m_dominant"
)


def has_cjk(value: str) -> bool:
    """True when ``value`` contains Chinese characters."""
    return re.search(r"[\u3400-\u9fff]", value) is not None


def wind_text(speed_kmh: Any, direction_deg: Any) -> str:
    """``南风 9km/h`` from km/h and degrees (either may be missing)."""
    parts = []
    if isinstance(direction_deg, (int, float)):
        parts.append(_DIRECTIONS[round(direction_deg / 45) % 8] + "风")
    if isinstance(speed_kmh, (int, float)):
        parts.append(f"{speed_kmh:g}km/h")
    return " ".join(parts)


def _at(values: Any, index: int) -> Any:
    return values[index] if isinstance(values, list) and index < len(values) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


class OpenMeteo:
    """Client of the two Open-Meteo APIs used (through the shared ``HttpClient``)."""

    def __init__(
        self, http: HttpClient, forecast_url: str, geocoding_url: str, cache: TTLCache
    ) -> None:
        self.http = http
        self.forecast_url = forecast_url.rstrip("/")
        self.geocoding_url = geocoding_url.rstrip("/")
        self.cache = cache

    async def geocode(self, name: str, count: int = 5) -> list[Place]:
        """Place names (cities, districts) -> candidates; [] when nothing matched."""
        params = {"name": name, "count": str(count), "language": "zh" if has_cjk(name) else "en",
                  "format": "json"}

        async def load() -> dict[str, Any]:
            data = await self.http.get_json(self.geocoding_url + "/v1/search", params,
                                            service=SERVICE)
            if not isinstance(data, dict):
                raise ProviderUnavailableError(message_text("open_meteo_unparsable"))
            return data

        data = await self.cache.get_or_load(make_key("open-meteo-geo", **params), load, 86400)
        places = []
        for item in data.get("results") or []:
            lat, lng = item.get("latitude"), item.get("longitude")
            if not isinstance(lat, (int, float)) or not isinstance(lng, (int, float)):
                continue
            places.append(
                Place(
                    name=str(item.get("name") or name),
                    location=Coordinate(float(lng), float(lat), "wgs84"),
                    province=str(item.get("admin1") or ""),
                    city=str(item.get("admin2") or ""),
                    country=str(item.get("country") or item.get("country_code") or ""),
                    postcode=_first(item.get("postcodes")),
                    level=str(item.get("feature_code") or ""),
                    source=SERVICE,
                )
            )
        return places

    async def forecast(
        self, point: Coordinate, days: int
    ) -> tuple[CurrentWeather | None, list[DailyForecast], str]:
        """Current conditions, ``days`` daily forecasts and the local timezone name."""
        p = point.to("wgs84")
        params = {
            "latitude": f"{p.lat:.4f}",
            "longitude": f"{p.lng:.4f}",
            "current": CURRENT_FIELDS,
            "daily": DAILY_FIELDS,
            "timezone": "auto",
            "forecast_days": str(max(1, min(days, 16))),
        }

        async def load() -> dict[str, Any]:
            data = await self.http.get_json(self.forecast_url + "/v1/forecast", params,
                                            service=SERVICE)
            if not isinstance(data, dict) or data.get("error"):
                raise ProviderUnavailableError(message_text("open_meteo_no_weather"))
            return data

        data = await self.cache.get_or_load(make_key("open-meteo-forecast", **params), load, 900)
        current = None
        cur = data.get("current")
        if isinstance(cur, dict):
            code = cur.get("weather_code")
            current = CurrentWeather(
                text=WMO_CODES.get(code, f"天气代码{code}") if code is not None else "",
                temperature_c=_num(cur.get("temperature_2m")),
                humidity_pct=_num(cur.get("relative_humidity_2m")),
                wind=wind_text(cur.get("wind_speed_10m"), cur.get("wind_direction_10m")),
                observed_at=str(cur.get("time") or "").replace("T", " "),
            )
        daily_out: list[DailyForecast] = []
        daily: Any = data.get("daily") if isinstance(data.get("daily"), dict) else {}
        for i, date in enumerate((daily.get("time") or [])[:days]):
            code = _at(daily.get("weather_code"), i)
            daily_out.append(
                DailyForecast(
                    date=str(date),
                    day_text=WMO_CODES.get(code, "") if code is not None else "",
                    temp_max_c=_num(_at(daily.get("temperature_2m_max"), i)),
                    temp_min_c=_num(_at(daily.get("temperature_2m_min"), i)),
                    precipitation_mm=_num(_at(daily.get("precipitation_sum"), i)),
                    wind=wind_text(
                        _at(daily.get("wind_speed_10m_max"), i),
                        _at(daily.get("wind_direction_10m_dominant"), i),
                    ),
                )
            )
        return current, daily_out, str(data.get("timezone") or "")


def _first(values: Any) -> str:
    """The first of a list of strings (Open-Meteo's ``postcodes``), else ""."""
    return str(values[0]) if isinstance(values, list) and values else ""
