"""The server consumes typed events: no string dispatch on an event's type anywhere in
``agent/server``; the protocol adapters share one base; AI SDK tool parts pair by call id."""

from __future__ import annotations

import ast
from pathlib import Path

from bailian_geo_agent.agent.events import (
    OPTIONAL_EVENTS,
    StreamEnd,
    StreamStart,
    ToolEnd,
    ToolStart,
)
from bailian_geo_agent.agent.server.aisdk import AISDKAdapter
from bailian_geo_agent.agent.server.protocol import EventStreamAdapter
from bailian_geo_agent.agent.server.sse import SSEAdapter

SERVER = Path(__file__).resolve().parents[2] / "agent" / "server"
EVENT_TYPES = {"stream_start", "stream_chunk", "stream_end", "error", *OPTIONAL_EVENTS}


def _is_type_read(node: ast.AST) -> bool:
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and node.slice.value == "type")


def _string_dispatch(tree: ast.AST) -> list[int]:
    """Lines choosing by an event's type name: a comparison with one (``kind ==
    "stream_chunk"``, ``kind in ("error", ...)``), a lookup keyed by ``x["type"]`` or a
    ``match x["type"]``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                values = (operand.elts if isinstance(operand, ast.Tuple | ast.Set | ast.List)
                          else [operand])
                if any(isinstance(v, ast.Constant) and v.value in EVENT_TYPES for v in values):
                    lines.append(node.lineno)
                    break
        elif ((isinstance(node, ast.Subscript) and _is_type_read(node.slice))
              or (isinstance(node, ast.Match) and _is_type_read(node.subject))):
            lines.append(node.lineno)
    return sorted(lines)


def test_no_dispatch_on_event_type_strings_in_the_server():
    files = sorted(SERVER.rglob("*.py"))
    assert len(files) > 15  # the whole package, routes and event log included
    found = {str(f.relative_to(SERVER)): lines for f in files
             if (lines := _string_dispatch(ast.parse(f.read_text(encoding="utf-8"))))}
    assert found == {}


def test_the_checker_finds_string_dispatch():
    bad = ('if event["type"] == "stream_chunk": pass\n'
           'ok = kind in ("error", "x")\n'
           'hook = HOOKS[event["type"]]\n'
           'match event["type"]:\n    case _: pass\n'
           'fine = scope["type"] != "http" and f"{event[\'type\']}"\n')
    assert _string_dispatch(ast.parse(bad)) == [1, 2, 3, 4]


def test_both_protocols_are_adapters_of_one_base():
    assert issubclass(SSEAdapter, EventStreamAdapter)
    assert issubclass(AISDKAdapter, EventStreamAdapter)


def test_ai_sdk_tool_parts_pair_by_call_id_when_calls_end_out_of_order():
    ids = ("m", "s")
    adapter = AISDKAdapter(lambda: False)
    events = [StreamStart(*ids),
              ToolStart(*ids, "get_weather", {"city": "北京"}, "call_bj"),
              ToolStart(*ids, "get_weather", {"city": "上海"}, "call_sh"),
              ToolEnd(*ids, "get_weather", "上海：晴", "call_sh"),
              ToolEnd(*ids, "get_weather", "北京：晴", "call_bj"),
              StreamEnd(*ids)]
    parts = [p for e in events for p in adapter.frames(e)]
    inputs = {p["toolCallId"]: p["input"]["city"] for p in parts
              if p["type"] == "tool-input-available"}
    outputs = {p["toolCallId"]: p["output"] for p in parts
               if p["type"] == "tool-output-available"}
    assert inputs == {"call-1": "北京", "call-2": "上海"}
    assert outputs == {"call-1": "北京：晴", "call-2": "上海：晴"}
    assert adapter.to_bytes([StreamEnd(*ids)]).startswith(b'data: {"type":"finish-step"}\r\n\r\n')


def test_the_adapters_write_sse_starlettes_bytes():
    """The bytes sent before the adapters: the AI SDK's parts and resumed SSE events were
    sse-starlette ``ServerSentEvent``s with its default ``\\r\\n`` line ends."""
    from bailian_geo_agent.agent.events import StreamChunk
    from bailian_geo_agent.agent.server.sse import dumps
    from sse_starlette import ServerSentEvent

    ids = ("m", "s")
    chunk = StreamChunk(*ids, "北京\n晴\r\n\"引号\"")
    ai = AISDKAdapter(lambda: False)
    parts = [*ai.frames(StreamStart(*ids)), *ai.frames(chunk), *ai.on_close()]
    assert parts[-1] == "[DONE]"
    assert ai.to_bytes([]) == b""
    for part in parts:
        data = part if isinstance(part, str) else dumps(part)
        assert ai.encode(part) == ServerSentEvent(data).encode()
    resumed = SSEAdapter(sep="\r\n").resumed(42, chunk)
    assert resumed == ServerSentEvent(dumps(chunk.to_dict()), event="stream_chunk",
                                      id="42").encode()
