"""Tool approval over HTTP (``GEO_AGENT_APPROVAL_TOOLS=ip_location``) on a real ``geo-agent
serve``: the seed SSE stream's ``approval_request`` event and ``approvals`` field, and the AI
SDK round trip driven by the ``ai`` package's own ``Chat`` (``tests/js/approval_chat.mjs``:
``addToolApprovalResponse`` + ``lastAssistantMessageIsCompleteWithApprovalResponses``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.amap_plugin import FAKE_AMAP_KEY
from tests.fakes.dashscope import ToolCall, tool_then_answer
from tests.server.conftest import REPO, TOKEN_A, TOKEN_B, Server, server_env, start_server
from tests.server.helpers import read_sse

JS = REPO / "tests" / "js"
NODE = shutil.which("node")
_READY = bool(NODE) and (JS / "node_modules" / "ai").is_dir()
AUTH = {"Authorization": f"Bearer {TOKEN_A}"}
AUTH_B = {"Authorization": f"Bearer {TOKEN_B}"}
IPS = iter(f"114.247.50.{n}" for n in range(2, 250))  # a fresh one a test: the tool caches


@pytest.fixture(scope="module")
def approval_server(fake_dashscope_server, fake_amap_server, tmp_path_factory
                    ) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("approval")
    env = server_env(fake_dashscope_server.compatible_base_url, workdir,
                     GEO_AGENT_APPROVAL_TOOLS="ip_location", GEO_PROVIDER="amap",
                     AMAP_API_KEY=FAKE_AMAP_KEY, AMAP_BASE_URL=fake_amap_server.base_url)
    running = start_server(workdir, env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def fake(fake_dashscope, fake_amap):
    fake_dashscope.call = ToolCall("ip_location", {"ip": next(IPS)})
    fake_dashscope.responder = tool_then_answer([fake_dashscope.call],
                                                lambda results: "答：" + results[0])
    fake_dashscope.amap = fake_amap
    return fake_dashscope


def types(events: list[tuple[str, str, dict]]) -> list[str]:
    return [data["type"] for _, _, data in events]


async def test_the_sse_stream_pauses_and_the_approvals_field_answers(approval_server, fake):
    wanted = ["approval_request", "tool_start", "tool_end"]
    async with httpx.AsyncClient(base_url=approval_server.url, headers=AUTH, timeout=30) as c:
        paused = await read_sse(c, "/v1/chat/stream", {"message": "我在哪？", "events": wanted},
                                dict(AUTH))
        assert types(paused) == ["stream_start", "approval_request", "stream_end"]
        request = paused[1][2]
        assert list(request) == ["type", "message_id", "session_id", "tool", "arguments",
                                 "tool_call_id", "approval_id"]
        assert request["tool"] == "ip_location" and request["arguments"] == fake.call.arguments
        sid, approval = request["session_id"], request["approval_id"]
        assert fake.amap.requests == []  # not before the user says so
        # what waits, for a client that reloaded; another token's session is not found
        listed = (await c.get(f"/v1/sessions/{sid}/approvals")).json()
        assert listed == {"session_id": sid, "approvals": [
            {k: request[k] for k in ("tool", "arguments", "tool_call_id", "approval_id")}]}
        other = await c.get(f"/v1/sessions/{sid}/approvals", headers=AUTH_B)
        assert other.status_code == 404

        wrong = await c.post("/v1/chat/stream", json={
            "message": "", "session_id": sid, "approvals": {"nope": {"approved": True}}})
        assert wrong.status_code == 422 and approval in wrong.json()["error"]

        went_on = await read_sse(c, "/v1/chat/stream", {
            "message": "", "session_id": sid, "events": wanted,
            "approvals": {approval: {"approved": True}}}, dict(AUTH))
        assert types(went_on)[:3] == ["stream_start", "tool_start", "tool_end"]
        assert went_on[1][2]["tool_call_id"] == request["tool_call_id"]
        assert types(went_on)[-1] == "stream_end"
        answer = "".join(d["chunk"] for _, _, d in went_on if d["type"] == "stream_chunk")
        assert answer.startswith("答：")
        assert [r.path for r in fake.amap.requests] == ["/v3/ip"]
        listed = (await c.get(f"/v1/sessions/{sid}/approvals")).json()
        assert listed["approvals"] == []

        # A caller not asking for the event cannot answer: refused at once, the model says so.
        quiet = await read_sse(c, "/v1/chat/stream", {"message": "我在哪？"}, dict(AUTH))
        assert types(quiet)[0] == "stream_start" and types(quiet)[-1] == "stream_end"
        assert "cannot ask" in "".join(d.get("chunk", "") for _, _, d in quiet)
        assert [r.path for r in fake.amap.requests] == ["/v3/ip"]  # no second call


def approval_chat(url: str, chat_id: str, text: str, mode: str, reason: str = "",
                  answer_url: str = "") -> dict:
    if not _READY:
        if os.environ.get("CI"):
            pytest.fail("node and `npm ci` in tests/js are required in CI")
        pytest.skip("needs node and `npm ci` in tests/js")
    result = subprocess.run(
        [NODE or "node", "approval_chat.mjs", url + "/api/chat", TOKEN_A, chat_id, text, mode,
         reason, answer_url and answer_url + "/api/chat"], cwd=JS, capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_useChat_approves_and_the_reply_goes_on_in_the_same_message(approval_server, fake):
    out = approval_chat(approval_server.url, str(uuid.uuid4()), "我附近有什么？", "approve")
    assert out["errors"] == [] and out["status"] == "ready"
    # the paused reply: the call waiting, its approval id from our tool-approval-request
    requested = out["requested"]
    tool = next(p for p in requested["parts"] if p["type"] == "tool-ip_location")
    assert tool["state"] == "approval-requested" and tool["input"] == fake.call.arguments
    # the second request carried the answer in the tool part, as useChat sends it
    sent = out["bodies"][1]["messages"][-1]
    assert sent["role"] == "assistant" and sent["id"] == requested["id"]
    answered = next(p for p in sent["parts"] if p["type"] == "tool-ip_location")
    assert answered["state"] == "approval-responded" and answered["approval"]["approved"] is True
    # one assistant message: the tool's output, then the answer, in the message that paused
    messages = out["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    final = messages[1]
    assert final["id"] == requested["id"]
    tools = [p for p in final["parts"] if p["type"] == "tool-ip_location"]
    assert len(tools) == 1 and tools[0]["state"] == "output-available"
    assert tools[0]["approval"]["approved"] is True
    texts = [p["text"] for p in final["parts"] if p["type"] == "text"]
    assert texts and texts[-1].startswith("答：")
    assert len(fake.requests) == 2 and fake.requests[-1].messages[-1]["role"] == "tool"
    assert "rejected" not in fake.requests[-1].messages[-1]["content"]
    assert [r.path for r in fake.amap.requests] == ["/v3/ip"]  # it ran once, after approval


def test_useChat_refuses_and_the_model_explains(approval_server, fake):
    out = approval_chat(approval_server.url, str(uuid.uuid4()), "我附近有什么？", "refuse",
                        "不想透露位置")
    assert out["errors"] == [] and out["status"] == "ready"
    final = out["messages"][-1]
    tool = next(p for p in final["parts"] if p["type"] == "tool-ip_location")
    assert tool["state"] == "output-denied"
    told = fake.requests[-1].messages[-1]
    assert told["role"] == "tool" and "不想透露位置" in told["content"]
    texts = [p["text"] for p in final["parts"] if p["type"] == "text"]
    assert texts and "不想透露位置" in texts[-1]  # the fake answers from what it was told
    assert fake.amap.requests == []  # the tool never ran


def test_a_new_message_instead_of_an_answer_refuses_and_is_answered(approval_server, fake):
    from tests.fakes.dashscope import echo_responder
    from tests.server.test_aisdk import PART_FIELDS, read_chat

    # the fields of our approval parts, from the ai package's uiMessageChunkSchema
    PART_FIELDS.setdefault("tool-approval-request", {
        "type", "approvalId", "toolCallId", "approvalDescriptor", "inputSchemaInput", "reason",
        "isAutomatic", "signature"})
    chat = str(uuid.uuid4())
    paused = read_chat(approval_server.url, chat, "我附近有什么？")
    assert [c["type"] for c in paused["chunks"]][-4:] == [
        "tool-input-available", "tool-approval-request", "finish-step", "finish"]
    fake.responder = echo_responder
    moved_on = read_chat(approval_server.url, chat, "算了，说说北京")
    assert moved_on["errors"] == []
    texts = [p["text"] for p in moved_on["message"]["parts"] if p["type"] == "text"]
    assert texts == ["ECHO[2]: 算了，说说北京"]
    assert fake.requests[-1].messages[-2]["role"] == "tool"  # the note: it never ran
    assert fake.amap.requests == []


def test_the_pause_is_answered_on_another_instance(
        fake_dashscope_server, fake_amap_server, tmp_path, pg_url, fake):
    # two servers sharing PostgreSQL: the pause is in the checkpointer, not in a process
    servers = []
    try:
        for name in ("a", "b"):
            env = server_env(fake_dashscope_server.compatible_base_url, tmp_path / name,
                             SESSION_STORE_URL=pg_url, GEO_AGENT_APPROVAL_TOOLS="ip_location",
                             GEO_PROVIDER="amap", AMAP_API_KEY=FAKE_AMAP_KEY,
                             AMAP_BASE_URL=fake_amap_server.base_url)
            servers.append(start_server(tmp_path / name, env))
        a, b = servers
        out = approval_chat(a.url, str(uuid.uuid4()), "我附近有什么？", "approve",
                            answer_url=b.url)
        assert out["errors"] == [] and out["status"] == "ready"
        final = out["messages"][-1]
        tool = next(p for p in final["parts"] if p["type"] == "tool-ip_location")
        assert tool["state"] == "output-available"
        assert [r.path for r in fake.amap.requests] == ["/v3/ip"]
        posts = [s.logs().count('"POST /api/chat HTTP/1.1" 200') for s in (a, b)]
        assert posts == [1, 1]  # the question to one, the answer to the other
    finally:
        for running in servers:
            running.stop()


def test_the_adapter_continues_the_paused_message():
    from bailian_geo_agent.agent.events import (
        ApprovalRequest,
        StreamEnd,
        StreamStart,
        ToolEnd,
        ToolStart,
    )
    from bailian_geo_agent.agent.server.aisdk import AISDKAdapter, ApprovalResponses

    ids = ("m2", "s")
    paused = AISDKAdapter(lambda: False)
    parts = [p for e in (StreamStart("m1", "s"),
                         ApprovalRequest("m1", "s", "ip_location", {"ip": "1.1.1.1"}, "c1", "a1"))
             for p in paused.frames(e)]
    assert parts[-2:] == [
        {"type": "tool-input-available", "toolCallId": "c1", "toolName": "ip_location",
         "input": {"ip": "1.1.1.1"}},
        {"type": "tool-approval-request", "approvalId": "a1", "toolCallId": "c1"}]

    going_on = AISDKAdapter(lambda: False)
    going_on.continue_after_approvals(ApprovalResponses(
        "ui-msg", {"a1": {"approved": True}, "a2": {"approved": False}}, {"c1": True, "c2": False}))
    parts = [p for e in (StreamStart(*ids), ToolStart(*ids, "ip_location", {}, "c1"),
                         ToolEnd(*ids, "ip_location", "北京", "c1"),
                         ToolStart(*ids, "get_weather", {}, "c3"), StreamEnd(*ids))
             for p in going_on.frames(e)]
    assert parts[0]["type"] == "start" and parts[0]["messageId"] == "ui-msg"
    assert {"type": "tool-output-denied", "toolCallId": "c2"} in parts
    assert [p["toolCallId"] for p in parts if p["type"] == "tool-input-available"] == ["call-1"]
    assert {"type": "tool-output-available", "toolCallId": "c1", "output": "北京"} in parts
    # the approved call's progress, as any tool's: running, then done
    progress = [p["data"] for p in parts if p["type"] == "data-tool-progress"
                and p["data"]["toolCallId"] == "c1"]
    assert [p["state"] for p in progress] == ["running", "done"]


async def test_the_stop_button_stops_a_reply_going_on_after_approval(approval_server, fake):
    # The reply after the answers goes on in the message that paused (its id the paused
    # reply's): the stop the README's snippet sends (the shown message) must still reach it.
    from tests.fakes.dashscope import Reply

    slow = "一二三四五六七八九十" * 30

    def responder(request):
        if request.messages[-1].get("role") == "tool":
            return Reply(text=slow, chunk_size=2, chunk_delay=0.03)
        return Reply(tool_calls=[fake.call])

    fake.responder = responder
    chat_id = str(uuid.uuid4())
    user = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "我附近有什么？"}]}
    async with httpx.AsyncClient(base_url=approval_server.url, headers=AUTH, timeout=30) as c:
        paused = await c.post("/api/chat", json={"id": chat_id, "messages": [user]})
        chunks = [json.loads(line[6:]) for line in paused.text.splitlines()
                  if line.startswith("data: {")]
        message_id = chunks[0]["messageId"]
        asked = next(p for p in chunks if p["type"] == "tool-approval-request")
        tool = {"type": "tool-ip_location", "toolCallId": asked["toolCallId"],
                "state": "approval-responded", "input": fake.call.arguments,
                "approval": {"id": asked["approvalId"], "approved": True}}
        shown = {"id": message_id, "role": "assistant", "parts": [{"type": "step-start"}, tool]}
        body = {"id": chat_id, "messages": [user, shown]}
        async with c.stream("POST", "/api/chat", json=body) as response:
            lines = response.aiter_lines()
            start = None
            async for line in lines:
                if line.startswith("data: {") and start is None:
                    start = json.loads(line[6:])
                if '"text-delta"' in line:
                    break
            assert start is not None and start["messageId"] == message_id
            shown["metadata"] = start["messageMetadata"]  # as useChat merges it
            stopped = await c.post(f"/api/chat/{chat_id}/stop", json={"assistantMessage": shown})
            assert stopped.json()["stopped"] is True, stopped.text
            tail = [line async for line in lines if line.startswith("data: ")]
    assert '"abort"' in tail[-2]
