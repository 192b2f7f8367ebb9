"""What every geo tool shares: the base class, argument types, error handling, place resolution.

``GeoTool`` subclasses implement ``async _execute(args)``; sync ``invoke`` runs it on the shared
HTTP client's loop. Provider errors become short tool results (``ToolException`` handled by
LangChain, so the stream goes on); malformed arguments become a readable validation message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, cast

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import CRS, Coordinate, parse_lnglat
from bailian_geo_agent.tools.errors import GeoProviderError, NotFoundError
from bailian_geo_agent.tools.http import HttpClient, client_for
from bailian_geo_agent.tools.providers.base import GeoProvider
from bailian_geo_agent.tools.security import redact
from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

logger = logging.getLogger(__name__)

ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    WithJsonSchema({"type": "string"}),  # the model needs no telling; the check stays
]
"""A non-empty string of at most 100 characters (place names, keywords)."""
Longitude = Annotated[float, Field(ge=-180, le=180)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
CRS_DESCRIPTION = "Of the given coordinates; wgs84 for GPS/OSM."

# Tool schemas go to the model on every call (issue 22 caps their size): an optional argument
# is shown as its type alone, without ``null`` or ``default: null``; None is still accepted.
OptionalText = ShortText | SkipJsonSchema[None]
"""An optional ``ShortText`` argument (use with ``optional()``)."""
OptionalLng = Longitude | SkipJsonSchema[None]
"""An optional longitude argument (use with ``optional()``)."""
OptionalLat = Latitude | SkipJsonSchema[None]
"""An optional latitude argument (use with ``optional()``)."""


def _none() -> None:
    return None


def optional(description: str | None = None, **constraints: Any) -> Any:
    """``Field`` of an optional argument: None when left out, no default in its schema."""
    return Field(default_factory=_none, description=description, **constraints)


def check_lnglat(lng: float | None, lat: float | None) -> None:
    """Argument check: ``lng`` and ``lat`` come together."""
    if (lng is None) != (lat is None):
        raise ValueError("give both lng and lat, or neither")


def check_place_or_lnglat(place: str | None, lng: float | None, lat: float | None) -> None:
    """Argument check: a place name, or both ``lng`` and ``lat``."""
    check_lnglat(lng, lat)
    if place is None and lng is None:
        raise ValueError("give a place name or lng/lat")


def format_validation_error(error: Any) -> str:
    """A short message naming each invalid argument (no echo of the possibly huge input)."""
    try:
        items = error.errors()
    except Exception:
        return message_text("geo_invalid_arguments")
    parts = []
    for item in items[:4]:
        loc = ".".join(str(p) for p in item.get("loc", ())) or "arguments"
        msg = str(item.get("msg", "invalid"))[:160]
        parts.append(f"{loc}: {msg}")
    return message_text(
        "geo_invalid_arguments_detail",
        problems=message_text("geo_list_separator").join(parts),
    )


class GeoTool(BaseTool):
    """Base class of the geo tools.

    ``provider`` is any ``GeoProvider``; when omitted, one is built from the environment
    (see ``tools.config.GeoConfig.from_env``). ``map_crs`` is the system of coordinates sent to
    the map front end.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    provider: Any = Field(default=None, exclude=True)
    http: Any = Field(default=None, exclude=True)
    handle_tool_error: bool | str | Callable[[ToolException], str] | None = True
    handle_validation_error: bool | str | Callable[[Any], str] | None = format_validation_error
    secrets: tuple[str, ...] = Field(default=(), exclude=True, repr=False)
    """Values (API keys) never let through in a result: a provider may echo them."""
    result_max_chars: int = 8000
    """Longest result text handed on; a longer one is cut, with a note saying so."""
    output_model: ClassVar[type[BaseModel] | None] = None
    """A lookup's typed result (``tools.outputs``): its artifact's ``"data"`` is this model's
    wire form. None for the map tools."""

    def model_post_init(self, context: Any, /) -> None:
        """Build the default provider from the environment when none was given."""
        if self.provider is None:
            from bailian_geo_agent.tools.providers import provider_from_env

            self.provider = provider_from_env(http=self.http)
        if self.http is None:
            self.http = client_for(self.provider)

    @property
    def geo(self) -> GeoProvider:
        """The provider, typed."""
        return cast(GeoProvider, self.provider)

    async def _execute(self, args: Any) -> Any:
        raise NotImplementedError

    def _bounded(self, content: str) -> str:
        """``content`` without any secret and within ``result_max_chars``."""
        content = redact(content, self.secrets)
        limit = self.result_max_chars
        if len(content) > limit:
            note = message_text("geo_result_truncated", limit=limit, length=len(content))
            content = content[:limit] + note
        return content

    def _finish(self, result: Any) -> Any:
        if isinstance(result, str):
            return self._bounded(result)
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], str):
            return self._bounded(result[0]), self._clean(result[1])  # content and artifact
        return result

    def _clean(self, artifact: Any) -> Any:
        """``artifact`` with its ``"data"`` redacted as the text is (a provider may echo a key)."""
        if not (isinstance(artifact, dict) and "data" in artifact):
            return artifact
        return {**artifact, "data": _redacted(artifact["data"], self.secrets)}

    async def _guarded(self, kwargs: dict[str, Any]) -> Any:
        assert self.args_schema is not None and isinstance(self.args_schema, type)
        try:
            args = cast("type[BaseModel]", self.args_schema).model_validate(kwargs)  # our schemas
            return self._finish(await self._execute(args))
        except ValidationError as exc:
            raise ToolException(self._bounded(format_validation_error(exc))) from None
        except GeoProviderError as exc:
            raise ToolException(self._bounded(str(exc))) from None
        except (asyncio.CancelledError, ToolException):
            raise
        except Exception as exc:  # a bug or an answer we could not read: explain, don't crash
            logger.error("%s failed: %s", self.name, type(exc).__name__, exc_info=True)
            service = getattr(self.provider, "name", "") or message_text("geo_map_service")
            raise ToolException(message_text("geo_unreadable_result", service=service)) from None

    def _run(
        self, *args: Any, run_manager: CallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> Any:
        client: HttpClient = self.http
        return client.run(self._guarded(kwargs))

    async def _arun(
        self, *args: Any, run_manager: AsyncCallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> Any:
        return await self._guarded(kwargs)


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` (JSON types) with every string redacted."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, secrets) for item in value]
    return value


def coordinate_label(point: Coordinate, digits: int = 6) -> str:
    """``"116.397428,39.909230 (gcj02)"``."""
    return f"{point.lnglat(digits)} ({point.crs})"


async def resolve_point(
    provider: GeoProvider,
    *,
    place: str | None,
    lng: float | None,
    lat: float | None,
    crs: CRS,
    city: str | None = None,
) -> tuple[Coordinate, str]:
    """A point and a label from coordinates, a ``"lng,lat"`` string, or a place name
    (geocoded by ``provider``). Returned in the provider's system."""
    target: CRS = provider.crs
    if lng is not None and lat is not None:
        point = Coordinate(lng, lat, crs)
        return point.to(target), point.lnglat()
    if not place:
        raise NotFoundError(message_text("geo_need_place_or_lnglat"))
    parsed = parse_lnglat(place, crs)
    if parsed is not None:
        return parsed.to(target), place
    found = await provider.geocode(place, city)
    top = next((p for p in found if p.location is not None), None)
    if top is None or top.location is None:
        raise NotFoundError(message_text("geo_place_not_located", place=place))
    return top.location.to(target), top.name or place


def source_name(items: list[Any], provider: object) -> str:
    """Who answered: the results' own source, else the provider's name."""
    return next((i.source for i in items if getattr(i, "source", "")), "") or str(
        getattr(provider, "name", "")
    )


def mode_name(mode: str | None) -> str:
    """The name of ``driving`` or walking in the current language."""
    return message_text("geo_mode_driving" if mode == "driving" else "geo_mode_walking")


def format_distance(meters: float | None) -> str:
    """``850 m`` / ``2.3 km`` in the current language; empty for None."""
    if meters is None:
        return ""
    if meters < 1000:
        return message_text("geo_meters", value=round(meters))
    return message_text("geo_kilometers", value=f"{meters / 1000:.1f}")


def format_duration(seconds: float | None) -> str:
    """``25 min`` / ``1 h 20 min`` in the current language; empty for None."""
    if seconds is None:
        return ""
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if hours:
        if minutes:
            return message_text("geo_hours_minutes", hours=hours, minutes=minutes)
        return message_text("geo_hours", hours=hours)
    return message_text("geo_minutes", minutes=minutes)


def join_region(*parts: str) -> str:
    """Province/city/district joined: without spaces for Chinese names, ``Paris, Île-de-France``
    (smallest first) otherwise; duplicates dropped."""
    unique = list(dict.fromkeys(p for p in parts if p))
    if all(re.search(r"[\u3400-\u9fff]", p) for p in unique):
        return "".join(unique)
    return ", ".join(reversed(unique))


def truncate(value: str, limit: int = 60) -> str:
    """``value`` cut to ``limit`` characters with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + "…"
