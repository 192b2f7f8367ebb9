"""ChatTongyi for the product: DashScope's native API through the dashscope SDK, fixed.

``DashScopeChatTongyi`` subclasses ``langchain_community``'s ``ChatTongyi`` and replaces its
request and streaming paths:

* always ``incremental_output=True`` (ChatTongyi turns it off when tools are bound and rebuilds
  deltas by string replacement, which loses or mangles text);
* tool-call fragments become ``tool_call_chunks`` keyed by ``index`` (no merged names), and
  history is sent back from ``AIMessage.tool_calls``;
* ``_astream`` speaks the native API itself over aiohttp (``agent.tongyi_http``: the SDK's
  request, parsed without its per-event objects) instead of a thread per chunk, on a
  per-event-loop session without a connection cap (``aclose`` closes it); text
  received before a broken connection is still shown; the sync path keeps the SDK;
* errors become ``DashScopeAPIError`` / timeout / connection errors, retried with backoff only
  before the first chunk; a stream that ends without a final ``finish_reason`` raises
  ``StreamInterruptedError``;
* ``base_url`` and ``timeout`` are per instance (passed per request, no global state).

Importing this module imports ``dashscope`` and ``langchain_community`` (which prints a sunset
warning); the rest of the package imports it lazily, only for ``DASHSCOPE_PROVIDER=tongyi``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import aclosing, closing
from typing import Any

import aiohttp
import dashscope
import requests  # the SDK's sync transport
from langchain_community.chat_models.tongyi import ChatTongyi
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, message_chunk_to_message
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from agent.errors import DashScopeAPIError, StreamInterruptedError
from agent.retry import backoff_delay
from agent.tongyi_http import (
    build_request,
    close_http_session,
    close_owner_session,
    http_session,
    stream_events,
)
from agent.tongyi_wire import StreamState, chunk_from_event, messages_to_native

__all__ = [
    "DashScopeChatTongyi",
    "DashScopeConnectionError",
    "DashScopeTimeoutError",
    "build_tongyi_model",
    "close_http_session",
]

_RETRY_CODES = {"throttling", "throttling.ratequota", "throttling.burstrate"}


class DashScopeTimeoutError(TimeoutError):
    """No data from DashScope for ``timeout`` seconds (classified as NetworkError)."""


class DashScopeConnectionError(ConnectionError):
    """DashScope could not be reached, or dropped the connection before answering."""


def _interrupted(cause: BaseException | None = None) -> StreamInterruptedError:
    detail = f"（{type(cause).__name__}）" if cause else ""
    return StreamInterruptedError(
        f"模型回复被中断：与阿里云百炼的连接在回复完成前断开{detail}，已显示的内容不完整。请重试。"
    )


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, DashScopeAPIError):
        return (
            exc.status_code == 429
            or exc.status_code >= 500
            or str(exc.code or "").lower() in _RETRY_CODES
        )
    # A stream cut before anything was yielded is safe to retry (the caller checks that).
    return isinstance(exc, (DashScopeConnectionError, StreamInterruptedError))


def _check(resp: Any) -> None:
    """Raise DashScopeAPIError for a non-200 answer (before or inside the stream)."""
    status = int(resp.status_code)
    if status != 200:
        raise DashScopeAPIError(
            status, resp.code or None, resp.message or "", resp.request_id or None
        )


class DashScopeChatTongyi(ChatTongyi):
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
    """Backoff before retry n is about ``retry_base_delay * 2**(n-1)`` (``agent.retry``)."""

    @property
    def _llm_type(self) -> str:
        return "dashscope-tongyi"

    async def aclose(self) -> None:
        """Close this model's connection pool in the running loop (reopened on demand)."""
        await close_owner_session(self)

    def bind_tools(
        self, tools: Sequence[Any], *, parallel_tool_calls: bool | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; several calls per turn are on by default (DashScope needs it asked for)."""
        if parallel_tool_calls is None and tools:
            parallel_tool_calls = True
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind_tools(tools, **kwargs)

    # -- request ------------------------------------------------------------------------------

    def _invocation_params(
        self, messages: list[BaseMessage], stop: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """SDK call kwargs: always incremental streaming; tool calls from message.tool_calls."""
        params = {**self._default_params, **kwargs}
        if stop is not None:
            params["stop"] = stop
        params.update(
            stream=True,
            incremental_output=True,
            messages=messages_to_native(messages),
            request_timeout=self.timeout,
        )
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
    ) -> AsyncIterator[ChatGenerationChunk]:
        """One HTTP request: yield chunks; raise on errors, timeouts and truncation."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=self.timeout
        )
        model_name = self.model_name
        events = stream_events(http_session(self), *request, timeout)
        try:
            async with aclosing(events):
                async for event in events:
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
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
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
        request = build_request(self._invocation_params(messages=messages, stop=stop, **kwargs))
        attempt = 0
        while True:
            yielded = False
            try:
                async with aclosing(self._aevents_once(request, StreamState())) as chunks:
                    async for chunk in chunks:
                        yielded = True
                        if run_manager:
                            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
                return
            except Exception as exc:
                # Never retry once text went out: it would be shown twice.
                if yielded or attempt >= self.max_retries or not _is_retryable(exc):
                    raise
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, self.retry_base_delay))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        final: ChatGenerationChunk | None = None
        async for chunk in self._astream(messages, stop=stop, run_manager=run_manager, **kwargs):
            final = chunk if final is None else final + chunk
        return self._result(final)

    # -- sync ---------------------------------------------------------------------------------

    def _events_once(
        self, params: dict[str, Any], state: StreamState
    ) -> Iterator[ChatGenerationChunk]:
        """Sync twin of ``_aevents_once`` on the SDK's ``requests`` path."""
        responses = dashscope.Generation.call(**params)
        try:
            for resp in responses:
                _check(resp)
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
        params = self._invocation_params(messages=messages, stop=stop, **kwargs)
        attempt = 0
        while True:
            yielded = False
            try:
                with closing(self._events_once(params, StreamState())) as chunks:
                    for chunk in chunks:
                        yielded = True
                        if run_manager:
                            run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
                return
            except Exception as exc:
                if yielded or attempt >= self.max_retries or not _is_retryable(exc):
                    raise
            attempt += 1
            time.sleep(backoff_delay(attempt, self.retry_base_delay))

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
        if final is None:  # unreachable: a finished stream always yields its final chunk
            raise StreamInterruptedError("模型没有返回任何内容。请重试。")
        generation = ChatGeneration(
            message=message_chunk_to_message(final.message),
            generation_info=final.generation_info,
        )
        return ChatResult(generations=[generation], llm_output={"model_name": self.model_name})


def build_tongyi_model(
    *, api_key: str, model: str, base_url: str | None, timeout: float, max_retries: int
) -> DashScopeChatTongyi:
    """The ChatTongyi-path chat model the service's model factory uses."""
    return DashScopeChatTongyi(
        api_key=api_key,
        model=model,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        streaming=True,
    )
