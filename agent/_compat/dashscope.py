"""The dashscope SDK internals the native stream reuses to send the SDK's exact request.

Imported only on the ``tongyi`` path.
"""

from __future__ import annotations

from dashscope.api_entities.aio_session import get_ssl_context
from dashscope.common.api_key import get_default_api_key
from dashscope.common.env import resolve_base_url
from dashscope.common.error import InputRequired, ModelRequired
from dashscope.common.utils import get_api_module, get_sdk_headers, get_user_agent

__all__ = [
    "InputRequired",
    "ModelRequired",
    "get_api_module",
    "get_default_api_key",
    "get_sdk_headers",
    "get_ssl_context",
    "get_user_agent",
    "resolve_base_url",
]
