"""DashScope's native text-generation API spoken directly over aiohttp (the async ChatTongyi path).

``build_request`` turns ``dashscope.AioGeneration.call`` keyword arguments into the request the
SDK would send (same URL, body and headers); ``stream_events`` sends it on this event loop's
session and yields each streamed event as a dict (orjson when installed). Compared with the
SDK's own path there is no typed response object, line-by-line read or ``json.loads`` per
event, and errors surface as exceptions:

* a non-200 answer raises ``DashScopeAPIError`` from its JSON body (``code``, ``message``,
  ``request_id``); an ``event:error`` inside the stream too, with the status of its
  ``:HTTP_STATUS/…`` line (the SDK always said 400);
* a data line that is not JSON raises ``json.JSONDecodeError`` (the SDK made it a 500);
* aiohttp's exceptions (timeouts from ``ClientTimeout(sock_connect, sock_read)``, connection
  errors) pass through, after the events received before a broken connection were yielded.

Kept from the SDK: the URL (``base_address`` or ``dashscope.base_http_api_url``, with its
``{workspace_id}`` placeholder resolved), the body (``model``, ``parameters``, ``input``), the
headers (user agent, SDK identification, ``X-DashScope-DataInspection`` from the settings,
``workspace``, ``plugins`` and custom ``headers``), certifi TLS, proxies from the environment
(``trust_env``), and one immediate resend when a pooled connection turns out to be dead before
any answer. Not supported here: request encryption, form uploads, ``extra_url_parameters``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterator, Mapping
from typing import Any

import aiohttp
import dashscope
from bailian_geo_agent.agent._compat.aiohttp import unread
from bailian_geo_agent.agent._compat.dashscope import (
    InputRequired,
    ModelRequired,
    get_api_module,
    get_default_api_key,
    get_sdk_headers,
    get_ssl_context,
    get_user_agent,
    resolve_base_url,
)
from bailian_geo_agent.agent.errors import DashScopeAPIError, StreamLimitError
from bailian_geo_agent.agent.providers._pools import LoopPools
from bailian_geo_agent.agent.providers._sse import (
    DEFAULT_MAX_EVENT_BYTES,
    EventSplitter,
    split_events,
    sse_data,
    sse_field,
)
from bailian_geo_agent.agent.providers._sse import loads_json as _loads
from bailian_geo_agent.prompts.catalogue import text
from bailian_geo_agent.tools.infra import ResponseTooLarge, read_capped

__all__ = ["build_request", "close_http_session", "http_session", "stream_events"]

_PATH = "services/aigc/text-generation/generation"
_SSE = "text/event-stream"
# AioGeneration.call's named parameters, in the order it adds them to ``parameters``.
_NAMED: tuple[str, ...] = (
    "temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "repetition_penalty",
    "presence_penalty", "result_format", "incremental_output", "enable_search", "tools",
    "tool_choice", "enable_thinking", "thinking_budget", "n", "logprobs", "top_logprobs",
    "search_options", "parallel_tool_calls", "response_format", "output_format",
)  # fmt: skip
# Call arguments the SDK consumes itself: never part of the body's ``parameters``.
_NOT_PARAMETERS = frozenset(
    {
        "model", "messages", "prompt", "history", "api_key", "workspace", "plugins", "stream",
        "request_timeout", "base_address", "headers", "session", "user_agent", "api_protocol",
        "http_method", "async_request", "query", "flattened_output", "sdk_module",
        "customized_model_id",
    }
)  # fmt: skip
_NAMED_QWEN = tuple(key for key in _NAMED if key != "enable_search")
_MODULE = get_api_module(dashscope.AioGeneration.__module__)  # "aigc"
_user_agent: str | None = None


def _new_session() -> aiohttp.ClientSession:
    # Like the SDK's shared session (certifi TLS, proxy settings from the environment) but
    # without its 100-connection cap, past which more streams would wait for a free
    # connection: slow sessions must not hold fast ones back.
    connector = aiohttp.TCPConnector(limit=0, ssl=get_ssl_context())
    return aiohttp.ClientSession(connector=connector, trust_env=True)


_POOLS: LoopPools[aiohttp.ClientSession] = LoopPools(
    _new_session, lambda session: session.closed, lambda session: session.close()
)


def http_session(owner: object) -> aiohttp.ClientSession:
    """``owner``'s aiohttp session for DashScope in the running loop."""
    return _POOLS.get(owner)


async def close_owner_session(owner: object) -> None:
    """Close ``owner``'s session in the running loop (one is made again on demand)."""
    await _POOLS.close(owner)


async def close_http_session() -> None:
    """Close every DashScope session opened in the running loop (app shutdown)."""
    await _POOLS.close_all()


def build_request(
    params: Mapping[str, Any], *, data_inspection: bool = False
) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and body of the streamed request ``AioGeneration.call(**params)`` sends
    (``data_inspection``: the SDK's header for ``DASHSCOPE_DISABLE_DATA_INSPECTION=false``)."""
    global _user_agent
    model, messages = params.get("model"), params.get("messages")
    if not messages:
        raise InputRequired("prompt or messages is required!")
    if not model:
        raise ModelRequired("Model is required!")
    workspace = params.get("workspace")
    base = params.get("base_address") or dashscope.base_http_api_url
    url = resolve_base_url(base, workspace).rstrip("/") + "/" + _PATH

    input_: dict[str, Any] = {"messages": messages}
    parameters: dict[str, Any] = {}
    named = _NAMED
    if model.startswith("qwen"):  # the SDK sends enable_search for qwen models only if true
        named = _NAMED_QWEN
        if params.get("enable_search"):
            parameters["enable_search"] = params["enable_search"]
    elif model.startswith("bailian") and "customized_model_id" in params:
        input_["customized_model_id"] = params["customized_model_id"]
    for key, value in params.items():  # other arguments first, as given
        if key not in _NOT_PARAMETERS and key not in _NAMED:
            parameters[key] = value
    for key in named:  # then the named ones, when set
        if params.get(key) is not None:
            parameters[key] = params[key]

    if _user_agent is None:
        _user_agent = get_user_agent()  # platform probing: once per process
    extra_agent = params.get("user_agent") or ""
    custom = dict(params.get("headers") or {})
    header_agent = custom.pop("user-agent", None)
    if header_agent:
        extra_agent = f"{header_agent}; {extra_agent}" if extra_agent else header_agent
    # Always incremental, so never the SDK's incremental-to-full merging (flag 0).
    agent = f"{extra_agent}; incremental_to_full/0" if extra_agent else "incremental_to_full/0"
    headers = {
        "user-agent": f"{_user_agent}; {agent}",
        "Accept": _SSE,
        "Authorization": f"Bearer {params.get('api_key') or get_default_api_key()}",
        "Content-Type": "application/json; charset=utf-8",
        "X-Accel-Buffering": "no",
        "X-DashScope-SSE": "enable",
        **get_sdk_headers(module=_MODULE),
    }
    if data_inspection:
        headers["X-DashScope-DataInspection"] = "enable"
    plugins = params.get("plugins")
    if plugins is not None:
        custom["X-DashScope-Plugin"] = plugins if isinstance(plugins, str) else json.dumps(plugins)
    if workspace is not None:
        custom = {"X-DashScope-WorkSpace": workspace, **custom}
    headers.update(custom)
    body = {"model": model, "parameters": parameters, "input": input_}
    return url, headers, json.dumps(body, ensure_ascii=False).encode("utf-8")


def _status(block: bytes, default: int) -> int:
    """The status of a ``:HTTP_STATUS/400`` comment line in an event block."""
    start = block.find(b":HTTP_STATUS/")
    if start == -1:
        return default
    digits = block[start + 13 : start + 16]
    return int(digits) if digits.isdigit() else default


def _api_error(status: int, raw: bytes | str) -> DashScopeAPIError:
    """``DashScopeAPIError`` from an error body: JSON ``code``/``message``/``request_id``."""
    try:
        error = _loads(raw)
    except ValueError:
        error = None
    if not isinstance(error, dict):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return DashScopeAPIError(status, "Unknown", text.strip())
    message = error.get("message") or error.get("msg") or ""
    return DashScopeAPIError(status, error.get("code"), message, error.get("request_id"))


async def _read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, or ``StreamLimitError`` once it passes ``limit`` bytes."""
    try:
        return await read_capped(response.content.iter_chunked(65536), limit,
                                 response.content_length)
    except ResponseTooLarge:
        raise StreamLimitError(text("stream_line_too_long", limit=limit)) from None


async def _error_response(
    response: aiohttp.ClientResponse, limit: int = DEFAULT_MAX_EVENT_BYTES
) -> DashScopeAPIError:
    raw = await _read_body(response, limit)
    if _SSE in response.content_type:  # an error told as a stream: its last data line
        blocks = split_events(b"", raw + b"\n\n")[0]
        data = [d for d in map(sse_data, blocks) if d is not None]
        if data:
            return _api_error(response.status, data[-1])
        return DashScopeAPIError(response.status, "Unknown", "Empty SSE error response")
    return _api_error(response.status, raw)


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: bytes,
    timeout: aiohttp.ClientTimeout,
) -> aiohttp.ClientResponse:
    try:
        return await session.post(url, data=body, headers=headers, timeout=timeout)
    except aiohttp.ClientConnectorError:  # refused or unreachable: the retries own that
        raise
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        # A pooled keep-alive connection the server had closed: the request never got an
        # answer, so sending it once more on a fresh connection is safe (as the SDK does).
        return await session.post(url, data=body, headers=headers, timeout=timeout)


def _events(blocks: list[bytes]) -> Iterator[Any]:
    """The result events of complete event blocks; raises at an ``event:error`` block."""
    for block in blocks:
        data = sse_data(block)
        if data is None:  # comments, heartbeats
            continue
        if b"event:error" in block and sse_field(block, b"event") == b"error":
            raise _api_error(_status(block, 400), data)
        yield _loads(data)


async def stream_events(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: bytes,
    timeout: aiohttp.ClientTimeout,
    *,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> AsyncGenerator[dict[str, Any], None]:
    """POST the request and yield each streamed event (``output``, ``usage``, ``request_id``).

    A line or event longer than ``max_event_bytes`` raises ``StreamLimitError`` (so does a
    whole answer or error body longer than that). Stopping early (the consumer breaks, is
    cancelled, or an error is raised) closes the connection unless the body was read to its
    end, in which case it returns to the pool.
    """
    response = await _send(session, url, headers, body, timeout)
    try:
        if response.status != 200:
            raise await _error_response(response, max_event_bytes)
        if _SSE not in response.content_type:  # a whole (non-streamed) answer
            yield _loads(await _read_body(response, max_event_bytes))
            return
        content = response.content
        splitter = EventSplitter(max_event_bytes)
        while True:
            try:
                piece = await content.readany()
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
                # What arrived before the connection broke is still shown, then this raises.
                for event in _events(splitter.feed(unread(content))):
                    yield event
                raise
            if not piece:
                break
            blocks = splitter.feed(piece)
            if blocks:
                for event in _events(blocks):
                    yield event
        rest = splitter.rest()
        if rest:  # a last event without its blank line
            for event in _events([rest]):
                yield event
    finally:
        if response.content.at_eof():
            response.release()
        else:
            response.close()
