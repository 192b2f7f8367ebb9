"""A scriptable loopback fake of Alibaba DashScope's three HTTP protocols.

* OpenAI-compatible mode: ``POST {compatible_base_url}/chat/completions``
* native API: ``POST {native_base_url}/services/aigc/text-generation/generation``
* Responses API: ``POST {responses_base_url}/responses`` (``tests.fakes.responses``)

Wire formats follow /work/shared/protocols.md sections 1 and 2 (frame builders live in
``tests.fakes.dashscope_wire``). The server is one aiohttp application running in a background
thread's own event loop, bound to 127.0.0.1 on an ephemeral port. Run it standalone with
``python -m tests.fakes.dashscope [--port N] [--chunks N] [--chunk-size N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import inspect
import json
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from aiohttp import web

from tests.fakes import dashscope_wire as w
from tests.fakes import responses as r
from tests.fakes.loopback import LoopbackServer

__all__ = ["CacheAccounting", "FakeDashScope", "RecordedRequest", "Reply", "Responder",
           "ToolCall", "echo_responder", "request_text", "tool_then_answer"]

DEFAULT_MODELS = frozenset({
    "qwen-plus", "qwen-max", "qwen-turbo", "qwen-flash", "qwen3-max", "qwen-long",
    "qwen-plus-latest", "qwen-max-latest", "qwen-turbo-latest", "qwen3-coder-plus",
    "qwen3-235b-a22b", "qwen3-32b", "qwen3-8b", "qwen2.5-72b-instruct", "qwen2.5-7b-instruct",
    "qwq-plus", "qwen3-235b-a22b-thinking-2507", "qwen-vl-max", "qwen-vl-plus",
})
# protocols.md section 6: thinking-only models (stream only, enable_thinking restricted to true).
THINKING_ONLY_PREFIXES = ("qwq", "qvq")
# The service's wording for thinking-mode constraint violations (HTTP 400 InvalidParameter);
# the exact texts are *unverified*.
THINKING_STREAM_ONLY = ("This model only support stream mode, please enable the stream "
                        "parameter to access the model.")
THINKING_ONLY_TRUE = "The value of the enable_thinking parameter is restricted to True."
THINKING_TOOL_CHOICE = ("The tool_choice parameter does not support being set to required or "
                        "object in thinking mode.")
THINKING_RESPONSE_FORMAT = "The response_format parameter is not supported in thinking mode."


def is_thinking_only(model: str | None) -> bool:
    """qwq-*, qvq-* and qwen3-*-thinking-* models think always and stream only."""
    name = (model or "").lower()
    return name.startswith(THINKING_ONLY_PREFIXES) or "-thinking" in name
OPENAI_PATH = "/compatible-mode/v1/chat/completions"
NATIVE_PATH = "/api/v1/services/aigc/text-generation/generation"


@dataclass
class ToolCall:
    name: str
    arguments: str | dict  # dict is json.dumps'ed (ensure_ascii=False)
    id: str | None = None  # generated "call_<hex>" (fresh per request) when None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass
class Reply:
    """What the fake sends for ONE request. "Chunks" below count content events: the text
    pieces, then the tool-call fragments (the OpenAI role chunk is not counted)."""

    text: str = ""
    chunk_size: int = 2
    tool_calls: list[ToolCall] = field(default_factory=list)
    status: int = 200
    error_code: str | None = None
    error_message: str | None = None
    cut_after: int | None = None
    omit_done: bool = False
    moderation_after: int | None = None
    stall_before: float = 0.0
    stall_after: int | None = None
    stall_seconds: float = 0.0
    chunk_delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    # Extension: also send an empty ``"function":{}`` fragment after each tool call's arguments
    # (seen on the OpenAI-compatible path; the native path ignores it).
    empty_function_fragment: bool = False
    # Hostile upstreams (issue 16): after the role chunk, ``"huge_line"`` sends one data line of
    # ``hostile_bytes`` bytes and then the normal stream; ``"endless_line"`` sends bytes without
    # a newline until the client goes away. A slow drip is ``chunk_size=1, chunk_delay=...``.
    hostile: Literal["huge_line", "endless_line"] | None = None
    hostile_bytes: int = 20 * 1024 * 1024
    # Reasoning text streamed before the answer when the request thinks (``enable_thinking``
    # true, or a thinking-only model): ``reasoning_content`` deltas in the real shapes.
    reasoning: str = ""
    # Native only: VL models' list content ``[{"text": ...}]``.
    list_content: bool = False
    # An error body sent verbatim with ``status`` (real captures, e.g. bare throttles).
    error_body: dict | None = None
    # Prompt tokens read from the context cache: ``usage.prompt_tokens_details.cached_tokens``
    # (compatible mode's usage chunk, every native event's running usage; protocols.md §9).
    cached_tokens: int | None = None
    # Prompt tokens written to an explicit cache (``prompt_tokens_details.cache_creation...``,
    # both protocols; field names *unverified*, protocols.md §9).
    cache_creation_tokens: int | None = None
    # Web sources ``[{"title", "url"}]`` sent as ``search_info.search_results`` when the
    # request enables search (``enable_search``): native ``output`` of the first event (the
    # documented place); compatible mode's first chunk (*invented*: the docs say compatible
    # mode returns no sources; it tests that a future top-level ``search_info`` is read).
    search_results: list[dict] | None = None
    # Native: ``search_info`` on every event, not only the first.
    search_results_repeated: bool = False


@dataclass
class RecordedRequest:
    protocol: Literal["openai", "native", "responses"]
    path: str
    headers: dict[str, str]
    body: dict
    api_key: str | None
    model: str | None
    messages: list[dict]
    tools: list[dict]
    stream: bool


Responder = Callable[[RecordedRequest], Reply]


def request_text(request: RecordedRequest) -> str:
    """What a request sends the model, as the fake's tokenizer-free count sees it: its tools,
    then its messages, each JSON (``ensure_ascii=False``) with ``cache_control`` markers left
    out. One character is one "token" of the cache accounting (``CacheAccounting``)."""
    return _dumps(request.tools) + _dumps(_unmarked(request.messages))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _is_marked(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict) and "cache_control" in block for block in content)


def _unmarked(messages: list[dict]) -> list[dict]:
    """``messages`` without ``cache_control`` (a marked prefix and the same prefix unmarked are
    the same text to the model)."""
    out = []
    for message in messages:
        if _is_marked(message):
            content = [{k: v for k, v in block.items() if k != "cache_control"}
                       if isinstance(block, dict) else block for block in message["content"]]
            message = {**message, "content": content}
        out.append(message)
    return out


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of ``a`` and ``b`` (binary search on slices: C-speed
    compares, for prefixes of tens of thousands of characters)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


class CacheAccounting:
    """DashScope's context cache as the fake models it (``FakeDashScope.cache_accounting``), so
    the ``cached_tokens`` a reply reports follow from what was sent, per API key.

    Units: one character of ``request_text`` is one token (no tokenizer); the reply's
    ``prompt_tokens`` are then that text's length. Rules (Model Studio, "Context cache"):

    * implicit (a request without ``cache_control`` markers): the longest common prefix with
      an earlier request of the same key is read from the cache when it reaches
      ``IMPLICIT_MIN`` (256) tokens; nothing is reported as created.
    * explicit (a request with markers; the implicit cache is then not used): the prefix up to
      and including each marked message is a cache entry once it reaches ``EXPLICIT_MIN``
      (1,024) tokens, living ``TTL`` (300 s) from its last use. The longest marked prefix
      already stored is read (``cached_tokens``); when the longest marked prefix is new, its
      tokens beyond that hit are created (``cache_creation_input_tokens``), and every marked
      prefix is stored. At most ``MAX_MARKERS`` (4) markers count, the first ones.

    Simplifications: real caches hit in blocks and may miss under load; here a hit is exact
    and certain, which is what makes the numbers comparable from run to run.
    """

    IMPLICIT_MIN = 256
    EXPLICIT_MIN = 1024
    TTL = 300.0
    MAX_MARKERS = 4
    HISTORY = 64

    def __init__(self) -> None:
        self._seen: dict[str | None, deque[str]] = {}
        self._entries: dict[tuple[str | None, str], float] = {}

    def account(self, request: RecordedRequest) -> tuple[int, int, int | None]:
        """``(prompt, cached, created)`` tokens of ``request`` (``created`` is ``None`` for an
        implicit request), remembering it for later ones."""
        text = request_text(request)
        key = request.api_key
        if any(_is_marked(m) for m in request.messages):
            cached, created = self._explicit(request, key)
            return len(text), cached, created
        seen = self._seen.setdefault(key, deque(maxlen=self.HISTORY))
        best = max((_common_prefix(text, earlier) for earlier in seen), default=0)
        seen.append(text)
        return len(text), best if best >= self.IMPLICIT_MIN else 0, None

    def _explicit(self, request: RecordedRequest, key: str | None) -> tuple[int, int]:
        now = time.monotonic()
        self._entries = {k: t for k, t in self._entries.items() if now - t < self.TTL}
        messages = _unmarked(request.messages)
        marked = [i for i, m in enumerate(request.messages) if _is_marked(m)][:self.MAX_MARKERS]
        prefixes = [_dumps(request.tools) + _dumps(messages[: i + 1])[:-1] for i in marked]
        prefixes = [p for p in prefixes if len(p) >= self.EXPLICIT_MIN]
        hit = max((len(p) for p in prefixes if (key, p) in self._entries), default=0)
        created = 0
        if prefixes and (key, prefixes[-1]) not in self._entries:
            created = len(prefixes[-1]) - hit
        for p in prefixes:
            self._entries[(key, p)] = now
        return hit, created


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def echo_responder(request: RecordedRequest) -> Reply:
    """``ECHO[n]: <last user text>``, n = number of user messages in the request."""
    users = [m for m in request.messages if m.get("role") == "user"]
    last = _text_of(users[-1].get("content")) if users else ""
    return Reply(text=f"ECHO[{len(users)}]: {last}")


def tool_then_answer(
    calls: Callable[[RecordedRequest], list[ToolCall]] | list[ToolCall],
    answer: Callable[[list[str]], str] | None = None,
) -> Responder:
    """Tool calls for a trailing user message; an answer built from trailing tool results."""

    def responder(request: RecordedRequest) -> Reply:
        results: list[str] = []
        for m in reversed(request.messages):
            if m.get("role") != "tool":
                break
            results.insert(0, _text_of(m.get("content")))
        if results:
            text = answer(results) if answer else "根据工具结果：" + "；".join(results)
            return Reply(text=text)
        return Reply(tool_calls=list(calls(request) if callable(calls) else calls))

    return responder


class FakeDashScope(LoopbackServer):
    thread_name = "fake-dashscope"
    runner_options: ClassVar[dict[str, Any]] = {"handler_cancellation": True}

    def __init__(self, *, valid_keys: set[str] | None = None, models: set[str] | None = None):
        super().__init__()
        self._init_keys, self._init_models = valid_keys, models
        self.valid_keys: set[str] | None = valid_keys
        self.models: set[str] = set(DEFAULT_MODELS if models is None else models)
        self.responder: Responder = echo_responder
        # protocols.md: several tool calls in one turn only with parallel_tool_calls=true.
        self.enforce_parallel_tool_calls = True
        self.requests: list[RecordedRequest] = []
        # Responses API: each stored response's conversation (its input and its output).
        self.responses: dict[str, list[dict]] = {}
        # When set, replies that do not state their cache tokens report what this accounting
        # derives from the requests (``CacheAccounting``); off by default.
        self.cache_accounting: CacheAccounting | None = None
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API
    @property
    def compatible_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/compatible-mode/v1"

    @property
    def native_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def responses_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{r.PATH.removesuffix('/responses')}"

    def forget_responses(self) -> None:
        """Drop every stored response (a later ``previous_response_id`` is then unknown)."""
        self.responses.clear()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.responses.clear()
        self.responder = echo_responder
        self.valid_keys = self._init_keys
        self.models = set(DEFAULT_MODELS if self._init_models is None else self._init_models)
        self.enforce_parallel_tool_calls = True
        self.cache_accounting = None

    # ------------------------------------------------------------------ server plumbing
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(OPENAI_PATH, self._handle)
        app.router.add_post(NATIVE_PATH, self._handle)
        app.router.add_post(r.PATH, self._handle)
        return app

    def _next_reply(self, rec: RecordedRequest) -> Any:
        with self._lock:
            if self._script:
                return self._script.popleft()
        return self.responder(rec)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        native = request.path == NATIVE_PATH
        responses = request.path == r.PATH
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        try:
            body = json.loads(raw or b"{}")
            body = body if isinstance(body, dict) else {}
            bad_json = False
        except ValueError:
            body, bad_json = {}, True
        params = body.get("parameters") or {}
        previous = body.get("previous_response_id") if responses else None
        known = self.responses.get(previous) if isinstance(previous, str) else []
        if responses:
            messages = [*(known or []), *r.input_messages(body.get("input"))]
            tools, stream = body.get("tools") or [], bool(body.get("stream"))
        elif native:
            messages = (body.get("input") or {}).get("messages") or []
            tools = params.get("tools") or []
            stream = (headers.get("x-dashscope-sse", "").lower() == "enable"
                      or "text/event-stream" in headers.get("accept", ""))
        else:
            messages, tools = body.get("messages") or [], body.get("tools") or []
            stream = bool(body.get("stream"))
        protocol = "native" if native else "responses" if responses else "openai"
        rec = RecordedRequest(protocol, request.path, headers, body,
                              key or None, body.get("model"), messages, tools, stream)
        self.requests.append(rec)
        rid = w.new_request_id()

        if not key:
            # protocols.md: the flat native body is also seen on the compatible path.
            return self._json(401, {"code": "InvalidApiKey", "message": "No API-key provided.",
                                    "request_id": rid})
        if self.valid_keys is not None and key not in self.valid_keys:
            return self._error(native, 401, "invalid_api_key", None, rid, {})
        if bad_json:
            return self._error(native, 400, "invalid_parameter_error",
                               "The request body is not valid JSON.", rid, {})
        if rec.model not in self.models:
            return self._error(native, 404, "model_not_found", None, rid, {})
        if known is None:
            return self._json(400, r.forgotten_body(str(previous), rid))
        if not messages:
            return self._error(native, 400, "invalid_parameter_error",
                               "messages must not be empty", rid, {})

        try:
            reply = self._next_reply(rec)
            if inspect.isawaitable(reply):
                reply = await reply
        except Exception as exc:  # surface responder bugs as a readable 500
            return self._error(native, 500, "internal_error",
                               f"fake responder raised {exc!r}", rid, {})
        if reply.stall_before:
            await asyncio.sleep(reply.stall_before)
        if reply.error_body is not None:
            return self._json(reply.status, reply.error_body, reply.headers)
        thinking, problem = _thinking(rec, params if native else body)
        if problem:
            return self._error(native, 400, "invalid_parameter_error", problem, rid, {})
        if reply.status != 200 or reply.error_code is not None:
            status, code = w.resolve_error(reply.status, reply.error_code)
            return self._error(native, status, code, reply.error_message, rid, reply.headers)

        calls = [(tc.id or w.new_call_id(), tc.name, tc.arguments_json())
                 for tc in reply.tool_calls]
        parallel = params.get("parallel_tool_calls") if native else body.get("parallel_tool_calls")
        if self.enforce_parallel_tool_calls and parallel is not True:
            calls = calls[:1]
        prompt = w.count_tokens(messages)
        if not stream and responses:
            return self._error(False, 400, "invalid_parameter_error",
                               "The fake's Responses API streams only.", rid, {})
        if (self.cache_accounting is not None and reply.cached_tokens is None
                and reply.cache_creation_tokens is None):
            prompt, cached, created = self.cache_accounting.account(rec)
            reply = dataclasses.replace(reply, cached_tokens=cached,
                                        cache_creation_tokens=created)
        if not stream:
            return await self._complete(request, native, rec, reply, calls, prompt, rid, params)
        if native:
            role, frames, finals, error = w.native_stream(
                reply.text, reply.chunk_size, calls, prompt, rid,
                incremental=params.get("incremental_output") is True,
                result_format=params.get("result_format", "message"),
                reasoning=reply.reasoning, thinking=thinking, list_content=reply.list_content,
                cached=reply.cached_tokens, created=reply.cache_creation_tokens,
                sources=reply.search_results if params.get("enable_search") else None,
                sources_repeated=reply.search_results_repeated)
        elif responses:
            response_id = r.new_response_id()
            searching = any(isinstance(t, dict) and t.get("type") == "web_search" for t in tools)
            role, frames, finals, error = r.stream(
                rec.model or "", response_id, previous, reply.text, reply.chunk_size, calls,
                prompt, reasoning=reply.reasoning, thinking=thinking, cached=reply.cached_tokens,
                created=reply.cache_creation_tokens,
                sources=reply.search_results if searching else None)
            if body.get("store") is not False:
                self.responses[response_id] = messages + r.reply_messages(reply.text, calls)
        else:
            role, frames, finals, error = w.openai_stream(
                rec.model or "", reply.text, reply.chunk_size, calls, prompt,
                include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
                done=not reply.omit_done, empty_function=reply.empty_function_fragment,
                reasoning=reply.reasoning, thinking=thinking, cached=reply.cached_tokens,
                created=reply.cache_creation_tokens,
                sources=reply.search_results if body.get("enable_search") else None)
        return await self._stream(request, reply, role, frames, finals, error, rid)

    @staticmethod
    def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, text=w.dumps(body), headers=headers or {},
                            content_type="application/json", charset="utf-8")

    def _error(self, native: bool, status: int, code: str, message: str | None, rid: str,
               headers: dict[str, str]) -> web.Response:
        build = w.native_error_body if native else w.openai_error_body
        if native and code == "model_not_found" and status == 404:
            status = w.NATIVE_MODEL_NOT_FOUND[0]
        return self._json(status, build(code, message, rid), headers)

    async def _complete(self, request: web.Request, native: bool, rec: RecordedRequest,
                        reply: Reply, calls: list, prompt: int, rid: str,
                        params: dict) -> web.StreamResponse:
        """Non-streaming answer (moderation → 400 data_inspection_failed, cut → abort)."""
        if reply.cut_after is not None:
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        if reply.moderation_after is not None:
            return self._error(native, 400, "data_inspection_failed", w.MODERATION_MESSAGE,
                               rid, reply.headers)
        text = reply.text
        tcs = [{"id": cid, "type": "function", "function": {"name": n, "arguments": a}}
               for cid, n, a in calls]
        completion = max(1, len(w.split(text, reply.chunk_size)) + len(calls))
        if native:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if tcs:
                message["tool_calls"] = tcs
            body = w.native_result(message, "tool_calls" if tcs else "stop",
                                   w.native_usage(prompt, completion), rid,
                                   params.get("result_format", "message"))
        else:
            body = w.openai_completion(rec.model or "", text, tcs, prompt, completion)
        return self._json(200, body, {"x-request-id": rid, **reply.headers})

    async def _stream(self, request: web.Request, reply: Reply, role: bytes | None,
                      frames: list[bytes], finals: list[bytes], error: bytes,
                      rid: str) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream;charset=UTF-8", "Cache-Control": "no-cache",
            "x-request-id": rid, **reply.headers})
        written = 0

        async def send(frame: bytes) -> None:
            nonlocal written
            if reply.chunk_delay and written:
                await asyncio.sleep(reply.chunk_delay)
            await resp.write(frame)
            written += 1

        try:
            await resp.prepare(request)
            if role is not None:
                await send(role)
            if reply.hostile is not None:
                await _hostile(resp, reply)
            for i in range(len(frames) + 1):
                if reply.stall_after is not None and i == min(reply.stall_after, len(frames)):
                    await asyncio.sleep(reply.stall_seconds)
                if reply.cut_after is not None and i == min(reply.cut_after, len(frames)):
                    # FIN without the chunked terminator: data already sent still arrives
                    # (an RST could make the client's kernel discard it).
                    if request.transport is not None:
                        request.transport.close()
                    return resp
                if reply.moderation_after is not None and i == min(reply.moderation_after,
                                                                   len(frames)):
                    if error.startswith(b"id:0\n"):  # native: number the error event
                        error = error.replace(b"id:0\n", f"id:{i + 1}\n".encode(), 1)
                    await send(error)
                    await resp.write_eof()
                    return resp
                if i < len(frames):
                    await send(frames[i])
            for frame in finals:
                await send(frame)
            if reply.omit_done:
                resp.force_close()
            await resp.write_eof()
        except ConnectionError:
            pass
        return resp


async def _hostile(resp: web.StreamResponse, reply: Reply) -> None:
    """Write a hostile reply's bad bytes (see ``Reply.hostile``)."""
    piece = b"x" * 65536
    if reply.hostile == "huge_line":
        await resp.write(b'data: {"pad":"')
        for _ in range(reply.hostile_bytes // len(piece)):
            await resp.write(piece)
        await resp.write(b'"}\n\n')
        return
    while True:  # endless: until the client closes (ConnectionError ends the handler)
        await resp.write(piece)


def _thinking(rec: RecordedRequest, options: dict) -> tuple[bool, str | None]:
    """Whether the request thinks, and the 400 message of a thinking-mode rule it breaks.

    ``options`` is the compatible-mode body or the native ``parameters``.
    """
    enable = options.get("enable_thinking")
    only = is_thinking_only(rec.model)
    if only and enable is False:
        return False, THINKING_ONLY_TRUE
    thinking = enable is True or (enable is None and only)
    if not thinking:
        return False, None
    if not rec.stream:
        return True, THINKING_STREAM_ONLY
    choice = options.get("tool_choice")
    if choice not in (None, "auto", "none"):
        return True, THINKING_TOOL_CHOICE
    if options.get("response_format") not in (None, {"type": "text"}):
        return True, THINKING_RESPONSE_FORMAT
    return True, None


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback fake of DashScope (both protocols).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=None,
                        help="answer every request with a fixed N-chunk text (benchmarks)")
    parser.add_argument("--chunk-size", type=int, default=2)
    args = parser.parse_args(argv)
    server = FakeDashScope()
    if args.chunks is not None:
        base = "北京今天晴，气温二十度，东南风二级，适合出行。"
        size = max(1, args.chunk_size)
        text = (base * (args.chunks * size // len(base) + 1))[: args.chunks * size]
        server.responder = lambda _req: Reply(text=text, chunk_size=size)
    else:
        server.responder = lambda req: _with_size(echo_responder(req), args.chunk_size)
    serve_until_signalled(server, args.port)


def serve_until_signalled(server: FakeDashScope, port: int = 0) -> None:
    """Serve, print ``READY <compatible_base_url> <native_base_url> <responses_base_url>``, stop
    on SIGTERM/SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start(port)
    print(f"READY {server.compatible_base_url} {server.native_base_url} "
          f"{server.responses_base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    sys.exit(0)


def _with_size(reply: Reply, size: int) -> Reply:
    reply.chunk_size = max(1, size)
    return reply


if __name__ == "__main__":
    _main()
