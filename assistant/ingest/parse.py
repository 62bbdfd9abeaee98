"""Structure recovery: report text -> sections (heading tree) and blocks.

Two layouts are recognised from the text itself, not from the file name:
- a responsibility table exported from docx (cells start with a tab; header 类别/序号/主要任务/牵头单位),
  parsed into one `task` block per task carrying its category, number and lead units;
- running text (everything else): headings (`第X章`, `第X部分`, `一、`, `（一）`, `1、`, `附录`, `附件`, `结语`,
  article headlines), paragraphs re-joined across hard line breaks and page breaks,
  tab-separated tables with their column headers, tables flattened to one cell per line
  (`cell_table`; a table with a unit-role column gives `task` blocks), `——` bullets, footnotes, tasks
  written as paragraphs with their units in brackets (`inline_tasks`), and appendix entries (`①…`,
  numbered glossary entries, run together across lines or one per line: `glossary`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Sequence

from assistant.models import Document, ParsedDocument, Section
from assistant.ingest.cell_table import CellTable, find_cell_table
from assistant.ingest import glossary
from assistant.ingest.normalize import PARAGRAPH_END, clean_line, ends_paragraph, join_lines
from assistant.ingest.sections import BlockSink, ParseError, SectionTree
from assistant.ingest.inline_tasks import task_fields
from assistant.ingest.task_table import TaskTableParser, is_task_table
from assistant.vocab import _load

__all__ = ["ParseError", "heading_outline", "parse_document"]

_NUM = "一二三四五六七八九十百零〇"
_CHAPTER = re.compile(rf"^第[{_NUM}]+(?:[章篇]|部分)\s*")
_TOP = re.compile(rf"^[{_NUM}]+、\s*")
_PAREN = re.compile(rf"^[（(][{_NUM}]+[）)]\s*")
_ARABIC = re.compile(r"^\d{1,2}(?:、|\.(?!\d))\s*")
_GLOSSARY_HEADS = "名词解释|名词注释|术语解释|注释"
_STANDALONE = re.compile(rf"^(前\s*言|结\s*语|后\s*记|附\s*录|{_GLOSSARY_HEADS})(?=\s|$|[：:])|^附件\s*[\d一二三四五六七八九十]{{0,2}}\s*[：:]?$"
                         rf"|^《[^》]{{1,30}}》[\u4e00-\u9fff]{{0,8}}?(?:{_GLOSSARY_HEADS})$")  # "《政府工作报告》有关内容名词注释"
_CAPTION = re.compile(rf"^表\s*[{_NUM}\d]+(?:\s|$)")
_CAPTION_TEXT = re.compile(rf"^表[{_NUM}\d]+")  # on cleaned text, where "表 2 六大…" became "表2六大…"
_FIGURE = re.compile(r"^图\s*\d+\s")
_FOOTNOTE = re.compile("^[\u00b9\u00b2\u00b3\u2074-\u2079]+\\s*")
_BULLET = re.compile(r"^——(?!—)")
_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
# Words that open a paragraph; used to split a chapter title that runs on into its text.
_OPENING_VERBS = ("坚持", "围绕", "聚焦", "加快", "全面", "深入", "着力", "推动", "强化", "以", "按照", "立足")
_CONTINUATION_START = tuple("和与及或的等并而且、，,；;）)")
_HEADLINE_MAX = 40
_RANK = {"chapter": 1, "standalone": 1, "top": 2, "paren": 3, "arabic": 4, "headline": 2}


@dataclass
class _Item:
    kind: str  # text | row | caption | figure | footnote | bullet | heading | blank | entry (opens a glossary entry)
    text: str
    line: int
    group: int
    cells: list[str] = field(default_factory=list)
    rank: int = 0
    raw: str = ""


def parse_document(document: Document, text: str, line_pages: Sequence[int] = ()) -> ParsedDocument:
    """`line_pages`: the source page of each line (index 0 = line 1), from the reader of a paged
    format (readers.ExtractedText.line_pages); each block gets the page its first line is on."""
    lines = [_BOOKMARK.sub("", line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    if is_task_table(lines):
        parsed = TaskTableParser(document, lines).parse()
    else:
        parsed = _RunningTextParser(document, lines).parse()
    if any(line_pages):
        last = len(line_pages)
        parsed.blocks = [replace(b, page=line_pages[min(b.lines[0], last) - 1]) for b in parsed.blocks]
    return parsed


# --------------------------------------------------------------------------- running text


def _split_runon(title: str, raw: str) -> tuple[str, str]:
    """Split a heading that runs on into its first paragraph: at the first full stop, at an
    appendix entry mark (①), at a gap the PDF left, or before a paragraph-opening verb."""
    if len(title) <= _HEADLINE_MAX and "。" not in title:
        return title, ""
    stop = title.find("。")
    if 0 < stop <= _HEADLINE_MAX:
        return title[:stop], title[stop + 1:]
    circled = glossary.CIRCLED.search(title)
    if circled and circled.start() > 0:
        return title[: circled.start()], title[circled.start():]
    gap = re.search(r"\S\s{1,}(?=\S)", raw[8:])
    if gap:
        head = clean_line(raw[: 8 + gap.end()])
        if len(head) <= _HEADLINE_MAX + 8 and title.startswith(head):
            return head, title[len(head):]
    for i in range(6, min(len(title), 24)):
        if title.startswith(_OPENING_VERBS, i):
            return title[:i], title[i:]
    return title, ""


def _classify(raw: str, number: int, group: int) -> _Item:
    if "\t" in raw and raw.strip():
        cells = [clean_line(c).lstrip("—").strip() for c in raw.split("\t")]
        while cells and not cells[-1]:
            cells.pop()
        return _Item("row", "\t".join(cells), number, group, cells=cells, raw=raw)
    text = clean_line(raw)
    if not text:
        return _Item("blank", "", number, group)
    stripped = raw.strip()  # patterns see the spaces the report had: "附录 部分…", "表 4 …"
    for pattern, name in ((_CHAPTER, "chapter"), (_STANDALONE, "standalone"), (_TOP, "top"),
                          (_PAREN, "paren"), (_ARABIC, "arabic")):
        if pattern.match(stripped):
            return _Item("heading", text, number, group, rank=_RANK[name], raw=stripped)
    if _CAPTION.match(stripped) and len(text) <= 60:
        return _Item("caption", text, number, group)
    if _FIGURE.match(raw.strip()) and len(text) <= 40:
        return _Item("figure", text, number, group)
    if _FOOTNOTE.match(text):
        return _Item("footnote", text, number, group)
    if _BULLET.match(text):
        return _Item("bullet", text, number, group)
    return _Item("text", text, number, group, raw=raw)


class _RunningTextParser:
    def __init__(self, document: Document, lines: list[str]) -> None:
        self.document = document
        self.tree = SectionTree(document.doc_id)
        self.sink = BlockSink()
        group = 0
        self.items: list[_Item] = []
        for number, raw in enumerate(lines, start=1):
            item = _classify(raw, number, group)
            if item.kind == "blank":
                group += 1
                continue
            self.items.append(item)
        # unnumbered headline headings are an article's structure; in a report with numbered
        # headings a short unfinished line is a paragraph cut by a page break instead
        self.headlines_allowed = not any(item.kind == "heading" for item in self.items)
        self.group_sizes: dict[int, int] = {}
        for item in self.items:
            self.group_sizes[item.group] = self.group_sizes.get(item.group, 0) + 1
        self.front_matter = True
        self.pending: _Item | None = None  # the paragraph being assembled
        self.deferred: list[_Item] = []  # footnotes/figures met inside an open paragraph
        self.glossary: list[_Item] = []  # appendix lines, split into entries at section end (kind "entry": one opens)
        self.entry_next: int | None = None  # the number of the glossary's next numbered entry

    # -- helpers
    def _next(self, index: int) -> _Item | None:
        return self.items[index + 1] if index + 1 < len(self.items) else None

    def _in_glossary(self) -> bool:
        return glossary.is_glossary(self.tree.current.path)

    def _emit(self, kind: str, text: str, lines: tuple[int, int], **extra) -> None:
        path = self.tree.current.path
        fields = task_fields(text, path[-1] if path else "", path[-2] if len(path) > 1 else "") if kind in ("paragraph", "bullet") else ()
        if fields:  # "4.完成…。（牵头单位：…）": a task row, as in a responsibility table
            kind, extra = "task", {**extra, "fields": fields}
        self.sink.add(kind, text, self.tree.current, lines, **extra)

    def _flush(self) -> None:
        if self.pending is not None:
            item = self.pending
            self.pending = None
            kind = "bullet" if item.kind == "bullet" else "paragraph"
            self._emit(kind, item.text, (item.line, item.rank or item.line))
            if ends_paragraph(item.text):
                self.front_matter = False
        for item in self.deferred:
            self._emit(item.kind, item.text, (item.line, item.line))
        self.deferred = []

    def _flush_glossary(self) -> None:
        if not self.glossary:
            return
        buffer, starts, cuts = "", [], set()
        for item in self.glossary:
            starts.append((len(buffer), item.line))
            if item.kind == "entry":
                cuts.add(len(buffer))
            buffer = join_lines(buffer, item.text)
        last_line = self.glossary[-1].line
        self.glossary = []
        for start, end in glossary.spans(buffer, cuts):
            first = max((line for offset, line in starts if offset <= start), default=last_line)
            final = max((line for offset, line in starts if offset < end), default=last_line)
            entry = re.sub(r"^(\d{1,2})(?=\D)\s*", r"\1 ", buffer[start:end].strip())  # "2“揭榜挂帅”" -> "2 “揭榜挂帅”"
            self._emit("glossary", entry, (first, final))

    def _is_headline(self, index: int, item: _Item) -> bool:
        """An article's unnumbered sub-heading: a short line standing alone between blank
        lines, not a finished sentence, and not continued by the next paragraph."""
        if not self.headlines_allowed or self.front_matter:
            return False
        if self.group_sizes[item.group] != 1 or len(item.text) > _HEADLINE_MAX or "。" in item.text:
            return False
        if item.text[-1] in "。；：:;，,、" or (self.pending and not ends_paragraph(self.pending.text)):
            return False
        after = self._next(index)
        return after is not None and after.kind == "text" and not after.text.startswith(_CONTINUATION_START)

    def _continues_pending(self, item: _Item) -> bool:
        """Join `item` to the open paragraph: a hard line break inside a sentence (same
        group) or a paragraph cut by a page break (next group, previous text unfinished)."""
        pending = self.pending
        if pending is None or self.front_matter or pending.kind not in ("text", "bullet"):
            return False
        return not ends_paragraph(pending.text)

    # -- main loop
    def parse(self) -> ParsedDocument:
        index = 0
        while index < len(self.items):
            item = self.items[index]
            if item.kind == "row":
                index = self._table(index)
                continue
            table = find_cell_table(self.items, index) if item.kind == "text" and not self._in_glossary() else None
            if table is not None:
                index = self._cell_table(index, table)
                continue
            numbered = glossary.numbered(item.text) if self._in_glossary() else item.text
            entry = glossary.entry_start(numbered, self.entry_next) if item.kind in ("heading", "text") and self._in_glossary() else None
            if item.kind == "heading" and self._in_glossary() and glossary.TERM_LINE.match(numbered):
                # "13.“标准海”：" on its own line, its definition on the next: an entry, not a section
                self.glossary.append(_Item("text", glossary.TERM_LINE.sub(r"\1 ", numbered, count=1), item.line, item.group))
            elif entry is not None:  # "7.“双向揭榜挂帅”：…": the glossary's next entry (the lines after it are its own)
                self.glossary.append(_Item("entry", entry[0], item.line, item.group))
                self.entry_next = entry[1] + 1
            elif item.kind == "heading":
                self._heading(item)
            elif item.kind == "caption":
                self._flush()
                # a caption followed by text (not rows) names the table above it: handled in _table
                self._emit("paragraph", item.text, (item.line, item.line))
            elif item.kind in ("figure", "footnote"):
                (self.deferred.append(item) if self.pending else self._emit(item.kind, item.text, (item.line, item.line)))
            elif self._in_glossary():
                self.glossary.append(item)
            elif item.kind == "bullet" and not self.front_matter:
                self._flush()
                self.pending = _Item("bullet", item.text, item.line, item.group, rank=item.line)
            elif self._continues_pending(item):
                self.pending.text = join_lines(self.pending.text, item.text)
                self.pending.rank = item.line  # rank doubles as the last line of the paragraph
            elif item.kind == "text" and self._is_headline(index, item):
                self._flush()
                self.tree.open(item.text, _RANK["headline"])
            else:
                self._flush()
                self.pending = _Item("text", item.text, item.line, item.group, rank=item.line)
                if self.front_matter:
                    self._flush()
            index += 1
        self._flush()
        self._flush_glossary()
        return ParsedDocument(self.document, self.tree.sections, self.sink.blocks)

    def _heading(self, item: _Item) -> None:
        self._flush()
        self._flush_glossary()
        self.front_matter = False
        self.entry_next = None
        if task_fields(item.text):  # "4.完成旧住房修缮更新60万平方米。（牵头单位：…）" is a task, not a section
            self._emit("paragraph", item.text, (item.line, item.line))
            return
        title, rest = _split_runon(item.text, item.raw)
        title = re.sub(r"^(前|结|后|附)\s+(言|语|记|录)", r"\1\2", title)
        title = re.sub(rf"^(第[{_NUM}]+[章篇])\s*", r"\1 ", title)
        self.tree.open(title.strip(), item.rank)
        if rest.strip():
            rest_item = _Item("text", rest.strip(), item.line, item.group, rank=item.line)
            if self._in_glossary():
                self.glossary.append(rest_item)
            else:
                self.pending = rest_item

    def _table(self, index: int) -> int:
        """Consume a run of rows (a table split in two repeats its header: skip the repeat),
        attach the caption above it, or the one right below it when it has none."""
        self._flush()
        caption = ""
        before = self.sink.blocks[-1] if self.sink.blocks else None
        if before and before.kind == "paragraph" and _CAPTION_TEXT.match(before.text) and before.section_id == self.tree.current.section_id:
            caption = before.text
        rows: list[_Item] = []
        while index < len(self.items) and self.items[index].kind == "row":
            rows.append(self.items[index])
            index += 1
        following = self.items[index] if index < len(self.items) else None
        if not caption and following is not None and following.kind == "caption":
            after = self.items[index + 1] if index + 1 < len(self.items) else None
            if after is None or after.kind != "row":
                caption = following.text
                index += 1  # the caption is consumed here, shown as the table's title
        if caption and not (before and before.text == caption):
            self._emit("paragraph", caption, (following.line, following.line) if following else (rows[0].line, rows[0].line))
        header = rows[0].cells
        previous: list[str] = []
        for row in rows[1:]:
            if row.cells == header:
                continue  # header repeated after a page break
            cells = list(row.cells)
            # merged cells are exported empty: carry the value of the row above
            filled = [c or (previous[i] if i < len(previous) else "") for i, c in enumerate(cells)]
            filled += [""] * (len(header) - len(filled))
            previous = filled
            names = header + [f"列{i + 1}" for i in range(len(header), len(filled))]
            fields = tuple((name, value) for name, value in zip(names, filled))
            text = "\t".join(c for c in cells if c)
            self._emit("table_row", text, (row.line, row.line), caption=caption, fields=fields)
        return index


    def _cell_table(self, index: int, table: CellTable) -> int:
        """Emit a table flattened to one cell per line (cell_table.py) as rows with their headers; the
        short line standing alone above its header is its caption (cut off the paragraph it was joined to)."""
        above = self.items[index - 1] if index else None
        caption = ""
        if above is not None and above.kind in ("text", "caption") and len(above.text) <= 60 and "。" not in above.text \
                and (above.group != self.items[index].group or above.text.endswith(_caption_ends())):
            caption = above.text
            pending = self.pending
            if pending is not None and pending.text != caption and pending.text.endswith(caption):
                pending.text, pending.rank = pending.text[: -len(caption)], self.items[index - 2].line
                self._flush()
                self._emit("paragraph", caption, (above.line, above.line))
            elif pending is None and not (self.sink.blocks and self.sink.blocks[-1].text == caption):
                caption = ""
        self._flush()
        heading = caption
        for row in table.rows:
            if row.category:  # 一、水安全: names the rows below it
                heading = f"{caption} {row.category}".strip()
                continue
            text = "\t".join(c for c in row.cells if c)
            if table.tasks:  # a task list: its rows are tasks, with the group row over them ("行动": "行动一：…")
                self._emit("task", text, row.lines, caption=heading, fields=row.groups + row.fields)
            else:
                self._emit("table_row", text, row.lines, caption=heading, fields=row.fields)
        return table.end


@lru_cache(maxsize=1)
def _caption_ends() -> tuple[str, ...]:
    """A short line right above a table's header, without a blank line between, is its caption when it ends so."""
    return tuple(_load("tables.toml")["captions"]["ends"])


def heading_outline(parsed: ParsedDocument) -> list[tuple[Section, dict[str, int]]]:
    """Each section with its block counts by kind, in document order (for `assistant outline`)."""
    counts: dict[str, dict[str, int]] = {s.section_id: {} for s in parsed.sections}
    for block in parsed.blocks:
        bucket = counts[block.section_id]
        bucket[block.kind] = bucket.get(block.kind, 0) + 1
    return [(s, counts[s.section_id]) for s in parsed.sections]


__all__ = ["ParseError", "heading_outline", "parse_document", "PARAGRAPH_END"]
