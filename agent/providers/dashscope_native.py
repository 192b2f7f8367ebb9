"""ChatTongyi for the product: DashScope's native API through the dashscope SDK, fixed.

``DashScopeChatTongyi`` subclasses ``langchain_community``'s ``ChatTongyi`` and replaces its
request and streaming paths:

* always ``incremental_output=True`` (ChatTongyi turns it off when tools are bound and rebuilds
  deltas by string replacement, which loses or mangles text);
* tool-call fragments become ``tool_call_chunks`` keyed by ``index`` (no merged names), and
  history is sent back from ``AIMessage.tool_calls``;
* ``_astream`` speaks the native API itself over aiohttp (``agent.providers._native_http``: the
  SDK's request, parsed without its per-event objects) instead of a thread per chunk, on a
  per-event-loop session without a connection cap (``aclose`` closes it); text
  received before a broken connection is still shown; the sync path keeps the SDK;
* errors become ``DashScopeAPIError`` / timeout / connection errors, retried with backoff only
  before the first chunk; a stream that ends without a final ``finish_reason`` raises
  ``StreamInterruptedError``;
* ``base_url`` and ``timeout`` are per instance (passed per request, no global state).

It extends ``ChatTongyi`` through the partner-package surface only (``_stream`` / ``_astream`` /
``_generate`` / ``_agenerate``) and its public fields; the request is built here
(``_request_params``), not by ChatTongyi's private ``_invocation_params``.

Importing this module imports ``dashscope`` and ``langchain_community`` (which prints a sunset
warning); the rest of the package imports it lazily, only for ``DASHSCOPE_PROVIDER=tongyi``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

import aiohttp
import dashscope
import requests  # the SDK's sync transport
from bailian_geo_agent.agent.errors import DashScopeAPIError, StreamInterruptedError
from bailian_geo_agent.agent.providers._cache import CacheMode, mark_explicit
from bailian_geo_agent.agent.providers._merge import MergesAsItStreams, merge_stream, result_of
from bailian_geo_agent.agent.providers._native_http import (
    build_request,
    close_http_session,
    close_owner_session,
    http_session,
    stream_events,
)
from bailian_geo_agent.agent.providers._native_wire import (
    StreamState,
    chunk_from_event,
    messages_to_native,
)
from bailian_geo_agent.agent.providers._retry import (
    aretry_before_first_chunk,
    retry_before_first_chunk,
)
from bailian_geo_agent.agent.providers._search import search_fields, search_results, sources_chunk
from bailian_geo_agent.agent.providers._sse import DEFAULT_MAX_EVENT_BYTES
from bailian_geo_agent.agent.providers._thinking import ThinkingModeRules
from bailian_geo_agent.agent.providers._tool_calls import ParallelToolCallsByDefault
from bailian_geo_agent.agent.providers.profiles import NATIVE, thinking_fields
from bailian_geo_agent.prompts.catalogue import text as message_text
from langchain_community.chat_models.tongyi import ChatTongyi
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field

if TYPE_CHECKING:
    from bailian_geo_agent.agent.config import Settings
    from dashscope.api_entities.dashscope_response import GenerationResponse

__all__ = [
    "DashScopeChatTongyi",
    "DashScopeConnectionError",
    "DashScopeTimeoutError",
    "build_model",
    "close_http_session",
]

_RETRY_CODES = {"throttling", "throttling.ratequota", "throttling.burstrate"}


class DashScopeTimeoutError(TimeoutError):
    """No data from DashScope for ``timeout`` seconds (classified as NetworkError)."""


class DashScopeConnectionError(ConnectionError):
    """DashScope could not be reached, or dropped the connection before answering."""


def _interrupted(cause: BaseException | None = None) -> StreamInterruptedError:
    return StreamInterruptedError(message_text("stream_interrupted"))


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, DashScopeAPIError):
        return (
            exc.status_code == 429
            or exc.status_code >= 500
            or str(exc.code or "").lower() in _RETRY_CODES
        )
    # A stream cut before anything was yielded is safe to retry (the caller checks that).
    return isinstance(exc, (DashScopeConnectionError, StreamInterruptedError))


def _sources(output: Any) -> list[dict[str, str]]:
    """The web sources of a native event's ``output`` (``search_info``), if any."""
    try:
        info = output.get("search_info") if output else None
    except AttributeError:
        return []
    return search_results(info) if info else []


def _check(resp: Any) -> None:
    """Raise DashScopeAPIError for a non-200 answer (before or inside the stream)."""
    status = int(resp.status_code)
    if status != 200:
        raise DashScopeAPIError(
            status, resp.code or None, resp.message or "", resp.request_id or None
        )


class DashScopeChatTongyi(
    MergesAsItStreams, ThinkingModeRules, ParallelToolCallsByDefault, ChatTongyi
):
    """ChatTongyi with incremental streaming, correct tool calls, errors, retries and timeouts.

    Set ``base_url`` (native API base, e.g. ``http://127.0.0.1:1234/api/v1``; default the SDK's
    ``DASHSCOPE_HTTP_BASE_URL`` / ``dashscope.base_http_api_url``) and ``timeout`` (seconds
    without data before the request is abandoned) per instance.
    """

    streaming: bool = True
    max_retries: int = 2
    """Retries for 429/5xx/connection errors, only while nothing has been yielded yet."""
    timeout: float = 60.0
    """Seconds without any data (connect, headers, between events) before giving up."""
    base_url: str | None = None
    """Native API base URL; None uses the SDK's default."""
    retry_base_delay: float = Field(default=0.5, ge=0)
    """Backoff before retry n is about ``retry_base_delay * 2**(n-1)`` (see ``_retry``)."""
    max_sse_line_bytes: int = DEFAULT_MAX_EVENT_BYTES
    """Longest line or event accepted in the stream (``StreamLimitError`` beyond)."""
    enable_thinking: bool | None = None
    """Qwen thinking mode: ``None`` leaves it to the model, else ``parameters.enable_thinking``."""
    thinking_budget: int | None = None
    """Most reasoning tokens (``parameters.thinking_budget``)."""
    disable_data_inspection: bool = True
    """False asks DashScope to inspect the data (``DASHSCOPE_DISABLE_DATA_INSPECTION=false``)."""
    preserve_thinking: bool = False
    """Send earlier turns' reasoning back (``reasoning_content`` on assistant messages and
    ``parameters.preserve_thinking``); off, reasoning is kept in history but never re-sent."""
    context_cache: CacheMode = "implicit"
    """``explicit``: ``cache_control`` markers on the system message and the history boundary
    (``agent.providers._cache``); ``implicit`` / ``off``: none."""
    enable_search: bool = False
    """Ask for web search (``parameters.enable_search``) and its sources (``search_options``)."""

    @property
    def _llm_type(self) -> str:
        return "dashscope-tongyi"

    async def aclose(self) -> None:
        """Close this model's connection pool in the running loop (reopened on demand)."""
        await close_owner_session(self)

    # -- request ------------------------------------------------------------------------------

    def _request_params(
        self, messages: list[BaseMessage], stop: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """SDK call kwargs (``dashscope.Generation.call``): ChatTongyi's defaults from its
        fields, always incremental streaming, tool calls from ``message.tool_calls``."""
        api_key = self.dashscope_api_key
        params: dict[str, Any] = {
            "model": self.model_name,
            "top_p": self.top_p,
            "api_key": api_key.get_secret_value() if api_key is not None else None,
            "result_format": "message",
            **self.model_kwargs,
            **kwargs,
        }
        if stop is not None:
            params["stop"] = stop
        params.update(
            stream=True,
            incremental_output=True,
            messages=messages_to_native(messages, keep_reasoning=self.preserve_thinking),
            request_timeout=self.timeout,
        )
        NATIVE.add_thinking_fields(
            params,
            thinking_fields(self.enable_thinking, self.thinking_budget, self.preserve_thinking),
        )
        if self.enable_search:
            params.update(search_fields())
        if self.context_cache == "explicit":
            params["messages"] = mark_explicit(params["messages"], params.get("tools"))
        if self.base_url:
            # Per request, so instances with different URLs never touch global SDK state.
            params["base_address"] = self.base_url
        return params

    def _timeout_error(self) -> DashScopeTimeoutError:
        return DashScopeTimeoutError(
            f"DashScope sent no data for {self.timeout:g} s (model {self.model_name})"
        )

    # -- async --------------------------------------------------------------------------------

    async def _aevents_once(
        self, request: tuple[str, dict[str, str], bytes], state: StreamState
    ) -> AsyncGenerator[ChatGenerationChunk, None]:
        """One HTTP request: yield chunks; raise on errors, timeouts and truncation."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=self.timeout
        )
        model_name = self.model_name
        events = stream_events(
            http_session(self), *request, timeout, max_event_bytes=self.max_sse_line_bytes
        )
        search = self.enable_search
        try:
            async with aclosing(events):
                async for event in events:
                    if search:
                        sources = _sources(event.get("output"))
                        if sources:
                            yield sources_chunk(sources)
                    chunk = chunk_from_event(
                        event.get("output"),
                        event.get("usage"),
                        event.get("request_id"),
                        state,
                        model_name,
                    )
                    if chunk is not None:
                        yield chunk
                    if state.finished:
                        return
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise self._timeout_error() from exc
        except (aiohttp.ClientError, OSError) as exc:
            if state.events:
                raise _interrupted(exc) from exc
            raise DashScopeConnectionError(f"{type(exc).__name__}: {exc}") from exc
        raise _interrupted()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = build_request(self._request_params(messages=messages, stop=stop, **kwargs),
                                data_inspection=not self.disable_data_inspection)
        chunks = aretry_before_first_chunk(
            lambda: self._aevents_once(request, StreamState()),
            max_retries=self.max_retries,
            base_delay=self.retry_base_delay,
            retryable=_is_retryable,
        )
        async with aclosing(chunks):
            async for chunk in chunks:
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks = self._astream(messages, stop=stop, run_manager=run_manager, **kwargs)
        return self._result(await merge_stream(chunks))

    # -- sync ---------------------------------------------------------------------------------

    def _events_once(
        self, params: dict[str, Any], state: StreamState
    ) -> Generator[ChatGenerationChunk, None, None]:
        """Sync twin of ``_aevents_once`` on the SDK's ``requests`` path."""
        # stream=True (``_request_params``): a generator of responses, never one response.
        responses = cast(
            "Generator[GenerationResponse, None, None]", dashscope.Generation.call(**params)
        )
        try:
            for resp in responses:
                _check(resp)
                if self.enable_search:
                    sources = _sources(resp.output)
                    if sources:
                        yield sources_chunk(sources)
                chunk = chunk_from_event(
                    resp.output, resp.usage, resp.request_id, state, self.model_name
                )
                if chunk is not None:
                    yield chunk
                if state.finished:
                    break
        except requests.RequestException as exc:
            # requests reports a read timeout while streaming as a ConnectionError.
            if isinstance(exc, requests.Timeout) or "timed out" in str(exc):
                raise self._timeout_error() from exc
            if state.events:
                raise _interrupted(exc) from exc
            raise DashScopeConnectionError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            responses.close()
        if not state.finished:
            raise _interrupted()

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        params = self._request_params(messages=messages, stop=stop, **kwargs)
        if not self.disable_data_inspection:  # the setting, not only the SDK's own env read
            params["headers"] = {**(params.get("headers") or {}),
                                 "X-DashScope-DataInspection": "enable"}
        for chunk in retry_before_first_chunk(
            lambda: self._events_once(params, StreamState()),
            max_retries=self.max_retries,
            base_delay=self.retry_base_delay,
            retryable=_is_retryable,
        ):
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        final: ChatGenerationChunk | None = None
        for chunk in self._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
            final = chunk if final is None else final + chunk
        return self._result(final)

    def _result(self, final: ChatGenerationChunk | None) -> ChatResult:
        return result_of(final, {"model_name": self.model_name})


def build_model(settings: Settings) -> DashScopeChatTongyi:
    """The ``tongyi`` provider's chat model for ``settings`` (the registry's factory)."""
    return DashScopeChatTongyi(
        api_key=settings.require_api_key(),
        model=settings.model,
        base_url=settings.native_base_url,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        retry_base_delay=settings.retry_base_delay,
        max_sse_line_bytes=settings.max_sse_line_bytes,
        streaming=True,
        enable_thinking=settings.enable_thinking,
        thinking_budget=settings.thinking_budget,
        preserve_thinking=settings.preserve_thinking,
        disable_data_inspection=settings.disable_data_inspection,
        context_cache=settings.context_cache,
        enable_search=settings.enable_search,
    )
