"""Pure builders for DashScope wire frames and bodies (no I/O).

Everything here follows /work/shared/protocols.md sections 1 (OpenAI-compatible mode) and 2
(native API). The server in ``tests.fakes.dashscope`` only decides *what* to send and when; the
exact bytes come from this module so they can be unit-tested on their own.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

DOCS = "For details, see: https://help.aliyun.com/zh/model-studio/error-code"

# OpenAI-compatible code -> (HTTP status, error.type, message, native code, native message).
# Types other than limit_requests / data_inspection_failed, the insufficient_quota row, the
# native quota code and the internal_error row are *unverified* likely shapes. The throttles
# ``Throttling.RateQuota`` / ``Throttling.AllocationQuota`` are sent in their real bare shape by
# ``throttle_body`` (no ``type``, no ``param``): transient, not exhausted quota.
ERRORS: dict[str, tuple[int, str, str, str, str]] = {
    "invalid_api_key": (
        401, "invalid_request_error", "Incorrect API key provided.",
        "InvalidApiKey", "Invalid API-key provided.",
    ),
    "model_not_found": (
        404, "invalid_request_error", "Model not exist.",
        "ModelNotFound", "Model not exist.",
    ),
    "limit_requests": (
        429, "limit_requests", "Requests rate limit exceeded, please try again later.",
        "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.",
    ),
    "insufficient_quota": (
        429, "insufficient_quota", "You exceeded your current quota.",
        "AllocationQuota.FreeTierOnly", "The free tier of the model has been exhausted.",
    ),
    "data_inspection_failed": (
        400, "data_inspection_failed", "Input data may contain inappropriate content.",
        "DataInspectionFailed", "Input data may contain inappropriate content.",
    ),
    "Arrearage": (
        400, "Arrearage", "Access denied, please make sure your account is in good standing.",
        "Arrearage", "Access denied, please make sure your account is in good standing.",
    ),
    "invalid_parameter_error": (
        400, "invalid_request_error", "Range of input length should be [1, 129024]",
        "InvalidParameter", "Range of input length should be [1, 129024]",
    ),
    "internal_error": (
        500, "internal_error", "An internal error has occured, please try again later.",
        "InternalError", "An internal error has occured, please try again later.",
    ),
}
NATIVE_TO_OPENAI = {row[3]: code for code, row in ERRORS.items()}
NATIVE_TO_OPENAI["InvalidParameter"] = "invalid_parameter_error"
# protocols.md: the native API answers an unknown model with HTTP 400 InvalidParameter.
NATIVE_MODEL_NOT_FOUND = (400, "InvalidParameter", "Model not exist.")
THROTTLE_CODES = ("Throttling.RateQuota", "Throttling.AllocationQuota")
STATUS_DEFAULT_CODE = {401: "invalid_api_key", 404: "model_not_found", 429: "limit_requests",
                       400: "invalid_parameter_error"}
MODERATION_MESSAGE = "Output data may contain inappropriate content."


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def new_request_id() -> str:
    return str(uuid.uuid4())


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def resolve_error(status: int, code: str | None) -> tuple[int, str]:
    """(status, openai-style code) for a scripted error; status 200 means 'default for code'."""
    if code in THROTTLE_CODES:  # sent as themselves, in their bare shape
        return (429 if status == 200 else status), code
    if code is not None:
        code = NATIVE_TO_OPENAI.get(code, code)
    if code is None:
        code = STATUS_DEFAULT_CODE.get(status, "internal_error" if status >= 500 else "unknown")
    if status == 200:
        status = ERRORS.get(code, (400,))[0]
    return status, code


def openai_error_body(code: str, message: str | None, request_id: str) -> dict:
    if code in THROTTLE_CODES:
        return throttle_body(code, request_id)
    row = ERRORS.get(code)
    if message is None:
        message = f"{row[2]} {DOCS}" if row else f"Error: {code}. {DOCS}"
        if code == "invalid_api_key":
            message += "#apikey-error "  # real messages may end in spaces: match on code
    return {"error": {"message": message, "type": row[1] if row else code, "param": None,
                      "code": code}, "request_id": request_id}


def throttle_body(code: str, request_id: str) -> dict:
    """The bare compatible-mode throttle body: ``{"error": {"code", "message"}}`` only."""
    return {"error": {"code": code, "message": "Requests rate limit exceeded, please try again "
                      "later."}, "request_id": request_id}


def native_error_body(code: str, message: str | None, request_id: str) -> dict:
    if code == "model_not_found":
        _, native_code, default = NATIVE_MODEL_NOT_FOUND
        return {"code": native_code, "message": message or default, "request_id": request_id}
    row = ERRORS.get(code)
    native_code = row[3] if row else code
    if code in THROTTLE_CODES:
        row = ERRORS["limit_requests"]
    return {"code": native_code, "message": message or (row[4] if row else native_code),
            "request_id": request_id}


def count_tokens(messages: list[dict]) -> int:
    """Deterministic stand-in for a tokenizer: characters of every text content, plus 4/message."""
    total = 0
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            total += len(c)
        elif isinstance(c, list):
            total += sum(len(str(p.get("text", ""))) for p in c if isinstance(p, dict))
        total += 4
    return max(total, 1)


def split(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i:i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------- OpenAI-compatible
def sse(obj: dict | str) -> bytes:
    """One OpenAI-mode SSE event: ``data: {json}`` and a blank line."""
    return f"data: {obj if isinstance(obj, str) else dumps(obj)}\n\n".encode()


DONE = sse("[DONE]")


class ChunkIds:
    """The stream-constant fields of an OpenAI-mode chunk."""

    def __init__(self, model: str):
        self.model = model
        self.id = "chatcmpl-" + uuid.uuid4().hex[:29]
        self.created = int(time.time())


def openai_chunk(ids: ChunkIds, delta: dict | None, finish_reason: str | None = None,
                 usage: dict | None = None, order: int = 0) -> dict:
    """A ``chat.completion.chunk``; ``delta None`` gives the usage chunk (``choices: []``).

    Key order varies between chunks like on the real service (``order`` picks one of two).
    """
    choices = [] if delta is None else [
        {"delta": delta, "index": 0, "logprobs": None, "finish_reason": finish_reason}]
    if order % 2 == 0:
        return {"choices": choices, "object": "chat.completion.chunk", "usage": usage,
                "created": ids.created, "system_fingerprint": None, "model": ids.model,
                "id": ids.id}
    return {"model": ids.model, "id": ids.id, "choices": choices, "created": ids.created,
            "object": "chat.completion.chunk", "usage": usage, "system_fingerprint": None}


def openai_tool_fragments(index: int, call_id: str, name: str, arguments: str, size: int,
                          empty_function: bool = False) -> list[dict]:
    """Delta objects for one streamed tool call: id+name (+first args piece), then ``"id":""``."""
    pieces = split(arguments, size) or [""]
    first = {"content": None, "role": "assistant", "tool_calls": [
        {"index": index, "id": call_id, "type": "function",
         "function": {"name": name, "arguments": pieces[0]}}]}
    out = [first]
    for p in pieces[1:]:
        out.append({"tool_calls": [{"index": index, "id": "", "type": "function",
                                    "function": {"arguments": p}}]})
    if empty_function:
        out.append({"tool_calls": [{"index": index, "id": "", "type": "function",
                                    "function": {}}]})
    return out


def cache_details(cached: int | None, created: int | None) -> dict:
    """``prompt_tokens_details`` of a cache hit (``cached_tokens``) and, for an explicit cache
    (``created`` not None), its creation as the Model Studio "Context cache" examples show it
    (``cache_creation.ephemeral_5m_input_tokens``, ``cache_creation_input_tokens``,
    ``cache_type``; the creation field names are *unverified*, protocols.md §9)."""
    details: dict[str, Any] = {"cached_tokens": cached or 0}
    if created is not None:
        details["cache_creation"] = {"ephemeral_5m_input_tokens": created}
        details["cache_creation_input_tokens"] = created
        details["cache_type"] = "ephemeral"
    return details


def search_info(results: list[dict]) -> dict:
    """``search_info`` of a web-searching reply (``enable_search`` with
    ``search_options.enable_source``): ``search_results[]{index, title, url, site_name}``."""
    return {"search_results": [{"index": i + 1, "site_name": "", **r}
                               for i, r in enumerate(results)]}


def openai_usage(prompt: int, completion: int, reasoning: int | None = None,
                 cached: int | None = None, created: int | None = None) -> dict:
    """Compatible-mode usage; thinking replies add ``completion_tokens_details``, a cache hit
    ``prompt_tokens_details.cached_tokens`` (and an explicit cache's creation)."""
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        usage["prompt_tokens_details"] = {"cached_tokens": 0}
    if cached is not None or created is not None:
        usage["prompt_tokens_details"] = cache_details(cached, created)
    return usage


def openai_completion(model: str, text: str, tool_calls: list[dict], prompt: int,
                      completion: int) -> dict:
    """Non-streaming ``chat.completion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [{"index": i, **tc} for i, tc in enumerate(tool_calls)]
    ids = ChunkIds(model)
    return {"choices": [{"message": message, "finish_reason": "tool_calls" if tool_calls
                         else "stop", "index": 0, "logprobs": None}],
            "object": "chat.completion", "usage": openai_usage(prompt, completion),
            "created": ids.created, "system_fingerprint": None, "model": model,
            "id": ids.id}


# --------------------------------------------------------------------------- native
def native_event(event_id: int, payload: dict, *, error: bool = False, status: int = 200) -> bytes:
    """One native SSE event: no space after the colons, ``:HTTP_STATUS/<n>`` comment line."""
    kind = "error" if error else "result"
    return (f"id:{event_id}\nevent:{kind}\n:HTTP_STATUS/{status}\ndata:{dumps(payload)}\n\n"
            ).encode()


def native_usage(prompt: int, completion: int, reasoning: int | None = None,
                 cached: int | None = None, created: int | None = None) -> dict:
    """Native running usage; thinking replies add the token details DashScope sends, a cache
    hit ``prompt_tokens_details.cached_tokens`` (and an explicit cache's creation)."""
    usage: dict[str, Any] = {"total_tokens": prompt + completion, "output_tokens": completion,
                             "input_tokens": prompt}
    if reasoning is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": 0}
        usage["output_tokens_details"] = {"reasoning_tokens": reasoning}
    if cached is not None or created is not None:
        usage["prompt_tokens_details"] = cache_details(cached, created)
    return usage


def native_result(message: dict, finish_reason: str, usage: dict, request_id: str,
                  result_format: str = "message") -> dict:
    """Native result body; ``finish_reason`` is the *string* "null" while streaming."""
    if result_format == "text":
        output: dict = {"text": message.get("content", ""), "finish_reason": finish_reason}
    else:
        output = {"choices": [{"message": message, "finish_reason": finish_reason}]}
    return {"output": output, "usage": usage, "request_id": request_id}


def native_tool_fragments(index: int, call_id: str, name: str, arguments: str,
                          size: int) -> list[dict]:
    """Incremental native tool-call fragments: id+name with ``arguments:""``, then ``"id":""``."""
    out = [{"index": index, "id": call_id, "type": "function",
            "function": {"name": name, "arguments": ""}}]
    for p in split(arguments, size):
        out.append({"index": index, "id": "", "type": "function", "function": {"arguments": p}})
    return out


# --------------------------------------------------------------------------- whole streams
Frames = tuple[bytes | None, list[bytes], list[bytes], bytes]
Calls = list[tuple[str, str, str]]  # (id, name, arguments JSON)


def openai_stream(model: str, text: str, chunk_size: int, calls: Calls, prompt: int, *,
                  include_usage: bool, done: bool = True, empty_function: bool = False,
                  reasoning: str = "", thinking: bool = False,
                  cached: int | None = None, created: int | None = None,
                  sources: list[dict] | None = None) -> Frames:
    """(role chunk, content chunks, closing chunks, moderation error event) of one stream.

    ``sources``: ``search_info`` at the top of the role chunk (where it comes is *unverified*).

    ``thinking`` gives protocols.md section 6's shapes: ``reasoning_content`` beside every
    ``content`` (``null`` where absent), the reasoning pieces first, an extra
    ``{"id":"","function":{"arguments":""}}`` fragment ending each tool call, a final delta
    ``{"content":"","reasoning_content":null}`` and ``completion_tokens_details``.
    """
    ids = ChunkIds(model)
    if thinking:
        role_delta: dict = {"content": None, "role": "assistant", "reasoning_content": ""}
    else:
        role_delta = {"content": "", "role": "assistant"}
    first = openai_chunk(ids, role_delta, order=1)
    if sources:
        first["search_info"] = search_info(sources)
    role = sse(first)
    thoughts = split(reasoning, chunk_size) if thinking else []
    deltas: list[dict] = [{"content": None, "reasoning_content": p} for p in thoughts]
    if thinking:
        deltas += [{"content": p, "reasoning_content": None} for p in split(text, chunk_size)]
    else:
        deltas += [{"content": p} for p in split(text, chunk_size)]
    for i, (cid, name, args) in enumerate(calls):
        fragments = openai_tool_fragments(i, cid, name, args, max(chunk_size, 4), empty_function)
        if thinking:
            fragments[0]["reasoning_content"] = None
            fragments.append({"tool_calls": [{"index": i, "id": "", "type": "function",
                                              "function": {"arguments": ""}}]})
        deltas += fragments
    frames = [sse(openai_chunk(ids, d, order=0)) for d in deltas]
    if thinking:
        last: dict = {"content": "", "reasoning_content": None}
    else:
        last = {} if calls else {"content": ""}
    finals = [sse(openai_chunk(ids, last, "tool_calls" if calls else "stop", order=1))]
    if include_usage:
        usage = openai_usage(prompt, max(1, len(deltas)), len(thoughts) if thinking else None,
                             cached, created)
        finals.append(sse(openai_chunk(ids, None, usage=usage, order=0)))
    if done:
        finals.append(DONE)
    error = sse({"error": {"message": MODERATION_MESSAGE, "type": "data_inspection_failed",
                           "param": None, "code": "data_inspection_failed"}})
    return role, frames, finals, error


def native_stream(text: str, chunk_size: int, calls: Calls, prompt: int, request_id: str, *,
                  incremental: bool, result_format: str = "message", reasoning: str = "",
                  thinking: bool = False, list_content: bool = False,
                  cached: int | None = None, created: int | None = None,
                  sources: list[dict] | None = None, sources_repeated: bool = False) -> Frames:
    """Native stream: deltas when ``incremental``, else cumulative content and tool calls.

    ``thinking``: ``reasoning_content`` pieces first (``content ""``), then text with
    ``reasoning_content ""``, usage with ``output_tokens_details.reasoning_tokens``.
    ``list_content``: VL models' ``content: [{"text": ...}]``.
    The error event is numbered ``id:0``; the server renumbers it where it is sent.
    ``sources``: ``output.search_info`` on the first event (every text event with
    ``sources_repeated``: where it comes is *unverified*, so a reader must take both).
    """
    def content_of(value: str) -> str | list[dict]:
        return [{"text": value}] if list_content else value

    messages: list[dict] = []
    thought = ""
    for piece in split(reasoning, chunk_size) if thinking else []:
        thought += piece
        messages.append({"content": content_of(""), "reasoning_content":
                         piece if incremental else thought, "role": "assistant"})
    thoughts = len(messages)
    so_far = ""
    for piece in split(text, chunk_size):
        so_far += piece
        m: dict[str, Any] = {"content": content_of(piece if incremental else so_far),
                             "role": "assistant"}
        if thinking:
            m["reasoning_content"] = "" if incremental else thought
        messages.append(m)
    state: list[dict] = []
    for i, (cid, name, args) in enumerate(calls):
        for frag in native_tool_fragments(i, cid, name, args, max(chunk_size, 4)):
            if frag["id"]:
                state.append(copy.deepcopy(frag))
            else:
                state[-1]["function"]["arguments"] += frag["function"]["arguments"]
            messages.append({"content": "" if incremental else so_far, "role": "assistant",
                             "tool_calls": [frag] if incremental else copy.deepcopy(state)})
    reasoning_count = thoughts if thinking else None
    results = [native_result(
        m, "null", native_usage(prompt, n + 1, min(n + 1, thoughts) if thinking else None,
                                cached, created),
        request_id, result_format) for n, m in enumerate(messages)]
    if sources and results:
        for result in results if sources_repeated else results[:1]:
            result["output"]["search_info"] = search_info(sources)
    frames = [native_event(n + 1, result) for n, result in enumerate(results)]
    last: dict[str, Any] = {"content": content_of("" if incremental else so_far),
                            "role": "assistant"}
    if thinking:
        last["reasoning_content"] = "" if incremental else thought
    if state and not incremental:
        last["tool_calls"] = state
    final = native_result(last, "tool_calls" if calls else "stop",
                          native_usage(prompt, max(1, len(messages)), reasoning_count, cached,
                                       created),
                          request_id, result_format)
    error = native_event(0, {"code": "DataInspectionFailed", "message": MODERATION_MESSAGE,
                             "request_id": request_id}, error=True, status=400)
    return None, frames, [native_event(len(frames) + 1, final)], error
