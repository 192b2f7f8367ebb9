"""Errors as DashScope really sends them (protocols.md sections 1 and 2), through the whole
service on both protocols: unknown models on HTTP 400, bare throttles on 429."""

from __future__ import annotations

from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService

from tests.fakes.dashscope import FakeDashScope, Reply
from tests.test_service import PROVIDERS, collect, make_settings

RATE_LIMITED = "请求过于频繁（HTTP 429），多次重试后仍被限流。请稍后再试。"


def service(fake: FakeDashScope, provider: str, **settings: Any) -> StreamChatService:
    values = {"session_store_url": "memory://", "retry_base_delay": 0.01, **settings}
    return StreamChatService(make_settings(fake, provider, **values), tools=[])


async def reply_error(chat: StreamChatService) -> str:
    events = await collect(chat.stream_chat("你好"))
    assert [e["type"] for e in events] == ["stream_start", "error"]
    return events[-1]["error"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_unknown_model_names_the_model(fake_dashscope: FakeDashScope,
                                                provider: str) -> None:
    async with service(fake_dashscope, provider, model="qwen-nope") as chat:
        error = await reply_error(chat)
    assert error.startswith("模型不存在：qwen-nope。")
    # native: 400 InvalidParameter "Model not exist."; compatible mode: 404 model_not_found
    assert len(fake_dashscope.requests) == 1


@pytest.mark.parametrize(
    ("provider", "status", "body"),
    [
        ("tongyi", 400, {"code": "InvalidParameter", "message": "Model not exist.",
                         "request_id": "r1"}),
        ("openai", 400, {"error": {"code": "InvalidParameter", "param": None,
                                   "message": "Model can not be found.",
                                   "type": "InvalidParameter"}, "request_id": "r1"}),
        ("openai", 404, {"error": {"code": "model_not_found", "param": None,
                                   "message": "Model not exist.", "type": "invalid_request_error"},
                         "request_id": "r1"}),
    ],
)
async def test_every_unknown_model_shape_is_model_not_found(
    fake_dashscope: FakeDashScope, provider: str, status: int, body: dict
) -> None:
    fake_dashscope.script(Reply(status=status, error_body=body))
    async with service(fake_dashscope, provider, model="qwen-x") as chat:
        assert (await reply_error(chat)).startswith("模型不存在：qwen-x。")
    assert len(fake_dashscope.requests) == 1  # not retried


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("code", ["Throttling.RateQuota", "Throttling.AllocationQuota"])
async def test_bare_throttles_are_retried_then_rate_limited(
    fake_dashscope: FakeDashScope, provider: str, code: str
) -> None:
    fake_dashscope.script(*[Reply(error_code=code)] * 3)
    async with service(fake_dashscope, provider, max_retries=2) as chat:
        assert await reply_error(chat) == RATE_LIMITED  # never the quota-exhausted text
    assert len(fake_dashscope.requests) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_throttle_that_clears_gives_the_answer(fake_dashscope: FakeDashScope,
                                                       provider: str) -> None:
    fake_dashscope.script(Reply(error_code="Throttling.AllocationQuota"), Reply(text="好了"))
    async with service(fake_dashscope, provider, max_retries=2) as chat:
        events = await collect(chat.stream_chat("你好"))
    assert [(e["type"], e.get("chunk")) for e in events] == [
        ("stream_start", None), ("stream_chunk", "好了"), ("stream_end", None)]


def test_the_fake_sends_throttles_in_their_bare_shape(fake_dashscope: FakeDashScope) -> None:
    import httpx2

    from tests.fakes.pytest_plugin import FAKE_API_KEY

    fake_dashscope.script(Reply(error_code="Throttling.RateQuota"))
    answer = httpx2.post(fake_dashscope.compatible_base_url + "/chat/completions",
                         headers={"Authorization": f"Bearer {FAKE_API_KEY}"},
                         json={"model": "qwen-plus", "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 429
    assert set(answer.json()["error"]) == {"code", "message"}
    assert answer.json()["error"]["code"] == "Throttling.RateQuota"
