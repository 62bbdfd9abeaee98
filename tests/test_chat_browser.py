"""The small things a daily user trips on (issue 24 item 4), in the real app: real bundled model, real
index, Debian Chromium (the fixtures of test_app_browser.py).

- the question box: what is typed while an answer is pending stays, and so do the filters; a second
  Enter is queued and sent when the answer is done; an empty Enter does nothing; a refused question
  is answered in Chinese (no 👍/👎 under it); a 3,000-character paste stays in the box with the counter
  and the limit;
- the year and report-kind filters scope the answer, and a filter the question contradicts is said;
- 👎 switched to 👍 is one stored row; a comment is confirmed;
- the viewer in the chat's dark theme, and its search box.
Screenshots at 1366x800 and 390x844: tests/artifacts/chat-*.png.
Run: flock /work/coord/heavy.lock .venv/bin/python -m pytest -q tests/test_chat_browser.py
"""

from __future__ import annotations

import time

import pytest

from test_app_browser import ANSWER_TIMEOUT_MS, ARTIFACTS, RETAIL_Q, base_url, browser, data_dir  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture()
def page(browser, base_url):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.goto(base_url + "/")
    page.wait_for_selector("#question textarea")
    page.wait_for_function("() => window.policyQa !== undefined")
    yield page
    context.close()


@pytest.fixture()
def slow_answers(monkeypatch):
    """Every answer of the served app (same process) starts 3 s late: time to type while it is pending."""
    from assistant.service import Assistant

    original = Assistant.stream

    def slow(self, *args, **kwargs):
        time.sleep(3)
        yield from original(self, *args, **kwargs)

    monkeypatch.setattr(Assistant, "stream", slow)


def _wait_answers(page, n: int, done: str = "a.cite, .qa-refusal"):
    """Wait until the n-th final answer is drawn (its citations or its refusal)."""
    page.wait_for_function(
        "([n, sel]) => { const a = document.querySelectorAll('#chat .qa-answer');"
        " return a.length >= n && a[n - 1].querySelector(sel) !== null && a[n - 1].querySelector('.qa-actions'); }",
        arg=[n, done], timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#chat .qa-answer").nth(n - 1)


def _pick(page, elem_id: str, label: str):
    page.locator(f"#{elem_id} input").click()
    page.locator(f"#{elem_id} li[role='option'][aria-label='{label}']").click()
    page.wait_for_function("([id, v]) => document.querySelector(`#${id} input`).value === v", arg=[elem_id, label])


def test_typing_while_pending_stays_and_a_second_enter_is_queued(page, slow_answers):
    page.fill("#question textarea", RETAIL_Q)
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.policyQa.state.pending")
    _pick(page, "year", "2023年")  # a filter chosen while the answer is pending is kept
    page.fill("#question textarea", "那静安区呢？")  # the next question, typed meanwhile
    page.keyboard.press("Enter")  # a second Enter: queued, not dropped
    note = page.locator("#question-counter .qa-input-note")
    assert "自动发送" in note.inner_text() and page.input_value("#question textarea") == "那静安区呢？"
    assert not page.locator("#chat .message-buttons").last.is_visible()  # an answer still coming is not rated yet
    page.screenshot(path=str(ARTIFACTS / "chat-1-queued-1366.png"))
    first = _wait_answers(page, 1)
    assert "1983.09" in first.inner_text()
    assert page.locator("#chat .qa-question").first.inner_text() == RETAIL_Q
    second = _wait_answers(page, 2)  # sent by itself once the first answer was done
    assert [q.inner_text() for q in page.locator("#chat .qa-question").all()] == [RETAIL_Q, "那静安区呢？"]
    assert "1707.89" in second.inner_text()
    assert "筛选：2023年" in page.locator("#chat .qa-scope").last.inner_text()  # the filter applied, and said
    assert page.locator("#year input").input_value() == "2023年" and page.input_value("#question textarea") == ""
    assert page.locator("#question-counter .qa-count").inner_text() == "0 / 500"
    page.screenshot(path=str(ARTIFACTS / "chat-2-queued-answered-1366.png"))


def test_empty_enter_refused_question_and_long_paste(page):
    page.click("#question textarea")
    page.keyboard.press("Enter")  # nothing typed: nothing happens
    time.sleep(1.0)
    assert page.locator("#chat .message-row").count() == 0
    page.fill("#question textarea", "？？？")
    page.keyboard.press("Enter")
    error = page.locator("#chat .qa-error")
    error.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert error.inner_text().startswith("问题里没有文字或数字") and "question" not in error.inner_text()
    assert not page.locator("#chat .message-row:has(.qa-error) + .message-buttons").is_visible()  # no 👍/👎 on an error
    assert not page.locator("#chat button[aria-label='赞']").first.is_visible()
    long = ("闵行区2023年社会消费品零售总额完成了多少？" * 150)[:3000]
    page.fill("#question textarea", long)
    page.keyboard.press("Enter")
    time.sleep(1.0)
    counter = page.locator("#question-counter")
    assert "3000 / 500" in counter.inner_text() and "超过了 500 字的上限" in counter.inner_text()
    assert page.locator("#question-counter .qa-count.over").count() == 1
    assert page.input_value("#question textarea") == long  # not wiped, not sent
    assert page.locator("#chat .qa-question").count() == 1
    page.screenshot(path=str(ARTIFACTS / "chat-3-long-paste-1366.png"))
    page.fill("#question textarea", "What was Minhang's retail sales in 2023? " * 20)
    assert "The question is" in counter.inner_text() and "limit is 500" in counter.inner_text()
    page.fill("#question textarea", RETAIL_Q[:10])
    assert counter.inner_text().strip().startswith("10 / 500") and not page.locator("#question-counter .qa-count.over").count()


def test_an_example_click_asks_it_and_keeps_the_draft(page):
    page.fill("#question textarea", "我的草稿：还没写完")
    example = page.locator("#examples button").first
    asked = example.inner_text()
    example.click()
    _wait_answers(page, 1)
    assert page.locator("#chat .qa-question").first.inner_text() == asked
    assert page.input_value("#question textarea") == "我的草稿：还没写完"


def test_phone_long_paste_and_error(browser, base_url):  # noqa: F811
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(base_url + "/")
        page.wait_for_selector("#question textarea")
        page.fill("#question textarea", "？？？")
        page.locator("#send").click()
        page.locator("#chat .qa-error").wait_for(timeout=ANSWER_TIMEOUT_MS)
        page.fill("#question textarea", "长" * 3000)
        page.locator("#send").click()
        time.sleep(0.5)
        assert "3000 / 500" in page.locator("#question-counter").inner_text()
        assert len(page.input_value("#question textarea")) == 3000
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.locator("#question-counter").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "chat-4-long-paste-390.png"))
    finally:
        context.close()


def test_year_and_kind_filters_scope_the_answer(page):
    _pick(page, "kind", "任务分解表")
    page.wait_for_function("() => document.querySelector('#document input').value === '全部 All'")
    page.locator("#document input").click()
    options = [o.get_attribute("aria-label") for o in page.locator("#document li[role='option']").all()]
    page.keyboard.press("Escape")
    assert options == ["全部 All", "闵行区“十四五”规划重点任务责任分解表"], options  # the report list narrows with the kind
    page.fill("#question textarea", "促进创新创业人才集聚由哪些单位牵头？")
    page.keyboard.press("Enter")
    answer = _wait_answers(page, 1)
    hrefs = [a.get_attribute("href") for a in answer.locator("a.cite").all()]
    assert hrefs and all(h.startswith("/source/minhang-14th-five-year-plan-tasks") for h in hrefs), hrefs
    assert page.locator("#chat .qa-scope").last.inner_text() == "筛选：任务分解表"
    _pick(page, "kind", "全部")
    _pick(page, "year", "2021年")  # the question asks about 2023: the year filter loses, visibly
    page.fill("#question textarea", RETAIL_Q)
    page.keyboard.press("Enter")
    answer = _wait_answers(page, 2)
    assert "1983.09" in answer.inner_text()
    assert "问题问的是2023年，未按年份“2021年”筛选" in page.locator("#chat .qa-scope").last.inner_text()
    page.screenshot(path=str(ARTIFACTS / "chat-5-filters-1366.png"))


def test_switching_thumbs_is_one_row_and_a_comment_is_confirmed(page, data_dir):  # noqa: F811
    from assistant.serve.feedback import FeedbackStore

    before = {r.id for r in FeedbackStore(data_dir).all()}
    page.fill("#question textarea", RETAIL_Q)
    page.keyboard.press("Enter")
    _wait_answers(page, 1)
    buttons = page.locator("#chat .message-buttons").last

    def mine():
        return [(r.rating, r.comment) for r in FeedbackStore(data_dir).all() if r.id not in before]

    buttons.locator("button[aria-label='踩']").click()
    page.locator("#feedback-comment textarea").wait_for(state="visible")
    deadline = time.monotonic() + 10
    while mine() != [("down", "")] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mine() == [("down", "")]
    buttons.locator("button[aria-label='赞']").click()  # 👎 switched to 👍: the same row
    deadline = time.monotonic() + 10
    while mine() != [("up", "")] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mine() == [("up", "")]
    page.fill("#feedback-comment textarea", "数字对，单位也清楚")
    page.keyboard.press("Enter")
    done = page.locator("#feedback-done")
    done.wait_for(state="visible")
    assert "已保存" in done.inner_text()
    assert mine() == [("up", "数字对，单位也清楚")]
    page.screenshot(path=str(ARTIFACTS / "chat-6-feedback-1366.png"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_viewer_follows_the_dark_theme_and_finds_in_the_report(browser, base_url, viewport):  # noqa: F811
    context = browser.new_context(viewport=viewport, locale="zh-CN", color_scheme="light")
    page = context.new_page()
    try:
        page.goto(base_url + "/?__theme=dark")  # Gradio's dark theme, chosen in the chat
        page.wait_for_selector("#question textarea")
        page.wait_for_function("() => document.body.classList.contains('dark')")
        page.fill("#question textarea", RETAIL_Q)
        page.keyboard.press("Enter")
        answer = _wait_answers(page, 1)
        with context.expect_page() as opened:
            answer.locator("a.cite").first.click()
        source = opened.value
        source.wait_for_load_state()
        assert "__theme=dark" in source.url
        assert source.evaluate("document.documentElement.dataset.theme") == "dark"
        assert source.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
        source.fill("#find", "社会消费品零售总额")
        source.wait_for_function("() => document.getElementById('find-count').textContent.startsWith('1/')")
        total = source.locator("mark.find").count()
        assert total >= 2 and source.inner_text("#find-count") == f"1/{total}"
        source.keyboard.press("Enter")
        assert source.inner_text("#find-count") == f"2/{total}"
        source.keyboard.press("Shift+Enter")
        source.keyboard.press("Shift+Enter")
        assert source.inner_text("#find-count") == f"{total}/{total}"  # previous wraps round
        current = source.locator("mark.find.current")
        assert current.count() == 1 and current.is_visible() and current.inner_text() == "社会消费品零售总额"
        assert source.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        source.screenshot(path=str(ARTIFACTS / f"chat-7-viewer-dark-find-{viewport['width']}.png"))
        source.fill("#find", "没有这个词")
        source.wait_for_function("() => document.getElementById('find-count').textContent === '无结果'")
        assert source.locator("mark.find").count() == 0
    finally:
        context.close()
    system = browser.new_context(viewport=viewport, color_scheme="dark")  # no theme chosen: the system's
    try:
        viewer = system.new_page()
        viewer.goto(base_url + "/source/minhang-2023-plan-report")
        assert viewer.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    finally:
        system.close()
