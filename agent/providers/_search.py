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
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

SEARCH_RESULTS = "search_results"
"""The ``response_metadata`` key of a chunk's web sources."""


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
        if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
            sources.append({"url": url, "title": title if isinstance(title, str) else url})
    return sources


def sources_chunk(sources: list[dict[str, str]]) -> ChatGenerationChunk:
    """An empty chunk carrying ``sources`` (no text: nothing a retry could duplicate)."""
    return ChatGenerationChunk(
        message=AIMessageChunk(content="", response_metadata={SEARCH_RESULTS: sources})
    )
