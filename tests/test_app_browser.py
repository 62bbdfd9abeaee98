"""The real app end to end: real bundled model, real index, real corpus, Debian Chromium.

Starts `create_app(Assistant.load())` with uvicorn in a background thread on a free loopback
port, then drives the chat with Playwright (sync API) at 1400 px and at a phone's 390 px, and calls
`/ask` with gradio_client. Screenshots of each step go to tests/artifacts/ (git-ignored).
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
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app-data")  # the feedback database of this test app


@pytest.fixture(scope="module")
def base_url(data_dir) -> Iterator[str]:
    import uvicorn

    from assistant.config import load_settings
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    # default settings (builds the project's index on the first run), feedback in a temporary folder
    assistant = Assistant.load(load_settings(data_dir=str(data_dir)))
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
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
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


# ----------------------------------------------------------------------------- chat UX (issue 12)

PHONE = {"width": 390, "height": 844}


def _wait_answer(page, before: int, done_selector: str = "a.cite"):
    page.wait_for_function(
        "([n, sel]) => { const a = document.querySelectorAll('#chat .qa-answer');"
        " return a.length > n && a[a.length - 1].querySelector(sel) !== null; }",
        arg=[before, done_selector], timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#chat .qa-answer").last


def _box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def test_example_click_asks_and_the_chat_fills_the_window(page):
    page.locator("#examples button").first.click()  # 闵行区2023年社会消费品零售总额完成了多少？
    answer = _wait_answer(page, 0)
    assert "1983.09" in answer.inner_text()
    assert page.locator("#chat .qa-answer .qa-reading").last.inner_text().startswith("理解为：闵行区 2023年")
    page.screenshot(path=str(ARTIFACTS / "5-example-asked-1400.png"))
    chat, ask = _box(page, "#chat"), _box(page, "#question")
    viewport = page.viewport_size
    assert chat["height"] >= viewport["height"] - 320, chat  # not a fixed 560 px: it grows with the window
    assert ask["y"] + ask["height"] <= viewport["height"]  # the question box is in view, below the chat
    assert page.evaluate("document.documentElement.scrollHeight") <= viewport["height"] + 2  # no empty space to scroll to
    page.set_viewport_size({"width": 1400, "height": 1200})
    page.wait_for_function("h => document.getElementById('chat').getBoundingClientRect().height > h", arg=chat["height"] + 200)


def test_phone_width_nothing_cut_off(browser, base_url):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(base_url + "/")
        page.wait_for_selector("#question textarea")
        page.screenshot(path=str(ARTIFACTS / "6-phone-390-start.png"))
        page.locator("#examples button").nth(1).click()  # 促进创新创业人才集聚由哪些单位牵头？ (a long answer)
        answer = _wait_answer(page, 0)
        page.screenshot(path=str(ARTIFACTS / "6-phone-390-answer.png"))
        page.screenshot(path=str(ARTIFACTS / "6-phone-390-full.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
        box = answer.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert answer.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # the text wraps inside its bubble
        for selector in ("#question", "#send"):  # the question box and the button are fully on screen
            part = _box(page, selector)
            assert part["x"] >= 0 and part["x"] + part["width"] <= PHONE["width"], selector
        ask = _box(page, "#question")
        assert ask["y"] + ask["height"] <= PHONE["height"]  # after the example click the question box is in view
    finally:
        context.close()


def test_thumbs_down_with_comment_is_stored(page, data_dir, base_url):
    from assistant.serve.feedback import FeedbackStore

    answer = _ask(page, RETAIL_Q, "a.cite")
    assert not page.locator("#feedback-row").is_visible()
    page.locator("#chat button[aria-label='踩'], #chat button[aria-label='Dislike']").last.click()
    page.wait_for_selector("#feedback-comment textarea", state="visible")
    page.screenshot(path=str(ARTIFACTS / "7-feedback-comment.png"))
    page.fill("#feedback-comment textarea", "数字对，但想同时看同比增长")
    page.keyboard.press("Enter")
    page.wait_for_selector("#feedback-row", state="hidden")
    rows = [r for r in FeedbackStore(data_dir).all() if r.rating == "down"]
    assert rows, "the rating was not stored"
    row = rows[-1]
    assert row.question == RETAIL_Q and "1983.09" in row.answer and "1983.09" in answer.inner_text()
    assert row.comment == "数字对，但想同时看同比增长" and row.reading.startswith("理解为：闵行区")
    assert row.citations and row.citations[0]["url"].startswith("/source/minhang-2023-plan-report#")
    assert re.match(r"^\d{8}T\d{6}", row.index_version), row.index_version  # the index build that answered


@pytest.mark.parametrize("width", [1400, 390])
def test_source_table_header_stays_visible_at_a_cited_row(browser, base_url, width):
    context = browser.new_context(viewport={"width": width, "height": 900 if width > 400 else 844}, locale="zh-CN")
    page = context.new_page()
    try:
        row = "s1_1-b20"  # a row far down the 2023 targets table: the table's head has scrolled away
        page.goto(base_url + "/source/minhang-2023-plan-report#" + row)
        page.wait_for_function("id => document.getElementById(id).classList.contains('highlight')", arg=row)
        geometry = page.evaluate("""id => {
            const bar = document.querySelector('header.bar').getBoundingClientRect();
            const cell = document.getElementById(id).closest('table').querySelector('thead th');
            const th = cell.getBoundingClientRect(), r = document.getElementById(id).getBoundingClientRect();
            const hit = document.elementFromPoint(th.left + 4, th.top + th.height / 2);
            return {bar: bar.bottom, thTop: th.top, thBottom: th.bottom, rowTop: r.top, covered: hit !== cell};
        }""", row)
        page.screenshot(path=str(ARTIFACTS / f"8-source-sticky-header-{width}.png"))
        assert not geometry["covered"], geometry  # the header cell is on top, not under the bar
        assert geometry["bar"] - 1 <= geometry["thTop"] and geometry["thBottom"] <= geometry["rowTop"] + 1, geometry
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()
