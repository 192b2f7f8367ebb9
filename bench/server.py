"""The benchmark's loopback DashScope: ``tests.fakes.dashscope.FakeDashScope`` in its own process.

Run standalone (``python -m bench.server``); it prints ``READY <compatible> <native>``. Every
request is answered from an instruction in its last user message, so one server serves every
scenario (both protocols):

* ``bench n=500``            -> N one-character chunks of ``expected_text(500)``
* ``bench n=500 tool=1``     -> first a call of ``get_weather``; after the tool result, the text
* ``bench n=5 stall=3``      -> the reply starts after 3 s (a stalled upstream)
* ``bench n=500 think=1``    -> a thinking reply: n//2 reasoning chunks, then the rest as text
  (reasoning only when the request thinks: ``enable_thinking``)
* ``bench n=500 pace=0.002`` -> the chunks 2 ms apart (as a model writes them: each read one)
* ``bench n=2000 burst=1``   -> the whole stream in one write (the client reads many chunks
  per read, as after a network hiccup), so the first text arrives with the rest
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from tests.fakes.dashscope import (
    FakeDashScope,
    RecordedRequest,
    Reply,
    ToolCall,
    _text_of,
    serve_until_signalled,
)

BURST_HEADER = "x-bench-burst"

BASE_TEXT = "北京今天晴，气温二十度，东南风二级，适合出行。"
TOOL_NAME = "get_weather"
_ARG = re.compile(r"(\w+)=([\d.]+)")


def expected_text(n: int) -> str:
    """The exact text of an ``n``-chunk reply (one character per chunk)."""
    return (BASE_TEXT * (n // len(BASE_TEXT) + 1))[:n]


def thinking_texts(n: int) -> tuple[str, str]:
    """(reasoning, answer) of an ``n``-chunk thinking reply (one character per chunk)."""
    return expected_text(n // 2), expected_text(n - n // 2)


def instruction(n: int, *, tool: bool = False, stall: float = 0.0, think: bool = False,
                burst: bool = False, pace: float = 0.0) -> str:
    """The user message asking the bench server for a reply."""
    text = f"bench n={n}"
    if pace:
        text += f" pace={pace}"
    if burst:
        text += " burst=1"
    if tool:
        text += " tool=1"
    if think:
        text += " think=1"
    if stall:
        text += f" stall={stall}"
    return text


def responder(request: RecordedRequest) -> Reply:
    messages = request.messages
    users = [m for m in messages if m.get("role") == "user"]
    args = dict(_ARG.findall(_text_of(users[-1].get("content")) if users else ""))
    n = int(args.get("n", "10"))
    stall = float(args.get("stall", "0"))
    after_tool = bool(messages) and messages[-1].get("role") in ("tool", "function")
    if args.get("tool") == "1" and not after_tool:
        call = ToolCall(TOOL_NAME, {"city": "北京"})
        return Reply(tool_calls=[call], chunk_size=1, stall_before=stall)
    if args.get("think") == "1":
        reasoning, answer = thinking_texts(n)
        return Reply(reasoning=reasoning, text=answer, chunk_size=1, stall_before=stall)
    headers = {BURST_HEADER: "1"} if args.get("burst") == "1" else {}
    return Reply(text=expected_text(n), chunk_size=1, stall_before=stall, headers=headers,
                 chunk_delay=float(args.get("pace", "0")))


class BenchFake(FakeDashScope):
    """The fake, writing a ``burst=1`` reply's whole stream at once."""

    async def _stream(self, request: web.Request, reply: Reply, role: bytes | None,
                      frames: list[bytes], finals: list[bytes], error: bytes,
                      rid: str) -> web.StreamResponse:
        if BURST_HEADER not in reply.headers:
            return await super()._stream(request, reply, role, frames, finals, error, rid)
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream;charset=UTF-8", "x-request-id": rid})
        await resp.prepare(request)
        body: list[Any] = [role] if role is not None else []
        await resp.write(b"".join([*body, *frames, *finals]))
        await resp.write_eof()
        return resp


def main() -> None:
    server = BenchFake()
    server.responder = responder
    server.requests = _Discard()  # do not keep every request of a long benchmark
    serve_until_signalled(server)


class _Discard(list):
    def append(self, item: object) -> None:
        pass


if __name__ == "__main__":
    main()
