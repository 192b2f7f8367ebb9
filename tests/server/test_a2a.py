"""The A2A endpoint read by ``a2a-sdk``'s own client (``ClientFactory`` from the agent card, its
``AuthInterceptor`` reading the card's bearer scheme, streaming ``SendStreamingMessage``)
against a ``geo-agent serve`` process and the DashScope fake."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest
from a2a.client import (
    A2ACardResolver,
    A2AClientError,
    AuthInterceptor,
    Client,
    ClientCallContext,
    ClientConfig,
    ClientFactory,
    CredentialService,
)
from a2a.helpers import get_data_parts, get_text_parts
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from a2a.utils.errors import TaskNotFoundError
from bailian_geo_agent.agent.server.a2a import CARD_PATH
from bailian_geo_agent.tools.map_commands import SetView, parse_map_action

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.server.conftest import REPO, TOKEN_A, TOKEN_B, server_env, start_server
from tests.server.test_stop import LONG, UpstreamWatch

A2A_MEDIA = "application/json"


class Token(CredentialService):
    """One bearer token for the card's ``bearer`` scheme (what a calling agent configures)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_credentials(self, security_scheme_name: str,
                              context: ClientCallContext | None) -> str | None:
        return self.token if security_scheme_name == "bearer" else None


async def client_for(url: str, http: httpx.AsyncClient, token: str = TOKEN_A,
                     streaming: bool = True) -> Client:
    factory = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming))
    return await factory.create_from_url(url, interceptors=[AuthInterceptor(Token(token))])


def ask(text: str, context_id: str | None = None) -> SendMessageRequest:
    message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])
    if context_id:
        message.context_id = context_id
    return SendMessageRequest(message=message)


async def converse(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [event async for event in client.send_message(request)]


def answer_text(events: list[StreamResponse]) -> str:
    return "".join("".join(get_text_parts(e.artifact_update.artifact.parts)) for e in events
                   if e.HasField("artifact_update")
                   and e.artifact_update.artifact.artifact_id == "answer")


def final_status(events: list[StreamResponse]) -> Any:
    updates = [e.status_update for e in events if e.HasField("status_update")]
    return updates[-1].status


async def test_the_agent_card_is_public_and_names_the_endpoint_skills_and_bearer(server):
    async with httpx.AsyncClient(timeout=30) as http:  # no token: the card is public
        card = await A2ACardResolver(http, server.url).get_agent_card()
        raw = (await http.get(server.url + "/.well-known/agent-card.json")).json()
    assert card.name == "bailian-geo-agent"
    assert card.capabilities.streaming
    assert {(i.url, i.protocol_binding, i.protocol_version) for i in card.supported_interfaces} \
        == {(server.url + "/a2a", "JSONRPC", "1.0"), (server.url + "/a2a", "JSONRPC", "0.3")}
    skills = {s.id: s for s in card.skills}
    assert {"get_weather", "search_poi", "plan_route", "map_set_view"} <= set(skills)
    assert skills["map_set_view"].tags == ["map"] and skills["get_weather"].description
    scheme = card.security_schemes["bearer"].http_auth_security_scheme
    assert scheme.scheme == "Bearer"
    assert [list(r.schemes) for r in card.security_requirements] == [["bearer"]]
    # 0.3 clients read the same card's legacy fields.
    assert raw["url"] == server.url + "/a2a" and raw["preferredTransport"] == "JSONRPC"
    assert TOKEN_A not in str(raw)
    assert CARD_PATH == AGENT_CARD_WELL_KNOWN_PATH  # the SDK's well-known path


async def test_a_question_streams_text_tool_progress_and_map_commands_as_a_data_part(
        server, fake_dashscope):
    call = ToolCall("map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})
    fake_dashscope.responder = tool_then_answer([call], lambda results: "地图已更新。")
    async with httpx.AsyncClient(timeout=60) as http:
        client = await client_for(server.url, http)
        events = await converse(client, ask("把地图移到天安门"))
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task", kinds
    task = events[0].task
    assert task.status.state == TaskState.TASK_STATE_WORKING
    assert [get_text_parts(m.parts) for m in task.history] == [["把地图移到天安门"]]
    session_id = task.metadata["sessionId"]
    # Tool progress: working status updates, each carrying the tool event as a data part.
    tools = [get_data_parts(e.status_update.status.message.parts)[0] for e in events
             if e.HasField("status_update")
             and e.status_update.status.state == TaskState.TASK_STATE_WORKING]
    assert [(t["type"], t["tool"]) for t in tools] == [("tool_start", "map_set_view"),
                                                     ("tool_end", "map_set_view")]
    assert tools[0]["arguments"] == {"lng": 116.397, "lat": 39.909, "zoom": 15}
    assert tools[0]["tool_call_id"] == tools[1]["tool_call_id"]
    # The map command: a data part of the map_commands artifact, the typed command dict.
    maps = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")
            and e.artifact_update.artifact.artifact_id == "map_commands"]
    assert len(maps) == 1 and maps[0].parts[0].media_type == A2A_MEDIA
    command = parse_map_action(get_data_parts(maps[0].parts)[0])  # the typed command
    assert isinstance(command, SetView) and command.zoom == 15
    assert (command.center.lng, command.center.lat) == pytest.approx((116.397, 39.909), abs=0.01)
    assert answer_text(events) == "地图已更新。"
    assert kinds.index("artifact_update") < len(kinds) - 1  # the answer streamed before the end
    status = final_status(events)
    assert status.state == TaskState.TASK_STATE_COMPLETED
    usage = dict(events[-1].status_update.metadata["usage"])
    assert usage["model_calls"] == 2 and usage["total_tokens"] > 0
    # The context is the caller's session: stored, and readable through the API.
    history = httpx.get(f"{server.url}/v1/sessions/{session_id}",
                        headers={"Authorization": f"Bearer {TOKEN_A}"}).json()
    assert history["messages"][0]["content"] == "把地图移到天安门"
    assert history["messages"][-1]["content"] == "地图已更新。"


async def test_a_context_is_one_conversation_of_its_token(server, fake_dashscope):
    async with httpx.AsyncClient(timeout=60) as http:
        client = await client_for(server.url, http)
        first = await converse(client, ask("你好，北京"))
        context_id = first[0].task.context_id
        again = await converse(client, ask("第二句", context_id))
        other = await client_for(server.url, http, TOKEN_B)
        theirs = await converse(other, ask("第二句", context_id))
        # The task is the token's: another token does not find it.
        with pytest.raises(TaskNotFoundError):
            await other.get_task(GetTaskRequest(id=first[0].task.id))
        mine = await client.get_task(GetTaskRequest(id=first[0].task.id))
    assert answer_text(first) == "ECHO[1]: 你好，北京"
    assert answer_text(again) == "ECHO[2]: 第二句"
    assert again[0].task.metadata["sessionId"] == first[0].task.metadata["sessionId"]
    assert answer_text(theirs) == "ECHO[1]: 第二句"  # the same context id, another session
    assert theirs[0].task.metadata["sessionId"] != first[0].task.metadata["sessionId"]
    assert mine.status.state == TaskState.TASK_STATE_COMPLETED
    assert "".join(get_text_parts(mine.artifacts[0].parts)) == "ECHO[1]: 你好，北京"


async def test_a_missing_or_wrong_token_is_401(server):
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
        "messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "你好"}]}}}
    async with httpx.AsyncClient(timeout=30) as http:
        missing = await http.post(server.url + "/a2a", json=body, headers={"A2A-Version": "1.0"})
        wrong = await http.post(server.url + "/a2a", json=body, headers={
            "A2A-Version": "1.0", "Authorization": "Bearer not-a-token"})
        client = await client_for(server.url, http, "not-a-token")
        with pytest.raises(A2AClientError) as refused:
            await converse(client, ask("你好"))
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["type"] == "error" and "not-a-token" not in wrong.text
    assert "401" in str(refused.value)


async def test_a_failed_reply_is_a_failed_task_with_the_error_text(server, fake_dashscope):
    fake_dashscope.script(Reply(text="一半的回答", cut_after=2))
    async with httpx.AsyncClient(timeout=60) as http:
        client = await client_for(server.url, http)
        events = await converse(client, ask("你好"))
    status = final_status(events)
    assert status.state == TaskState.TASK_STATE_FAILED
    error = "".join(get_text_parts(status.message.parts))
    assert error.startswith(("回复中断", "模型回复被中断")), error


async def test_an_empty_message_is_a_rejected_task_saying_why(server, fake_dashscope):
    async with httpx.AsyncClient(timeout=60) as http:
        client = await client_for(server.url, http)
        events = await converse(client, ask("   "))
    assert [e.WhichOneof("payload") for e in events] == ["task"]
    task = events[0].task
    assert task.status.state == TaskState.TASK_STATE_REJECTED
    assert get_text_parts(task.status.message.parts) == ["消息不能为空，请输入要询问的内容。"]
    assert fake_dashscope.requests == []


async def test_cancel_task_stops_the_reply_and_its_model_request(
        server, fake_dashscope, monkeypatch):
    upstream = UpstreamWatch(fake_dashscope, monkeypatch)
    fake_dashscope.script(LONG)
    async with httpx.AsyncClient(timeout=60) as http:
        client = await client_for(server.url, http)
        events: list[StreamResponse] = []
        cancelled: list[Any] = []
        async for event in client.send_message(ask("讲个长故事")):
            events.append(event)
            if event.HasField("artifact_update") and not cancelled:
                began = time.perf_counter()
                cancelled.append(await client.cancel_task(CancelTaskRequest(
                    id=events[0].task.id)))
        ended = time.perf_counter()
    assert cancelled[0].status.state == TaskState.TASK_STATE_CANCELED
    status = final_status(events)
    assert status.state == TaskState.TASK_STATE_CANCELED
    assert get_text_parts(status.message.parts) == ["回复已被取消。"]
    # The model request was closed: the fake's handler ended, long before the ~5 s answer.
    await upstream.closed_after(began, 1.0)
    assert ended - began < 2.0
    assert len(answer_text(events)) < len("很长的回答" * 100)


async def test_the_0_3_methods_answer_on_the_same_endpoint(server, fake_dashscope):
    body = {"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": {
        "kind": "message", "messageId": str(uuid.uuid4()), "role": "user",
        "parts": [{"kind": "text", "text": "你好"}]}}}
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(server.url + "/a2a", json=body,
                                 headers={"Authorization": f"Bearer {TOKEN_A}"})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["kind"] == "task" and result["status"]["state"] == "completed"
    texts = [p["text"] for a in result["artifacts"] for p in a["parts"] if p.get("text")]
    assert "".join(texts) == "ECHO[1]: 你好"


def test_the_readme_calling_agent_runs_as_written(server, fake_dashscope, tmp_path):
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme[readme.index("### A2A"):]
    block = re.search(r"^```py\n(.*?)^```", section, re.M | re.S)
    assert block is not None
    call = ToolCall("map_set_view", {"lng": 116.397, "lat": 39.909, "zoom": 15})
    fake_dashscope.responder = tool_then_answer([call], lambda results: "地图已更新。")
    code = block.group(1).replace("http://127.0.0.1:8000", server.url).replace("my-token", TOKEN_A)
    script = tmp_path / "calling_agent.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "地图已更新。" in result.stdout and "'op': 'set_view'" in result.stdout


async def test_the_card_names_the_public_url_and_foreign_origins_are_refused(fake_dashscope):
    from bailian_geo_agent.agent.server import ServerSettings, create_app

    from tests.server.test_auth import make_service

    service = make_service(fake_dashscope)  # no tools: one skill, answering
    app = create_app(service, ServerSettings(api_tokens=(TOKEN_A,),
                                             public_url="https://geo.example.com/geo/"))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        card = (await client.get("/.well-known/agent-card.json")).json()
        foreign = await client.post("/a2a", json={}, headers={
            "Authorization": f"Bearer {TOKEN_A}", "Origin": "https://evil.example.com"})
    await service.aclose()
    assert {i["url"] for i in card["supportedInterfaces"]} == {"https://geo.example.com/geo/a2a"}
    assert [s["id"] for s in card["skills"]] == ["ask"]
    assert foreign.status_code == 403


async def test_a_client_that_leaves_does_not_stop_the_reply_and_can_subscribe_again(
        server, fake_dashscope):
    text = "慢慢说完的回答" * 10
    fake_dashscope.script(Reply(text=text, chunk_size=2, chunk_delay=0.02))  # ~0.7 s
    async with httpx.AsyncClient(timeout=60) as http:
        client = await client_for(server.url, http)
        seen: list[StreamResponse] = []
        stream = client.send_message(ask("讲下去"))
        async for event in stream:
            seen.append(event)
            if event.HasField("artifact_update"):
                break  # the client goes away mid-reply
        await stream.aclose()
        task_id = seen[0].task.id
        rest = [event async for event in client.subscribe(SubscribeToTaskRequest(id=task_id))]
        task = await client.get_task(GetTaskRequest(id=task_id))
    assert rest[0].task.id == task_id  # the task as it stands, then the live rest
    assert final_status(rest).state == TaskState.TASK_STATE_COMPLETED
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert "".join(get_text_parts(task.artifacts[0].parts)) == text


async def test_no_token_in_the_logs_at_debug_and_no_error_logged(tmp_path, fake_dashscope):
    env = server_env(fake_dashscope.compatible_base_url, tmp_path)
    debug = start_server(tmp_path, env, "--log-level", "debug")
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            client = await client_for(debug.url, http)
            events = await converse(client, ask("你好"))
            fake_dashscope.script(LONG)
            cancelled = False
            async for event in client.send_message(ask("讲个长故事")):
                if event.HasField("artifact_update") and not cancelled:
                    cancelled = True
                    await client.cancel_task(CancelTaskRequest(id=event.artifact_update.task_id))
    finally:
        debug.stop()
    assert answer_text(events) == "ECHO[1]: 你好"
    logs = debug.logs()
    assert "a2a." in logs and "POST /a2a" in logs  # the SDK did log, verbosely
    for secret in (TOKEN_A, TOKEN_B):
        assert secret not in logs
    # The SDK logs its call context at debug: the header is not in it, masked or not (an app
    # embedding create_app may log without our redaction).
    assert "'authorization'" not in logs.lower()
    assert "Traceback" not in logs and "ERROR" not in logs


def test_the_adapter_maps_every_event_kind():
    from bailian_geo_agent.agent.events import (
        Links,
        Source,
        StreamChunk,
        StreamEnd,
        StreamError,
        StreamStart,
        Usage,
    )
    from bailian_geo_agent.agent.server.a2a.executor import A2AAdapter

    adapter = A2AAdapter("t1", "c1", None)
    ids = ("m1", "s1")
    link = {"kind": "marker", "label": "高德地图", "url": "https://uri.amap.com/marker?position=1,2"}
    frames = [f for event in (
        StreamStart(*ids), StreamChunk(*ids, "你好"), StreamChunk(*ids, "，北京"),
        Links(*ids, "geocode", [link]), Source(*ids, "https://example.com/a", "A"),
        Usage(*ids, 10, 5, 0, 15, 1), StreamEnd(*ids)) for f in adapter.frames(event)]
    encoded = [json.loads(adapter.encode(f)) for f in frames]
    assert [next(iter(e)) for e in encoded] == [
        "task", "artifactUpdate", "artifactUpdate", "artifactUpdate", "artifactUpdate",
        "artifactUpdate", "statusUpdate"]
    updates = [e.get("artifactUpdate", {}) for e in encoded]
    assert [(u["artifact"]["artifactId"], u.get("append", False)) for u in updates[1:6]] == [
        ("answer", False), ("answer", True), ("links", False), ("sources", False),
        ("answer", True)]
    assert updates[5]["lastChunk"] is True
    assert updates[3]["artifact"]["parts"][0]["data"] == {"tool": "geocode", "links": [link]}
    assert updates[4]["artifact"]["parts"][0] == {
        "url": "https://example.com/a", "mediaType": "text/html", "metadata": {"title": "A"}}
    final = encoded[-1]["statusUpdate"]
    assert final["status"]["state"] == "TASK_STATE_COMPLETED"
    assert final["metadata"]["usage"]["total_tokens"] == 15
    assert encoded[0]["task"]["metadata"] == {"sessionId": "s1", "messageId": "m1"}
    # An error: failed with its text; once stopped, canceled.
    failed = A2AAdapter("t2", "c1", None).frames(StreamError(*ids, "出错了"))[0]
    assert failed.status.state == TaskState.TASK_STATE_FAILED
    assert get_text_parts(failed.status.message.parts) == ["出错了"]
    stopped = A2AAdapter("t3", "c1", None, lambda: True).frames(StreamError(*ids, "已取消"))[0]
    assert stopped.status.state == TaskState.TASK_STATE_CANCELED


async def test_the_0_3_stream_method_streams_the_same_task(server, fake_dashscope):
    from httpx_sse import aconnect_sse

    body = {"jsonrpc": "2.0", "id": 8, "method": "message/stream", "params": {"message": {
        "kind": "message", "messageId": str(uuid.uuid4()), "role": "user",
        "parts": [{"kind": "text", "text": "你好"}]}}}
    results = []
    async with httpx.AsyncClient(timeout=60) as http, aconnect_sse(
            http, "POST", server.url + "/a2a", json=body,
            headers={"Authorization": f"Bearer {TOKEN_A}"}) as source:
        async for sse in source.aiter_sse():
            results.append(json.loads(sse.data)["result"])
    assert results[0]["kind"] == "task"
    texts = [p["text"] for r in results if r["kind"] == "artifact-update"
             and r["artifact"]["artifactId"] == "answer" for p in r["artifact"]["parts"]]
    assert "".join(texts) == "ECHO[1]: 你好"
    assert results[-1]["kind"] == "status-update" and results[-1]["final"] is True
    assert results[-1]["status"]["state"] == "completed"


async def test_a_finished_task_is_forgotten_after_the_stream_ttl():
    from a2a.server.context import ServerCallContext
    from a2a.types.a2a_pb2 import Task, TaskStatus
    from bailian_geo_agent.agent.server.a2a.executor import ExpiringTaskStore, _owner_context

    def task(task_id: str, state: int) -> Task:
        return Task(id=task_id, context_id="c", status=TaskStatus(state=state))

    alice, bob = _owner_context("alice"), _owner_context("bob")
    kept = ExpiringTaskStore(60)
    await kept.save(task("a", TaskState.TASK_STATE_COMPLETED), alice)
    await kept.save(task("b", TaskState.TASK_STATE_WORKING), alice)
    assert await kept.get("a", alice) is not None and await kept.get("a", bob) is None
    gone = ExpiringTaskStore(0)
    await gone.save(task("a", TaskState.TASK_STATE_WORKING), alice)
    await gone.save(task("x", TaskState.TASK_STATE_COMPLETED), bob)
    await gone.save(task("a", TaskState.TASK_STATE_CANCELED), alice)
    assert await gone.get("a", alice) is None and await gone.get("x", bob) is None
    assert isinstance(alice, ServerCallContext)


def test_a_server_that_never_speaks_a2a_does_not_import_the_sdk():
    code = ("import sys\n"
            "from bailian_geo_agent.agent.server import ServerSettings, create_app\n"
            "from bailian_geo_agent.agent import Settings, StreamChatService\n"
            "service = StreamChatService(Settings(api_key='sk-x', session_store_url='memory://'),"
            " tools=[])\n"
            "create_app(service, ServerSettings())\n"
            "print(sorted(m for m in sys.modules if m == 'a2a' or m.startswith('a2a.')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_two_first_requests_share_one_request_handler(monkeypatch):
    # Both wait for the skills; the second must not replace the first's handler (its tasks
    # would live in a store nobody reads again).
    from types import SimpleNamespace

    from bailian_geo_agent.agent.server.a2a import executor
    from bailian_geo_agent.agent.serving import ServerSettings

    monkeypatch.setattr(executor, "_geo_tools", lambda service: [])
    state = SimpleNamespace(settings=ServerSettings(), auth=SimpleNamespace(enabled=False),
                            service=None)
    service = executor.A2AService(state, "/a2a")  # type: ignore[arg-type]
    import asyncio

    first, second = await asyncio.gather(service.dispatcher(), service.dispatcher())
    assert first is second
