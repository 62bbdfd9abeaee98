"""Issue 23, unbounded parsing cost: a 1.85 MB DOCX holding 46 MB of XML took 12 min of CPU and
+400 MB; image-only PDFs were OCRed page by page with no page limit (50 pages: 51 s, 1.7 GB).
Uploads are now refused before the expensive part, with a message naming the file and the
setting: max_docx_xml_bytes, max_pdf_pages, max_ocr_pages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.library.operations import Library
from assistant.library.uploads import LibraryError

FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"


@pytest.fixture()
def library(tmp_path):
    def make(**limits) -> Library:
        settings = load_settings(corpus_dir=str(tmp_path / "corpus"), index_dir=str(tmp_path / "index"),
                                 data_dir=str(tmp_path / "data"), model="fake:64", **limits)
        (tmp_path / "corpus").mkdir(exist_ok=True)
        return Library(settings)

    return make


def _big_docx(path: Path, paragraphs: int) -> Path:
    from docx import Document

    document = Document()
    for _ in range(paragraphs):
        document.add_paragraph("全年社会消费品零售总额完成1983.09亿元，比上年增长8.1%。" * 3)
    document.save(path)
    return path


def _scan(path: Path, pages: int) -> Path:
    """An image-only PDF: every page one picture, no text layer."""
    import PIL.Image
    import pypdfium2

    pdf = pypdfium2.PdfDocument.new()
    for _ in range(pages):
        page = pdf.new_page(595, 842)
        image = pypdfium2.PdfImage.new(pdf)
        image.set_bitmap(pypdfium2.PdfBitmap.from_pil(PIL.Image.new("RGB", (400, 200), "white")))
        image.set_matrix(pypdfium2.PdfMatrix().scale(400, 200).translate(100, 500))
        page.insert_obj(image)
        page.gen_content()
    pdf.save(str(path))
    return path


def test_docx_with_more_xml_than_the_limit_is_refused_before_parsing(library, tmp_path):
    docx = _big_docx(tmp_path / "报告.docx", 2500)  # 1.4 MB of XML in a 30 KB file (parsing it: ~4 s)
    started = time.perf_counter()
    with pytest.raises(LibraryError) as refused:
        library(max_docx_xml_bytes=500_000).stage_file(docx)
    message = str(refused.value)
    assert message.startswith("报告.docx: holds 1.4 MB of Word XML") and "max_docx_xml_bytes" in message, message
    assert time.perf_counter() - started < 1.0
    assert not list((tmp_path / "data" / "uploads").glob("*.docx"))
    assert library().stage_file(FORMATS / "jingan-2023-plan-report.docx").format == "docx"  # a real report passes the default


def test_pdf_with_more_pages_than_the_limit_is_refused(library):
    with pytest.raises(LibraryError) as refused:
        library(max_pdf_pages=10).stage_file(FORMATS / "jingan-2023-plan-report.pdf")
    message = str(refused.value)
    assert message.startswith("jingan-2023-plan-report.pdf: has 23 pages") and "max_pdf_pages" in message, message


def test_scan_with_more_pages_than_ocr_reads_is_refused_before_any_ocr(library, tmp_path, monkeypatch):
    from assistant.ingest.readers import ocr

    calls = []
    monkeypatch.setattr(ocr, "available", lambda: True)
    monkeypatch.setattr(ocr, "recognise", lambda path, index: calls.append(index) or [("第一页文字内容", 10, 200, 10, 30)])
    scan = _scan(tmp_path / "扫描件.pdf", 6)
    with pytest.raises(LibraryError) as refused:
        library(max_ocr_pages=5).stage_file(scan)
    message = str(refused.value)
    assert message.startswith("扫描件.pdf: has 6 pages without a text layer") and "max_ocr_pages" in message, message
    assert calls == []  # refused before the first page was rendered and read
    library(max_ocr_pages=6).stage_file(scan)  # at the limit: read
    assert len(calls) == 6


def test_the_limits_are_settings_with_defaults():
    from assistant.config import Settings

    settings = Settings()
    assert (settings.max_docx_xml_bytes, settings.max_pdf_pages, settings.max_ocr_pages) == (20 * 2**20, 500, 20)
