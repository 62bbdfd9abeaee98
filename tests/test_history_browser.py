"""History and export in the real app (issue 24, "Done when"): real bundled model, real index, Debian
Chromium (the fixtures of test_app_browser.py). One browser context walks: ask -> 复制 (the clipboard
holds plain text with [n] and the sources) -> 导出 Word (the .docx opened with python-docx: the
answer, its endnotes, their links) -> reload -> the conversation is in 历史对话 -> reopen it -> a
follow-up ("那静安区呢？") is answered as a follow-up; then rename, delete, 新对话, and the phone width.
Screenshots at 1366x800 and 390x844 go to tests/artifacts/history-*.png.
Run: flock /work/coord/heavy.lock .venv/bin/python -m pytest -q tests/test_history_browser.py
"""

from __future__ import annotations

import io
import re

import docx
import pytest
from lxml import etree

from test_app_browser import ANSWER_TIMEOUT_MS, ARTIFACTS, RETAIL_Q, base_url, browser, data_dir  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
HYPERLINK = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"


def _ask(page, question: str, answers_before: int):
    """Ask and wait for the stored final answer (its export links appear once it is stored)."""
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#chat .qa-answer .qa-actions a.qa-export').length >= 2 * n",
                           arg=answers_before + 1, timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#chat .qa-answer").last


def _history(page) -> list[str]:
    return [label.inner_text().strip() for label in page.locator("#history-list label").all()]


def test_ask_copy_export_reload_reopen_follow_up(browser, base_url, data_dir):  # noqa: F811
    from assistant.serve.conversations import ConversationStore

    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = context.new_page()
    try:
        page.goto(base_url + "/")
        page.wait_for_selector("#question textarea")
        assert page.locator("#new-chat").is_visible() and _history(page) == []  # a new browser: no history

        answer = _ask(page, RETAIL_Q, 0)
        assert "1983.09" in answer.inner_text()
        assert _history(page)[0].startswith(RETAIL_Q)  # listed as soon as it is answered
        page.screenshot(path=str(ARTIFACTS / "history-1-answer-1366.png"))

        # 复制: plain text with [n] and a sources list with absolute links, no HTML
        answer.locator("a.qa-copy").click()
        page.wait_for_function("() => document.querySelector('#chat .qa-answer a.qa-copy').textContent.includes('已复制')")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert "1983.09" in copied and re.search(r"\[1\]", copied) and "来源 Sources:" in copied
        assert f"{base_url}/source/minhang-2023-plan-report#" in copied
        assert "<" not in copied and "class=" not in copied and "href" not in copied

        # 导出 Word: the answer, its citations as endnotes with the source's title and a link to the viewer
        with page.expect_download() as download:
            answer.locator("a.qa-export", has_text="Word").click()
        assert download.value.suggested_filename.endswith(".docx")
        document = docx.Document(io.BytesIO(open(download.value.path(), "rb").read()))
        body = "\n".join(p.text for p in document.paragraphs)
        assert RETAIL_Q in body and "1983.09" in body and "[1]" not in body  # the markers are endnote references
        assert list(document.element.body.iter(f"{W}endnoteReference"))
        endnotes = next(p for p in document.part.package.iter_parts() if str(p.partname) == "/word/endnotes.xml")
        notes = "".join(etree.fromstring(endnotes.blob).itertext())
        assert "闵行区" in notes and f"{base_url}/source/minhang-2023-plan-report#" in notes
        links = [r.target_ref for r in endnotes.rels.values() if r.reltype == HYPERLINK]
        assert links and all(link.startswith(f"{base_url}/source/minhang-2023-plan-report#") for link in links)

        # the whole conversation as Markdown, from the sidebar
        with page.expect_download() as download:
            page.locator("#conversation-export a", has_text="Markdown").click()
        markdown = open(download.value.path(), encoding="utf-8").read()
        assert markdown.startswith("# ") and f"## 问 Q：{RETAIL_Q}" in markdown and "1983.09" in markdown

        # reload: the chat is empty, the conversation is in the history; reopened, the chat is back
        page.reload()
        page.wait_for_selector("#history-list label")
        assert page.locator("#chat .qa-answer").count() == 0
        assert _history(page)[0].startswith(RETAIL_Q)
        page.locator("#history-list label").first.click()
        page.wait_for_selector("#chat .qa-answer a.cite")
        assert "1983.09" in page.locator("#chat .qa-answer").last.inner_text()
        assert page.locator("#history-title input, #history-title textarea").first.input_value() == RETAIL_Q

        # the next question is a follow-up of the reopened conversation
        follow_up = _ask(page, "那静安区呢？", 1)
        assert "1707.89" in follow_up.inner_text()
        assert page.locator("#chat .qa-answer .qa-reading").last.inner_text().startswith("理解为：静安区")
        page.screenshot(path=str(ARTIFACTS / "history-2-reopened-follow-up-1366.png"))
        conversations = [c for c in ConversationStore(data_dir).list(_owner(data_dir, RETAIL_Q)) if c.title == RETAIL_Q]
        assert conversations and conversations[0].turns == 2  # one conversation, not two

        # rename; delete asks first; 新对话 starts empty
        page.fill("#history-title input, #history-title textarea", "零售总额 闵行与静安")
        page.click("#history-rename")
        page.wait_for_function("() => document.querySelector('#history-list').innerText.includes('零售总额 闵行与静安')")
        page.click("#history-delete")
        page.click("#history-delete-cancel")
        assert _history(page)[0].startswith("零售总额 闵行与静安")
        page.click("#history-delete")
        page.click("#history-delete-confirm")
        page.wait_for_function("() => !document.querySelector('#history-list').innerText.includes('零售总额')")
        assert page.locator("#chat .qa-answer").count() == 0
        _ask(page, "静安区2023年外贸进出口总额是多少？", 0)
        page.click("#new-chat")
        page.wait_for_function("() => document.querySelectorAll('#chat .qa-answer').length === 0")
        assert _history(page)[0].startswith("静安区2023年外贸进出口总额是多少？")
    finally:
        context.close()


def _owner(data_dir, title: str) -> str:
    """The browser owner that holds a conversation titled `title` (the test's browser id is in its localStorage)."""
    import sqlite3

    with sqlite3.connect(data_dir / "conversations.sqlite3") as db:
        return db.execute("SELECT owner FROM conversations WHERE title = ? ORDER BY created DESC", (title,)).fetchone()[0]


def test_phone_width_history_and_actions_fit(browser, base_url):  # noqa: F811
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(base_url + "/")
        page.wait_for_selector("#question textarea")
        answer = _ask(page, RETAIL_Q, 0)
        page.screenshot(path=str(ARTIFACTS / "history-3-answer-390.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
        actions = answer.locator(".qa-actions").bounding_box()
        assert actions["x"] >= 0 and actions["x"] + actions["width"] <= PHONE["width"]
        # the sidebar starts closed on a phone (it would cover the chat); its toggle opens it
        assert page.locator("#history-sidebar.open").count() == 0
        page.locator("#history-sidebar .toggle-button").click()
        page.wait_for_selector("#history-sidebar.open")
        page.wait_for_function("() => document.getElementById('new-chat').getBoundingClientRect().left >= 0")
        page.screenshot(path=str(ARTIFACTS / "history-4-sidebar-390.png"))
        assert _history(page)[0].startswith(RETAIL_Q)
        box = page.locator("#new-chat").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        page.click("#new-chat")  # 新对话 closes it: the empty chat is in view
        page.wait_for_function("() => !document.querySelector('#history-sidebar.open')"
                               " && document.querySelectorAll('#chat .qa-answer').length === 0")
        page.locator("#history-sidebar .toggle-button").click()
        page.wait_for_selector("#history-sidebar.open")
        page.locator("#history-list label").first.click()  # reopening closes it too: the chat is in view
        page.wait_for_function("() => !document.querySelector('#history-sidebar.open')"
                               " && document.querySelector('#chat .qa-answer a.cite') !== null")
        assert "1983.09" in page.locator("#chat .qa-answer").last.inner_text()
        page.screenshot(path=str(ARTIFACTS / "history-5-reopened-390.png"))
    finally:
        context.close()
