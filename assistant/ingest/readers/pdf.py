"""PDF with a text layer -> report text, with pdfplumber for the layout and tables and PDFium
(pypdfium2) as a second opinion on the characters (eval/reports/formats.md: pdfplumber places
glyphs in reading order and finds table cells, pypdfium2 reads content-stream order and sees no
tables; but where a font's ToUnicode map is ambiguous pdfminer returns radicals or variants,
"⼤⼒" or "账戶" for 大力, 账户, and PDFium the characters shown, so its codes replace pdfminer's
one for one). Radical code points both let through are mapped back with radicals.tsv.

Per page, the lines outside tables (with position and size) and the tables' cells (None where a
merge covers a cell) go to layout.py, which joins lines into paragraphs and tables into rows.
Page numbers in the top and bottom margins are dropped here; every page's start offset is kept
(`page_starts`), so each block knows its page.

A page without any text (a scan) is read by OCR (ocr.py) when rapidocr-onnxruntime is installed,
and named in a warning either way; a PDF with no text found on any page is an UnreadableDocument.
"""

from __future__ import annotations

import logging
import re
import statistics
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import pdfplumber
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfplumber.utils.exceptions import PdfminerException

from assistant.ingest.normalize import join_lines
from assistant.ingest.readers import ExtractedText, Limits, UnreadableDocument, ocr
from assistant.ingest.readers.layout import Assembler, Line, Table, drop_running_lines
from assistant.ingest.readers.tables import is_task_table

_PAGE_NUMBER = re.compile(r"^[-—–\s]*(第\s*)?\d{1,4}(\s*页)?(\s*/\s*\d{1,4})?[-—–\s]*$")
# pdfminer logs a warning per glyph for some fonts ("Could not get FontBBox…"): thousands per file
logging.getLogger("pdfminer").setLevel(logging.ERROR)
_MARGIN = 0.08  # top/bottom share of the page where running headers and page numbers sit


@lru_cache(maxsize=1)
def _radicals() -> dict[int, str]:
    """Radical code points some PDF fonts use for ideographs (⺠ for 民, ⼤ for 大) -> the ideograph."""
    table = {}
    for line in (Path(__file__).with_name("radicals.tsv")).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            radical, ideograph = line.split("\t")
            table[ord(radical)] = ideograph
    return table


def _unradical(text: str) -> str:
    return text.translate(_radicals())


def _cell(value: str | None) -> str:
    text = ""
    for line in _unradical(value or "").split("\n"):
        text = join_lines(text, " ".join(line.split()))
    return text


def _page_items(page, number: int) -> list[Line | Table]:
    tables = page.find_tables()
    rest = page
    for table in tables:
        rest = rest.outside_bbox(table.bbox)
    items: list[Line | Table] = []
    for table in tables:
        rows = [[(_cell(c), c is None) for c in row] for row in table.extract()]
        rows = [r for r in rows if any(text for text, _ in r)]
        if rows:
            items.append(Table(rows, table.bbox[1], number))
    for line in rest.extract_text_lines(return_chars=True):
        text = _unradical(line["text"]).strip()
        in_margin = line["bottom"] < page.height * _MARGIN or line["top"] > page.height * (1 - _MARGIN)
        if not text or (in_margin and _PAGE_NUMBER.match(text)):
            continue
        size = statistics.median(round(c["size"], 1) for c in line["chars"]) if line["chars"] else 0.0
        items.append(Line(text, line["x0"], line["x1"], line["top"], line["bottom"], size, number, in_margin))
    items.sort(key=lambda item: item.top)
    return items


def _fill_task_merges(table: Table) -> None:
    """pdfplumber returns None for the cells a merge covers; the task table's category is written out."""
    if not is_task_table([text for text, _ in table.rows[0]]):
        return
    for above, row in zip(table.rows, table.rows[1:]):
        for i, (text, merged) in enumerate(row):
            if merged and i < len(above):
                row[i] = (above[i][0], True)


def _pdfium(path: Path):
    """The same PDF opened with pypdfium2 (PDFium), whose character codes are the second opinion."""
    import pypdfium2

    try:
        return pypdfium2.PdfDocument(str(path))
    except Exception:  # pdfplumber could open it: its own characters are used
        return None


def _correct_chars(page, pdfium, index: int) -> None:
    """Take each character's code from PDFium where it disagrees with pdfminer one for one.

    Both read the content stream in the same order, but some fonts' ToUnicode maps are ambiguous:
    pdfminer then returns radicals or variants (⼤ for 大, 戶 for 户 in Chromium's PDFs), PDFium the
    character shown (eval/reports/formats.md). Layout and tables stay pdfplumber's."""
    chars = [c for c in page.chars if not c["text"].isspace()]
    try:
        theirs = [c for c in pdfium[index].get_textpage().get_text_range() if not c.isspace()]
    except Exception:  # PDFium cannot read this page: pdfminer's characters stand
        return
    matcher = SequenceMatcher(None, [c["text"] for c in chars], theirs, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                chars[i1 + k]["text"] = theirs[j1 + k]


def _scanned_page(path: Path, page, number: int, warnings: list[str]) -> list[Line]:
    """A page without a text layer: its lines read by OCR when it is installed, else a warning."""
    if not page.images or not ocr.available():
        kind = "only images (a scan?)" if page.images else "no text"
        warnings.append(f"page {number} has no text layer: {kind}; its content is not indexed")
        return []
    try:
        found = ocr.recognise(path, number - 1)
    except Exception as exc:  # a broken image must not fail the document: the page is named instead
        warnings.append(f"page {number} has no text layer and OCR failed ({type(exc).__name__}: {exc}); "
                        "its content is not indexed")
        return []
    if not found:
        warnings.append(f"page {number} has no text layer and OCR found no text on it")
        return []
    warnings.append(f"page {number} has no text layer: its text was read by OCR; check figures against the original")
    # one size per page (the boxes' median height): box heights vary with the glyphs, font sizes do not;
    # a line much taller than the rest (a heading) keeps its own
    body = statistics.median(bottom - top for _, _, _, top, bottom in found)
    return [Line(text, x0, x1, top, bottom, bottom - top if bottom - top > 1.3 * body else body, number)
            for text, x0, x1, top, bottom in found]


def _check_cost(path: Path, pdf, limits: Limits) -> None:
    """Refuse, before the pages are read, a PDF with more pages than `limits.pages`, or more pages
    without a text layer than OCR may read (`limits.ocr_pages`; ~1-8 s and up to 1.7 GB each)."""
    count = len(pdf.pages)
    if limits.pages and count > limits.pages:
        raise UnreadableDocument(path, f"has {count} pages, more than the limit of {limits.pages} pages per file "
                                 "(setting max_pdf_pages); split it, or raise the limit")
    if limits.ocr_pages and ocr.available():
        scanned = sum(1 for page in pdf.pages if not page.chars and page.images)
        if scanned > limits.ocr_pages:
            raise UnreadableDocument(path, f"has {scanned} pages without a text layer (scans), more than the "
                                     f"{limits.ocr_pages} pages OCR reads per file (setting max_ocr_pages); "
                                     "upload the original document, split the scan, or raise the limit")


def read_pdf(path: Path, max_bytes: int, limits: Limits = Limits()) -> ExtractedText:
    try:
        pdf = pdfplumber.open(path)
    except Exception as exc:  # pdfplumber wraps pdfminer's errors in PdfminerException(original)
        cause = exc.args[0] if isinstance(exc, PdfminerException) and exc.args else exc
        if isinstance(cause, (PDFPasswordIncorrect, PDFEncryptionError)):
            raise UnreadableDocument(path, "is password-protected; remove the password (print or export it "
                                     "without one) and upload it again") from None
        raise UnreadableDocument(path, f"is damaged or incomplete (an interrupted upload?): not a readable PDF "
                                 f"({type(cause).__name__}: {cause}); export or upload it again") from None
    warnings: list[str] = []
    pages: list[list[Line | Table]] = []
    pdfium = _pdfium(path)
    try:
        with pdf:
            _check_cost(path, pdf, limits)
            for number, page in enumerate(pdf.pages, start=1):
                if pdfium is not None and page.chars:
                    _correct_chars(page, pdfium, number - 1)
                if not page.chars:
                    pages.append(_scanned_page(path, page, number, warnings))
                    continue
                pages.append(_page_items(page, number))
    except UnreadableDocument:
        raise
    except Exception as exc:  # pdfminer raises many types for broken streams; name the file, keep the rest going
        raise UnreadableDocument(path, f"is damaged: reading its pages failed ({type(exc).__name__}: {exc}); "
                                 "export it again") from None
    finally:
        if pdfium is not None:
            pdfium.close()
    if not pages or all(not items for items in pages):
        why = ("and OCR found no text on them" if ocr.available() else
               "and OCR is not installed here (pip install rapidocr-onnxruntime)")
        raise UnreadableDocument(path, f"has no text layer on any of its {len(pages)} pages (a scan or an "
                                 f"image-only PDF) {why}; export the original document (Word/WPS) to PDF, "
                                 "or upload the .docx")
    drop_running_lines(pages)
    assembler = Assembler([item for items in pages for item in items if isinstance(item, Line)])
    for items in pages:
        assembler.start_page()
        for item in items:
            if isinstance(item, Table):
                _fill_task_merges(item)
                assembler.add_table(item)
            else:
                assembler.line(item)
    return ExtractedText(assembler.text(), "pdf", tuple(assembler.page_starts), tuple(warnings))
