"""The real app end to end: real bundled model, real index, real corpus, Debian Chromium.

Starts `create_app(Assistant.load())` with uvicorn in a background thread on a free loopback
port, then drives the chat with Playwright (sync API) and calls `/ask` with gradio_client.
Screenshots of each step go to tests/artifacts/ (git-ignored).
Run: .venv/bin/python -m pytest -q tests/test_app_browser.py
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ANSWER_TIMEOUT_MS = 180_000  # the first question also warms up the model and jieba
RETAIL_Q = "闵行区2023年社会消费品零售总额完成了多少？"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    import uvicorn

    from assistant.service import Assistant
    from assistant.web import create_app

    assistant = Assistant.load()  # default settings: builds /work/main/index on the first run
    server = uvicorn.Server(uvicorn.Config(create_app(assistant), host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the app did not start within 60 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian Chromium not found at /usr/bin/chromium: install it with `apt-get install chromium` "
                    "(or `make chromium`); `playwright install` is not used on these machines")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, base_url):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(base_url + "/")
    page.wait_for_selector("#question textarea")
    yield page
    context.close()


def _ask(page, question: str, done_selector: str):
    """Type a question, press Enter, wait until the final answer (not the stream) is rendered."""
    before = page.locator("#chat .qa-answer").count()
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([n, sel]) => { const a = document.querySelectorAll('#chat .qa-answer');"
        " return a.length > n && a[a.length - 1].querySelector(sel) !== null; }",
        arg=[before, done_selector], timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#chat .qa-answer").last


def test_answer_cites_and_source_page_highlights(page):
    answer = _ask(page, RETAIL_Q, "a.cite")
    page.screenshot(path=str(ARTIFACTS / "1-answer.png"))
    assert "1983.09" in answer.inner_text()
    link = answer.locator("a.cite").first
    href = link.get_attribute("href")
    assert re.match(r"^/source/[\w-]+\?q=.+#s[\w-]+$", href), href
    assert link.get_attribute("target") == "_blank"
    assert answer.locator(".qa-sources li").count() >= 1

    with page.context.expect_page() as opened:
        link.click()
    source = opened.value
    source.wait_for_load_state()
    anchor = href.rsplit("#", 1)[1]
    block_id = re.sub(r"-p\d+$", "", anchor)  # a piece of a long block highlights the block
    block = source.locator(f"[id='{block_id}']")
    source.wait_for_function("id => document.getElementById(id).classList.contains('highlight')", arg=block_id)
    assert block.evaluate("e => e.matches(':target') || e.classList.contains('highlight')")
    assert block.is_visible()
    assert "1983.09" in block.inner_text()
    source.screenshot(path=str(ARTIFACTS / "2-source-highlighted.png"))


def test_follow_up_uses_history(page):
    _ask(page, RETAIL_Q, "a.cite")
    answer = _ask(page, "那静安区呢？", ".qa-refusal, a.cite")
    page.screenshot(path=str(ARTIFACTS / "3-follow-up.png"))
    assert "1707.89" in answer.inner_text()


def test_unanswerable_question_is_refused(page):
    answer = _ask(page, "浦东新区2023年社会消费品零售总额是多少？", ".qa-refusal")
    page.screenshot(path=str(ARTIFACTS / "4-refusal.png"))
    assert answer.locator("a.cite").count() == 0
    assert "未找到" in answer.locator(".qa-refusal").inner_text()


def test_script_in_question_is_shown_as_text(page):
    _ask(page, "<img src=x onerror=\"window.__pwned=1\">静安区2023年外贸进出口总额是多少？", ".qa-refusal, a.cite, .qa-error")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#chat img[src='x']").count() == 0
    assert "<img src=x" in page.locator("#chat .qa-question").last.inner_text()


def test_gradio_client_ask(base_url):
    from gradio_client import Client

    client = Client(base_url + "/", verbose=False)
    result = client.predict(RETAIL_Q, api_name="/ask")
    assert {"answer", "citations", "refused", "timings_ms"} <= set(result)
    assert "1983.09" in result["answer"] and not result["refused"]
    assert result["citations"] and result["citations"][0]["url"].startswith("/source/")
    refused = client.predict("浦东新区2023年社会消费品零售总额是多少？", "全部", "extractive", api_name="/ask")
    assert refused["refused"] and not refused["citations"]
