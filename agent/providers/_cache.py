"""DashScope's context cache on the wire, for both providers (``DASHSCOPE_CONTEXT_CACHE``).

``implicit`` needs nothing here: the request prefix (tools, system prompt, history) is already
the same bytes from call to call, which ``tests/test_context_cache.py`` checks. ``explicit``
puts ``cache_control: {"type": "ephemeral"}`` on the last text block of the system message and
of the history boundary (the last message before the newest user turn), only where the prefix
up to the marker reaches the documented minimum of 1,024 tokens (Model Studio, "Context
cache": at most 4 markers, creation billed at 125%, hits at 10%, 5-minute TTL).

The reply's usage says what the cache did: ``prompt_tokens_details.cached_tokens`` (read) on
both APIs; the creation field of explicit caching is read tolerantly (``cache_creation_input
_tokens`` or ``cache_creation.ephemeral_5m_input_tokens``, inside ``prompt_tokens_details`` or
at the top of ``usage``), since its exact name is not settled in the documentation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.messages.ai import UsageMetadata

CacheMode = Literal["implicit", "explicit", "off"]
MIN_CACHED_TOKENS = 1024
"""Smallest prefix explicit caching accepts (tokens)."""
MAX_MARKERS = 4
EPHEMERAL: dict[str, str] = {"type": "ephemeral"}


def estimate_tokens(value: Any) -> int:
    """A rough token count of a JSON value: its UTF-8 bytes / 4 (about one token per CJK
    character, four ASCII characters a token)."""
    if value is None:
        return 0
    data = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return len(data.encode("utf-8")) // 4


_TOOL_TOKENS: dict[tuple[str, ...], int] = {}


def _tool_tokens(tools: Any) -> int:
    """``estimate_tokens(tools)``, remembered by the tools' names and descriptions (a service in
    another language has other descriptions): the schemas are the same on every call, and
    serialising 16 of them costs about 0.4 ms."""
    if not isinstance(tools, list):
        return estimate_tokens(tools)
    key = tuple(_tool_key(t.get("function") or t) if isinstance(t, dict) else repr(t)
                for t in tools)
    count = _TOOL_TOKENS.get(key)
    if count is None:
        if len(_TOOL_TOKENS) >= 64:
            _TOOL_TOKENS.clear()
        count = _TOOL_TOKENS[key] = estimate_tokens(tools)
    return count


def _tool_key(spec: Any) -> str:
    return f"{spec.get('name')}\n{spec.get('description')}" if isinstance(spec, dict) else ""


_MARKABLE_ROLES = frozenset({"system", "user", "assistant"})
"""Roles whose content may carry a marker: a tool result's content stays a string (the native
API takes only a string there, and ``agent.providers._native_wire`` always sends one)."""


def _marked(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """A copy of ``message`` whose last text block carries the marker, or ``None`` when it has
    no text to mark (or is a tool result)."""
    if message.get("role") not in _MARKABLE_ROLES:
        return None
    content = message.get("content")
    if isinstance(content, str):
        if not content:
            return None
        blocks: list[Any] = [{"type": "text", "text": content, "cache_control": EPHEMERAL}]
    elif isinstance(content, list):
        texts = [i for i, block in enumerate(content)
                 if isinstance(block, Mapping) and isinstance(block.get("text"), str)
                 and block["text"]]
        if not texts:  # an image or an empty text carries no marker
            return None
        blocks = list(content)
        blocks[texts[-1]] = {**content[texts[-1]], "cache_control": EPHEMERAL}
    else:
        return None
    return {**message, "content": blocks}


def _markers(messages: list[dict[str, Any]]) -> int:
    """How many content blocks of ``messages`` already carry a marker."""
    return sum(
        1
        for message in messages
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, Mapping) and "cache_control" in block
    )


def _boundary(messages: list[dict[str, Any]]) -> int | None:
    """Index of the last markable message before the newest user message (not the first)."""
    users = [i for i, message in enumerate(messages) if message.get("role") == "user"]
    if not users:
        return None
    for index in range(users[-1] - 1, 0, -1):
        if _marked(messages[index]) is not None:
            return index
    return None


def mark_explicit(
    messages: list[dict[str, Any]], tools: Any = None, min_tokens: int = MIN_CACHED_TOKENS
) -> list[dict[str, Any]]:
    """``messages`` (wire dicts) with explicit cache markers on the system message and the
    history boundary where their prefix (``tools`` included) is long enough; the input is not
    changed."""
    if not messages:
        return messages
    targets = []
    if messages[0].get("role") == "system":
        targets.append(0)
    boundary = _boundary(messages)
    if boundary is not None:
        targets.append(boundary)
    marked = list(messages)
    prefix = _tool_tokens(tools) if tools else 0
    done = _markers(messages)  # a request refuses more than MAX_MARKERS in all
    for index in range(max(targets, default=-1) + 1):
        prefix += estimate_tokens(messages[index].get("content"))
        if index in targets and prefix >= min_tokens and done < MAX_MARKERS:
            copy = _marked(messages[index])
            if copy is not None:
                marked[index] = copy
                done += 1
    return marked


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _creation(details: Mapping[str, Any]) -> int | None:
    direct = _number(details.get("cache_creation_input_tokens"))
    if direct is not None:
        return direct
    creation = details.get("cache_creation")
    if isinstance(creation, Mapping):
        counts = [_number(v) for k, v in creation.items() if str(k).startswith("ephemeral")]
        found = [count for count in counts if count is not None]
        return sum(found) if found else None
    return _number(creation)


def cache_tokens(usage: Mapping[str, Any] | None) -> tuple[int | None, int | None]:
    """``(read, created)`` input tokens of a DashScope ``usage`` (either API), ``None`` where
    the usage does not say."""
    if not usage:
        return None, None
    read = created = None
    for key in ("prompt_tokens_details", "input_tokens_details"):
        details = usage.get(key)
        if isinstance(details, Mapping):
            read = read if read is not None else _number(details.get("cached_tokens"))
            created = created if created is not None else _creation(details)
    if read is None:
        read = _number(usage.get("cache_read_input_tokens"))
    if created is None:
        created = _creation(usage)
    return read, created


def add_cache_details(metadata: UsageMetadata, usage: Mapping[str, Any] | None) -> None:
    """Put the cache's read and created tokens of ``usage`` into ``metadata``'s
    ``input_token_details`` (``cache_read``, ``cache_creation``)."""
    read, created = cache_tokens(usage)
    if read is None and created is None:
        return
    details = dict(metadata.get("input_token_details") or {})
    if read is not None:
        details["cache_read"] = read
    if created is not None:
        details["cache_creation"] = created
    metadata["input_token_details"] = details  # type: ignore[typeddict-item]
