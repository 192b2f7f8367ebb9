"""``POST /v1/agui`` run by the ``@ag-ui/client`` npm package's own ``HttpAgent``, whose
``runAgent`` enforces the protocol's schema and verifies the event order (``verifyEvents``)
before its subscriber sees an event: a reply it accepts is one the protocol accepts."""

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
from tests.server.conftest import REPO, TOKEN_A, TOKEN_B, server_env, start_server

JS = REPO / "tests" / "js"
NODE = shutil.which("node")
_READY = bool(NODE) and (JS / "node_modules" / "@ag-ui" / "client").is_dir()
# In CI (.ci/run installs node and runs npm ci) a missing client fails instead of skipping.
pytestmark = pytest.mark.skipif(not _READY and not os.environ.get("CI"),
                                reason="needs node and `npm ci` in tests/js")


def run_agent(url: str, thread: str, text: str, forwarded: dict | None = None,
              state: dict | None = None, token: str = TOKEN_A, mode: str = "") -> dict:
    args = [NODE or "node", "agui_run.mjs", url + "/v1/agui", token, thread, text,
            json.dumps(forwarded or {}), json.dumps(state or {}), mode]
    result = subprocess.run(args, cwd=JS, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().split("\n")[-1])
    out["stderr"] = result.stderr  # the client's warnings (a field it stripped, say)
    return out


def test_the_agui_client_reads_a_tool_call_and_a_map_command(server, fake_dashscope):
    call = ToolCall("map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})
    fake_dashscope.responder = tool_then_answer([call], lambda results: "地图已更新。")
    thread = f"thread-{uuid.uuid4()}"
    out = run_agent(server.url, thread, "把地图移到天安门", state={"theme": "dark"})
    assert out["failed"] is None and out["runErrors"] == [], out
    assert "[ag-ui]" not in out["stderr"], out["stderr"]  # nothing stripped or dropped
    events = out["events"]
    kinds = [e["type"] for e in events]
    deltas = kinds.count("TEXT_MESSAGE_CONTENT")
    assert deltas >= 1
    assert kinds == [
        "RUN_STARTED", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END",
        "CUSTOM", "STATE_SNAPSHOT", "TOOL_CALL_RESULT",
        "TEXT_MESSAGE_START", *["TEXT_MESSAGE_CONTENT"] * deltas, "TEXT_MESSAGE_END",
        "RUN_FINISHED"]
    started, finished = events[0], events[-1]
    assert (started["threadId"], started["runId"]) == (thread, "run-1")
    assert (finished["threadId"], finished["runId"]) == (thread, "run-1")
    message_id = started["metadata"]["messageId"]
    # The tool call, with its arguments and its result.
    start = events[1]
    assert start["toolCallName"] == "map_set_view" and start["parentMessageId"] == message_id
    assert json.loads(events[2]["delta"]) == {"lng": 116.397, "lat": 39.909, "zoom": 15}
    result = events[6]
    assert result["toolCallId"] == start["toolCallId"] and result["content"].startswith(
        "地图已定位到")
    # The map command: a CUSTOM event, and the map state (the input state kept).
    custom = events[4]
    assert custom["name"] == "map_action"
    assert custom["value"]["op"] == "set_view" and custom["value"]["zoom"] == 15
    assert events[5]["snapshot"] == {"theme": "dark", "map": {"actions": [custom["value"]]}}
    assert out["state"] == events[5]["snapshot"]
    # The text, and the messages the client rebuilt: the call, its result, the answer.
    assert "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT") == (
        "地图已更新。")
    messages = out["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["id"] == message_id
    assert messages[1]["toolCalls"][0]["function"]["name"] == "map_set_view"
    assert messages[2]["toolCallId"] == start["toolCallId"]
    assert messages[3]["content"] == "地图已更新。"
    # Usage on RUN_FINISHED.
    usage = finished["usage"][0]
    assert usage["inputTokens"] > 0 and usage["totalTokens"] == (
        usage["inputTokens"] + usage["outputTokens"])


def test_the_thread_is_a_session_of_the_caller(server, fake_dashscope):
    thread = "my-thread"
    first = run_agent(server.url, thread, "你好，北京")
    assert first["failed"] is None, first
    sid = first["events"][0]["metadata"]["sessionId"]
    again = run_agent(server.url, thread, "第二句")
    assert again["events"][0]["metadata"]["sessionId"] == sid
    text = "".join(e["delta"] for e in again["events"] if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert text == "ECHO[2]: 第二句"
    # Another token's thread of the same name is another session.
    other = run_agent(server.url, thread, "你好", token=TOKEN_B)
    assert other["events"][0]["metadata"]["sessionId"] != sid
    history = httpx.get(f"{server.url}/v1/sessions/{sid}",
                        headers={"Authorization": f"Bearer {TOKEN_A}"}).json()
    assert [m["content"] for m in history["messages"]] == [
        "你好，北京", "ECHO[1]: 你好，北京", "第二句", "ECHO[2]: 第二句"]


def test_a_model_error_is_a_run_error_the_client_reports(server, fake_dashscope):
    fake_dashscope.script(Reply(text="一半的回答", cut_after=2))
    out = run_agent(server.url, str(uuid.uuid4()), "你好")
    kinds = [e["type"] for e in out["events"]]
    assert kinds[0] == "RUN_STARTED" and kinds[-2:] == ["TEXT_MESSAGE_END", "RUN_ERROR"]
    assert "RUN_FINISHED" not in kinds
    assert len(out["runErrors"]) == 1 and out["runErrors"][0]["code"] == "error"
    assert out["runErrors"][0]["message"].startswith(("回复中断", "模型回复被中断"))
    assert out["failed"] is None  # a RUN_ERROR ends the run; the verifier accepted it


async def test_abort_run_stops_the_reply(server, fake_dashscope, monkeypatch):
    # HttpAgent.abortRun() closes the connection; the reply stops with it (no resume for an
    # AG-UI client), the model request is closed, the partial answer kept in the session.
    from tests.server.test_stop import DISCONNECT_LIMIT, LONG, UpstreamWatch

    upstream = UpstreamWatch(fake_dashscope, monkeypatch)
    fake_dashscope.script(LONG)
    thread = str(uuid.uuid4())
    out = run_agent(server.url, thread, "讲个长故事", mode="abort")
    aborted = time.perf_counter()
    assert out["aborted"] and out["failed"] is None, out
    # The client ends the run itself: its own RUN_ERROR, code "abort".
    assert out["runErrors"] == [{"message": "This operation was aborted", "code": "abort"}]
    kinds = [e["type"] for e in out["events"]]
    assert kinds[:3] == ["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT"], kinds
    await upstream.closed_after(aborted, DISCONNECT_LIMIT)
    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    history = httpx.get(f"{server.url}/v1/sessions/{thread}", headers=auth).json()["messages"]
    assert history[0]["content"] == "讲个长故事"
    assert history[1]["interrupted"] is True and LONG.text.startswith(history[1]["content"])


def test_the_stop_endpoint_ends_the_run_with_a_cancelled_run_error(server, fake_dashscope):
    # RUN_STARTED.metadata.messageId is the id POST /v1/chat/{message_id}/stop takes.
    from tests.server.test_stop import LONG

    fake_dashscope.script(LONG)
    out = run_agent(server.url, str(uuid.uuid4()), "讲个长故事", mode="stop")
    assert out["stopStatus"] == 200 and out["failed"] is None, out
    kinds = [e["type"] for e in out["events"]]
    assert kinds[:3] == ["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT"]
    assert kinds[-2:] == ["TEXT_MESSAGE_END", "RUN_ERROR"], kinds
    assert out["runErrors"] == [{"message": "回复已被取消。", "code": "cancelled"}]


async def test_bad_run_input_is_a_clear_422(server, fake_dashscope):
    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    user = [{"id": "u1", "role": "user", "content": "你好"}]
    cases = [
        ({"runId": "r", "messages": user}, "请求无效：缺少字段 threadId"),
        ({"threadId": "t", "messages": user}, "请求无效：缺少字段 runId"),
        ({"threadId": "t", "runId": "r", "messages": "hi"}, "请求无效：字段 messages 无效"),
        ({"threadId": "t", "runId": "r", "messages": [{"id": "x", "role": "robot"}]},
         "请求无效：字段 messages.0"),
        ({"threadId": "t", "runId": "r", "messages": []}, "消息不能为空"),
        ({"threadId": "t", "runId": "r", "messages": user, "forwardedProps": {"reasoning": 3}},
         "请求无效：字段 forwardedProps.reasoning 无效"),
    ]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for body, text in cases:
            response = await client.post("/v1/agui", json=body, headers=auth)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["error"].startswith(text), response.text
        response = await client.post("/v1/agui", content=b"{", headers={
            **auth, "Content-Type": "application/json"})
        assert response.status_code == 422 and response.json()["type"] == "error"
        unauthenticated = await client.post("/v1/agui", json=cases[0][0])
        assert unauthenticated.status_code == 401
    assert fake_dashscope.requests == []


def test_the_readme_snippet_runs(server, fake_dashscope):
    # The README's AG-UI block as a user would run it (with this server's address and token).
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("### AG-UI\n", 1)[1]
    snippet = section.split("```js\n", 1)[1].split("```", 1)[0]
    assert "http://127.0.0.1:8000/v1/agui" in snippet and "<token>" in snippet
    snippet = snippet.replace("http://127.0.0.1:8000", server.url).replace("<token>", TOKEN_A)
    call = ToolCall("map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})
    fake_dashscope.responder = tool_then_answer([call], lambda results: "地图已更新。")
    script = JS / f"readme-agui-{uuid.uuid4().hex}.mjs"  # beside node_modules, to import it
    script.write_text(snippet, encoding="utf-8")
    try:
        result = subprocess.run([NODE or "node", script.name], cwd=JS, capture_output=True,
                                text=True, timeout=60)
    finally:
        script.unlink()
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "地图已更新。" in result.stdout and "set_view" in result.stdout, result.stdout


async def test_the_api_s_auth_ownership_host_and_origin_rules_apply(server, fake_dashscope):
    user = [{"id": "u1", "role": "user", "content": "x"}]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        sid = str(uuid.uuid4())  # a UUID thread id is the session id itself: A's session
        body = {"threadId": sid, "runId": "r1", "messages": user}
        mine = await client.post("/v1/agui", json=body,
                                 headers={"Authorization": f"Bearer {TOKEN_A}"})
        assert mine.status_code == 200 and "RUN_FINISHED" in mine.text
        for headers, status in [
                ({"Authorization": "Bearer wrong-token"}, 401),
                ({"Authorization": f"Bearer {TOKEN_B}"}, 404),  # another token's session
                ({"Authorization": f"Bearer {TOKEN_A}", "Host": "evil.example"}, 421),
                ({"Authorization": f"Bearer {TOKEN_A}", "Origin": "https://evil.example"}, 403)]:
            response = await client.post("/v1/agui", json={**body, "runId": "r2"},
                                         headers=headers)
            assert response.status_code == status, (headers, response.text)
            assert response.json()["type"] == "error" and TOKEN_A not in response.text
    assert len(fake_dashscope.requests) == 1


def test_reasoning_is_streamed_when_forwarded_props_ask(fake_dashscope_server, fake_dashscope,
                                                        tmp_path):
    env = server_env(fake_dashscope_server.compatible_base_url, tmp_path,
                     DASHSCOPE_ENABLE_THINKING="true")
    thinking = start_server(tmp_path, env)
    try:
        fake_dashscope.script(Reply(text="北京晴。", reasoning="先想一想"),
                              Reply(text="北京晴。", reasoning="先想一想"))
        asked = run_agent(thinking.url, str(uuid.uuid4()), "北京天气", {"reasoning": True})
        plain = run_agent(thinking.url, str(uuid.uuid4()), "北京天气")
    finally:
        thinking.stop()
    assert asked["failed"] is None and plain["failed"] is None, (asked, plain)
    kinds = [e["type"] for e in asked["events"]]
    assert kinds[:3] == ["RUN_STARTED", "REASONING_START", "REASONING_MESSAGE_START"]
    assert "".join(e["delta"] for e in asked["events"]
                   if e["type"] == "REASONING_MESSAGE_CONTENT") == "先想一想"
    assert kinds.index("REASONING_END") < kinds.index("TEXT_MESSAGE_START")
    assert [m["content"] for m in asked["messages"] if m["role"] == "reasoning"] == ["先想一想"]
    assert not any(k.startswith("REASONING") for k in (e["type"] for e in plain["events"]))
    for out in (asked, plain):
        assert "".join(e["delta"] for e in out["events"]
                       if e["type"] == "TEXT_MESSAGE_CONTENT") == "北京晴。"
