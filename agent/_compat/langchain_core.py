"""langchain-core's ``BaseChatModel._should_stream``, overridden so that ``ainvoke`` reaches the
model's own ``_agenerate``.

langchain-core streams an ``ainvoke`` itself whenever a streaming callback handler is attached
(``ChunkStreamHandler`` is one, on purpose) or ``streaming=True`` was passed, and keeps every
chunk until the call ends. Both providers' ``_agenerate`` stream and merge as chunks arrive
(``agent.providers._merge``): a reply of 100,000 one-character chunks through the service grows
the process by 37 MB (openai) / 31 MB (tongyi) with this override and by 266 / 248 MB without it
(``bench/memory.py``; ``tests/test_reply_memory.py`` allows 60). No public hook decides
this: ``_agenerate`` is only called once langchain-core has chosen not to stream.
"""

from __future__ import annotations

from typing import Any

UPSTREAM: dict[str, str] = {
    "langchain_core.language_models:BaseChatModel._should_stream": (
        "(self, *, async_api, run_manager=None, **kwargs)"
    ),
}
"""Each upstream name this module relies on and its shape (``tests/test_compat.py`` also checks
that ``ainvoke`` still follows ``_should_stream``)."""


class OwnAsyncGenerate:
    """Chat model mixin: an async generate call without ``stream`` goes to the model's own
    ``_agenerate``; everything else is decided by langchain-core as usual."""

    def _should_stream(self, *, async_api: bool, **kwargs: Any) -> bool:
        if async_api and "stream" not in kwargs:
            return False
        return self._core_streams(async_api=async_api, **kwargs)

    def _core_streams(self, *, async_api: bool, **kwargs: Any) -> bool:
        """Whether langchain-core would stream this call (its own rule)."""
        return bool(super()._should_stream(async_api=async_api, **kwargs))  # type: ignore[misc]
