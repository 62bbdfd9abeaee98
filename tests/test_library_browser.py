"""The knowledge-base page end to end (issue 11, "Done when"): real bundled model, Debian Chromium.

A copy of the corpus without the 静安 report (tmp dir, never the repo's corpus/) is served by the real
app. On /library the 静安 report's PDF is uploaded, its prefilled catalog fields checked and added;
once indexed, a 静安 question in the chat is answered with a citation that opens the viewer on the
block it quotes and on the PDF page that holds it. Then the report is deleted on /library and the
same question is refused: the corpus no longer covers 静安. The time from upload to the first answer
is written to tests/artifacts/library-timing.json (measure under `flock /work/coord/heavy.lock`).
Run: flock /work/coord/heavy.lock .venv/bin/python -m pytest -q -m slow tests/test_library_browser.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from _reliability import CORPUS, free_port
from test_app_browser import ARGS, ARTIFACTS, CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
JINGAN = "jingan-2023-plan-report"
PDF = Path(__file__).resolve().parent / "fixtures" / "formats" / f"{JINGAN}.pdf"
TRADE_Q = "静安区2023年外贸进出口总额是多少？"
INDEX_TIMEOUT_MS = 600_000  # the first build in the test folder embeds every chunk when no built index can seed it
ANSWER_TIMEOUT_MS = 180_000


def _seed_index(index_dir: Path) -> None:
    """Start from the project's built index (when there is one), so that the tmp corpus' first build
    re-embeds nothing of the 闵行 reports; the 静安 vectors are dropped by that build, so the upload
    below embeds the PDF's chunks from scratch, as for a new report."""
    current = ROOT / "index" / "current"
    if not current.exists():
        return
    target = index_dir / "builds" / current.resolve().name
    shutil.copytree(current.resolve(), target)
    os.symlink(os.path.relpath(target, index_dir), index_dir / "current")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import uvicorn

    from assistant.config import load_settings
    from assistant.indexing.build import build_index
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    if not PDF.exists():
        pytest.skip(f"{PDF} is missing (made by the readers' fixture script)")
    if not CHROMIUM.exists():
        pytest.skip("Debian Chromium not found at /usr/bin/chromium (`make chromium`)")
    base = tmp_path_factory.mktemp("library-browser")
    corpus = base / "corpus"
    shutil.copytree(CORPUS, corpus)
    catalog = corpus / "catalog.toml"
    text = catalog.read_text(encoding="utf-8")
    catalog.write_text(text[: text.index(f'[[document]]\ndoc_id = "{JINGAN}"')], encoding="utf-8")
    (corpus / f"{JINGAN}.txt").unlink()
    (base / "index").mkdir()
    _seed_index(base / "index")
    settings = load_settings(corpus_dir=str(corpus), index_dir=str(base / "index"), data_dir=str(base / "data"))
    build_index(settings, progress=False)
    assistant = Assistant.load(settings, build_if_needed=False)
    server = uvicorn.Server(uvicorn.Config(create_app(assistant), host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}", assistant, base
    server.should_exit = True
    thread.join(timeout=10)


def _ask(page, question: str, done: str):
    """Ask and wait for its final answer (drawn with its 复制/导出 line)."""
    before = page.locator("#chat .qa-answer .qa-actions").count()
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function("([sel, n]) => { const a = document.querySelectorAll('#chat .qa-answer .qa-actions');"
                           " return a.length > n && a[a.length - 1].parentElement.querySelector(sel) !== null; }",
                           arg=[done, before], timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#chat .qa-answer").last


def _options(page, elem_id: str) -> list[str]:
    page.locator(f"#{elem_id} input").click()
    options = [o.get_attribute("aria-label") for o in page.locator(f"#{elem_id} li[role='option']").all()]
    page.keyboard.press("Escape")
    return options


def _examples(page) -> list[str]:
    return [b.inner_text() for b in page.locator("#examples button").all()]


def _pdf_page_text(number: int) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(PDF))
    try:
        return re.sub(r"\s+", "", pdf[number - 1].get_textpage().get_text_range())
    finally:
        pdf.close()


def test_upload_pdf_answer_cites_its_page_then_delete_refuses(served):
    from playwright.sync_api import sync_playwright

    url, assistant, base = served
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # the delete confirmation

        # ---- a chat opened before the upload: it names what the library holds (no 静安 yet)
        chat = context.new_page()
        chat.goto(url + "/")
        chat.wait_for_selector("#question textarea")
        assert "闵行区" in chat.locator("#intro h2").inner_text() and "静安" not in chat.locator("#intro").inner_text()
        assert "静安区" not in _options(chat, "district") and not any("静安" in q for q in _examples(chat))

        # ---- upload on the 资料库 page: fields prefilled from the title, editable
        page.goto(url + "/library")
        page.wait_for_selector("#docs tr[data-doc]")
        assert page.locator(f"#docs tr[data-doc='{JINGAN}']").count() == 0
        minhang = page.locator("#docs tr[data-doc='minhang-2023-plan-report']")
        assert minhang.locator("td.district").inner_text() == "闵行区"
        district = minhang.locator("td.district")
        lines = district.evaluate("e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length; }")
        assert lines == 1 and district.bounding_box()["width"] > 40  # 区 on one line, not one character wide
        built = datetime.fromisoformat(assistant.index.manifest["built_at"])
        assert minhang.locator("td.when").inner_text() == (built + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")  # Asia/Shanghai
        assert minhang.locator("td", has_text="年度计划执行情况报告").count() == 1  # the kind by its Chinese name
        started = time.perf_counter()
        page.set_input_files("#files", str(PDF))
        row = page.locator("#staged tr[data-token]")
        row.wait_for(timeout=120_000)
        uploaded = time.perf_counter()
        assert row.locator(".f-district").input_value() == "静安区"
        assert row.locator(".f-year").input_value() == "2023-2024"
        assert row.locator(".f-kind").input_value() == "yearly_report"
        assert row.locator(".f-doc_id").input_value() == JINGAN
        assert "静安区2023年国民经济和社会发展计划执行情况" in row.locator(".f-title").input_value()
        assert "PDF" in row.locator(".info").inner_text() and "表格 9 张" in row.locator(".info").inner_text()
        # how the tables were read, before the report is added: captions, headers, first rows
        preview = page.locator("#staged tr.preview-row details.preview")
        preview.locator("summary").click()
        assert preview.locator("summary").inner_text().startswith("表格识别预览：9 张表")
        first = preview.locator("table").first
        assert [h.inner_text() for h in first.locator("th").all()] == ["指标名称", "全年预期目标", "完成情况"]
        assert first.locator("tbody tr").first.inner_text().split("\t") == ["地区生产总值增长率", "5%左右", "7%"]
        assert preview.locator("caption", has_text="表2六大产业税收完成情况").count() == 1
        page.screenshot(path=str(ARTIFACTS / "library-1-staged.png"), full_page=True)
        page.click("#add")
        page.wait_for_selector("#job[data-state='running']")
        # ---- a question asked meanwhile: answered from the previous index, with a notice that indexing is under way
        _ask(chat, TRADE_Q, ".qa-refusal, a.cite")
        notice = chat.locator("#chat .qa-notice").inner_text()
        assert notice.startswith("资料库正在更新索引（加入：jingan-2023-plan-report") and "索引完成后才能查到" in notice, notice
        chat.screenshot(path=str(ARTIFACTS / "library-2-notice-1366.png"))
        page.screenshot(path=str(ARTIFACTS / "library-2-indexing.png"))
        page.wait_for_selector("#job[data-state='done']", timeout=INDEX_TIMEOUT_MS)
        indexed = time.perf_counter()
        build = page.locator("#job-text").inner_text() + " · " + page.locator("#job-message").inner_text()
        doc_row = page.locator(f"#docs tr[data-doc='{JINGAN}']")
        doc_row.wait_for()
        assert doc_row.locator(".state").inner_text() == "indexed"
        page.screenshot(path=str(ARTIFACTS / "library-3-indexed.png"))

        # ---- the open chat names the new district without a reload (checked every 15 s) and answers from it
        chat.wait_for_function("() => document.querySelector('#intro h2').textContent.includes('静安区')", timeout=60_000)
        assert "静安区" in _options(chat, "district") and any(q.startswith("静安区") for q in _examples(chat))
        chat.screenshot(path=str(ARTIFACTS / "library-3-chat-updated-1366.png"))
        answer = _ask(chat, TRADE_Q, "a.cite")
        assert chat.locator("#chat .qa-notice").count() == 1  # indexing is done: no notice with this answer
        answered = time.perf_counter()
        assert "561.02" in answer.inner_text()
        chat.screenshot(path=str(ARTIFACTS / "library-4-answer.png"))
        link = answer.locator("a.cite").first
        href = link.get_attribute("href")
        assert href.startswith(f"/source/{JINGAN}"), href
        with context.expect_page() as opened:
            link.click()
        source = opened.value
        source.wait_for_load_state()
        block_id = re.sub(r"-p\d+$", "", href.rsplit("#", 1)[1])
        source.wait_for_function("id => document.getElementById(id).classList.contains('highlight')", arg=block_id)
        block = source.locator(f"[id='{block_id}']")
        assert block.is_visible() and "561.02" in block.inner_text()
        label = block.get_attribute("data-page") or block.locator("[data-page]").first.get_attribute("data-page")
        number = int(re.fullmatch(r"第(\d+)页", label).group(1))
        words = re.sub(r"\s+", "", block.inner_text())
        assert "561.02" in _pdf_page_text(number), (label, words[:80])  # the page shown holds the cited figure
        source.screenshot(path=str(ARTIFACTS / "library-5-source-page.png"))

        # ---- delete it on the 资料库 page: the same question is refused
        page.locator(f"#docs tr[data-doc='{JINGAN}'] button.delete").click()
        page.wait_for_function(f"() => !document.querySelector(\"#docs tr[data-doc='{JINGAN}']\")", timeout=INDEX_TIMEOUT_MS)
        assert page.locator("#job").get_attribute("data-state") == "done"
        page.screenshot(path=str(ARTIFACTS / "library-6-deleted.png"))
        again = context.new_page()
        again.goto(url + "/")
        again.wait_for_selector("#question textarea")
        refused = _ask(again, TRADE_Q, ".qa-refusal")
        assert refused.locator("a.cite").count() == 0 and "静安" in refused.inner_text()
        again.screenshot(path=str(ARTIFACTS / "library-7-refused.png"))
        assert not (base / "corpus" / f"{JINGAN}.pdf").exists()
        browser.close()

    timing = {"pdf": PDF.name, "pdf_bytes": PDF.stat().st_size, "upload_and_check_s": round(uploaded - started, 1),
              "upload_to_indexed_s": round(indexed - started, 1), "upload_to_first_answer_s": round(answered - started, 1),
              "first_answer_after_indexed_s": round(answered - indexed, 1), "build": build}
    (ARTIFACTS / "library-timing.json").write_text(json.dumps(timing, indent=2), encoding="utf-8")
    print(timing)
