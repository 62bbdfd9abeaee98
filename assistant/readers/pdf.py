"""PDF with a text layer -> report text, with pdfplumber for the layout and tables and PDFium
(pypdfium2) as a second opinion on the characters (eval/reports/formats.md: pdfplumber places
glyphs in reading order and finds table cells, pypdfium2 reads content-stream order and sees no
tables; but where a font's ToUnicode map is ambiguous pdfminer returns radicals or variants,
"⼤⼒" or "账戶" for 大力, 账户, and PDFium the characters shown, so its codes replace pdfminer's
one for one). Radical code points both let through are mapped back with radicals.tsv.

A PDF has lines, not paragraphs. Lines are re-joined into paragraphs from the layout: a new
paragraph starts where the font size changes, after a taller gap than between the lines of a
paragraph, at an indented first line, or after a line that stops short of the right margin;
a line running to the margin continues on the next line, across a page break too. Tables
(ruled cells found by pdfplumber) become rows in the shapes of tables.py; a row cut by a page
break is put back together. Page numbers and running headers/footers (margin lines recurring on
half the pages) are dropped. Every page's start offset is kept (`page_starts`), so each block
knows its page.

A page without any text (a scan) is read by OCR (ocr.py) when rapidocr-onnxruntime is installed,
and named in a warning either way; a PDF with no text found on any page is an UnreadableDocument.
"""

from __future__ import annotations

import logging
import re
from difflib import SequenceMatcher
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pdfplumber
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfplumber.utils.exceptions import PdfminerException

from ..normalize import join_lines
from . import ExtractedText, UnreadableDocument, ocr
from .tables import Cell, is_task_table, table_rows

_PAGE_NUMBER = re.compile(r"^[-—–\s]*(第\s*)?\d{1,4}(\s*页)?(\s*/\s*\d{1,4})?[-—–\s]*$")
# pdfminer logs a warning per glyph for some fonts ("Could not get FontBBox…"): thousands per file
logging.getLogger("pdfminer").setLevel(logging.ERROR)
_MARGIN = 0.08  # top/bottom share of the page where running headers and page numbers sit


@dataclass
class _Line:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    page: int
    margin: bool = False  # in the top/bottom margin: a running header or footer if it repeats


@dataclass
class _Table:
    rows: list[list[Cell]]
    top: float
    page: int
    columns: int = field(init=False)
    page_rows: dict[int, int] = field(default_factory=dict)  # index of the first row of each later page

    def __post_init__(self) -> None:
        self.columns = max((len(r) for r in self.rows), default=0)


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


def _page_items(page, number: int) -> list[_Line | _Table]:
    tables = page.find_tables()
    rest = page
    for table in tables:
        rest = rest.outside_bbox(table.bbox)
    items: list[_Line | _Table] = []
    for table in tables:
        rows = [[(_cell(c), c is None) for c in row] for row in table.extract()]
        rows = [r for r in rows if any(text for text, _ in r)]
        if rows:
            items.append(_Table(rows, table.bbox[1], number))
    for line in rest.extract_text_lines(return_chars=True):
        text = _unradical(line["text"]).strip()
        in_margin = line["bottom"] < page.height * _MARGIN or line["top"] > page.height * (1 - _MARGIN)
        if not text or (in_margin and _PAGE_NUMBER.match(text)):
            continue
        size = statistics.median(round(c["size"], 1) for c in line["chars"]) if line["chars"] else 0.0
        items.append(_Line(text, line["x0"], line["x1"], line["top"], line["bottom"], size, number, in_margin))
    items.sort(key=lambda item: item.top)
    return items


class _Assembler:
    """Lines -> paragraphs and tables -> text, remembering where each page starts."""

    def __init__(self, lines: list[_Line]) -> None:
        self.left = min((l.x0 for l in lines), default=0.0)
        self.right = max((l.x1 for l in lines), default=0.0)
        gaps = [b.top - a.bottom for a, b in zip(lines, lines[1:]) if a.page == b.page and 0 <= b.top - a.bottom < 3 * a.size]
        self.gap = statistics.median(gaps) if gaps else 0.0
        self.out: list[str] = []
        self.length = 0
        self.page_starts: list[int] = []
        self.paragraph = ""
        self.last: _Line | None = None
        self.table: _Table | None = None
        self.rows_open = False  # OCR table rows were written last

    def _write(self, text: str) -> None:
        self.out.append(text)
        self.length += len(text)

    def _end_paragraph(self) -> None:
        if self.paragraph:
            self._write(self.paragraph + "\n\n")
            self.paragraph = ""
        self.last = None

    def _end_rows(self) -> None:
        if self.rows_open:
            self._write("\n")
            self.rows_open = False

    def _end_table(self) -> None:
        if self.table is None:
            return
        starts = {row: page for page, row in self.table.page_rows.items()}
        for index, row in enumerate(table_rows(self.table.rows)):
            if index in starts:  # a page that starts inside this table starts at this row
                self.page_starts[starts[index] - 1] = self.length
            self._write(row)
        self._write("\n")
        self.table = None

    def _breaks(self, a: _Line, b: _Line) -> bool:
        size = max(a.size, 1.0)
        if abs(a.size - b.size) > 0.1 * size:
            return True
        if a.page == b.page and b.top - a.bottom > self.gap + 0.5 * size:
            return True
        if b.x0 > self.left + 1.5 * size:  # an indented first line
            return True
        # a line stopping short of the margin ends its paragraph (or is a heading); when the cut was
        # mid-sentence after all, parse.py joins the unfinished paragraph to the next one again
        return a.x1 < self.right - 2.5 * size

    def start_page(self) -> None:
        # the page starts where its first text will be written: inside a paragraph carried over
        self.page_starts.append(self.length + len(self.paragraph) + (1 if self.paragraph else 0))

    def line(self, line: _Line) -> None:
        self._end_table()
        if "\t" in line.text:  # a table row OCR found on a scanned page: a row line of its own
            self._end_paragraph()
            self._write(line.text + "\n")
            self.rows_open = True
            return
        self._end_rows()
        if self.last is not None and self._breaks(self.last, line):
            self._end_paragraph()
        self.paragraph = join_lines(self.paragraph, line.text)
        self.last = line

    def add_table(self, table: _Table) -> None:
        self._end_paragraph()
        self._end_rows()
        current = self.table
        if current is not None and current.columns == table.columns and table.page != current.page:
            rows = table.rows
            if rows and rows[0] == current.rows[0]:
                rows = rows[1:]  # the header repeated on the new page
            current.page_rows[table.page] = len(current.rows)
            if rows and _continues(current, rows[0]):
                last = current.rows[-1]
                current.rows[-1] = [(join_lines(a[0], b[0]), a[1]) for a, b in zip(last, rows[0])]
                rows = rows[1:]  # the row began on the previous page; this page's first row is the next one
            current.rows.extend(rows)
            return
        self._end_table()
        self.table = table

    def text(self) -> str:
        self._end_paragraph()
        self._end_rows()
        self._end_table()
        return "".join(self.out)


def _continues(table: _Table, row: list[Cell]) -> bool:
    """A row cut by a page break: its key column (the first filled in every row so far, e.g. 序号)
    is empty on the new page."""
    body = table.rows[1:] or table.rows
    for column in range(table.columns):
        if all(column < len(r) and r[column][0] and not r[column][1] for r in body):
            return column < len(row) and not row[column][0]
    return False


def _fill_task_merges(table: _Table) -> None:
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


def _drop_running_lines(pages: list[list[_Line | _Table]]) -> None:
    """Remove running headers/footers: margin lines whose text (numbers aside) recurs on half the pages."""
    def key(line: _Line) -> str:
        return re.sub(r"\d+", "#", "".join(line.text.split()))

    counts: dict[str, int] = {}
    for items in pages:
        for k in {key(i) for i in items if isinstance(i, _Line) and i.margin}:
            counts[k] = counts.get(k, 0) + 1
    threshold = max(2, sum(1 for items in pages if items) // 2)
    running = {k for k, n in counts.items() if n >= threshold}
    for items in pages:
        items[:] = [i for i in items if not (isinstance(i, _Line) and i.margin and key(i) in running)]


def _scanned_page(path: Path, page, number: int, warnings: list[str]) -> list[_Line]:
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
    return [_Line(text, x0, x1, top, bottom, bottom - top if bottom - top > 1.3 * body else body, number)
            for text, x0, x1, top, bottom in found]


def read_pdf(path: Path, max_bytes: int) -> ExtractedText:
    try:
        pdf = pdfplumber.open(path)
    except Exception as exc:  # pdfplumber wraps pdfminer's errors in PdfminerException(original)
        cause = exc.args[0] if isinstance(exc, PdfminerException) and exc.args else exc
        if isinstance(cause, (PDFPasswordIncorrect, PDFEncryptionError)):
            raise UnreadableDocument(path, "is password-protected; remove the password (print or export it "
                                     "without one) and upload it again") from None
        raise UnreadableDocument(path, f"is damaged: not a readable PDF ({type(cause).__name__}: {cause}); "
                                 "export it again") from None
    warnings: list[str] = []
    pages: list[list[_Line | _Table]] = []
    pdfium = _pdfium(path)
    try:
        with pdf:
            for number, page in enumerate(pdf.pages, start=1):
                if pdfium is not None and page.chars:
                    _correct_chars(page, pdfium, number - 1)
                if not page.chars:
                    pages.append(_scanned_page(path, page, number, warnings))
                    continue
                pages.append(_page_items(page, number))
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
    _drop_running_lines(pages)
    assembler = _Assembler([item for items in pages for item in items if isinstance(item, _Line)])
    for items in pages:
        assembler.start_page()
        for item in items:
            if isinstance(item, _Table):
                _fill_task_merges(item)
                assembler.add_table(item)
            else:
                assembler.line(item)
    return ExtractedText(assembler.text(), "pdf", tuple(assembler.page_starts), tuple(warnings))
