"""A second message while a reply runs, sent over AG-UI and A2A: the request's
``forwardedProps.multitask_strategy`` (AG-UI) or the server's ``GEO_AGENT_MULTITASK_STRATEGY``
(A2A, which has no field for it) decides, as on the chat routes."""

from __future__ import annotations

import json
import uuid

import httpx
from bailian_geo_agent.agent.access import token_hash
from bailian_geo_agent.agent.server.a2a.executor import session_for_context
from bailian_geo_agent.prompts.catalogue import text
from httpx_sse import aconnect_sse

from tests.server.conftest import TOKEN_A
from tests.server.helpers import check_reply
from tests.server.test_multitask import STORY, history
from tests.server.test_multitask_single import _running

A = {"Authorization": f"Bearer {TOKEN_A}"}


def _run_input(thread: str, message: str, **forwarded: str) -> dict:
    return {"threadId": thread, "runId": str(uuid.uuid4()), "state": {}, "tools": [],
            "context": [], "forwardedProps": forwarded,
            "messages": [{"id": "u1", "role": "user", "content": message}]}


async def _agui_events(client, url: str, body: dict) -> list[dict]:
    events = []
    async with aconnect_sse(client, "POST", f"{url}/v1/agui", json=body, headers=A) as source:
        assert source.response.status_code == 200
        async for sse in source.aiter_sse():
            if sse.data:
                events.append(json.loads(sse.data))
    return events


async def test_agui_rejects_by_default_and_interrupts_when_asked(server, fake_dashscope):
    fake_dashscope.script(STORY)
    thread = str(uuid.uuid4())  # a UUID thread id is the session id itself
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running(client, server.url, thread, [])
        mid = first.events[0][2]["message_id"]
        refused = await client.post(f"{server.url}/v1/agui", headers=A,
                                    json=_run_input(thread, "再讲"))
        assert refused.status_code == 409
        assert refused.json()["error"] == text("reply_running", message_id=mid)

        events = await _agui_events(client, server.url, _run_input(
            thread, "改", multitask_strategy="interrupt"))
        one = await first.done()
        assert one[-1][2] == {"type": "error", "message_id": mid, "session_id": thread,
                              "error": text("cancelled")}
        kinds = [e["type"] for e in events]
        assert kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_FINISHED", kinds
        answer = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
        assert answer == "ECHO[2]: 改"
        shown = check_reply(one)
        assert await history(client, server.url, thread) == [
            ("user", "讲", False), ("assistant", shown, True),
            ("user", "改", False), ("assistant", answer, False)]


async def _a2a_send(client, url: str, context: str, message: str) -> dict:
    answer = await client.post(f"{url}/a2a", headers={**A, "A2A-Version": "1.0"}, json={
        "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
            "messageId": str(uuid.uuid4()), "contextId": context, "role": "ROLE_USER",
            "parts": [{"text": message}]}}})
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]["task"]


def _task_text(task: dict) -> str:
    return "".join(part.get("text", "") for artifact in task.get("artifacts", [])
                   if artifact["artifactId"] == "answer" for part in artifact["parts"])


def _status_text(task: dict) -> str:
    return "".join(p.get("text", "") for p in task["status"]["message"]["parts"])


async def test_a2a_follows_the_server_default_reject(server, fake_dashscope):
    fake_dashscope.script(STORY)
    context = f"ctx-{uuid.uuid4()}"
    sid = session_for_context(context, token_hash(TOKEN_A))
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running(client, server.url, sid, [])
        mid = first.events[0][2]["message_id"]
        task = await _a2a_send(client, server.url, context, "再讲")
        assert task["status"]["state"] == "TASK_STATE_REJECTED", task
        assert _status_text(task) == text("reply_running", message_id=mid)
        assert check_reply(await first.done()) == STORY.text


async def test_a2a_follows_the_server_default_interrupt(interrupting, fake_dashscope):
    fake_dashscope.script(STORY)
    context = f"ctx-{uuid.uuid4()}"
    sid = session_for_context(context, token_hash(TOKEN_A))
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _running(client, interrupting.url, sid, [])
        task = await _a2a_send(client, interrupting.url, context, "改")
        one = await first.done()
        assert one[-1][2]["type"] == "error" and one[-1][2]["error"] == text("cancelled")
        assert task["status"]["state"] == "TASK_STATE_COMPLETED", task
        assert _task_text(task) == "ECHO[2]: 改"
        shown = check_reply(one)
        assert await history(client, interrupting.url, sid) == [
            ("user", "讲", False), ("assistant", shown, True),
            ("user", "改", False), ("assistant", "ECHO[2]: 改", False)]
