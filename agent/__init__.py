"""bailian-geo-agent: a streaming geographic assistant on Alibaba Cloud Bailian (DashScope / Qwen).

Public names are imported lazily so that ``import agent`` stays cheap; the LangChain stack is
loaded on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.callbacks import ChunkStreamHandler
    from agent.config import Settings
    from agent.errors import GeoAgentError
    from agent.events import StreamEvent
    from agent.providers import build_chat_model
    from agent.service import StreamChatService

_EXPORTS = {
    "StreamChatService": "agent.service",
    "ChunkStreamHandler": "agent.callbacks",
    "Settings": "agent.config",
    "GeoAgentError": "agent.errors",
    "StreamEvent": "agent.events",
    "build_chat_model": "agent.providers",
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
