"""A responsibility table exported from docx (cells start with a tab; header 类别/序号/主要任务/牵头单位):
one `task` block per task, carrying its category, number and lead units."""

from __future__ import annotations

from assistant.ingest.normalize import clean_line, join_lines
from assistant.ingest.sections import BlockSink, ParseError, SectionTree
from assistant.models import Document, ParsedDocument


def is_task_table(lines: list[str]) -> bool:
    head = [line.strip() for line in lines[:12] if line.startswith("\t")]
    return "序号" in head and any("牵头" in h for h in head)


class TaskTableParser:
    def __init__(self, document: Document, lines: list[str]) -> None:
        self.document = document
        self.lines = lines
        self.tree = SectionTree(document.doc_id)
        self.sink = BlockSink()

    def _records(self) -> list[tuple[list[str], tuple[int, int]]]:
        """Blank-line separated records; a line starting with a tab opens a new cell,
        any other line continues the cell before it (merged cells wrap over lines)."""
        records, cells, start = [], [], 0
        for number, line in enumerate(self.lines + [""], start=1):
            if not line.strip() and not line.startswith("\t"):
                if cells:
                    records.append((cells, (start, number - 1)))
                cells = []
                continue
            if not cells:
                start = number
            if line.startswith("\t") or not cells:
                cells.append(clean_line(line))
            else:
                cells[-1] = join_lines(cells[-1], clean_line(line))
        return records

    def parse(self) -> ParsedDocument:
        header: list[str] = []
        category = ""
        for cells, span in self._records():
            if not header and "序号" in cells:
                start = max(cells.index("序号") - 1, 0)  # the title line may precede the header cells
                for title in cells[:start]:
                    self.sink.add("paragraph", title, self.tree.current, (span[0], span[0]))
                header = cells[start:]
                continue
            if header and len(cells) == len(header) and cells[1].isdigit():
                row = dict(zip(header, cells))
                if cells[0] and cells[0] != category:
                    category = cells[0]
                    self.tree.open(category, 1)
                row[header[0]] = category
                fields = tuple((name, row[name]) for name in header)
                text = "\t".join(c for c in cells[1:] if c)
                self.sink.add("task", text, self.tree.current, span, fields=fields)
            else:
                text = join_lines("", "".join(c for c in cells))
                kind = "footnote" if text.startswith("*") else "paragraph"
                self.sink.add(kind, text, self.tree.current, span)
        if not header:
            raise ParseError("task table without a 序号/牵头单位 header row")
        return ParsedDocument(self.document, self.tree.sections, self.sink.blocks)
