"""The dashscope SDK internals the native stream reuses to send the SDK's exact request.

Imported only on the ``tongyi`` path.
"""

from __future__ import annotations

from collections.abc import Callable

from dashscope.api_entities.aio_session import get_ssl_context
from dashscope.common.api_key import get_default_api_key as _get_default_api_key
from dashscope.common.env import resolve_base_url as _resolve_base_url
from dashscope.common.error import InputRequired, ModelRequired
from dashscope.common.utils import get_api_module, get_sdk_headers
from dashscope.common.utils import get_user_agent as _get_user_agent

# The same functions, with the types the SDK leaves out (it annotates none of these three).
get_default_api_key: Callable[[], str] = _get_default_api_key
resolve_base_url: Callable[[str, str | None], str] = _resolve_base_url
get_user_agent: Callable[[], str] = _get_user_agent

UPSTREAM: dict[str, str] = {
    "dashscope.api_entities.aio_session:get_ssl_context": "()",
    "dashscope.common.api_key:get_default_api_key": "()",
    "dashscope.common.env:resolve_base_url": "(url, workspace_id=None)",
    "dashscope.common.utils:get_api_module": "(module_name)",
    "dashscope.common.utils:get_sdk_headers": "(module='')",
    "dashscope.common.utils:get_user_agent": "()",
    "dashscope.common.error:InputRequired": "class",
    "dashscope.common.error:ModelRequired": "class",
}
"""Each upstream name this module re-exports and the shape relied on (``tests/test_compat.py``).
Kept for correctness: the native stream sends the SDK's exact request (URL, headers)."""

__all__ = [
    "UPSTREAM",
    "InputRequired",
    "ModelRequired",
    "get_api_module",
    "get_default_api_key",
    "get_sdk_headers",
    "get_ssl_context",
    "get_user_agent",
    "resolve_base_url",
]
