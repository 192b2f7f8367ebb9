"""``DashScopeResponses``: the ``responses`` provider, ChatOpenAI on DashScope's Responses API.

The request is langchain-openai's own (``use_responses_api=True``, ``use_previous_response_id
=True``): a turn sends only what came after the last stored reply, with that reply's id as
``previous_response_id`` (the id is kept in the stored ``AIMessage.response_metadata["id"]``),
so the history lives on the server. When the server no longer knows that id (HTTP 400
``previous_response_not_found``, OpenAI's shape; matched tolerantly), or the chain has grown
past the model's context, the call is sent once more with the whole stored history (trimmed
as on the other providers), before anything was streamed.

The stream (the Responses event format: ``response.output_text.delta``,
``response.reasoning_summary_text.delta``, ``response.function_call_arguments.delta``,
``response.completed`` with ``usage``, ``error``) is read here as on the ``openai`` provider:
SSE ``data`` decoded to dicts, text and reasoning deltas through the shared fast builders,
chunks shaped like the other providers' (text content, reasoning in
``additional_kwargs["reasoning_content"]``, tool-call chunks, usage with cached tokens).
``DASHSCOPE_ENABLE_SEARCH`` adds the built-in ``web_search`` tool; its ``url_citation``
annotations become ``source`` events. ``DASHSCOPE_SESSION_CACHE`` sends
``x-dashscope-session-cache: enable``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx2 as _http
import openai
from bailian_geo_agent.agent._compat import langchain_openai as compat
from bailian_geo_agent.agent.errors import (
    PromptTooLongError,
    StreamInterruptedError,
    to_agent_error,
)
from bailian_geo_agent.agent.providers._cache import add_cache_details
from bailian_geo_agent.agent.providers._chunks import reasoning_chunk, text_chunk
from bailian_geo_agent.agent.providers._search import is_web_url, sources_chunk
from bailian_geo_agent.agent.providers._sse import iter_sse_data
from bailian_geo_agent.agent.providers._sse import loads_json as _loads
from bailian_geo_agent.agent.providers.openai_compatible import (
    DashScopeChatOpenAI,
    counts_as_output,
    model_settings,
)
from bailian_geo_agent.agent.providers.profiles import COMPATIBLE_MODE, thinking_fields
from bailian_geo_agent.prompts.catalogue import text as message_text
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import ChatOpenAI

if TYPE_CHECKING:
    from bailian_geo_agent.agent.config import Settings

SESSION_CACHE_HEADER = "x-dashscope-session-cache"
WEB_SEARCH_TOOL: dict[str, str] = {"type": "web_search"}
"""The built-in web search tool (Model Studio, "Call built-in tools")."""
FORGOTTEN_CODE = "previous_response_not_found"
_FORGOTTEN_CODES = frozenset({FORGOTTEN_CODE, "response_not_found", "responsenotfound"})
_SDK_ONLY_KEYS = frozenset({"extra_headers", "extra_query", "timeout"})
_TEXT_FIELDS = frozenset({"content", "additional_kwargs", "tool_call_chunks", "id"})
_METADATA = {"model_provider": "openai"}
_REASONING_DELTAS = frozenset(
    {"response.reasoning_summary_text.delta", "response.reasoning_text.delta"}
)


def build_model(settings: Settings) -> DashScopeResponses:
    """The ``responses`` provider's chat model for ``settings`` (the registry's factory)."""
    headers = {SESSION_CACHE_HEADER: "enable"} if settings.session_cache else None
    return DashScopeResponses(
        **model_settings(settings),
        base_url=settings.responses_base_url,
        default_headers=headers,
    )


def is_forgotten_response(exc: BaseException) -> bool:
    """Whether ``exc`` says the server no longer knows the ``previous_response_id`` sent
    (OpenAI: HTTP 400, ``code: previous_response_not_found``, ``param: previous_response_id``;
    DashScope's wording unverified, so the code, the param or the message may say it)."""
    if not isinstance(exc, openai.APIError):
        return False
    status = getattr(exc, "status_code", None)
    if status is not None and status not in (400, 404):
        return False
    body = exc.body
    inner: Any = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(inner, Mapping):
        inner = body if isinstance(body, Mapping) else {}
    code = str(exc.code or inner.get("code") or "").lower()
    param = str(getattr(exc, "param", None) or inner.get("param") or "").lower()
    message = str(inner.get("message") or exc.message or "").lower()
    return (
        code in _FORGOTTEN_CODES
        or param == "previous_response_id"
        or ("response" in message and ("not found" in message or "not exist" in message))
    )


def without_response_ids(messages: list[BaseMessage]) -> list[BaseMessage]:
    """``messages`` with no stored reply id, so the request carries the whole history."""
    stripped: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, AIMessage) and "id" in message.response_metadata:
            metadata = {k: v for k, v in message.response_metadata.items() if k != "id"}
            message = message.model_copy(update={"response_metadata": metadata})
        stripped.append(message)
    return stripped


def usage_metadata(usage: Mapping[str, Any]) -> UsageMetadata:
    """LangChain's usage of a Responses ``usage`` object, with the cache's read and created
    tokens (``input_tokens_details.cached_tokens``, and ``cache_write_tokens`` or the tolerant
    names of ``agent.providers._cache``) and the reasoning tokens."""
    tokens_in = int(usage.get("input_tokens") or 0)
    tokens_out = int(usage.get("output_tokens") or 0)
    total = usage.get("total_tokens")
    metadata = UsageMetadata(
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        total_tokens=int(total) if isinstance(total, int) else tokens_in + tokens_out,
    )
    details = usage.get("output_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    if isinstance(reasoning, int):
        metadata["output_token_details"] = {"reasoning": reasoning}
    add_cache_details(metadata, usage)
    details = usage.get("input_tokens_details")
    written = details.get("cache_write_tokens") if isinstance(details, Mapping) else None
    known = metadata.get("input_token_details") or {}
    if isinstance(written, int) and "cache_creation" not in known:  # OpenAI's name for it
        metadata["input_token_details"] = {**known, "cache_creation": written}
    return metadata


def citations(annotations: Any) -> list[dict[str, str]]:
    """``{"url", "title"}`` of each http(s) ``url_citation`` annotation (others dropped)."""
    sources = []
    for annotation in annotations if isinstance(annotations, list) else [annotations]:
        if not isinstance(annotation, Mapping) or annotation.get("type") != "url_citation":
            continue
        url, title = annotation.get("url"), annotation.get("title")
        if is_web_url(url):
            sources.append({"url": url, "title": title if isinstance(title, str) and title
                            else url})
    return sources


def _completed_citations(response: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``url_citation`` annotations of a completed response's output messages."""
    found: list[dict[str, str]] = []
    for item in response.get("output") or ():
        if isinstance(item, Mapping) and item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, Mapping):
                    found.extend(citations(part.get("annotations") or []))
    return found


def _stream_error(event: Mapping[str, Any], request: Any) -> openai.APIError:
    """The SDK's error for an ``error`` or ``response.failed`` event inside an HTTP 200 stream."""
    error: Any = event
    if event.get("type") == "response.failed":
        response = event.get("response")
        error = (response.get("error") if isinstance(response, Mapping) else None) or {}
    message = error.get("message") if isinstance(error, Mapping) else None
    if not isinstance(message, str) or not message:
        message = "An error occurred during streaming"
    body = {k: error.get(k) for k in ("code", "message", "param") if error.get(k) is not None}
    return openai.APIError(message, request, body=body)


def _too_long(exc: BaseException) -> bool:
    """Whether ``exc`` says the input is past the model's context: a chain grown too long on
    the server, which the (trimmed) stored history replaces."""
    return isinstance(to_agent_error(exc), PromptTooLongError)


class DashScopeResponses(DashScopeChatOpenAI):
    """ChatOpenAI on DashScope's Responses API: server-side history by ``previous_response_id``,
    the built-in web search, Qwen thinking, streamed like the other providers."""

    use_responses_api: bool | None = True
    use_previous_response_id: bool = True
    store: bool | None = True
    """Sent as ``store: true``: a reply the next call chains from must be kept (OpenAI's
    default; DashScope's is not documented)."""

    def _get_request_payload(
        self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """langchain-openai's Responses body (``input``, ``previous_response_id``, tools) plus
        the thinking fields and, with search on, the built-in web search tool."""
        payload: dict[str, Any] = ChatOpenAI._get_request_payload(
            self, input_, stop=stop, **kwargs
        )
        payload.pop("stream_options", None)  # Chat Completions only: usage always comes
        COMPATIBLE_MODE.add_thinking_fields(
            payload,
            thinking_fields(self.enable_thinking, self.thinking_budget, self.preserve_thinking),
        )
        if self.enable_search:
            payload["tools"] = [*(payload.get("tools") or []), WEB_SEARCH_TOOL]
        return payload

    @asynccontextmanager
    async def _open_responses(self, payload: dict[str, Any]) -> AsyncIterator[Any]:
        """The streaming HTTP response for ``payload`` (``POST /responses``), through the SDK's
        auth and retries; its status errors are the SDK's own exceptions."""
        client = self._client_for_loop()
        extra = payload.get("extra_body")
        body = {k: v for k, v in payload.items() if k != "extra_body"}
        if isinstance(extra, dict):
            body |= extra
        if not _SDK_ONLY_KEYS.isdisjoint(body):
            async with client.responses.with_streaming_response.create(**payload) as raw:
                yield raw.http_response
            return
        response = await client.post("/responses", cast_to=_http.Response, body=body, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        *,
        stream_usage: bool | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        kwargs.pop("stream_options", None)
        payload = self._get_request_payload(messages, stop=stop, stream=True, **kwargs)
        text_format = isinstance(payload.get("text"), dict) and "format" in payload["text"]
        if text_format or self.include_response_headers or compat.uses_gateway(self):
            # Structured output, response headers, the LangSmith gateway: upstream's own path.
            async for chunk in ChatOpenAI._astream(
                self, messages, stop, run_manager, stream_usage=stream_usage, **kwargs
            ):
                yield chunk
            return

        async def chained_or_whole(
            progress: dict[str, bool],
        ) -> AsyncGenerator[ChatGenerationChunk, None]:
            produced = False
            try:
                async for chunk in self._astream_once(payload, run_manager, progress):
                    produced = produced or counts_as_output(chunk)
                    yield chunk
                return
            except openai.APIError as exc:
                if produced or "previous_response_id" not in payload:
                    raise
                if not (is_forgotten_response(exc) or _too_long(exc)):
                    raise
            whole = self._get_request_payload(
                without_response_ids(messages), stop=stop, stream=True, **kwargs
            )
            async for chunk in self._astream_once(whole, run_manager, progress):
                yield chunk

        async for chunk in self._retried(chained_or_whole):
            yield chunk

    async def _astream_once(
        self,
        payload: dict[str, Any],
        run_manager: AsyncCallbackManagerForLLMRun | None,
        progress: dict[str, bool],
    ) -> AsyncGenerator[ChatGenerationChunk, None]:
        search = self.enable_search
        cited: set[str] = set()
        with_args: set[Any] = set()  # output items whose arguments were streamed
        finished = False
        async with self._open_responses(payload) as http_response:
            progress["response_started"] = True
            try:
                async for data in iter_sse_data(
                    http_response.aiter_bytes(), self.max_sse_line_bytes
                ):
                    if data.startswith(b"[DONE]"):
                        break
                    event = _loads(data)
                    kind = event.get("type")
                    generation: ChatGenerationChunk | None = None
                    token = ""
                    if kind == "response.output_text.delta":
                        token = event.get("delta") or ""
                        if not token:
                            continue
                        generation = text_chunk(token, dict(_METADATA), _TEXT_FIELDS)
                    elif kind in _REASONING_DELTAS:
                        if not event.get("delta"):
                            continue
                        generation = reasoning_chunk(event["delta"], dict(_METADATA),
                                                     _TEXT_FIELDS)
                    elif kind == "response.output_item.added":
                        generation = self._call_start(event, with_args)
                    elif kind == "response.function_call_arguments.delta":
                        with_args.add(event.get("output_index"))
                        generation = self._tool_chunk(
                            {"args": event.get("delta") or "", "index": event.get("output_index")}
                        )
                    elif kind == "response.output_item.done":
                        generation = self._call_end(event, with_args)
                    elif kind == "response.output_text.annotation.added":
                        if search:
                            generation = self._sources(citations(event.get("annotation")), cited)
                    elif kind in ("response.completed", "response.incomplete"):
                        response = event.get("response") or {}
                        if search:
                            sources = self._sources(_completed_citations(response), cited)
                            if sources is not None:
                                if run_manager:
                                    await run_manager.on_llm_new_token("", chunk=sources)
                                yield sources
                        generation = self._final(response, kind == "response.incomplete")
                        finished = True
                    elif kind in ("error", "response.failed"):
                        raise _stream_error(event, http_response.request)
                    if generation is None:
                        continue
                    if run_manager:
                        await run_manager.on_llm_new_token(token, chunk=generation)
                    yield generation
                    if finished:
                        break
            except _http.TimeoutException as err:
                raise openai.APITimeoutError(request=http_response.request) from err
            except _http.RequestError as err:  # the connection dropped mid-body
                raise StreamInterruptedError(message_text("stream_interrupted")) from err
        if not finished:
            raise StreamInterruptedError(message_text("stream_interrupted"))

    @staticmethod
    def _tool_chunk(fields: dict[str, Any]) -> ChatGenerationChunk:
        call = {"type": "tool_call_chunk", "name": None, "args": "", "id": None, **fields}
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="", tool_call_chunks=[call], response_metadata=dict(_METADATA)
            )
        )

    def _call_start(
        self, event: Mapping[str, Any], with_args: set[Any]
    ) -> ChatGenerationChunk | None:
        item = event.get("item")
        if not isinstance(item, Mapping) or item.get("type") != "function_call":
            return None
        if item.get("arguments"):
            with_args.add(event.get("output_index"))
        return self._tool_chunk({
            "name": item.get("name"), "args": item.get("arguments") or "",
            "id": item.get("call_id"), "index": event.get("output_index"),
        })

    def _call_end(
        self, event: Mapping[str, Any], with_args: set[Any]
    ) -> ChatGenerationChunk | None:
        """The arguments of a call whose item only has them when done (none were streamed)."""
        item = event.get("item")
        index = event.get("output_index")
        if (not isinstance(item, Mapping) or item.get("type") != "function_call"
                or index in with_args or not item.get("arguments")):
            return None
        with_args.add(index)
        return self._tool_chunk({"args": item["arguments"], "index": index})

    @staticmethod
    def _sources(found: list[dict[str, str]], cited: set[str]) -> ChatGenerationChunk | None:
        new = [source for source in found if source["url"] not in cited]
        cited.update(source["url"] for source in new)
        return sources_chunk(new) if new else None

    def _final(self, response: Mapping[str, Any], incomplete: bool) -> ChatGenerationChunk:
        """The last chunk: the reply's id (kept with the history), finish reason and usage."""
        output = response.get("output") or ()
        calls = any(isinstance(i, Mapping) and i.get("type") == "function_call" for i in output)
        finish = "length" if incomplete else "tool_calls" if calls else "stop"
        metadata: dict[str, Any] = {**_METADATA, "finish_reason": finish}
        if isinstance(response.get("id"), str):
            metadata["id"] = response["id"]
        if isinstance(response.get("model"), str):
            metadata["model_name"] = response["model"]
        usage = response.get("usage")
        message = AIMessageChunk(
            content="",
            response_metadata=metadata,
            usage_metadata=usage_metadata(usage) if isinstance(usage, Mapping) else None,
        )
        return ChatGenerationChunk(message=message, generation_info={"finish_reason": finish})
