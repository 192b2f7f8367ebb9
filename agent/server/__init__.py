"""The geo assistant over HTTP: ``create_app`` (FastAPI) and ``geo-agent serve`` (uvicorn).

Needs the ``server`` extra: ``pip install -e ".[server]"``. Names are imported lazily, so
``geo-agent --help`` does not load FastAPI.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bailian_geo_agent.agent.server.app import create_app
    from bailian_geo_agent.agent.server.settings import ServerSettings

_EXPORTS = {
    "create_app": "bailian_geo_agent.agent.server.app",
    "ServerSettings": "bailian_geo_agent.agent.server.settings",
}
__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bailian_geo_agent.agent.server' has no attribute {name!r}")
    return getattr(import_module(module), name)
