"""Geo providers behind one interface (``GeoProvider``) and the factory choosing one.

``GEO_PROVIDER``: ``amap`` (AMap Web Service API, needs ``AMAP_API_KEY``), ``open`` (keyless:
Open-Meteo, Photon, Nominatim, Overpass, OSRM) or ``auto`` (default: AMap when its key is set,
else open; with AMap, places outside China fall back to the open providers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.cache import TTLCache
from bailian_geo_agent.tools.config import GeoConfig
from bailian_geo_agent.tools.errors import GeoProviderError
from bailian_geo_agent.tools.providers.base import GeoProvider

if TYPE_CHECKING:
    from bailian_geo_agent.tools.http import HttpClient


def build_provider(config: GeoConfig, http: HttpClient | None = None) -> GeoProvider:
    """The provider ``config`` asks for, using ``http`` (when None, a new client with
    ``config``'s timeout, User-Agent and response cap)."""
    from bailian_geo_agent.tools.http import HttpClient

    client = http or HttpClient.from_config(config)
    cache = TTLCache(maxsize=1024, ttl=config.cache_ttl)
    choice = config.resolved_provider
    if choice == "amap":
        if not config.amap_api_key:
            raise ValueError(message_text("geo_amap_needs_key"))
        from bailian_geo_agent.tools.providers.amap import AmapProvider

        amap = AmapProvider(config.amap_api_key, client, base_url=config.amap_base_url, cache=cache)
        if config.provider == "auto":
            from bailian_geo_agent.tools.providers.fallback import FallbackProvider

            return FallbackProvider(amap, _open(config, client, cache))
        return amap
    return _open(config, client, cache)


def _open(config: GeoConfig, client: HttpClient, cache: TTLCache) -> GeoProvider:
    from bailian_geo_agent.tools.providers.open import OpenProvider

    return OpenProvider.from_config(config, client, cache=cache)


def provider_from_env(http: HttpClient | None = None) -> GeoProvider:
    """``build_provider(GeoConfig.from_env(), http)``."""
    return build_provider(GeoConfig.from_env(), http)


__all__ = ["GeoProvider", "GeoProviderError", "build_provider", "provider_from_env"]
