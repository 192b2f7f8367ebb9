"""``AGUIAdapter`` on event sequences the fake model does not easily make (reasoning, tools
without ids, links, sources, a stopped or restarted reply), its bytes read by
``@ag-ui/client``'s ``HttpAgent`` through its ``fetch`` hook: the protocol's own parser,
schema enforcement and ``verifyEvents``, no server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ag_ui.core import ReasoningMessageContentEvent, RunAgentInput, TextMessageContentEvent
from ag_ui.encoder import EventEncoder
from bailian_geo_agent.agent.events import (
    Links,
    MapAction,
    ReasoningChunk,
    Source,
    StreamChunk,
    StreamEnd,
    StreamError,
    StreamEvent,
    StreamStart,
    ToolEnd,
    ToolStart,
    Usage,
)
from bailian_geo_agent.agent.server.agui import AGUIAdapter, last_user_text

from tests.server.conftest import REPO

JS = REPO / "tests" / "js"
NODE = shutil.which("node")
_READY = bool(NODE) and (JS / "node_modules" / "@ag-ui" / "client").is_dir()
needs_client = pytest.mark.skipif(not _READY and not os.environ.get("CI"),
                                  reason="needs node and `npm ci` in tests/js")
M, S = "msg-1", "sess-1"
PING = b": ping\n"  # the server's keep-alive comment, between events


def verify(body: bytes, tmp_path: Path) -> dict:
    path = tmp_path / "body.sse"
    path.write_bytes(body)
    result = subprocess.run([NODE or "node", "agui_verify.mjs", str(path)], cwd=JS,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().split("\n")[-1])
    assert "[ag-ui]" not in result.stderr, result.stderr  # nothing stripped or dropped
    return out


def body_of(adapter: AGUIAdapter, events: list[StreamEvent]) -> bytes:
    parts = []
    for event in events:
        parts += [adapter.to_bytes([event]), PING]
    return b"".join(parts)


@needs_client
def test_reasoning_tools_links_and_sources_pass_the_verifier(tmp_path):
    view = {"op": "set_view", "center": {"lng": 116.4, "lat": 39.9}, "zoom": 12}
    adapter = AGUIAdapter("thread-1", "run-1", state={"map": {"actions": [{"op": "clear"}]},
                                                      "mine": 1}, model="qwen-plus")
    events: list[StreamEvent] = [
        StreamStart(M, S),
        ReasoningChunk(M, S, "先想"), ReasoningChunk(M, S, "一想"),
        StreamChunk(M, S, "我查一下。"),
        ToolStart(M, S, "get_weather", {"city": "北京"}),
        ToolStart(M, S, "get_weather", '{"city": "上海"}'),
        ToolEnd(M, S, "get_weather", "北京：晴"), ToolEnd(M, S, "get_weather", "上海：雨"),
        MapAction(M, S, view),
        Links(M, S, "get_weather", [{"kind": "osm", "label": "北京", "url": "https://osm.org"}]),
        Source(M, S, "https://example.org/a", "A"),
        ReasoningChunk(M, S, "再想"),
        StreamChunk(M, S, "北京晴，"), StreamChunk(M, S, "上海雨\u2028。"),
        Usage(M, S, 100, 20, 5, 120, 2, cached_tokens=40),
        StreamEnd(M, S),
    ]
    out = verify(body_of(adapter, events), tmp_path)
    assert out["failed"] is None and out["runErrors"] == [], out
    kinds = [e["type"] for e in out["events"]]
    assert kinds == [
        "RUN_STARTED",
        "REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_CONTENT", "REASONING_MESSAGE_END", "REASONING_END",
        "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END",
        "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END",
        "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END",
        "TOOL_CALL_RESULT", "TOOL_CALL_RESULT",
        "CUSTOM", "STATE_SNAPSHOT", "CUSTOM", "CUSTOM",
        "REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END", "REASONING_END",
        "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END", "RUN_FINISHED"]
    ev = out["events"]
    # Tools of one name, without ids, are paired in the order they started.
    starts = [e for e in ev if e["type"] == "TOOL_CALL_START"]
    results = [e for e in ev if e["type"] == "TOOL_CALL_RESULT"]
    assert [r["toolCallId"] for r in results] == [s["toolCallId"] for s in starts]
    assert [r["content"] for r in results] == ["北京：晴", "上海：雨"]
    assert [json.loads(e["delta"]) for e in ev if e["type"] == "TOOL_CALL_ARGS"] == [
        {"city": "北京"}, {"city": "上海"}]
    assert all(s["parentMessageId"] == M for s in starts)  # the text before them
    custom = {e["name"]: e["value"] for e in ev if e["type"] == "CUSTOM"}
    assert custom == {"map_action": view,
                      "links": {"tool": "get_weather", "links": [
                          {"kind": "osm", "label": "北京", "url": "https://osm.org"}]},
                      "source": {"url": "https://example.org/a", "title": "A"}}
    assert out["state"] == {"map": {"actions": [{"op": "clear"}, view]}, "mine": 1}
    assert ev[-1]["usage"] == [{"model": "qwen-plus", "inputTokens": 100, "outputTokens": 20,
                                "totalTokens": 120, "reasoningTokens": 5,
                                "cachedInputTokens": 40, "cacheWriteInputTokens": 0}]
    # The messages the client rebuilt: reasoning, the text and its calls, the results, the
    # second reasoning and the answer (U+2028 escaped on the wire, whole in the text).
    roles = [(m["role"], m["id"]) for m in out["messages"]]
    assert roles[0] == ("user", "user-1") and ("assistant", M) in roles
    answer = [m for m in out["messages"] if m["role"] == "assistant" and m["id"] == f"{M}-2"]
    assert answer[0]["content"] == "北京晴，上海雨\u2028。"
    assert [m["content"] for m in out["messages"] if m["role"] == "reasoning"] == [
        "先想一想", "再想"]


@needs_client
@pytest.mark.parametrize(("stopped", "interrupted", "code"), [
    (True, False, "cancelled"), (False, True, "interrupted"), (False, False, "error")])
def test_an_error_is_a_run_error_with_its_code(tmp_path, stopped, interrupted, code):
    adapter = AGUIAdapter("thread-1", "run-1", stopped=lambda: stopped,
                          interrupted=lambda: interrupted)
    events: list[StreamEvent] = [
        StreamStart(M, S), StreamChunk(M, S, "一半"), ToolStart(M, S, "t", {}, "c1"),
        StreamError(M, S, "回复已被取消。")]
    out = verify(body_of(adapter, events), tmp_path)
    assert out["failed"] is None, out
    assert [e["type"] for e in out["events"]] == [
        "RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END",
        "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "RUN_ERROR"]
    assert out["runErrors"] == [{"message": "回复已被取消。", "code": code}]


def test_content_events_are_the_sdks_own_encoding():
    adapter = AGUIAdapter("t", "r")
    adapter.to_bytes([StreamStart(M, S)])
    encoder = EventEncoder()
    first = adapter.to_bytes([StreamChunk(M, S, "x")])  # the start, then the first content
    assert first.endswith(encoder.encode(TextMessageContentEvent(message_id=M,
                                                                 delta="x")).encode())
    for text in ("北京", 'a "quoted" \\ line\nbreak', "", "\x00\t"):
        assert adapter.to_bytes([StreamChunk(M, S, text)]) == encoder.encode(
            TextMessageContentEvent(message_id=M, delta=text)).encode()
    reasoning = AGUIAdapter("t", "r")
    reasoning.to_bytes([StreamStart(M, S), ReasoningChunk(M, S, "a")])
    rid = f"{M}-reasoning-1"
    assert reasoning.to_bytes([ReasoningChunk(M, S, "想")]) == encoder.encode(
        ReasoningMessageContentEvent(message_id=rid, delta="想")).encode()


def test_the_message_is_the_last_user_message_s_text():
    def body(messages: list[dict]) -> RunAgentInput:
        return RunAgentInput.model_validate({"threadId": "t", "runId": "r",
                                             "messages": messages})

    assert last_user_text(body([
        {"id": "1", "role": "user", "content": "旧的"},
        {"id": "2", "role": "user", "content": [
            {"type": "text", "text": "北京"},
            {"type": "image", "source": {"type": "url", "value": "https://x.example/a.png"}},
            {"type": "text", "text": "天气"}]},
        {"id": "3", "role": "assistant", "content": "好的"}])) == "北京天气"
    assert last_user_text(body([{"id": "1", "role": "assistant", "content": "hi"}])) == ""
    assert last_user_text(body([])) == ""
