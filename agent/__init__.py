"""bailian-geo-agent: a streaming geographic assistant on Alibaba Cloud Bailian (DashScope / Qwen).

Public names are imported lazily so that ``import agent`` stays cheap; the LangChain stack is
loaded on first use.
"""

from __future__ import annotations

if __name__ == "agent":  # the short name: become the real package, never a second copy
    from bailian_geo_agent.tools._alias import become_alias

    become_alias(__name__)

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bailian_geo_agent.agent.callbacks import ChunkStreamHandler
    from bailian_geo_agent.agent.config import Settings
    from bailian_geo_agent.agent.errors import GeoAgentError
    from bailian_geo_agent.agent.events import StreamEvent
    from bailian_geo_agent.agent.providers import build_chat_model
    from bailian_geo_agent.agent.service import StreamChatService

_EXPORTS = {
    "StreamChatService": "bailian_geo_agent.agent.service",
    "ChunkStreamHandler": "bailian_geo_agent.agent.callbacks",
    "Settings": "bailian_geo_agent.agent.config",
    "GeoAgentError": "bailian_geo_agent.agent.errors",
    "StreamEvent": "bailian_geo_agent.agent.events",
    "build_chat_model": "bailian_geo_agent.agent.providers",
}

__all__ = [
    "ChunkStreamHandler",
    "GeoAgentError",
    "Settings",
    "StreamChatService",
    "StreamEvent",
    "build_chat_model",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
