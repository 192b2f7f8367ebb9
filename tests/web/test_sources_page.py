"""The web search's sources on the page, in headless chromium against a real ``geo-agent serve``
with ``DASHSCOPE_ENABLE_SEARCH=true`` and the DashScope fake: the page asks for ``source``
events (from the server's list), shows them under the answer as links by its safe-link rules
(https opens in a new tab; anything else is text with a note; titles are text, never markup),
and shows them again after a reload."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bailian_geo_agent.agent.events import FRONT_END_EVENTS
from bailian_geo_agent.prompts.catalogue import text, use_language

from tests.fakes.dashscope import Reply
from tests.server.conftest import Server, start_server
from tests.web.conftest import TOKEN_A, open_page, web_server_env
from tests.web.test_page import ask, run_axe, wait_idle

XSS = "<img src=x onerror=alert(1)>"
SOURCES = [
    {"title": "北京天气预报", "url": "https://weather.example.cn/beijing?d=今天"},
    {"title": XSS, "url": "https://news.example.com/a"},
    {"title": "明文页面", "url": "http://plain.example.org/p"},
    {"title": "", "url": "https://untitled.example.net/"},
]


@pytest.fixture(scope="module")
def searching_server(fake_dashscope_server, tmp_path_factory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("web-search")
    running = start_server(workdir, web_server_env(fake_dashscope_server.compatible_base_url,
                                                   workdir, DASHSCOPE_ENABLE_SEARCH="true"))
    try:
        yield running
    finally:
        running.stop()


async def shown(page) -> list:
    """Each answer's text and its sources as [kind, text, href] (kind: link or text)."""
    return await page.eval_on_selector_all(".msg.assistant", """ms => ms.map(m => [
        m.querySelector('.text').textContent,
        [...m.querySelectorAll('.sources li')].map(li => {
            const a = li.querySelector('a');
            return a ? ['link', a.textContent, a.getAttribute('href'), a.target, a.rel,
                        li.querySelector('.source-site').textContent]
                     : ['text', li.querySelector('.link-text').textContent,
                        li.querySelector('.link-unsafe').textContent];
        })])""")


async def test_sources_show_under_the_answer_as_safe_links(searching_server, chromium,
                                                           fake_dashscope):
    assert "source" in FRONT_END_EVENTS
    fake_dashscope.script(Reply(text="北京今天晴。", search_results=SOURCES),
                          Reply(text="不客气。"))
    browser = await open_page(chromium, searching_server.url + "/", token=TOKEN_A)
    page = browser.page
    sent: list[dict] = []
    page.on("request", lambda r: r.url.endswith("/v1/chat/stream")
            and sent.append(r.post_data_json))
    await ask(page, "北京天气")
    await wait_idle(page)
    await ask(page, "谢谢")  # a second turn, without sources
    await page.wait_for_function(
        "() => document.querySelector('.msg.assistant:last-child .text')?.textContent"
        " === '不客气。'")
    await wait_idle(page)
    assert "source" in sent[0]["events"] and sent[0]["events"] == list(FRONT_END_EVENTS)

    with use_language("zh"):
        unsafe, heading = text("page_link_unsafe"), text("page_sources")
    expected = [
        ["北京今天晴。", [
            ["link", "北京天气预报", "https://weather.example.cn/beijing?d=%E4%BB%8A%E5%A4%A9",
             "_blank", "noopener noreferrer", "weather.example.cn"],
            ["link", XSS, "https://news.example.com/a", "_blank", "noopener noreferrer",
             "news.example.com"],
            ["text", "明文页面: http://plain.example.org/p", unsafe],
            ["link", "https://untitled.example.net/", "https://untitled.example.net/", "_blank",
             "noopener noreferrer", "untitled.example.net"],
        ]],
        ["不客气。", []],
    ]
    assert await shown(page) == expected
    # Under the answer, after its text, headed and labelled for screen readers.
    assert await page.eval_on_selector(
        ".msg.assistant .sources",
        "s => [s.previousElementSibling.classList.contains('text'),"
        " s.querySelector('.sources-title').textContent, s.getAttribute('aria-label')]") == [
        True, heading, heading]
    assert await page.locator(".msg img").count() == 0
    for span in await page.query_selector_all(".sources .link-text"):
        await span.click()
    await page.wait_for_timeout(200)
    assert browser.dialogs == []
    assert [v for v in await run_axe(page) if v["impact"] in ("critical", "serious")] == []

    await page.reload()  # the history's answers, the sources under the first again
    await page.wait_for_function("() => document.body.dataset.loaded === 'true'")
    assert await shown(page) == expected
    assert browser.dialogs == [] and browser.console_errors == []
    assert browser.outside == []
