"""``DashScopeChatOpenAI``: ``ChatOpenAI`` for DashScope's OpenAI-compatible mode, streaming lean.

Requests still go through the openai SDK (auth, retries of 429/5xx/connection failures before
the response starts, status errors raised as the SDK's own exceptions). The streamed body is
read here instead of by the SDK: each SSE ``data:`` line is decoded to a dict and handed to
langchain-openai's own chunk converter (the ``_convert_chunk_to_generation_chunk`` hook, as
langchain-deepseek uses it), skipping the SDK's typed object per chunk; text-only events take
the shared fast builder. It extends ``ChatOpenAI`` through the partner-package surface only
(``_astream`` / ``_agenerate``, ``_get_request_payload`` and that converter); the other
upstream private names it relies on are in ``agent._compat``. It also refuses to end
silently: a stream that stops without a ``finish_reason`` raises
``StreamInterruptedError``, and an error event inside an HTTP 200 stream raises
``openai.APIError`` as the SDK would.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

import httpx2 as _http  # the openai SDK's own HTTP library (openai>=3)
import openai
from bailian_geo_agent.agent._compat import langchain_openai as compat
from bailian_geo_agent.agent._compat.aiohttp import small_socket_reads
from bailian_geo_agent.agent.errors import StreamInterruptedError
from bailian_geo_agent.agent.providers._cache import CacheMode, add_cache_details, mark_explicit
from bailian_geo_agent.agent.providers._chunks import reasoning_chunk, text_chunk
from bailian_geo_agent.agent.providers._merge import MergesAsItStreams, merge_stream, result_of
from bailian_geo_agent.agent.providers._pools import LoopPools
from bailian_geo_agent.agent.providers._retry import aretry_before_first_chunk
from bailian_geo_agent.agent.providers._search import search_fields, search_results, sources_chunk
from bailian_geo_agent.agent.providers._sse import DEFAULT_MAX_EVENT_BYTES, iter_sse_data
from bailian_geo_agent.agent.providers._sse import loads_json as _loads
from bailian_geo_agent.agent.providers._thinking import (
    REASONING_KEY,
    ThinkingModeRules,
    reasoning_of,
)
from bailian_geo_agent.agent.providers._tool_calls import ParallelToolCallsByDefault
from bailian_geo_agent.agent.providers.profiles import COMPATIBLE_MODE, thinking_fields
from bailian_geo_agent.prompts.catalogue import text as message_text
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import PrivateAttr

if TYPE_CHECKING:
    from bailian_geo_agent.agent.config import Settings

_SDK_ONLY_KEYS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
_DONE = b"[DONE]"
_RETRY_BASE_DELAY = 0.5


def _fast_delta(event: dict[str, Any]) -> tuple[str, bool] | None:
    """``(text, is_reasoning)`` for an event carrying only answer text or only reasoning text
    (the bulk of a stream), else ``None``.

    Such an event is ``{"choices": [{"index": 0, "delta": {"content": "..."},
    "finish_reason": null, "logprobs": null}], ...}`` without usage; thinking models add
    ``"reasoning_content": null`` beside the text, or send ``{"content": null,
    "reasoning_content": "..."}``. No role, tool calls, finish reason, logprobs or usage, so its
    ``ChatGenerationChunk`` holds only that text.
    """
    if event.get("usage") or event.get("error"):
        return None
    choices = event.get("choices")
    if not choices or len(choices) != 1:
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if not delta or choice.get("finish_reason") or choice.get("logprobs"):
        return None
    content = delta.get("content")
    size = len(delta)
    if size == 1:
        if type(content) is str and content:
            return content, False
        return None
    if size != 2 or "content" not in delta or "reasoning_content" not in delta:
        return None
    reasoning = delta["reasoning_content"]
    if reasoning is None:
        if type(content) is str and content:
            return content, False
    elif type(reasoning) is str and reasoning and not content and type(content) is not list:
        return reasoning, True
    return None


def _text_delta(event: dict[str, Any]) -> str | None:
    """The text of an event that only carries answer text, else ``None``."""
    fast = _fast_delta(event)
    return fast[0] if fast is not None and not fast[1] else None


def _reasoning_of(event: dict[str, Any]) -> str | None:
    """The reasoning text of an event, if it carries any (general path)."""
    choices = event.get("choices")
    if not choices:
        return None
    reasoning = (choices[0].get("delta") or {}).get(REASONING_KEY)
    return reasoning if type(reasoning) is str and reasoning else None


# What langchain-openai's converter sets on a text-only message chunk.
_TEXT_FIELDS = frozenset({"content", "additional_kwargs", "tool_call_chunks", "id"})


def counts_as_output(chunk: ChatGenerationChunk) -> bool:
    """Whether ``chunk`` shows something (text, a tool call, reasoning): after it, a retry
    would repeat what the caller has seen."""
    message = chunk.message
    return bool(
        chunk.text
        or message.tool_call_chunks  # type: ignore[attr-defined]
        or message.additional_kwargs.get(REASONING_KEY)  # shown reasoning: no retry either
    )


def _messages_of(input_: LanguageModelInput) -> list[BaseMessage]:
    """The messages of a chat model input (what langchain-core makes of it)."""
    if isinstance(input_, PromptValue):
        return input_.to_messages()
    if isinstance(input_, str):
        return [HumanMessage(input_)]
    return convert_to_messages(input_)


def _stream_usage(model: ChatOpenAI, stream_usage: bool | None, kwargs: dict[str, Any]) -> bool:
    """Whether to ask for the usage chunk: the call's ``stream_usage``, its ``stream_options``,
    the model's ``model_kwargs`` ``stream_options``, then the model's ``stream_usage``, first
    set wins (ChatOpenAI's order)."""
    for source in (
        stream_usage,
        (kwargs.get("stream_options") or {}).get("include_usage"),
        (model.model_kwargs.get("stream_options") or {}).get("include_usage"),
        model.stream_usage,
    ):
        if isinstance(source, bool):
            return source
    return bool(model.stream_usage)


def _add_reasoning(sent: Any, messages: list[BaseMessage]) -> None:
    """Put each assistant message's stored reasoning back on its request entry."""
    if not isinstance(sent, list) or len(sent) != len(messages):
        return
    for entry, message in zip(sent, messages, strict=True):
        reasoning = reasoning_of(message) if message.type == "ai" else None
        if reasoning and isinstance(entry, dict):
            entry[REASONING_KEY] = reasoning


@functools.cache
def _tls() -> ssl.SSLContext:
    """The one TLS context of every HTTP client this module makes.

    Each context loads the CA bundle (20-50 ms); ChatOpenAI's sync and async clients and the
    aiohttp pool would load it three times in a fresh process, where the openai SDK alone
    loads it once. Made as httpx makes its default one (``SSL_CERT_FILE`` and friends apply).
    """
    return _http.create_ssl_context()


class _PoolTemplate(openai.DefaultAsyncHttpxClient):
    """The async client ``build_model`` gives ChatOpenAI (rather than letting it load its own
    TLS context): replaced by the per-loop pools (``_client_for_loop``), unlike a caller's."""


@functools.cache
def _pool_template() -> _PoolTemplate:
    return _PoolTemplate(verify=_tls())


_POOLS: LoopPools[Any] = LoopPools(
    lambda: openai.DefaultAioHttpClient(verify=_tls()),
    lambda client: client.is_closed,
    lambda client: client.aclose(),
)


async def close_http_clients() -> None:
    """Close every connection pool this module opened in the running loop (app shutdown)."""
    await _POOLS.close_all()


def model_settings(settings: Settings) -> dict[str, Any]:
    """The fields of ``settings`` every OpenAI-protocol chat model here takes (the ``openai``
    and ``responses`` providers; each adds its base URL and transport)."""
    return {
        "model": settings.model,
        "api_key": settings.require_api_key(),
        "streaming": True,
        "stream_usage": True,
        "timeout": settings.timeout,
        "max_retries": settings.max_retries,
        "retry_base_delay": settings.retry_base_delay,
        "max_sse_line_bytes": settings.max_sse_line_bytes,
        "enable_thinking": settings.enable_thinking,
        "thinking_budget": settings.thinking_budget,
        "preserve_thinking": settings.preserve_thinking,
        "context_cache": settings.context_cache,
        "enable_search": settings.enable_search,
    }


def build_model(settings: Settings) -> DashScopeChatOpenAI:
    """The ``openai`` provider's chat model for ``settings`` (the registry's factory)."""
    return DashScopeChatOpenAI(
        **model_settings(settings),
        base_url=settings.base_url,
        http_client=openai.DefaultHttpxClient(verify=_tls()),
        http_async_client=_pool_template(),
    )


class DashScopeChatOpenAI(
    MergesAsItStreams, ThinkingModeRules, ParallelToolCallsByDefault, ChatOpenAI
):
    """ChatOpenAI tuned for DashScope: lean streaming, parallel tool calls, truncation checks,
    Qwen thinking (reasoning in ``additional_kwargs["reasoning_content"]``)."""

    retry_base_delay: float = _RETRY_BASE_DELAY
    """First wait before retrying a stream that failed before sending anything."""
    max_sse_line_bytes: int = DEFAULT_MAX_EVENT_BYTES
    """Longest line or event accepted in the stream (``StreamLimitError`` beyond)."""
    enable_thinking: bool | None = None
    """Qwen thinking mode: ``None`` leaves it to the model, else sent as ``enable_thinking``."""
    thinking_budget: int | None = None
    """Most reasoning tokens (``thinking_budget``); only sent while thinking may be on."""
    preserve_thinking: bool = False
    """Send earlier turns' reasoning back (``reasoning_content`` on assistant messages and
    ``preserve_thinking``); off, reasoning is kept in history but never re-sent."""
    context_cache: CacheMode = "implicit"
    """``explicit``: ``cache_control`` markers on the system message and the history boundary
    (``agent.providers._cache``); ``implicit`` / ``off``: none."""
    enable_search: bool = False
    """Ask for web search (``enable_search``) and its sources (``search_options``)."""

    def with_structured_output(
        self,
        schema: Any = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        tools: list[Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """ChatOpenAI's structured output; while thinking through a tool call, since DashScope
        refuses ``response_format`` in thinking mode (and the forced choice is dropped)."""
        if self.thinking and not self.dashscope_profile.response_format_while_thinking:
            method = "function_calling"
        return super().with_structured_output(
            schema, method=method, include_raw=include_raw, strict=strict, tools=tools, **kwargs
        )

    def _convert_chunk_to_generation_chunk(
        self,
        chunk: dict[str, Any],
        default_chunk_class: type,
        base_generation_info: dict[str, Any] | None,
    ) -> ChatGenerationChunk | None:
        """langchain-openai's conversion, keeping ``reasoning_content`` (it drops it:
        langchain-ai/langchain#33672) in ``additional_kwargs`` as the native path does."""
        generation: ChatGenerationChunk | None = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        if generation is not None:
            reasoning = _reasoning_of(chunk)
            if reasoning is not None:
                generation.message.additional_kwargs[REASONING_KEY] = reasoning
            usage = chunk.get("usage")
            metadata = getattr(generation.message, "usage_metadata", None)
            if usage and metadata:  # the explicit cache's creation, read tolerantly
                add_cache_details(metadata, usage)
        return generation

    def _get_request_payload(
        self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """ChatOpenAI's body plus the thinking fields (where ``COMPATIBLE_MODE`` takes them)."""
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        COMPATIBLE_MODE.add_thinking_fields(
            payload,
            thinking_fields(self.enable_thinking, self.thinking_budget, self.preserve_thinking),
        )
        if self.preserve_thinking:
            _add_reasoning(payload.get("messages"), _messages_of(input_))
        if self.enable_search:
            payload["extra_body"] = {**search_fields(), **(payload.get("extra_body") or {})}
        if self.context_cache == "explicit" and isinstance(payload.get("messages"), list):
            payload["messages"] = mark_explicit(payload["messages"], payload.get("tools"))
        return payload

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Not in LangChain's load mapping, so not serializable as a LangChain object."""
        return False

    _loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = PrivateAttr(
        default_factory=weakref.WeakKeyDictionary
    )

    def _client_for_loop(self) -> Any:
        """The async openai client for the running event loop, on this model's own pool.

        The pool (see ``agent.providers._pools``) is the SDK's aiohttp transport
        (``openai.DefaultAioHttpClient``): on a stream of one-character chunks it costs about
        half of the default httpx2 transport per chunk and a few ms less per request (bench/).
        An ``http_async_client`` passed by the caller is used as it is.
        """
        if self.http_async_client is not None and not isinstance(
            self.http_async_client, _PoolTemplate
        ):
            return self.root_async_client
        loop = asyncio.get_running_loop()
        http_client = _POOLS.get(self)
        entry = self._loop_clients.get(loop)
        if entry is None or entry[0] is not http_client:
            client = self.root_async_client.with_options(http_client=http_client)
            entry = self._loop_clients[loop] = (http_client, client)
        return entry[1]

    @asynccontextmanager
    async def _open_stream(self, payload: dict[str, Any]) -> AsyncIterator[Any]:
        """The streaming HTTP response for ``payload``, through the SDK's auth and retries.

        langchain-openai's payload is already plain JSON, so it is posted as it is, skipping
        the SDK's per-request parameter transform (about a millisecond for a system prompt
        and a short history); status errors are still the SDK's own exceptions.
        """
        client = self._client_for_loop()
        if not _SDK_ONLY_KEYS.isdisjoint(payload):  # per-request SDK options: let it apply them
            async with client.chat.completions.with_streaming_response.create(**payload) as raw:
                yield raw.http_response
            return
        response = await client.post(
            "/chat/completions", cast_to=_http.Response, body=payload, stream=True
        )
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close this model's connection pool in the running loop (reopened on demand)."""
        await _POOLS.close(self)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if not self._core_streams(async_api=True, run_manager=run_manager, **kwargs):
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        return result_of(await merge_stream(self._astream(messages, stop, run_manager, **kwargs)))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        *,
        stream_usage: bool | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        stream_usage = _stream_usage(self, stream_usage, kwargs)
        payload_kwargs = {**kwargs, "stream": True}
        if stream_usage:
            payload_kwargs["stream_options"] = {"include_usage": True}
        payload = self._get_request_payload(messages, stop=stop, **payload_kwargs)
        extra = payload.get("extra_body")
        if isinstance(extra, dict) and _SDK_ONLY_KEYS.isdisjoint(payload.keys() - {"extra_body"}):
            # What the SDK does with extra_body (top-level fields), without leaving this path.
            payload = {k: v for k, v in payload.items() if k != "extra_body"} | extra
        sdk_only = self.include_response_headers or compat.uses_gateway(self)
        if "response_format" in payload or sdk_only:
            async for chunk in super()._astream(
                messages, stop, run_manager, stream_usage=stream_usage, **kwargs
            ):
                yield chunk
            return

        async for chunk in self._retried(
            lambda progress: self._astream_once(payload, run_manager, progress)
        ):
            yield chunk

    def _retried(
        self, stream: Callable[[dict[str, bool]], AsyncGenerator[ChatGenerationChunk, None]]
    ) -> AsyncIterator[ChatGenerationChunk]:
        """``stream(progress)`` opened again when its body broke before its first chunk
        (``progress`` says whether the response had begun)."""
        progress: dict[str, bool] = {}

        def open_stream() -> AsyncGenerator[ChatGenerationChunk, None]:
            progress.clear()
            return stream(progress)

        def retryable(exc: BaseException) -> bool:
            # The SDK already retried failures before the response began; a body that fails
            # is tried again here.
            return bool(progress) and isinstance(
                exc, (openai.APIConnectionError, StreamInterruptedError)
            )

        return aretry_before_first_chunk(
            open_stream,
            max_retries=self.max_retries or 0,
            base_delay=self.retry_base_delay,
            retryable=retryable,
            counts=counts_as_output,  # an empty role-only chunk: nothing a retry duplicates
        )

    async def _astream_once(
        self,
        payload: dict[str, Any],
        run_manager: AsyncCallbackManagerForLLMRun | None,
        progress: dict[str, bool],
    ) -> AsyncGenerator[ChatGenerationChunk, None]:
        convert = self._convert_chunk_to_generation_chunk
        fast = self.output_version != "v1"  # v1 turns content into blocks: the slow path
        chunk_class: type = AIMessageChunk
        finished = False
        generation: ChatGenerationChunk | None
        search = self.enable_search
        async with self._open_stream(payload) as http_response:
            progress["response_started"] = True
            small_socket_reads(http_response)  # a burst's first piece after 16 KiB, not 256
            try:
                async for data in iter_sse_data(
                    http_response.aiter_bytes(), self.max_sse_line_bytes
                ):
                    if data.startswith(_DONE):
                        break
                    event = _loads(data)
                    if search and "search_info" in event:
                        sources = search_results(event["search_info"])
                        if sources:
                            generation = sources_chunk(sources)
                            if run_manager:
                                await run_manager.on_llm_new_token("", chunk=generation)
                            yield generation
                    if fast and chunk_class is AIMessageChunk:
                        piece = _fast_delta(event)
                        if piece is not None:
                            text, is_reasoning = piece
                            metadata = {"model_provider": "openai"}
                            if is_reasoning:
                                generation = reasoning_chunk(text, metadata, _TEXT_FIELDS)
                                text = ""
                            else:
                                generation = text_chunk(text, metadata, _TEXT_FIELDS)
                            if run_manager:
                                await run_manager.on_llm_new_token(text, chunk=generation)
                            yield generation
                            continue
                    error = event.get("error")
                    if error:
                        message = error.get("message") if isinstance(error, dict) else None
                        if not isinstance(message, str):
                            message = "An error occurred during streaming"
                        raise openai.APIError(
                            message,
                            http_response.request,
                            body=error,
                        )
                    generation = convert(event, chunk_class, None)
                    if generation is None:
                        continue
                    info = generation.generation_info
                    if info and "finish_reason" in info:
                        finished = True
                    chunk_class = generation.message.__class__
                    if run_manager:
                        await run_manager.on_llm_new_token(generation.text, chunk=generation)
                    yield generation
            except _http.TimeoutException as err:
                raise openai.APITimeoutError(request=http_response.request) from err
            except _http.RequestError as err:  # the connection dropped mid-body
                raise StreamInterruptedError(message_text("stream_interrupted")) from err
        if not finished:
            raise StreamInterruptedError(message_text("stream_interrupted"))
