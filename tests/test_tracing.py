"""OpenTelemetry spans of a reply (GenAI semantic conventions), recorded with the SDK's
in-memory exporter: ``invoke_agent`` → ``chat``, ``execute_tool``, ``chat``; content only with
``GEO_AGENT_TRACE_CONTENT``; nothing from ``opentelemetry`` imported while tracing is off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bailian_geo_agent.agent import StreamChatService, telemetry
from langchain_core.tools import tool

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.helpers import assert_well_formed, collect, make_settings

REPO = Path(__file__).resolve().parents[1]
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages",
                "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}


@tool
def city_weather(city: str) -> str:
    """The weather in a city."""
    return f"{city}：晴，25°C"


@pytest.fixture
def spans() -> Iterator[object]:
    """Spans recorded by a provider of this test's own (the global one stays unset)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer_provider(provider)
    try:
        yield exporter
    finally:
        telemetry.use_tracer_provider(None)
        provider.shutdown()


def tree(finished) -> dict[str, list[str]]:
    """Each span's name → its children's names, in start order."""
    by_id = {s.context.span_id: s for s in finished}
    children: dict[str, list[str]] = {s.name: [] for s in finished}
    for s in sorted(finished, key=lambda s: s.start_time):
        if s.parent is not None and s.parent.span_id in by_id:
            children[by_id[s.parent.span_id].name].append(s.name)
    return children


async def reply_with_a_tool_call(fake, **settings) -> tuple[str, list]:
    fake.responder = tool_then_answer([ToolCall("city_weather", {"city": "杭州"}, id="call_7")],
                                      answer=lambda results: "杭州今天" + results[0])
    session = str(uuid.uuid4())
    async with StreamChatService(make_settings(fake, "openai", **settings),
                                 tools=[city_weather]) as service:
        events = await collect(service.stream_chat("杭州天气怎么样？", session))
    assert assert_well_formed(events) == "杭州今天杭州：晴，25°C"
    return session, events


async def test_a_reply_with_a_tool_call_gives_the_span_tree(fake_dashscope, spans):
    session, _ = await reply_with_a_tool_call(fake_dashscope)
    finished = spans.get_finished_spans()
    names = sorted(s.name for s in finished)
    assert names == ["chat qwen-plus", "chat qwen-plus", "execute_tool city_weather",
                     "invoke_agent bailian-geo-agent"], names
    assert tree(finished)["invoke_agent bailian-geo-agent"] == [
        "chat qwen-plus", "execute_tool city_weather", "chat qwen-plus"]
    assert len({s.context.trace_id for s in finished}) == 1
    by_name = {s.name: s for s in finished}
    agent = by_name["invoke_agent bailian-geo-agent"]
    assert agent.parent is None  # no span was current: a trace of its own
    chats = sorted((s for s in finished if s.name.startswith("chat")), key=lambda s: s.start_time)
    assert dict(agent.attributes) == {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bailian-geo-agent",
        "gen_ai.conversation.id": session, "gen_ai.request.model": "qwen-plus",
        "gen_ai.provider.name": "dashscope",
        # the reply's usage: both model calls
        "gen_ai.usage.input_tokens": sum(c.attributes["gen_ai.usage.input_tokens"]
                                         for c in chats),
        "gen_ai.usage.output_tokens": sum(c.attributes["gen_ai.usage.output_tokens"]
                                          for c in chats)}
    for chat in chats:
        attrs = dict(chat.attributes)
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "dashscope"
        assert attrs["gen_ai.request.model"] == "qwen-plus"
        assert attrs["gen_ai.response.model"] == "qwen-plus"
        assert attrs["gen_ai.conversation.id"] == session
        assert attrs["gen_ai.usage.input_tokens"] > 0
        assert attrs["gen_ai.usage.output_tokens"] > 0
        assert chat.kind.name == "CLIENT"
    assert dict(chats[0].attributes)["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert dict(chats[1].attributes)["gen_ai.response.finish_reasons"] == ("stop",)
    call = by_name["execute_tool city_weather"]
    assert dict(call.attributes) == {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "city_weather",
        "gen_ai.tool.type": "function", "gen_ai.tool.call.id": "call_7",
        "gen_ai.conversation.id": session}
    assert all(not CONTENT_KEYS & set(s.attributes) for s in finished)  # content: opt-in
    assert all(s.status.is_ok for s in finished)


async def test_content_only_when_asked(fake_dashscope, spans):
    await reply_with_a_tool_call(fake_dashscope, trace_content=True)
    by_name = {s.name: s for s in spans.get_finished_spans()}
    agent = dict(by_name["invoke_agent bailian-geo-agent"].attributes)
    assert json.loads(agent["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "杭州天气怎么样？"}]}]
    assert json.loads(agent["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "杭州今天杭州：晴，25°C"}]}]
    call = dict(by_name["execute_tool city_weather"].attributes)
    assert json.loads(call["gen_ai.tool.call.arguments"]) == {"city": "杭州"}
    assert call["gen_ai.tool.call.result"] == "杭州：晴，25°C"
    chats = sorted((s for s in spans.get_finished_spans() if s.name.startswith("chat")),
                   key=lambda s: s.start_time)
    first_out = json.loads(dict(chats[0].attributes)["gen_ai.output.messages"])
    assert first_out[0]["parts"][0]["type"] == "tool_call"
    assert first_out[0]["parts"][0]["name"] == "city_weather"
    second_in = json.loads(dict(chats[1].attributes)["gen_ai.input.messages"])
    assert second_in[-1] == {"role": "tool", "parts": [
        {"type": "tool_call_response", "id": "call_7", "response": "杭州：晴，25°C"}]}


async def test_a_failed_model_call_has_its_error_type(fake_dashscope, spans):
    fake_dashscope.script(Reply(status=400, error_code="InvalidParameter",
                                error_message="bad request"))
    async with StreamChatService(make_settings(fake_dashscope, "openai", max_retries=0),
                                 tools=[]) as service:
        events = await collect(service.stream_chat("你好"))
    assert events[-1]["type"] == "error"
    by_name = {s.name: s for s in spans.get_finished_spans()}
    chat, agent = by_name["chat qwen-plus"], by_name["invoke_agent bailian-geo-agent"]
    assert chat.attributes["error.type"] == "BadRequestError"
    assert agent.attributes["error.type"] in ("BadRequestError", "InvalidInputError",
                                              "GeoAgentError")
    assert not chat.status.is_ok and not agent.status.is_ok


def test_nothing_from_opentelemetry_is_imported_while_tracing_is_off(fake_dashscope):
    """A reply in a fresh interpreter with no ``OTEL_*`` variable, ``opentelemetry`` made
    unimportable: the reply works, and none of the package's modules tried to import it.
    (Where it is installed, ``langsmith`` imports its SDK on its own; nothing of ours does.)"""
    script = f"""
import asyncio, sys, traceback

attempts = []

class NoOpenTelemetry:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            attempts.append(traceback.extract_stack())
            raise ImportError(name)
        return None

sys.meta_path.insert(0, NoOpenTelemetry())
from bailian_geo_agent.agent import Settings, StreamChatService

async def main():
    settings = Settings(api_key="sk-fake", base_url={fake_dashscope.compatible_base_url!r},
                        session_store_url="memory://", max_retries=0)
    async with StreamChatService(settings, tools=[]) as service:
        events = [e async for e in service.stream_chat("你好")]
    assert events[-1]["type"] == "stream_end", events[-1]

asyncio.run(main())
def importer(stack):  # the module whose import statement asked
    return [f.filename for f in stack
            if not f.filename.startswith("<") and "importlib" not in f.filename][-1]

ours = [name for name in map(importer, attempts) if "site-packages" not in name]
print("OURS", ours, "LOADED", [m for m in sys.modules if m.startswith("opentelemetry")])
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OURS [] LOADED []" in done.stdout, done.stdout


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_an_mcp_tool_call_joins_the_callers_trace(spans, mode):
    """``traceparent`` in the tool call's ``_meta`` (either protocol revision): the
    ``execute_tool`` span is in that trace, child of the caller's span; a failing call carries
    ``error.type``; no other span (the SDK's own per-message span is off)."""
    from bailian_geo_agent.agent.mcp.server import build_server
    from mcp import Client

    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    server = build_server([city_weather])
    async with Client(server, mode=mode) as client:
        result = await client.call_tool("city_weather", {"city": "杭州"},
                                        meta={"traceparent": f"00-{trace_id}-{parent_id}-01"})
        failed = await client.call_tool("city_weather", {"town": "杭州"})
    assert not result.is_error and failed.is_error
    first, second = sorted(spans.get_finished_spans(), key=lambda s: s.start_time)
    assert first.name == second.name == "execute_tool city_weather"
    assert first.kind.name == "SERVER"
    assert first.context.trace_id == int(trace_id, 16)
    assert first.parent is not None and first.parent.span_id == int(parent_id, 16)
    attributes = dict(first.attributes)
    assert attributes.pop("jsonrpc.request.id", None) is not None or mode != "legacy"
    assert attributes == {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "city_weather",
        "gen_ai.tool.type": "function", "mcp.method.name": "tools/call"}
    assert second.parent is None and second.context.trace_id != first.context.trace_id
    assert second.attributes["error.type"] == "tool_error"


async def test_a_stopped_reply_ends_its_open_spans(fake_dashscope, spans):
    """The reader leaves while a tool runs: the tool's span and the reply's end, both with
    ``error.type`` ``cancelled``; no span is left open."""
    import asyncio

    @tool
    async def slow_lookup(city: str) -> str:
        """Looks a city up, slowly."""
        await asyncio.sleep(30)
        return city

    fake_dashscope.responder = tool_then_answer([ToolCall("slow_lookup", {"city": "杭州"})])
    async with StreamChatService(make_settings(fake_dashscope, "openai"),
                                 tools=[slow_lookup]) as service:
        stream = service.stream_chat("查一下", events=("tool_start",))
        async for event in stream:
            if event["type"] == "tool_start":
                break
        await stream.aclose()
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert sorted(by_name) == ["chat qwen-plus", "execute_tool slow_lookup",
                               "invoke_agent bailian-geo-agent"]
    assert by_name["execute_tool slow_lookup"].attributes["error.type"] == "CancelledError"
    assert by_name["invoke_agent bailian-geo-agent"].attributes["error.type"] == "cancelled"


def test_an_apps_own_global_tracer_provider_gets_the_spans(fake_dashscope):
    """An application that sets the global provider (``set_tracer_provider``) gets the spans
    with nothing else to do (a fresh interpreter: the global provider can be set once)."""
    script = f"""
import asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from bailian_geo_agent.agent import Settings, StreamChatService

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main():
    settings = Settings(api_key="sk-fake", base_url={fake_dashscope.compatible_base_url!r},
                        session_store_url="memory://", max_retries=0)
    async with StreamChatService(settings, tools=[]) as service:
        with trace.get_tracer("app").start_as_current_span("the app's request"):
            events = [e async for e in service.stream_chat("你好")]
    assert events[-1]["type"] == "stream_end", events[-1]

asyncio.run(main())
spans = {{s.name: s for s in exporter.get_finished_spans()}}
app = spans["the app's request"]
assert spans["invoke_agent bailian-geo-agent"].parent.span_id == app.context.span_id
print("SPANS", sorted(spans))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("SPANS ['chat qwen-plus', 'invoke_agent bailian-geo-agent', \"the app's request\"]"
            in done.stdout), done.stdout
