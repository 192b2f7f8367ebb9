"""``/api/chat`` through the ``ai`` package's own chat (``AbstractChat``, what ``useChat``
wraps; tests/js/chat_client.mjs) used as the README's snippet uses it: the message's metadata
(model, usage, timings), transient tool progress seen only by ``onData``, and the stop button
(``POST /api/chat/{id}/stop`` with the shown message, then ``stop()``) ending the model request
with the stored answer exactly what the client showed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid

import httpx
import pytest
from bailian_geo_agent.agent.config import Settings

from tests.fakes.dashscope import Reply, ToolCall, tool_then_answer
from tests.server.conftest import TOKEN_A, TOKEN_B, server_env, start_server
from tests.server.test_aisdk import _READY, JS, NODE, PART_FIELDS
from tests.server.test_resume_instances import pair  # noqa: F401 - the fixture
from tests.tools.fake_open import FakeOpenProviders

# In CI (.ci/run installs node and runs npm ci) a missing client fails instead of skipping.
pytestmark = pytest.mark.skipif(not _READY and not os.environ.get("CI"),
                                reason="needs node and `npm ci` in tests/js")

# Slow enough that a stop lands mid-answer: 2 characters every 30 ms.
SLOW = Reply(text="一二三四五六七八九十" * 30, chunk_size=2, chunk_delay=0.03)


def chat(url: str, chat_id: str, text: str, mode: str = "", token: str = TOKEN_A,
         stop_url: str = "") -> dict:
    args = [url, token, chat_id, text, mode, *([stop_url] if stop_url else [])]
    result = subprocess.run([NODE or "node", "chat_client.mjs", *args],
                            cwd=JS, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for chunk in out["chunks"]:  # only fields of the ai package's chunk schema
        assert set(chunk) <= PART_FIELDS[chunk["type"]], chunk
    return out


def history(url: str, sid: str, token: str = TOKEN_A) -> list[dict]:
    response = httpx.get(f"{url}/v1/sessions/{sid}",
                         headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def test_the_message_metadata_carries_model_usage_and_timings(server, fake_dashscope):
    out = chat(server.url, str(uuid.uuid4()), "你好，上海")
    assert out["errors"] == [] and out["status"] == "ready"
    assert out["text"] == "ECHO[1]: 你好，上海"
    metadata = out["message"]["metadata"]
    start = out["chunks"][0]
    assert start["messageMetadata"] == {"sessionId": metadata["sessionId"],
                                        "model": Settings().model}
    assert metadata["model"] == Settings().model
    usage = metadata["usage"]  # the AI SDK's LanguageModelUsage shape, from the fake's counts
    request = fake_dashscope.requests[-1]
    assert request.body["stream_options"] == {"include_usage": True}
    assert usage["inputTokens"] > 0 and usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert usage["inputTokenDetails"] == {
        "noCacheTokens": usage["inputTokens"], "cacheReadTokens": 0, "cacheWriteTokens": 0}
    assert usage["outputTokenDetails"] == {"textTokens": usage["outputTokens"],
                                           "reasoningTokens": 0}
    assert metadata["modelCalls"] == 1
    timings = metadata["timings"]
    assert 0 < timings["firstChunkMs"] <= timings["totalMs"] < 30_000
    finish = out["chunks"][-1]
    assert finish["type"] == "finish" and finish["messageMetadata"]["usage"] == usage


def test_tool_progress_is_transient_and_seen_only_by_on_data(server, fake_dashscope):
    call = ToolCall("map_set_view", {"lng": 121.49, "lat": 31.24, "zoom": 14})
    fake_dashscope.responder = tool_then_answer([call], lambda results: "地图已移到外滩。")
    out = chat(server.url, str(uuid.uuid4()), "把地图移到外滩")
    assert out["errors"] == [] and out["text"] == "地图已移到外滩。"
    progress = [d for d in out["data"] if d["type"] == "data-tool-progress"]
    tool = next(p for p in out["message"]["parts"] if p["type"] == "tool-map_set_view")
    assert [d["data"]["state"] for d in progress] == ["running", "done"]
    assert all(d["transient"] is True and d["data"]["tool"] == "map_set_view"
               and d["data"]["toolCallId"] == tool["toolCallId"] for d in progress)
    assert "ms" not in progress[0]["data"] and 0 <= progress[1]["data"]["ms"] < 30_000
    kinds = [p["type"] for p in out["message"]["parts"]]
    assert "data-tool-progress" not in kinds  # transient: not kept in the message
    # A data part that is not transient is in both (onData and the message).
    assert [d["type"] for d in out["data"]].count("data-map-action") == 1
    assert kinds.count("data-map-action") == 1
    assert out["message"]["metadata"]["modelCalls"] == 2


def test_the_stop_button_ends_the_model_request_and_keeps_what_was_shown(
        server, fake_dashscope, monkeypatch):
    stop_and_check(server.url, server.url, fake_dashscope, monkeypatch)


def test_the_stop_button_on_another_instance(pair, fake_dashscope, monkeypatch):  # noqa: F811
    # Two instances on one PostgreSQL and one Redis: the reply runs on A, the stop reaches B.
    a, b = pair
    stop_and_check(a.url, b.url, fake_dashscope, monkeypatch)


def stop_and_check(url: str, stop_url: str, fake_dashscope, monkeypatch) -> None:
    from tests.server.test_stop import UpstreamWatch

    upstream = UpstreamWatch(fake_dashscope, monkeypatch)
    fake_dashscope.script(SLOW)
    chat_id = str(uuid.uuid4())
    began = time.perf_counter()
    epoch = time.time() - began  # perf_counter -> the epoch the node client's times are in
    out = chat(url, chat_id, "数到很多", "stop", stop_url=stop_url)
    took = time.perf_counter() - began
    stop = out["stop"]
    assert upstream.ended, "the model request is still open"
    closed_ms = (epoch + upstream.ended[0]) * 1000 - stop["pressed"]
    assert closed_ms < 1000 and (epoch + upstream.ended[0]) * 1000 <= stop["answered"] + 5
    print(f"\nstop pressed -> model request closed: {closed_ms:.0f} ms "
          f"(stop answered after {stop['answered'] - stop['pressed']} ms)")
    assert stop["response"]["status"] == 200, stop
    answer = out["message"]
    assert stop["response"]["body"] == {"success": True, "stopped": True,
                                        "messageId": answer["id"]}
    # The model request was closed by the stop, long before the 9 s answer would have ended.
    assert upstream.ended and upstream.ended[0] - began < took < 8
    assert len(upstream.ended) == 1
    # What the user saw is what the session keeps: no more, no less.
    shown = out["text"]
    assert shown == stop["shown"] and 6 <= len(shown) < len(SLOW.text)
    assert SLOW.text.startswith(shown)
    sid = answer["metadata"]["sessionId"]
    stored = history(stop_url, sid)
    assert [(m["role"], m["content"], m["interrupted"]) for m in stored] == [
        ("user", "数到很多", False), ("assistant", shown, True)]
    # The reply has ended: nothing to resume, the stop is idempotent, the chat goes on.
    resumed = httpx.get(f"{url}/api/chat/{chat_id}/stream",
                        headers={"Authorization": f"Bearer {TOKEN_A}"})
    assert resumed.status_code == 204
    again = httpx.post(f"{stop_url}/api/chat/{chat_id}/stop", json={},
                       headers={"Authorization": f"Bearer {TOKEN_A}"})
    assert again.json() == {"success": True, "stopped": False, "messageId": None}
    more = chat(stop_url, chat_id, "继续")
    assert more["text"] == "ECHO[2]: 继续"


async def test_a_stop_leaves_other_replies_alone(server, fake_dashscope, monkeypatch):
    from tests.server.test_stop import LONG

    fake_dashscope.script(LONG)
    chat_id = str(uuid.uuid4())
    auth_a = {"Authorization": f"Bearer {TOKEN_A}"}
    auth_b = {"Authorization": f"Bearer {TOKEN_B}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        body = {"id": chat_id, "messages": [{"id": "u1", "role": "user",
                                             "parts": [{"type": "text", "text": "长故事"}]}]}
        async with client.stream("POST", "/api/chat", json=body, headers=auth_a) as response:
            lines = response.aiter_lines()
            async for line in lines:
                if line.startswith("data: ") and '"text-delta"' in line:
                    break
            # Another token's stop of the same chat id reaches no reply (its own chat).
            other = await client.post(f"/api/chat/{chat_id}/stop", headers=auth_b)
            assert other.json()["stopped"] is False
            # A stale stop (an older reply's id) stops nothing either.
            stale = await client.post(f"/api/chat/{chat_id}/stop", headers=auth_a,
                                      json={"activeStreamId": "an-older-reply"})
            assert stale.json()["stopped"] is False
            # A snapshot that is not what was sent never becomes the stored answer.
            forged = {"role": "assistant",
                      "parts": [{"type": "step-start"}, {"type": "text", "text": "伪造的回答"}]}
            stopped = await client.post(f"/api/chat/{chat_id}/stop", headers=auth_a,
                                        json={"assistantMessage": forged})
            assert stopped.json()["stopped"] is True
            tail = [line async for line in lines if line.startswith("data: ")]
    assert tail[-1] == "data: [DONE]"
    parts = [json.loads(line[6:]) for line in tail[:-1]]
    kinds = [p["type"] for p in parts]
    # A stopped reply's metadata (the timings so far) comes in its own part before the abort.
    assert kinds[-2:] == ["message-metadata", "abort"]
    assert set(parts[-2]) == PART_FIELDS["message-metadata"]
    timings = parts[-2]["messageMetadata"]["timings"]
    assert 0 < timings["firstChunkMs"] <= timings["totalMs"]
    sid = str(uuid.UUID(chat_id))
    stored = history(server.url, sid)
    assert stored[-1]["role"] == "assistant" and stored[-1]["interrupted"]
    assert stored[-1]["content"] != "伪造的回答" and LONG.text.startswith(stored[-1]["content"])


async def test_a_stop_pressed_right_after_sending_still_stops_the_reply(
        server, fake_dashscope, monkeypatch):
    # The button pressed while the request is still "submitted": the page knows no reply yet
    # (it sends {}), and the stop may reach the server before the reply has begun. Either way
    # the reply is stopped, not left running unseen after the page's stop().
    from tests.server.test_stop import LONG, UpstreamWatch

    upstream = UpstreamWatch(fake_dashscope, monkeypatch)
    fake_dashscope.script(LONG)
    chat_id = str(uuid.uuid4())
    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    body = {"id": chat_id, "messages": [{"id": "u1", "role": "user",
                                         "parts": [{"type": "text", "text": "长故事"}]}]}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        stop = asyncio.ensure_future(client.post(f"/api/chat/{chat_id}/stop", json={},
                                                 headers=auth))
        async with client.stream("POST", "/api/chat", json=body, headers=auth) as response:
            lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
        stopped = await stop
    assert stopped.json()["stopped"] is True, stopped.text
    assert lines[-1] == "data: [DONE]" and '"abort"' in lines[-2]
    if upstream.open:  # the fake's handler (its own thread) sees the close a moment later
        await asyncio.to_thread(upstream._event.wait, 5)
    assert upstream.open == len(upstream.ended) <= 1  # no model request left open (or made)


async def test_a_stop_that_comes_while_a_reply_starts_stops_it_once_added():
    # The window the test above may hit: the reply is in its log (so a stop finds it) but not
    # yet among the instance's replies. The stop is remembered and applied as it is added.
    from bailian_geo_agent.agent.events import StreamChunk, StreamError, StreamStart
    from bailian_geo_agent.agent.server.event_log import MemoryLog
    from bailian_geo_agent.agent.server.replies import EARLY_STOPS, Replies, Reply
    from bailian_geo_agent.prompts.catalogue import text

    never = asyncio.Event()

    async def stream():
        yield StreamStart("m-1", "s-1")
        yield StreamChunk("m-1", "s-1", "半")
        await never.wait()

    log, replies = MemoryLog(), Replies()
    log.on_stop(replies.cancel)
    reply = Reply(stream(), "owner", log)
    await reply.first()  # logged, not added
    assert await log.request_stop("m-1")
    assert not reply.stopped
    replies.add(reply)
    assert reply.stopped
    assert [e async for e in reply.rest()][-1] == StreamError("m-1", "s-1", text("cancelled"))
    for n in range(EARLY_STOPS + 10):  # stops of replies that run elsewhere: a bounded memory
        replies.cancel(f"elsewhere-{n}")
    assert len(replies._early_stops) == EARLY_STOPS


@pytest.fixture(scope="module")
def open_server(fake_dashscope_server, tmp_path_factory):
    """A server whose open-data provider is the loopback fake (Nominatim and the rest)."""
    fake = FakeOpenProviders().start()
    workdir = tmp_path_factory.mktemp("open")
    env = server_env(fake_dashscope_server.compatible_base_url, workdir,
                     NOMINATIM_BASE_URL=fake.url("nominatim"), PHOTON_BASE_URL=fake.url("photon"))
    running = start_server(workdir, env)
    try:
        yield running
    finally:
        running.stop()
        fake.stop()


def test_a_tool_result_s_source_pages_are_source_url_parts(open_server, fake_dashscope):
    call = ToolCall("poi_detail", {"id": "way/5013364"})
    fake_dashscope.responder = tool_then_answer([call], lambda results: "埃菲尔铁塔的资料如上。")
    out = chat(open_server.url, str(uuid.uuid4()), "埃菲尔铁塔的详情")
    assert out["errors"] == [], out["errors"]
    tool = next(p for p in out["message"]["parts"] if p["type"] == "tool-poi_detail")
    assert tool["output"].startswith("Tour Eiffel（Nominatim/OpenStreetMap，ID W5013364）")
    sources = [p for p in out["message"]["parts"] if p["type"] == "source-url"]
    assert [(p["url"], p["title"]) for p in sources] == [
        ("https://www.openstreetmap.org/way/5013364", "Tour Eiffel · OpenStreetMap"),
        ("https://www.toureiffel.paris/", "Tour Eiffel")]


async def test_the_shown_answer_is_kept_only_as_a_shorter_prefix(fake_dashscope):
    # keep_seen_answer, the stop's last step: it cuts the stored interrupted answer back to
    # what was shown, never changes another message, and never waits long on a busy session.
    from bailian_geo_agent.agent import Settings as CoreSettings
    from bailian_geo_agent.agent import StreamChatService

    from tests.fakes.pytest_plugin import FAKE_API_KEY

    settings = CoreSettings(api_key=FAKE_API_KEY, base_url=fake_dashscope.compatible_base_url,
                            max_retries=0)
    service = StreamChatService(settings)
    sid = str(uuid.uuid4())
    fake_dashscope.script(SLOW)
    stream = service.stream_chat("数到很多", sid)
    async for event in stream:
        if event["type"] == "stream_chunk" and event["chunk"] == "五六":
            break
    await stream.aclose()  # stopped: the answer sent so far is stored, marked interrupted

    async def answer() -> tuple[str, bool]:
        last = (await service.get_history(sid))[-1]
        return last.content, last.response_metadata.get("interrupted", False)

    sent, interrupted = await answer()
    assert interrupted and sent.startswith("一二三四五六")
    assert not await service.keep_seen_answer(sid, "伪造")  # not a prefix: left as it is
    assert not await service.keep_seen_answer(sid, sent + "七")  # never lengthened
    assert await answer() == (sent, True)
    async with service._session_store().hold(sid):  # a new reply holds the session
        began = time.perf_counter()
        assert not await service.keep_seen_answer(sid, "一二", wait=0.2)
        assert time.perf_counter() - began < 2
    assert await service.keep_seen_answer(sid, "一二")
    assert await answer() == ("一二", True)
    fake_dashscope.script(Reply(text="好的"))
    [e async for e in service.stream_chat("继续", sid)]
    assert not await service.keep_seen_answer(sid, "")  # the last answer is whole: untouched
    await service.aclose()
