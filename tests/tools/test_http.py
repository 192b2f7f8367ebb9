"""The shared HTTP client: errors become clean provider errors, sync and async both work."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx
import pytest
from bailian_geo_agent.tools.errors import (
    InvalidKeyError,
    InvalidParamsError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from bailian_geo_agent.tools.http import HttpClient, shared_http_client

SECRET = "sk-secret-amap-key-123"


def client_for(handler, **kwargs) -> HttpClient:
    return HttpClient(transport=httpx.MockTransport(handler), retry_delay=0.0, **kwargs)


def test_sync_and_async_share_one_client():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = client_for(handler)
    try:
        assert client.run(client.get_json("https://example.test/a", {"x": 1, "y": None})) == {
            "ok": True
        }
        assert asyncio.run(client.get_json("https://example.test/b")) == {"ok": True}
        first = client._client
        asyncio.run(client.get_json("https://example.test/c"))
        assert client._client is first
        assert seen[0].url.params.get("x") == "1" and "y" not in seen[0].url.params
        assert "bailian-geo-agent" in seen[0].headers["user-agent"]
    finally:
        client.close()


async def test_usable_from_a_running_loop_and_from_sync_code_inside_it():
    client = client_for(lambda r: httpx.Response(200, json=[1]))
    try:
        assert await client.get_json("https://example.test/") == [1]
        # sync invoke from inside a running loop (e.g. a sync tool called by async code)
        assert await asyncio.to_thread(client.run, client.get_json("https://example.test/")) == [1]
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, RateLimitedError),
        (403, InvalidKeyError),
        (400, InvalidParamsError),
        (502, ProviderUnavailableError),
        (504, ProviderTimeoutError),
    ],
)
def test_http_errors_become_provider_errors_without_the_url(status, error):
    client = client_for(lambda r: httpx.Response(status, text="nope"))
    try:
        with pytest.raises(error) as info:
            client.run(client.get_json("https://example.test/x", {"key": SECRET}, service="测试"))
        assert SECRET not in str(info.value) and "example.test" not in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__context__ is None or info.value.__suppress_context__
        assert "测试" in str(info.value)
    finally:
        client.close()


def test_5xx_and_connection_errors_are_retried_once():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("boom " + str(request.url))
        if len(calls) == 2:
            return httpx.Response(503)
        return httpx.Response(200, json={"n": len(calls)})

    client = client_for(handler, retries=2)
    try:
        assert client.run(client.get_json("https://example.test/")) == {"n": 3}
    finally:
        client.close()


def test_connection_failure_message_has_no_key():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    client = client_for(handler)
    try:
        with pytest.raises(ProviderUnavailableError) as info:
            client.run(client.get_json("https://example.test/", {"key": SECRET}))
        assert SECRET not in str(info.value)
    finally:
        client.close()


def test_timeout_and_bad_json():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, text="<html>")

    client = client_for(handler)
    try:
        with pytest.raises(ProviderTimeoutError):
            client.run(client.get_json("https://example.test/slow"))
        with pytest.raises(ProviderUnavailableError, match="无法解析"):
            client.run(client.get_json("https://example.test/html"))
    finally:
        client.close()


def test_min_interval_spaces_requests_to_one_host():
    stamps = []

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        return httpx.Response(200, json={})

    client = client_for(handler)

    async def burst():
        await asyncio.gather(
            *(client.get_json("https://nominatim.test/s", min_interval=0.1) for _ in range(3))
        )

    try:
        asyncio.run(burst())
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert len(stamps) == 3 and all(gap >= 0.09 for gap in gaps)
    finally:
        client.close()


def test_post_form_and_shared_singleton():
    client = client_for(lambda r: httpx.Response(200, json={"body": r.content.decode()}))
    try:
        result = client.run(client.post_form_json("https://example.test/", {"data": "[out:json];"}))
        assert result == {"body": "data=%5Bout%3Ajson%5D%3B"}
    finally:
        client.close()
    assert shared_http_client() is shared_http_client()


def test_run_refuses_its_own_loop():
    client = client_for(lambda r: httpx.Response(200, json={}))

    async def inner():
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            client.run(coro)

    try:
        client.run(inner())
    finally:
        client.close()


def test_redact_hides_key_parameters():
    from bailian_geo_agent.tools.http import redact

    assert redact("GET https://x/v3?a=1&key=abc123&b=2") == "GET https://x/v3?a=1&key=***&b=2"
    assert redact('url?api_key=zz "HTTP/1.1 200"') == 'url?api_key=*** "HTTP/1.1 200"'
    assert redact("monkey=1") == "monkey=1"


async def test_gather_limited_keeps_order_and_limit_and_cancels_the_rest_on_a_failure():
    import asyncio

    from bailian_geo_agent.tools.infra import gather_limited

    running, most = 0, 0

    async def work(k: int, seconds: float = 0.01) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(seconds)
        finally:
            running -= 1
        if k == -1:
            raise ValueError("bad")
        return k

    assert await gather_limited((work(k) for k in range(10)), 3) == list(range(10))
    assert most == 3
    # a failure: raised, and what still waits or runs is cancelled, not left behind
    slow = [asyncio.ensure_future(work(k, 30)) for k in range(2)]
    with pytest.raises(ValueError, match="bad"):
        await gather_limited([work(-1), *slow], 3)
    assert all(task.cancelled() for task in slow) and running == 0
