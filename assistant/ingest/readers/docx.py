"""DOCX (Word 2007+) -> report text, with python-docx.

What Word gives for free becomes the shapes parse.py reads:
- a paragraph is one line, paragraphs separated by a blank line; a heading (Heading/Title style
  or an outline level) stands alone, and its list number ("一、", "（一）", rendered from
  numbering.xml: Word does not store it in the text) is put in front, so parse.py's numbered
  heading patterns find it;
- tables in the two shapes of tables.py (rows as tab-separated lines; the responsibility table
  in the docx-export shape with its merged category written out on every row).
A DOCX has no fixed pages, but Word records where its last layout broke them
(`w:lastRenderedPageBreak`); those (or, without any, manual page breaks) give `page_starts`, and
a DOCX with neither (LibreOffice, python-docx output) has no pages.

A DOCX is a ZIP package: before anything is decompressed, the sizes its directory declares are
checked (a "zip bomb" named .docx is refused; Python's zipfile never inflates a member past its
declared size, so the declared sizes are a real bound).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from docx import Document as open_docx
from docx.oxml.ns import qn
from docx.table import _Cell
from docx.text.paragraph import Paragraph

from assistant.ingest.normalize import join_lines
from assistant.ingest.readers import ExtractedText, Limits, UnreadableDocument
from assistant.ingest.readers.numbering import Numbering
from assistant.ingest.readers.tables import table_lines, table_rows

MAX_EXPANSION = 5  # the package may inflate to at most this many times the file size limit
MAX_RATIO = 200  # ...and no large member may be compressed more than this (text XML is ~10x)


def check_package(path: Path, max_bytes: int, required: str, max_xml_bytes: int = 0) -> zipfile.ZipFile:
    """Open a ZIP package after checking its declared sizes; UnreadableDocument if it is not safe or not whole,
    or when its XML parts would inflate past `max_xml_bytes` (0 = no limit: parsing costs ~3-15 s per MB)."""
    try:
        package = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableDocument(path, f"is damaged or incomplete (an interrupted upload?): not a readable ZIP "
                                 f"package ({exc}); save or upload it again") from None
    total = 0
    for info in package.infolist():
        total += info.file_size
        if info.file_size > 1_000_000 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            package.close()
            raise UnreadableDocument(path, f"looks like a ZIP bomb: {info.filename} would inflate from "
                                     f"{info.compress_size} bytes to {info.file_size / 2**20:.0f} MB; refused")
    if total > MAX_EXPANSION * max_bytes:
        package.close()
        raise UnreadableDocument(path, f"would inflate to {total / 2**20:.0f} MB, more than "
                                 f"{MAX_EXPANSION * max_bytes / 2**20:.0f} MB; refused (a ZIP bomb or not a report)")
    xml = sum(i.file_size for i in package.infolist() if i.filename.lower().endswith((".xml", ".rels")))
    if max_xml_bytes and xml > max_xml_bytes:
        package.close()
        raise UnreadableDocument(path, f"holds {xml / 2**20:.1f} MB of Word XML, more than the limit of "
                                 f"{max_xml_bytes / 2**20:.3g} MB per file (setting max_docx_xml_bytes); "
                                 "split the document, or raise the limit")
    if required not in package.namelist():
        package.close()
        raise UnreadableDocument(path, f"is a ZIP package without {required}, so not a Word document; "
                                 "save it again as .docx")
    return package


_SKIPPED = {qn("w:del"), qn("w:moveFrom"), qn("w:pPr"), qn("w:rPr")}  # deleted text, tab-stop definitions


def paragraph_text(p) -> str:
    """The text a reader sees: runs, hyperlinks, tracked insertions, fields' shown results, inline
    content controls; not tracked deletions (python-docx's Paragraph.text sees only direct runs
    and hyperlinks, so an accepted-looking insertion would be lost)."""
    parts = []
    for element in p.iter(qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr"), qn("w:noBreakHyphen")):
        if any(a.tag in _SKIPPED for a in element.iterancestors()):
            continue
        if element.tag == qn("w:t"):
            parts.append(element.text or "")
        elif element.tag == qn("w:tab"):
            parts.append("\t")
        elif element.tag == qn("w:noBreakHyphen"):
            parts.append("-")
        else:
            parts.append("\n")
    return "".join(parts)


def _cell_text(cell: _Cell) -> str:
    text = ""
    for paragraph in cell.paragraphs:
        text = join_lines(text, _plain(paragraph_text(paragraph._p)))
    for inner in cell.tables:  # a table inside a cell: its cells in reading order
        for row in inner.rows:
            for inner_cell in row.cells:
                text = join_lines(text, _cell_text(inner_cell))
    return text


def _plain(text: str) -> str:
    """One line: tabs would split a row into cells and line breaks a paragraph into two."""
    return " ".join(text.replace("\t", " ").split()) if any(c in text for c in "\t\n\r") else text.strip()


def _rows(table_element, parent) -> list[list[tuple[str, bool]]]:
    """Each row as (text, continues a vertical merge) per grid column; a horizontal span's extra columns are empty."""
    rows = []
    above: dict[int, str] = {}
    for tr in table_element.tr_lst:
        row: list[tuple[str, bool]] = []
        column = 0
        for tc in tr.tc_lst:
            span = tc.grid_span
            merged = tc.vMerge == "continue"
            text = above.get(column, "") if merged else _cell_text(_Cell(tc, parent))
            above[column] = text
            row.append((text, merged))
            row.extend(("", False) for _ in range(span - 1))
            column += span
        rows.append(row)
    return rows


class _Reader:
    def __init__(self, document) -> None:
        self.document = document
        part = document.part
        try:
            numbering = part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            numbering = None
        self.numbering = Numbering(numbering)
        self.lines: list[str] = []
        # Word records where its last layout broke pages (w:lastRenderedPageBreak); without those
        # (LibreOffice, python-docx) only manual page breaks are known, and without either, no pages
        body = document.element.body
        rendered = body.find(".//" + qn("w:lastRenderedPageBreak")) is not None
        self.break_tag = qn("w:lastRenderedPageBreak") if rendered else qn("w:br")
        self.page_lines: list[int] = []  # index in `lines` where each page after the first starts

    def _breaks(self, element) -> tuple[int, int]:
        """Page breaks in `element` before its first text, and after it."""
        before = after = 0
        seen_text = False
        for node in element.iter(qn("w:t"), self.break_tag):
            if node.tag == qn("w:t"):
                seen_text = seen_text or bool((node.text or "").strip())
            elif node.tag != qn("w:br") or node.get(qn("w:type")) == "page":
                if seen_text:
                    after += 1
                else:
                    before += 1
        return before, after

    def _num_pr(self, paragraph: Paragraph) -> tuple[str, int] | None:
        ppr = paragraph._p.pPr
        num_pr = ppr.numPr if ppr is not None else None
        style = paragraph.style
        while num_pr is None and style is not None:  # numbering given by the style (heading styles)
            spr = style.element.pPr
            num_pr = spr.numPr if spr is not None else None
            style = style.base_style
        if num_pr is None or num_pr.numId is None:
            return None
        return str(num_pr.numId.val), int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0

    def _is_heading(self, paragraph: Paragraph) -> bool:
        style = paragraph.style
        name = (style.name or "").lower() if style is not None else ""
        if name.startswith(("heading", "title", "标题")):
            return True
        ppr = paragraph._p.pPr
        return ppr is not None and ppr.find(qn("w:outlineLvl")) is not None

    def paragraph(self, paragraph: Paragraph) -> None:
        text = _plain(paragraph_text(paragraph._p))
        number = self._num_pr(paragraph)
        label = self.numbering.label(*number) if number else ""
        before, after = self._breaks(paragraph._p)
        heading = self._is_heading(paragraph)
        self.page_lines += [len(self.lines) + (1 if heading and text else 0)] * before
        if text:
            line = f"{label}{text}" if label else text
            self.lines += ["", line, ""] if heading else [line, ""]
        self.page_lines += [len(self.lines)] * after  # the page broke inside it: the next one starts on the new page

    def table(self, element) -> None:
        rows = _rows(element, self.document._body)
        self.lines.append("")
        line = len(self.lines)
        starts = []  # first line of each row
        for text in table_rows(rows):
            starts.append(line)
            line += text.count("\n")
        for index, tr in enumerate(element.tr_lst):  # a row the page broke in: the next row is on the new page
            before, after = self._breaks(tr)
            self.page_lines += [starts[index]] * before
            self.page_lines += [starts[index + 1] if index + 1 < len(starts) else line] * after
        self.lines += table_lines(rows)

    def text(self) -> tuple[str, tuple[int, ...]]:
        """The lines joined, runs of blank lines made one; the offset where each page starts."""
        kept: list[str] = []
        new_index: list[int] = []
        for line in self.lines:
            new_index.append(len(kept))  # a dropped blank line maps to the next kept line
            if line or (kept and kept[-1]):
                kept.append(line)
        while kept and not kept[-1]:
            kept.pop()
        offsets, offset = [], 0
        for line in kept:
            offsets.append(offset)
            offset += len(line) + 1
        offsets.append(offset)
        pages = tuple(offsets[min(new_index[i] if i < len(new_index) else len(kept), len(kept))] for i in self.page_lines)
        return "\n".join(kept) + "\n", ((0,) + pages if pages else ())

    def walk(self, container) -> None:
        for child in container.iterchildren():
            if child.tag == qn("w:p"):
                self.paragraph(Paragraph(child, self.document._body))
            elif child.tag == qn("w:tbl"):
                self.table(child)
            elif child.tag == qn("w:sdt"):  # content controls (a cover page, a table of contents)
                content = child.find(qn("w:sdtContent"))
                if content is not None:
                    self.walk(content)


def read_docx(path: Path, max_bytes: int, limits: Limits = Limits()) -> ExtractedText:
    with check_package(path, max_bytes, "word/document.xml", limits.xml_bytes):
        pass
    try:
        document = open_docx(str(path))
    except Exception as exc:  # python-docx raises KeyError/ValueError/lxml errors for broken parts
        raise UnreadableDocument(path, f"is damaged: its Word XML cannot be read ({type(exc).__name__}: {exc}); "
                                 "open it in Word or WPS and save it again") from None
    reader = _Reader(document)
    reader.walk(document.element.body)
    text, page_starts = reader.text()
    return ExtractedText(text, "docx", page_starts)
