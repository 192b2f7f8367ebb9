"""``POST /api/chat`` read by the ``ai`` npm package's own client (``DefaultChatTransport``,
which validates every part against ``uiMessageChunkSchema``, and ``readUIMessageStream``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import httpx
import pytest

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.server.conftest import REPO, TOKEN_A
from tests.server.helpers import check_reply, read_sse

JS = REPO / "tests" / "js"
NODE = shutil.which("node")
_READY = bool(NODE) and (JS / "node_modules" / "ai").is_dir()
# In CI (.ci/run installs node and runs npm ci) a missing client fails instead of skipping.
pytestmark = pytest.mark.skipif(not _READY and not os.environ.get("CI"),
                                reason="needs node and `npm ci` in tests/js")

# Every field of the parts we send, from the ai package's uiMessageChunkSchema (its objects
# are loose, so the parser alone would accept extra fields: checked here instead).
PART_FIELDS = {
    "start": {"type", "messageId", "messageMetadata"},
    "start-step": {"type"},
    "text-start": {"type", "id", "providerMetadata"},
    "text-delta": {"type", "id", "delta", "providerMetadata"},
    "text-end": {"type", "id", "providerMetadata"},
    "tool-input-available": {"type", "toolCallId", "toolName", "input", "providerExecuted",
                             "providerMetadata", "dynamic", "title"},
    "tool-output-available": {"type", "toolCallId", "output", "providerExecuted",
                              "providerMetadata", "dynamic", "preliminary"},
    "data-map-action": {"type", "id", "data", "transient"},
    "source-url": {"type", "sourceId", "url", "title", "providerMetadata"},
    "data-interrupted": {"type", "id", "data", "transient"},
    "data-tool-progress": {"type", "id", "data", "transient"},
    "data-links": {"type", "id", "data", "transient"},
    "message-metadata": {"type", "messageMetadata"},
    "error": {"type", "errorText"},
    "abort": {"type", "reason"},
    "finish-step": {"type"},
    "finish": {"type", "finishReason", "messageMetadata"},
}


def read_chat(url: str, chat_id: str, text: str, mode: str = "") -> dict:
    result = subprocess.run(
        [NODE or "node", "read_chat.mjs", url + "/api/chat", TOKEN_A, chat_id, text, mode],
        cwd=JS, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for chunk in out["chunks"]:
        assert set(chunk) <= PART_FIELDS[chunk["type"]], chunk
    return out


def test_the_ai_sdk_client_rebuilds_the_reply(server, fake_dashscope):
    out = read_chat(server.url, "chat-abc123", "你好，北京")
    assert out["errors"] == []
    kinds = [c["type"] for c in out["chunks"]]
    assert kinds == ["start", "start-step", "text-start"] + ["text-delta"] * 7 + [
        "text-end", "finish-step", "finish"]
    message = out["message"]
    assert message["role"] == "assistant"
    assert message["id"] == out["chunks"][0]["messageId"]
    assert [p for p in message["parts"] if p["type"] == "text"] == [
        {"type": "text", "text": "ECHO[1]: 你好，北京", "state": "done"}]
    # The chat id names a session of this token: the conversation continues, and is readable.
    session_id = message["metadata"]["sessionId"]
    again = read_chat(server.url, "chat-abc123", "第二句")
    assert again["message"]["metadata"]["sessionId"] == session_id
    assert [p["text"] for p in again["message"]["parts"] if p["type"] == "text"] == [
        "ECHO[2]: 第二句"]
    history = httpx.get(f"{server.url}/v1/sessions/{session_id}",
                        headers={"Authorization": f"Bearer {TOKEN_A}"}).json()
    assert [m["content"] for m in history["messages"]] == [
        "你好，北京", "ECHO[1]: 你好，北京", "第二句", "ECHO[2]: 第二句"]


def test_tool_calls_and_map_commands_become_tool_and_data_parts(server, fake_dashscope):
    call = ToolCall("map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})
    fake_dashscope.responder = tool_then_answer([call], lambda results: "地图已更新。")
    out = read_chat(server.url, str(uuid.uuid4()), "把地图移到天安门")
    assert out["errors"] == []
    kinds = [c["type"] for c in out["chunks"]]
    assert kinds == ["start", "start-step", "tool-input-available", "data-tool-progress",
                     "data-map-action", "tool-output-available", "data-tool-progress",
                     "finish-step", "start-step", "text-start",
                     *["text-delta"] * (kinds.count("text-delta")), "text-end", "finish-step",
                     "finish"]
    parts = out["message"]["parts"]
    tool = next(p for p in parts if p["type"] == "tool-map_set_view")
    assert tool["state"] == "output-available"
    assert tool["input"] == {"lng": 116.397, "lat": 39.909, "zoom": 15}
    assert tool["output"].startswith("地图已定位到")
    data = next(p for p in parts if p["type"] == "data-map-action")
    assert data["data"]["op"] == "set_view" and data["data"]["zoom"] == 15
    assert [p["text"] for p in parts if p["type"] == "text"] == ["地图已更新。"]


def test_a_failed_reply_is_an_error_part_the_client_reports(server, fake_dashscope):
    fake_dashscope.script(Reply(text="一半的回答", cut_after=2))
    out = read_chat(server.url, str(uuid.uuid4()), "你好")
    kinds = [c["type"] for c in out["chunks"]]
    assert kinds[-2:] == ["error", "finish"] and out["chunks"][-1]["finishReason"] == "error"
    assert len(out["errors"]) == 1 and out["errors"][0].startswith(("回复中断", "模型回复被中断"))


async def test_the_ai_sdk_abort_with_resume_false_cancels_the_reply(
        server, fake_dashscope, monkeypatch):
    # read_chat's "abort" mode sends body {resume: false}: the abort cancels, as before issue 12.
    from tests.server.test_stop import LONG, UpstreamWatch

    upstream = UpstreamWatch(fake_dashscope, monkeypatch)
    fake_dashscope.script(LONG)
    chat = str(uuid.uuid4())
    out = read_chat(server.url, chat, "讲个长故事", "abort")
    aborted = time.perf_counter()
    assert out["aborted"] and out["errors"] == ["This operation was aborted"]
    assert [c["type"] for c in out["chunks"]][:4] == [
        "start", "start-step", "text-start", "text-delta"]
    await upstream.closed_after(aborted, 0.5)  # the node client is gone: so is the request
    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    history = httpx.get(f"{server.url}/v1/sessions/{chat}", headers=auth).json()["messages"]
    assert history[0]["content"] == "讲个长故事"


async def test_bad_chat_bodies_are_4xx(server, fake_dashscope):
    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    cases = [
        ({"id": "c1", "messages": []}, 422, "消息不能为空"),
        ({"id": "c1", "messages": [{"role": "assistant", "parts": [
            {"type": "text", "text": "hi"}]}]}, 422, "消息不能为空"),
        ({"id": "c1", "messages": [{"role": "user", "parts": [
            {"type": "text", "text": "x" * 9000}]}]}, 413, "消息过长"),
        ({"id": "c1", "messages": "hi"}, 422, "请求无效：字段 messages 无效"),
        ({"messages": []}, 422, "请求无效：缺少字段 id"),
        ({"id": "c1", "messages": [{"role": "robot", "parts": []}]}, 422, "请求无效"),
    ]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for body, status, text in cases:
            response = await client.post("/api/chat", json=body, headers=auth)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"].startswith(text), response.text
        # The same session is reachable from both endpoints.
        sid = str(uuid.uuid4())
        events = await read_sse(client, "/v1/chat/stream", {"message": "一", "session_id": sid},
                                auth)
        assert check_reply(events) == "ECHO[1]: 一"
    assert len(fake_dashscope.requests) == 1


async def test_after_an_abort_the_ai_sdk_resumes_the_running_reply(server, fake_dashscope):
    # Without resume: false the reply runs on; reconnectToStream (useChat({ resume: true }))
    # gets it whole from its start, then 204 once it has ended.
    from tests.server.test_stop import LONG

    fake_dashscope.script(LONG)
    chat = str(uuid.uuid4())
    out = read_chat(server.url, chat, "讲个长故事", "abort-detached")
    assert out["aborted"]
    resumed = read_chat(server.url, chat, "", "resume")
    assert resumed["errors"] == [], resumed["errors"]
    kinds = [c["type"] for c in resumed["chunks"]]
    assert kinds[:3] == ["start", "start-step", "text-start"] and kinds[-1] == "finish"
    assert "".join(c["delta"] for c in resumed["chunks"] if c["type"] == "text-delta") == (
        LONG.text)
    assert read_chat(server.url, chat, "", "resume") == {"none": True, "chunks": [],
                                                          "errors": []}
