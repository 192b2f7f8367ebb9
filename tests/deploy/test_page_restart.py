"""The page across a server restart (issue 21): a reply the restart cut is sent again once,
same message and session, and the page shows the new answer in place of the cut one: no
duplicate text, no error, the question once (on screen and in the stored session).

One ``geo-agent serve`` on a fixed port and a SQLite store: SIGTERM while the answer streams
(it drains for 1 s, then ends the reply with the "restarting" ``error``), exit, start again on
the same port; the page waits for it and retries. Headless Debian chromium.
"""

from __future__ import annotations

import asyncio
import re
import signal

from tests.fakes.dashscope import RecordedRequest, Reply
from tests.helpers import free_port
from tests.server.conftest import TOKEN_A, start_server
from tests.web.conftest import open_page, web_server_env

LONG = "这是一个很长的故事。" * 60  # 300 chunks, 0.05 s apart: longer than the drain


async def test_the_page_retries_a_reply_cut_by_a_restart(chromium, fake_dashscope, tmp_path):
    answers = iter(["long", "short"])

    def responder(request: RecordedRequest) -> Reply:
        users = [m for m in request.messages if m.get("role") == "user"]
        if next(answers, "short") == "long":
            return Reply(text=LONG, chunk_size=2, chunk_delay=0.05)
        return Reply(text=f"[{len(users)}] 完整的回答。")

    fake_dashscope.responder = responder
    port = free_port()
    env = web_server_env(fake_dashscope.compatible_base_url, tmp_path,
                         GEO_AGENT_DRAIN_SECONDS="1")
    server = start_server(tmp_path, env, "--port", str(port))
    loop = asyncio.get_running_loop()
    try:
        browser = await open_page(chromium, server.url + "/", token=TOKEN_A)
        page = browser.page
        await page.fill("#question", "讲个长故事")
        await page.press("#question", "Enter")
        await page.wait_for_function(
            "() => (document.querySelector('.msg.assistant .text')?.textContent || '')"
            ".length > 20")
        server.process.send_signal(signal.SIGTERM)
        assert await loop.run_in_executor(None, server.process.wait, 20) == 0
        server = start_server(tmp_path, env, "--port", str(port))
        await page.wait_for_function(
            "() => document.querySelector('#send') && !document.querySelector('#send').disabled"
            " && (document.querySelector('.msg.assistant .text')?.textContent || '')"
            ".includes('完整的回答')", timeout=40_000)
        shown = await page.locator(".msg.assistant .text").all_inner_texts()
        users = await page.locator(".msg.user .text").all_inner_texts()
        errors = await page.locator(".msg.assistant .error").all_inner_texts()
        await page.reload()
        await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
        stored = await page.locator(".msg").all_inner_texts()
    finally:
        server.stop()
    assert shown == ["[1] 完整的回答。"]  # the retry's answer only: the cut text is gone
    assert users == ["讲个长故事"] and errors == []
    assert [re.sub(r"\s+", " ", s).strip() for s in stored] == [
        "我： 讲个长故事", "助手： [1] 完整的回答。"]
    # Only the refusals the page waited out: the draining server's 503, the restart's gap.
    assert [e for e in browser.console_errors if "Failed to load resource" not in e] == []
