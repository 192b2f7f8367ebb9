"""The web page sends a message while an answer runs: it says that sending stops the answer,
the running answer ends as stopped (its partial text kept and marked after a reload), and the
new message is answered (``multitask_strategy`` ``interrupt``)."""

from __future__ import annotations

from bailian_geo_agent.prompts.catalogue import text

from tests.fakes.dashscope import Reply
from tests.web.conftest import TOKEN_A, open_page
from tests.web.test_page import ask, last_answer, wait_idle


async def test_sending_during_an_answer_stops_it_and_answers_the_new_message(
        web_server, chromium, fake_dashscope):
    fake_dashscope.script(Reply(text="很长的回答" * 100, chunk_size=2, chunk_delay=0.02))
    browser = await open_page(chromium, web_server.url + "/", token=TOKEN_A)
    page = browser.page
    assert await page.is_hidden("#ask-hint")
    await ask(page, "讲一个很长的故事")
    await page.wait_for_selector("#stop:not([hidden]):not([disabled])")
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant .text')?.textContent.length > 10")
    hint = page.locator("#ask-hint")
    assert await hint.is_visible()
    assert await hint.text_content() == text("page_send_interrupts")
    assert await page.is_enabled("#send")

    await ask(page, "改问这个")
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant:last-child .text')?.textContent"
        " === 'ECHO[2]: 改问这个'")
    await wait_idle(page)
    assert await page.is_hidden("#ask-hint")
    first = page.locator(".msg.assistant").first
    assert await first.locator("[role=alert]").text_content() == text("cancelled")
    shown = await first.locator(".text").text_content()
    assert 10 < len(shown) < 500 and "很长的回答".startswith(shown[:5])

    await page.reload()  # the stopped answer is kept, marked; the new one follows it
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    (stopped, mark), after = await page.eval_on_selector_all(
        ".msg.assistant", "ms => ms.map(m => [m.querySelector('.text').textContent, "
        "m.querySelector('.interrupted')?.textContent ?? null])")
    assert stopped.startswith(shown) and mark == "（回答被中断）"
    assert after == ["ECHO[2]: 改问这个", None]
    assert await last_answer(page) == "ECHO[2]: 改问这个"
    assert browser.dialogs == []
