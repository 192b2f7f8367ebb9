"""The streaming paths the benchmark compares, each as ``reply(n) -> Timing``.

Every path asks the bench server for an ``n``-chunk answer (see ``bench.server``) and returns
when the reply is complete, with the text it received (checked by the caller). The product
paths are the default ones users run: ``StreamChatService(Settings(...), tools=[...])``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bench.server import TOOL_NAME, instruction

API_KEY = "sk-bench"
MODEL = "qwen-plus"
TOOL_RESULT = "北京：晴，25°C"
WEATHER_SCHEMA = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Current weather for a city, e.g. 北京.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@dataclass
class Timing:
    start: float
    first: float  # first text chunk received
    last: float  # last text chunk received
    end: float  # reply complete
    text: str
    chunks: int

    @property
    def ttfc(self) -> float:
        return self.first - self.start

    def per_chunk(self) -> float:
        return (self.last - self.first) / max(1, self.chunks - 1)


class _Clock:
    """Records chunk arrival times cheaply (a list append per chunk)."""

    __slots__ = ("first", "last", "parts", "start")

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first = 0.0
        self.last = 0.0
        self.parts: list[str] = []

    def add(self, piece: str) -> None:
        self.last = now = time.perf_counter()
        if not self.parts:
            self.first = now
        self.parts.append(piece)

    def done(self) -> Timing:
        end = time.perf_counter()
        return Timing(self.start, self.first, self.last or end, end, "".join(self.parts),
                      len(self.parts))


Reply = Callable[..., Awaitable[Timing]]
PATHS: dict[str, Callable[[str, str], Awaitable[Reply]]] = {}


def path(name: str):
    def register(factory):
        PATHS[name] = factory
        return factory

    return register


# -- the server's own speed: a bare HTTP/1.1 client on one keep-alive connection -------------

_CONTENT = re.compile(rb'"content":"[^"]')


@path("server")
async def _server(base: str, native: str) -> Reply:
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)

    async def reply(n: int, **_: Any) -> Timing:
        body = json.dumps({
            "model": MODEL, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": instruction(n)}],
        }).encode()
        head = (f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        clock = _Clock()
        writer.write(head + body)
        await reader.readuntil(b"\r\n\r\n")
        count = 0
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            found = len(_CONTENT.findall(data))
            if found:
                if not count:
                    clock.first = time.perf_counter()
                count += found
                clock.last = time.perf_counter()
        timing = clock.done()
        timing.chunks, timing.text = count, None  # type: ignore[assignment]
        return timing

    return reply


# -- raw SDKs --------------------------------------------------------------------------------


@path("raw_openai")
async def _raw_openai(base: str, native: str) -> Reply:
    import openai

    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=base, max_retries=2, timeout=60)
    completions = client.chat.completions

    async def stream(clock: _Clock, messages: list, tools: list | None,
                     think: bool = False) -> list:
        kwargs: dict[str, Any] = {"tools": tools, "parallel_tool_calls": True} if tools else {}
        if think:
            kwargs["extra_body"] = {"enable_thinking": True}
        response = await completions.create(
            model=MODEL, messages=messages, stream=True,
            stream_options={"include_usage": True}, **kwargs,
        )
        calls: list = []
        async for chunk in response:
            if chunk.choices:
                delta = chunk.choices[0].delta
                reasoning = getattr(delta, "reasoning_content", None) if think else None
                if reasoning:
                    clock.add(reasoning)
                if delta.content:
                    clock.add(delta.content)
                if delta.tool_calls:
                    calls.extend(delta.tool_calls)
        return calls

    async def reply(n: int, tool: bool = False, think: bool = False,
                    burst: bool = False) -> Timing:
        clock = _Clock()
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": instruction(n, tool=tool, think=think, burst=burst)}]
        if tool:
            calls = await stream(clock, messages, [WEATHER_SCHEMA])
            call_id = next(c.id for c in calls if c.id)
            args = "".join(c.function.arguments or "" for c in calls if c.function)
            json.loads(args)
            messages.append({"role": "assistant", "content": "", "tool_calls": [{
                "id": call_id, "type": "function",
                "function": {"name": TOOL_NAME, "arguments": args}}]})
            messages.append({"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULT})
        await stream(clock, messages, [WEATHER_SCHEMA] if tool else None, think)
        return clock.done()

    return reply


@path("raw_dashscope")
async def _raw_dashscope(base: str, native: str) -> Reply:
    import dashscope

    async def reply(n: int, think: bool = False, **_: Any) -> Timing:
        clock = _Clock()
        extra = {"enable_thinking": True} if think else {}
        responses = await dashscope.AioGeneration.call(
            model=MODEL, api_key=API_KEY, base_address=native, stream=True,
            incremental_output=True, result_format="message",
            messages=[{"role": "user", "content": instruction(n, think=think)}], **extra,
        )
        async for resp in responses:
            if resp.status_code != 200:
                raise RuntimeError(f"dashscope error {resp.status_code} {resp.code}")
            message = resp.output.choices[0].message
            reasoning = message.get("reasoning_content") if think else None
            if reasoning:
                clock.add(reasoning)
            content = message.content
            if content:
                clock.add(content)
        return clock.done()

    return reply


# -- LangChain's stock ChatOpenAI --------------------------------------------------------------


@path("chatopenai")
async def _chatopenai(base: str, native: str) -> Reply:
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model=MODEL, api_key=API_KEY, base_url=base, streaming=True,
                       stream_usage=True, max_retries=2, timeout=60)

    async def reply(n: int, **_: Any) -> Timing:
        clock = _Clock()
        async for chunk in model.astream([("user", instruction(n))]):
            if chunk.content:
                clock.add(chunk.content)
        return clock.done()

    return reply


# -- the product: StreamChatService on its default paths ----------------------------------------


def _service(provider: str, with_tool: bool, thinking: bool = False):
    async def factory(base: str, native: str) -> Reply:
        from bailian_geo_agent.agent import Settings, StreamChatService

        tools = []
        if with_tool:
            from langchain_core.tools import tool

            @tool
            def get_weather(city: str) -> str:
                """Current weather for a city, e.g. 北京."""
                return TOOL_RESULT

            tools = [get_weather]
        settings = Settings(api_key=API_KEY, base_url=base, native_base_url=native,
                            provider=provider, model=MODEL,
                            enable_thinking=True if thinking else None)
        service = StreamChatService(settings, tools=tools)
        events = {"reasoning_chunk"} if thinking else None

        async def reply(n: int, tool: bool = with_tool, stall: float = 0.0,
                        think: bool = thinking) -> Timing:
            clock = _Clock()
            add = clock.add
            error = None
            message = instruction(n, tool=tool, stall=stall, think=think)
            async for event in service.stream_chat(message, events=events):
                kind = event["type"]
                if kind == "stream_chunk" or kind == "reasoning_chunk":
                    add(event["chunk"])
                elif kind == "error":
                    error = event["error"]
            if error is not None:
                raise RuntimeError(f"error event: {error}")
            return clock.done()

        reply.service = service  # type: ignore[attr-defined]
        return reply

    return factory


PATHS["service"] = _service("openai", False)
PATHS["service_tool"] = _service("openai", True)
PATHS["service_tongyi"] = _service("tongyi", False)
PATHS["service_thinking"] = _service("openai", False, thinking=True)
PATHS["service_tongyi_thinking"] = _service("tongyi", False, thinking=True)


# -- Qwen-Agent (an optional peer: ``pip install qwen-agent``) ----------------------------------


def _qwen_agent(with_tool: bool):
    async def factory(base: str, native: str) -> Reply:
        import logging

        from qwen_agent.agents import Assistant
        from qwen_agent.tools.base import BaseTool, register_tool

        logging.getLogger("qwen_agent_logger").setLevel(logging.WARNING)
        tools: list[Any] = []
        if with_tool:
            @register_tool(TOOL_NAME, allow_overwrite=True)
            class Weather(BaseTool):
                description = "Current weather for a city, e.g. 北京."
                parameters = WEATHER_SCHEMA["function"]["parameters"]

                def call(self, params: str, **kwargs: Any) -> str:
                    return TOOL_RESULT

            tools = [TOOL_NAME]
        llm = {"model": MODEL, "model_server": base, "api_key": API_KEY,
               "generate_cfg": {"use_raw_api": True}}
        bot = Assistant(llm=llm, function_list=tools or None)

        async def reply(n: int, **_: Any) -> Timing:
            clock = _Clock()
            messages = [{"role": "user", "content": instruction(n, tool=with_tool)}]
            seen = 0
            # Assistant.run yields the whole reply so far each time; take the new text.
            for responses in bot.run(messages):
                last = responses[-1] if responses else None
                if last is None or last.get("role") != "assistant":
                    continue
                content = last.get("content") or ""
                if isinstance(content, str) and len(content) > seen:
                    clock.add(content[seen:])
                    seen = len(content)
            return clock.done()

        return reply

    return factory


PATHS["qwen_agent"] = _qwen_agent(False)
PATHS["qwen_agent_tool"] = _qwen_agent(True)

TOOL_PATHS = {"raw_openai_tool": "raw_openai", "service_tool": "service_tool",
              "qwen_agent_tool": "qwen_agent_tool"}
