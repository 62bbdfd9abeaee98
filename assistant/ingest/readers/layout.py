"""Positioned text lines and tables of PDF pages -> the text parse.py reads (paragraphs, rows).

A PDF has lines, not paragraphs. Lines are re-joined into paragraphs from the layout: a new
paragraph starts where the font size changes, after a taller gap than between the lines of a
paragraph, at an indented first line, or after a line that stops short of the right margin (a
cut that was mid-sentence after all is joined again by parse.py); a line running to the margin
continues on the next line, across a page break too. Tables become rows in the shapes of
tables.py; a row cut by a page break is put back together, a header repeated on the new page
dropped. Running headers and footers (margin lines recurring on half the pages) are dropped.
The offset where each page starts is kept. Used for text layers (pdf.py) and OCR lines alike.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

from assistant.ingest.normalize import join_lines
from assistant.ingest.readers.tables import Cell, table_rows


@dataclass
class Line:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    page: int
    margin: bool = False  # in the top/bottom margin: a running header or footer if it repeats


@dataclass
class Table:
    rows: list[list[Cell]]
    top: float
    page: int
    columns: int = field(init=False)
    page_rows: dict[int, int] = field(default_factory=dict)  # index of the first row of each later page

    def __post_init__(self) -> None:
        self.columns = max((len(r) for r in self.rows), default=0)


class Assembler:
    """Lines -> paragraphs and tables -> text, remembering where each page starts."""

    def __init__(self, lines: list[Line]) -> None:
        self.left = min((l.x0 for l in lines), default=0.0)
        self.right = max((l.x1 for l in lines), default=0.0)
        gaps = [b.top - a.bottom for a, b in zip(lines, lines[1:]) if a.page == b.page and 0 <= b.top - a.bottom < 3 * a.size]
        self.gap = statistics.median(gaps) if gaps else 0.0
        self.out: list[str] = []
        self.length = 0
        self.page_starts: list[int] = []
        self.paragraph = ""
        self.last: Line | None = None
        self.table: Table | None = None
        self.rows_open = False  # OCR table rows were written last
        self.pages_in_table: list[int] = []  # pages that began while a table was open (their start is set with it)

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
        rows = table_rows(self.table.rows)
        for index, row in enumerate(rows):
            if index in starts:  # a page that starts inside this table starts at this row
                self.page_starts[starts[index] - 1] = self.length
            self._write(row)
        self._write("\n")
        for page in self.pages_in_table:  # began after the table's last row (or inside a row cut in two)
            if self.table.page_rows.get(page, len(rows)) >= len(rows):
                self.page_starts[page - 1] = self.length
        self.pages_in_table = []
        self.table = None

    def _breaks(self, a: Line, b: Line) -> bool:
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
        # the page starts where its first text will be written: inside a paragraph carried over,
        # or, while a table is open, where the table's rows on this page (or what follows it) go
        self.page_starts.append(self.length + len(self.paragraph) + (1 if self.paragraph else 0))
        if self.table is not None:
            self.pages_in_table.append(len(self.page_starts))

    def line(self, line: Line) -> None:
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

    def add_table(self, table: Table) -> None:
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


def _continues(table: Table, row: list[Cell]) -> bool:
    """A row cut by a page break: its key column (the first filled in every row so far, e.g. 序号)
    is empty on the new page."""
    body = table.rows[1:] or table.rows
    for column in range(table.columns):
        if all(column < len(r) and r[column][0] and not r[column][1] for r in body):
            return column < len(row) and not row[column][0]
    return False


def drop_running_lines(pages: list[list[Line | Table]]) -> None:
    """Remove running headers/footers: margin lines whose text (numbers aside) recurs on half the pages."""
    def key(line: Line) -> str:
        return re.sub(r"\d+", "#", "".join(line.text.split()))

    counts: dict[str, int] = {}
    for items in pages:
        for k in {key(i) for i in items if isinstance(i, Line) and i.margin}:
            counts[k] = counts.get(k, 0) + 1
    threshold = max(2, sum(1 for items in pages if items) // 2)
    running = {k for k, n in counts.items() if n >= threshold}
    for items in pages:
        items[:] = [i for i in items if not (isinstance(i, Line) and i.margin and key(i) in running)]
