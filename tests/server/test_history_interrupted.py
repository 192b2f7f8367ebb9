"""A stopped answer stays marked as such: ``GET /v1/sessions/{id}`` gives ``interrupted: true``
on it (what the page redraws after a reload), ``false`` on every other message."""

from __future__ import annotations

import uuid

import httpx
from httpx_sse import aconnect_sse

from tests.fakes.dashscope import Reply
from tests.server.helpers import check_reply, read_sse

LONG = Reply(text="很长的回答" * 100, chunk_size=2, chunk_delay=0.02)


async def test_the_history_marks_a_stopped_answer_interrupted(server, fake_dashscope, auth_a):
    fake_dashscope.script(LONG)
    sid = str(uuid.uuid4())
    shown = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        async with aconnect_sse(client, "POST", "/v1/chat/stream",
                                json={"message": "讲个长故事", "session_id": sid},
                                headers=auth_a) as source:
            async for sse in source.aiter_sse():
                event = sse.json()
                if event["type"] == "stream_start":
                    message_id = event["message_id"]
                elif event["type"] == "stream_chunk":
                    shown.append(event["chunk"])
                    if len(shown) == 3:
                        stopped = await client.post(f"/v1/chat/{message_id}/stop",
                                                    headers=auth_a)
                        assert stopped.status_code == 200
        after = await read_sse(client, "/v1/chat/stream",
                               {"message": "继续", "session_id": sid}, auth_a)
        assert check_reply(after) == "ECHO[2]: 继续"
        response = await client.get(f"/v1/sessions/{sid}", headers=auth_a)
    assert response.status_code == 200
    history = [(m["role"], m["interrupted"]) for m in response.json()["messages"]]
    assert history == [("user", False), ("assistant", True), ("user", False),
                       ("assistant", False)]
    stopped_answer = response.json()["messages"][1]["content"]
    assert stopped_answer.startswith("".join(shown)) and stopped_answer != LONG.text
