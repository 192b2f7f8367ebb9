"""The fake's context-cache accounting (``CacheAccounting``): cached tokens follow from what
was sent, as the implicit and explicit caches of Model Studio would report them, through the
service on both protocols."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from bailian_geo_agent.agent import StreamChatService

from tests.fakes.dashscope import (
    CacheAccounting,
    FakeDashScope,
    RecordedRequest,
    Reply,
    request_text,
)
from tests.helpers import PROVIDERS, collect, make_settings

SYSTEM = "你是地理助手。" * 300  # 2,100 characters: above both caches' minimum


def request(messages: list[dict], tools: list[dict] | None = None,
            key: str = "k") -> RecordedRequest:
    return RecordedRequest("openai", "/", {}, {}, key, "qwen-plus", messages, tools or [], True)


def marked(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def test_implicit_reads_the_longest_common_prefix_per_key() -> None:
    cache = CacheAccounting()
    first = request([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "a"}])
    prompt, cached, created = cache.account(first)
    assert (prompt, cached, created) == (len(request_text(first)), 0, None)
    second = request([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "b"}])
    _, cached, _ = cache.account(second)
    shared = request_text(first).index('"a"') + 1  # up to the differing character
    assert cached == shared
    assert cache.account(request(second.messages, key="other"))[1] == 0  # another account
    short = CacheAccounting()
    tiny = [{"role": "user", "content": "x" * 100}]
    short.account(request(tiny))
    assert short.account(request(tiny))[1] == 0  # below 256 tokens: nothing cached


def test_explicit_creates_then_reads_at_the_markers() -> None:
    cache = CacheAccounting()
    turn1 = [{"role": "system", "content": marked(SYSTEM)}, {"role": "user", "content": "a"}]
    prompt, cached, created = cache.account(request(turn1))
    system_prefix = request_text(request(turn1[:1]))[:-1]  # tools, then "[<system>"
    assert (cached, created) == (0, len(system_prefix))
    assert prompt == len(request_text(request(turn1)))
    turn2 = [turn1[0], {"role": "user", "content": "a"},
             {"role": "assistant", "content": marked("好" * 50)},
             {"role": "user", "content": "b"}]
    _, cached, created = cache.account(request(turn2))
    boundary = len(request_text(request(turn2[:3]))) - 1
    assert (cached, created) == (len(system_prefix), boundary - len(system_prefix))
    _, cached, created = cache.account(request(turn2))  # the same again: all read
    assert (cached, created) == (boundary, 0)
    # Unmarked, the same text is an implicit request: explicit entries are not read.
    plain = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "zzz"}]
    assert cache.account(request(plain))[1:] == (0, None)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_usage_event_reports_the_accounted_cache(fake_dashscope: FakeDashScope,
                                                           provider: str) -> None:
    fake_dashscope.cache_accounting = CacheAccounting()
    service = StreamChatService(make_settings(fake_dashscope, provider,
                                              session_store_url="memory://"),
                                tools=[], system_prompt=SYSTEM)
    fake_dashscope.script(Reply(text="一"), Reply(text="二"))
    session = str(uuid.uuid4())
    first = await collect(service.stream_chat("北京", session, events={"usage"}))
    second = await collect(service.stream_chat("上海", session, events={"usage"}))
    usage = [e for e in first + second if e["type"] == "usage"]
    sent = [len(request_text(r)) for r in fake_dashscope.requests]
    assert [u["input_tokens"] for u in usage] == sent
    assert usage[0]["cached_tokens"] == 0
    # The second turn resends the first: everything up to its new user text is read.
    assert len(SYSTEM) < usage[1]["cached_tokens"] < sent[1]
    assert usage[1]["cached_tokens"] >= sent[0] - 10
    await service.aclose()
