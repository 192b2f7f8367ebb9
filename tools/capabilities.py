"""Access to a provider's optional capabilities (``GeoProviderExtras``) from a tool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bailian_geo_agent.tools.errors import OutOfCoverageError


def capability(provider: Any, method: str, what: str) -> Callable[..., Awaitable[Any]]:
    """``provider.<method>``; raises ``OutOfCoverageError`` naming ``what`` when it has none."""
    found: Callable[..., Awaitable[Any]] | None = getattr(provider, method, None)
    if found is None:
        name = getattr(provider, "name", "当前地图服务")
        raise OutOfCoverageError(f"{name}不提供{what}。")
    return found
