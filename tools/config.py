"""Settings of the geo tools: Pydantic fields read from the environment and ``.env``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.coords import CRS
from bailian_geo_agent.tools.security import http_url, refuse_plain_http
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ProviderChoice = Literal["amap", "open", "auto"]

DEFAULT_AMAP_BASE_URL = "https://restapi.amap.com"
DEFAULT_OPEN_METEO_BASE_URL = "https://api.open-meteo.com"
DEFAULT_OPEN_METEO_GEOCODING_URL = "https://geocoding-api.open-meteo.com"
DEFAULT_PHOTON_BASE_URL = "https://photon.komoot.io"
DEFAULT_NOMINATIM_BASE_URL = "https://nominatim.openstreetmap.org"
DEFAULT_OVERPASS_BASE_URL = "https://overpass-api.de"
DEFAULT_OSRM_BASE_URL = "https://router.project-osrm.org"
DEFAULT_OSRM_WALKING_BASE_URL = "https://routing.openstreetmap.de/routed-foot"
DEFAULT_OSRM_CYCLING_BASE_URL = "https://routing.openstreetmap.de/routed-bike"
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
AMAP_TILE_URL = ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=7"
                 "&x={x}&y={y}&z={z}")
"""AMap's street map tiles (GCJ-02)."""
BASE_MAPS: dict[str, str] = {"amap": AMAP_TILE_URL, "osm": DEFAULT_TILE_URL}
"""The base maps of the web page and the MCP map app: each one's tile URL template (Leaflet's;
``{s}`` a subdomain), AMap's for GCJ-02 commands, OpenStreetMap's for WGS-84 ones."""
DEFAULT_VALHALLA_BASE_URL = "https://valhalla1.openstreetmap.de"

ENV_SETTINGS = SettingsConfigDict(
    env_file=".env",
    env_file_encoding="utf-8",
    env_ignore_empty=True,
    extra="ignore",
    frozen=True,
    populate_by_name=True,
    str_strip_whitespace=True,
    use_attribute_docstrings=True,
    validate_default=True,
)
"""How both settings objects (this one and ``agent.config.Settings``) read the environment:
variables set in the environment win over the ``.env`` file; empty values count as unset."""


def env_file_path(env_file: str | os.PathLike[str] | None = None) -> Path:
    """The env file every settings object reads: ``env_file``, else the working directory's
    ``.env`` (the one rule for ``Settings``, ``GeoConfig`` and ``ServerSettings``)."""
    return Path(env_file) if env_file is not None else Path.cwd() / ".env"


def drop_blank(values: Any) -> Any:
    """Input values without blank strings (a variable set to spaces counts as unset)."""
    if isinstance(values, dict):
        return {k: v for k, v in values.items() if not (isinstance(v, str) and not v.strip())}
    return values


class GeoConfig(BaseSettings):
    """Everything the geo providers need; each field's environment variable is its alias."""

    model_config = ENV_SETTINGS

    provider: ProviderChoice = Field("auto", validation_alias="GEO_PROVIDER")
    """``amap``, ``open`` (keyless OpenStreetMap-based services) or ``auto`` (AMap with a key)."""
    amap_api_key: str | None = Field(None, validation_alias="AMAP_API_KEY", repr=False)
    """AMap (Gaode) web service key."""
    amap_base_url: str = Field(DEFAULT_AMAP_BASE_URL, validation_alias="AMAP_BASE_URL")
    """AMap web service base URL."""
    open_meteo_base_url: str = Field(
        DEFAULT_OPEN_METEO_BASE_URL, validation_alias="OPEN_METEO_BASE_URL"
    )
    """Open-Meteo forecast API base URL."""
    open_meteo_geocoding_url: str = Field(
        DEFAULT_OPEN_METEO_GEOCODING_URL, validation_alias="OPEN_METEO_GEOCODING_URL"
    )
    """Open-Meteo geocoding API base URL."""
    photon_base_url: str = Field(DEFAULT_PHOTON_BASE_URL, validation_alias="PHOTON_BASE_URL")
    """Photon (place suggestions) base URL."""
    nominatim_base_url: str = Field(
        DEFAULT_NOMINATIM_BASE_URL, validation_alias="NOMINATIM_BASE_URL"
    )
    """Nominatim (geocoding) base URL."""
    overpass_base_url: str = Field(DEFAULT_OVERPASS_BASE_URL, validation_alias="OVERPASS_BASE_URL")
    """Overpass (POIs near a point) base URL."""
    osrm_base_url: str = Field(DEFAULT_OSRM_BASE_URL, validation_alias="OSRM_BASE_URL")
    """OSRM driving routes base URL."""
    osrm_walking_base_url: str = Field(
        DEFAULT_OSRM_WALKING_BASE_URL, validation_alias="OSRM_WALKING_BASE_URL"
    )
    """OSRM walking routes base URL."""
    osrm_cycling_base_url: str = Field(
        DEFAULT_OSRM_CYCLING_BASE_URL, validation_alias="OSRM_CYCLING_BASE_URL"
    )
    """OSRM cycling routes base URL."""
    # -- snapshot
    tile_url: str = Field(DEFAULT_TILE_URL, validation_alias="GEO_TILE_URL")
    """Raster tile URL template ({z}/{x}/{y}, WGS-84 web mercator) under open-data map pictures."""
    # -- areas
    valhalla_base_url: str = Field(
        DEFAULT_VALHALLA_BASE_URL, validation_alias="VALHALLA_BASE_URL"
    )
    """Valhalla (reachable areas, ``/isochrone``) base URL; the public FOSSGIS server by default."""
    http_timeout: float = Field(10.0, gt=0, validation_alias="GEO_HTTP_TIMEOUT")
    """Seconds a geo provider request may take."""
    user_agent: str | None = Field(None, validation_alias="GEO_USER_AGENT")
    """User-Agent sent to the open services (they ask for one that identifies the app)."""
    cache_ttl: float = Field(600.0, ge=0, validation_alias="GEO_CACHE_TTL")
    """Seconds provider answers are cached (0: no caching)."""
    map_crs: CRS = Field("gcj02", validation_alias="GEO_MAP_CRS")
    """Coordinates in map commands: ``gcj02`` (AMap tiles) or ``wgs84`` (OpenStreetMap tiles)."""

    tool_result_max_chars: int = Field(
        8000, ge=200, validation_alias="GEO_TOOL_RESULT_MAX_CHARS"
    )
    """Longest tool result handed to the model and stored (longer ones are cut, with a note)."""
    max_response_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, validation_alias="GEO_MAX_RESPONSE_BYTES"
    )
    """Largest provider response body read (a longer one is a provider error)."""
    allow_insecure_http: bool = Field(False, validation_alias="GEO_AGENT_ALLOW_INSECURE_HTTP")
    """Allow a plain ``http://`` AMap URL beyond loopback and private networks."""

    _drop_blank = model_validator(mode="before")(drop_blank)

    @model_validator(mode="after")
    def _check_plain_http(self) -> GeoConfig:
        if not self.allow_insecure_http:  # the AMap key travels in the query string
            refuse_plain_http(self.amap_base_url, "AMAP_BASE_URL")
        return self

    @field_validator("provider", "map_crs", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator(
        "amap_base_url",
        "open_meteo_base_url",
        "open_meteo_geocoding_url",
        "photon_base_url",
        "nominatim_base_url",
        "overpass_base_url",
        "osrm_base_url",
        "osrm_walking_base_url",
        "osrm_cycling_base_url",
        "valhalla_base_url",
    )
    @classmethod
    def _check_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("tile_url")
    @classmethod
    def _check_tile_url(cls, value: str) -> str:
        if not all(part in value for part in ("{z}", "{x}", "{y}")):
            raise ValueError("a tile URL template with {z}, {x} and {y}")
        return http_url(value)

    @model_validator(mode="after")
    def _amap_needs_a_key(self) -> GeoConfig:
        if self.provider == "amap" and not self.amap_api_key:
            raise ValueError(message_text("geo_amap_needs_key"))
        return self

    @property
    def resolved_provider(self) -> Literal["amap", "open"]:
        """``auto`` means AMap when a key is configured, else the keyless open set."""
        if self.provider == "auto":
            return "amap" if self.amap_api_key else "open"
        return self.provider

    def with_overrides(self, **changes: Any) -> GeoConfig:
        """A copy with ``changes`` applied (None values ignored)."""
        return self.model_copy(update={k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(
        cls, env_file: str | os.PathLike[str] | None = None, *, load_dotenv: bool = True
    ) -> GeoConfig:
        """Read the environment and ``env_file`` (default ``./.env``; the environment wins).

        Invalid values raise ``ValueError`` naming the variable (never its secret value).
        """
        path: Path | None = None
        if load_dotenv:
            path = env_file_path(env_file)
        try:
            return cls(_env_file=path)
        except ValidationError as exc:
            raise ValueError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError, separator: str = "; ") -> str:
    """One line naming each invalid variable and what is wrong with it (no pydantic links)."""
    problems = []
    for error in exc.errors(include_url=False):
        variable = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{variable}: {message}" if variable else message)
    return separator.join(problems)


def tile_hosts(tiles: Mapping[str, str]) -> tuple[str, ...]:
    """The CSP sources of ``tiles``' URL templates (a ``{s}`` subdomain becomes ``*``)."""
    hosts: list[str] = []
    for url in tiles.values():
        parts = urlsplit(url.replace("{s}", "0"))
        host = parts.netloc
        if "{s}" in urlsplit(url).netloc:  # webrd0{s}.example -> *.example
            host = "*." + host.split(".", 1)[1]
        source = f"{parts.scheme}://{host}"
        if source not in hosts:
            hosts.append(source)
    return tuple(hosts)


__all__ = [
    "AMAP_TILE_URL",
    "BASE_MAPS",
    "ENV_SETTINGS",
    "GeoConfig",
    "ProviderChoice",
    "describe_validation_error",
    "drop_blank",
    "env_file_path",
    "refuse_plain_http",
    "tile_hosts",
]

