"""Settings of the geo tools, read from the environment when a toolkit is built."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tools.coords import CRS

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


@dataclass(frozen=True)
class GeoConfig:
    """Everything the providers need. ``from_env`` documents the variable of each field."""

    provider: ProviderChoice = "auto"
    amap_api_key: str | None = field(default=None, repr=False)
    amap_base_url: str = DEFAULT_AMAP_BASE_URL
    open_meteo_base_url: str = DEFAULT_OPEN_METEO_BASE_URL
    open_meteo_geocoding_url: str = DEFAULT_OPEN_METEO_GEOCODING_URL
    photon_base_url: str = DEFAULT_PHOTON_BASE_URL
    nominatim_base_url: str = DEFAULT_NOMINATIM_BASE_URL
    overpass_base_url: str = DEFAULT_OVERPASS_BASE_URL
    osrm_base_url: str = DEFAULT_OSRM_BASE_URL
    osrm_walking_base_url: str = DEFAULT_OSRM_WALKING_BASE_URL
    osrm_cycling_base_url: str = DEFAULT_OSRM_CYCLING_BASE_URL
    http_timeout: float = 10.0
    user_agent: str | None = None
    cache_ttl: float = 600.0
    map_crs: CRS = "gcj02"

    @property
    def resolved_provider(self) -> Literal["amap", "open"]:
        """``auto`` means AMap when a key is configured, else the keyless open set."""
        if self.provider == "auto":
            return "amap" if self.amap_api_key else "open"
        return self.provider

    def with_overrides(self, **changes: Any) -> GeoConfig:
        """A copy with ``changes`` applied (None values ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, *, load_dotenv: bool = True) -> GeoConfig:
        """Read ``GEO_PROVIDER`` (amap|open|auto), ``AMAP_API_KEY``, ``AMAP_BASE_URL``,
        ``OPEN_METEO_BASE_URL``, ``OPEN_METEO_GEOCODING_URL``, ``PHOTON_BASE_URL``,
        ``NOMINATIM_BASE_URL``, ``OVERPASS_BASE_URL``, ``OSRM_BASE_URL``,
        ``OSRM_WALKING_BASE_URL``, ``OSRM_CYCLING_BASE_URL``, ``GEO_HTTP_TIMEOUT``,
        ``GEO_USER_AGENT``, ``GEO_CACHE_TTL`` and ``GEO_MAP_CRS`` (gcj02|wgs84).

        ``./.env`` is loaded first when present, never overriding variables already set.
        Invalid values raise ``ValueError`` naming the variable (never its secret value).
        """
        if load_dotenv:
            _load_dotenv()
        provider = (_env("GEO_PROVIDER") or "auto").lower()
        if provider not in ("amap", "open", "auto"):
            raise ValueError("GEO_PROVIDER must be one of amap, open, auto")
        map_crs = (_env("GEO_MAP_CRS") or "gcj02").lower()
        if map_crs not in ("gcj02", "wgs84"):
            raise ValueError("GEO_MAP_CRS must be gcj02 or wgs84")
        return cls(
            provider=provider,  # type: ignore[arg-type]
            amap_api_key=_env("AMAP_API_KEY"),
            amap_base_url=_url("AMAP_BASE_URL", DEFAULT_AMAP_BASE_URL),
            open_meteo_base_url=_url("OPEN_METEO_BASE_URL", DEFAULT_OPEN_METEO_BASE_URL),
            open_meteo_geocoding_url=_url(
                "OPEN_METEO_GEOCODING_URL", DEFAULT_OPEN_METEO_GEOCODING_URL
            ),
            photon_base_url=_url("PHOTON_BASE_URL", DEFAULT_PHOTON_BASE_URL),
            nominatim_base_url=_url("NOMINATIM_BASE_URL", DEFAULT_NOMINATIM_BASE_URL),
            overpass_base_url=_url("OVERPASS_BASE_URL", DEFAULT_OVERPASS_BASE_URL),
            osrm_base_url=_url("OSRM_BASE_URL", DEFAULT_OSRM_BASE_URL),
            osrm_walking_base_url=_url("OSRM_WALKING_BASE_URL", DEFAULT_OSRM_WALKING_BASE_URL),
            osrm_cycling_base_url=_url("OSRM_CYCLING_BASE_URL", DEFAULT_OSRM_CYCLING_BASE_URL),
            http_timeout=_positive("GEO_HTTP_TIMEOUT", 10.0),
            user_agent=_env("GEO_USER_AGENT"),
            cache_ttl=_positive("GEO_CACHE_TTL", 600.0, allow_zero=True),
            map_crs=map_crs,  # type: ignore[arg-type]
        )


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def _url(name: str, default: str) -> str:
    value = _env(name) or default
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http(s) URL")
    return value.rstrip("/")


def _positive(name: str, default: float, *, allow_zero: bool = False) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be positive")
    return value


def _load_dotenv() -> None:
    path = Path.cwd() / ".env"
    if not path.is_file():
        return
    try:
        from dotenv import load_dotenv
    except ImportError:  # python-dotenv is a declared dependency; stay usable without it
        return
    load_dotenv(path, override=False)
