"""Access to a provider's optional capabilities (``GeoProviderExtras``) from a tool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.errors import OutOfCoverageError


def capability(provider: Any, method: str, what: str) -> Callable[..., Awaitable[Any]]:
    """``provider.<method>``; raises ``OutOfCoverageError`` naming ``what`` (a catalogue key)
    when it has none."""
    found: Callable[..., Awaitable[Any]] | None = getattr(provider, method, None)
    if found is None:
        name = getattr(provider, "name", "") or message_text("geo_map_service")
        raise OutOfCoverageError(message_text("geo_not_offered", provider=name,
                                              what=message_text(what)))
    return found
