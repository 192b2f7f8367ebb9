"""Web search on DashScope (``DASHSCOPE_ENABLE_SEARCH``), for both providers.

The request asks for it with ``enable_search: true`` and ``search_options.enable_source``
(compatible mode: top-level fields; native API: ``parameters``). The native API's stream then
carries ``output.search_info.search_results`` (``[{index, title, url, site_name}]``); Model
Studio's "Web search" page says compatible mode returns no sources, so there a top-level
``search_info`` is only read if it ever comes. The providers pass the sources on as an empty
chunk whose ``response_metadata["search_results"]`` lists ``{"url", "title"}``: the stream
handler turns each into a ``source`` event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

SEARCH_RESULTS = "search_results"
"""The ``response_metadata`` key of a chunk's web sources."""


def is_web_url(url: object) -> TypeGuard[str]:
    """Whether ``url`` is an http(s) URL with a host: what a ``source`` may link to."""
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    lowered = url.lower()
    for scheme in ("https://", "http://"):
        if lowered.startswith(scheme):
            return len(url) > len(scheme) and url[len(scheme)] not in "/?#"
    return False


def search_fields() -> dict[str, Any]:
    """The request fields that turn web search on, with its sources returned."""
    return {"enable_search": True, "search_options": {"enable_source": True}}


def search_results(info: Any) -> list[dict[str, str]]:
    """``{"url", "title"}`` of each http(s) result in a ``search_info`` (others dropped)."""
    results = info.get("search_results") if isinstance(info, Mapping) else None
    sources = []
    for result in results if isinstance(results, list) else ():
        if not isinstance(result, Mapping):
            continue
        url, title = result.get("url"), result.get("title")
        if is_web_url(url):
            sources.append({"url": url, "title": title if isinstance(title, str) else url})
    return sources


def sources_chunk(sources: list[dict[str, str]]) -> ChatGenerationChunk:
    """An empty chunk carrying ``sources`` (no text: nothing a retry could duplicate)."""
    return ChatGenerationChunk(
        message=AIMessageChunk(content="", response_metadata={SEARCH_RESULTS: sources})
    )
