"""Tables flattened to one cell per line: header cells each on a line (序号 / 指标名称 / 单位 / 属性 /
目标值（2025年）…), then the rows' cells, with blank lines between the cells or not.

A run of header cells (`vocab/tables.toml`) opens a table; its cells follow until a line that ends
it (注：…, 附件, a heading, a tab-separated row); the header repeated after a page break is skipped. When blank lines separate the cells, a cell is a
run of lines without a blank between them (a value written on two lines stays one cell); otherwise
each line is a cell. Rows are recovered from the cells:
- numbered tables (first header 序号): a row starts at the next number (1, 2, 3 …), a category row at
  the next Chinese numeral (一、二 … followed by its name); a row may have fewer cells than the
  header when a merged cell (the 类别 of several rows) is written on its first row only: the missing
  cells are the columns after the number, carried from the row above. A value that equals the next
  number ("处 / 4 / 预期性" before row 4) is told from it by the segmentation that leaves fewest cells
  missing (a small dynamic programme over the cells);
- other tables: rows of as many cells as the header.
A footnote mark after a percentage ("35%1", the note "1 指…" below the table) is dropped from the value.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from assistant.ingest.normalize import PARAGRAPH_END, chinese_numeral, join_lines
from assistant.vocab import VOCAB_DIR

_PERIOD = re.compile(r"^(?:[“\"]?十[一二三四五六七八九]五[”\"]?(?:时期|期间|期末|末)?|(?:19|20)\d\d年?(?:末|底)?)")
_BRACKETS = re.compile(r"[（(][^（）()]*[）)]")
_NUMBER = re.compile(r"\d{1,3}")
_CATEGORY = re.compile(r"[一二三四五六七八九十]{1,3}")
_FOOTNOTE_MARK = re.compile(r"^([\d.]+\s*[%％])[1-9]$")
_SUBROW = ("其中", "含")


@dataclass(frozen=True)
class CellRow:
    cells: tuple[str, ...]  # as the source has them
    fields: tuple[tuple[str, str], ...]  # (header, value) for every column, merged cells filled in
    lines: tuple[int, int]
    category: str = ""  # a category row ("一 水安全") has no fields: it names the rows below it


@dataclass(frozen=True)
class CellTable:
    header: tuple[str, ...]
    rows: tuple[CellRow, ...]
    end: int  # index of the first item after the table


@dataclass
class _Cell:
    text: str
    first: int
    last: int
    group: int
    end: int  # index of the item after the cell


@lru_cache(maxsize=1)
def _rules() -> dict:
    rules = tomllib.loads((VOCAB_DIR / "tables.toml").read_text(encoding="utf-8"))
    rules["stop"] = re.compile("|".join(f"(?:{p})" for p in rules["stops"]["patterns"]))
    rules["words"] = frozenset(rules["headers"]["words"])
    return rules


def header_kind(text: str) -> str:
    """"word" for a column name (指标名称, 目标值（2025年）, “十五五”目标), "period" for a year column
    (2025年, “十四五”末), "" for anything else."""
    rules = _rules()
    if not text or len(text) > rules["headers"]["max_chars"] or any(ch in text for ch in "。，；,;："):
        return ""
    bare = _BRACKETS.sub("", text).strip()
    rest = _PERIOD.sub("", bare).strip()
    if rest in rules["words"]:
        return "word"
    return "period" if bare and not rest else ""


def header_cells(text: str) -> list[str]:
    """The header cells of one line: the line itself, or the column names it runs together
    ("指标名称指标属性": two cells written on one line); [] when it is no header."""
    if header_kind(text):
        return [text]
    words = _rules()["words"]
    if len(text) > 4 * _rules()["headers"]["max_chars"] or not text.startswith(tuple(words)):
        return []
    cuts: dict[int, list[str]] = {0: []}  # a split of text[:i] into column names
    for i in range(len(text)):
        if i in cuts:
            for j in range(i + 2, min(len(text), i + 12) + 1):
                if j not in cuts and header_kind(text[i:j]) == "word" and text[i:j] in words:
                    cuts[j] = cuts[i] + [text[i:j]]
    return cuts.get(len(text), [])


def find_cell_table(items: Sequence, index: int) -> CellTable | None:
    """The table whose header starts at items[index] (parse._Item: kind, text, line, group), or None."""
    rules = _rules()
    header: list = []  # (item, its column names)
    i = index
    while i < len(items) and items[i].kind == "text" and len(header) < rules["headers"]["max_columns"]:
        names = header_cells(items[i].text)
        if not names:
            break
        header.append((items[i], names))
        i += 1
    names = tuple(name for _, cells in header for name in cells)
    words = sum(header_kind(name) == "word" for name in names)
    if len(names) < rules["headers"]["min_columns"] or words < 2 or len(names) > rules["headers"]["max_columns"]:
        return None
    by_groups = any(a.group != b.group for (a, _), (b, _) in zip(header, header[1:]))
    cells = _cells(items, i, by_groups, [h.text for h, _ in header])
    if len(names) > 2 and names[1] in rules["headers"]["numbers"] and names[0] in rules["headers"]["lead_category"]:
        return _with_lead_category(cells, names)  # 板块 | 序号 | 指标名称 …: the 板块 cell is merged down its rows
    spans = _numbered(cells, len(names)) if names[0] in rules["headers"]["numbers"] else _plain(cells, len(names))
    spans = _trim_last(cells, spans, len(names))
    rows = _rows(cells, spans, names)
    if sum(not r.category for r in rows) < 2:
        return None
    return CellTable(names, tuple(rows), cells[spans[-1][0] + spans[-1][1] - 1].end)


def _cells(items: Sequence, i: int, by_groups: bool, header: list[str]) -> list[_Cell]:
    stop = _rules()["stop"]
    cells: list[_Cell] = []
    while i < len(items):
        item = items[i]
        if item.kind != "text" or stop.match(item.text):
            break
        if [x.text for x in items[i:i + len(header)]] == header:  # the header again after a page break
            i += len(header)
            continue
        if by_groups and cells and cells[-1].group == item.group:  # a cell on two lines: wrapped, or two values
            cell = cells[-1]
            two = re.match(r"[\d≥≤><约]", item.text) and not cell.text[-1].isdigit()
            cell.text, cell.last, cell.end = (cell.text + "；" + item.text) if two else join_lines(cell.text, item.text), item.line, i + 1
        else:
            cells.append(_Cell(item.text, item.line, item.line, item.group, i + 1))
        i += 1
    return cells


def _start(text: str) -> tuple[str, int] | None:
    if _NUMBER.fullmatch(text):
        return "n", int(text)
    if _CATEGORY.fullmatch(text):
        value = chinese_numeral(text)
        return ("g", value) if value else None
    return None


def _numbered(cells: list[_Cell], width: int) -> list[tuple[int, int, str]]:
    """(start, length, "n"|"g") of each row: the segmentation with the fewest missing cells, cells
    left over after the last row costing more than any missing one."""
    count = len(cells)
    starts = [_start(c.text) for c in cells]
    if not cells or starts[0] not in (("n", 1), ("g", 1)):
        return []
    # state (k, g) at a row start `pos`: the number and category before it; value: (cost, previous state, its row)
    best: dict[int, dict[tuple[int, int], tuple[int, tuple | None, tuple | None]]] = {0: {(0, 0): (0, None, None)}}
    finals: list[tuple[int, int, tuple, tuple]] = []
    for p in range(count):
        for (k, g), (cost, _, _) in sorted(best.get(p, {}).items()):
            kind, value = starts[p]
            if kind == "g" and value == g + 1:
                options, after = [2], (k, value)
            elif kind == "n" and value == k + 1:
                options, after = list(range(2, width + 1)), (value, g)
            else:
                continue
            for length in options:
                q = p + length
                if q > count:
                    break
                step = cost + (width - length if kind == "n" else 0)
                nxt = starts[q] if q < count else None
                if nxt and ((nxt[0] == "n" and nxt[1] == after[0] + 1) or (nxt[0] == "g" and nxt[1] == after[1] + 1)):
                    here = best.setdefault(q, {})
                    if after not in here or step < here[after][0]:
                        here[after] = (step, (p, k, g), (p, length, kind))
                if kind == "n":
                    finals.append((step + width * (count - q), -q, (p, k, g), (p, length, kind)))
    if not finals:
        return []
    _, _, (p, k, g), row = min(finals)
    spans = [row]
    while True:
        _, previous, row = best[p][(k, g)]
        if previous is None:
            return spans[::-1]
        spans.append(row)
        p, k, g = previous


def _plain(cells: list[_Cell], width: int) -> list[tuple[int, int, str]]:
    spans = []
    for start in range(0, len(cells) - width + 1, width):
        if any(_paragraph(c.text) for c in cells[start:start + width]):
            break
        spans.append((start, width, "n"))
    return spans


def _paragraph(text: str) -> bool:
    return len(text) >= 60 and text[-1] in PARAGRAPH_END


def _trim_last(cells: list[_Cell], spans: list, width: int) -> list:
    """The last row ends where a paragraph of the report starts: a long finished sentence in a column
    whose cells above were all short."""
    if len(spans) < 2:
        return spans
    start, length, kind = spans[-1]
    longest = max((len(cells[s + i].text) for s, n, k in spans[:-1] if k == "n" and n == width for i in range(n)), default=0)
    while length > 2 and _paragraph(cells[start + length - 1].text) and longest < 30:
        length -= 1
    return spans[:-1] + [(start, length, kind)]


def _rows(cells: list[_Cell], spans: list, names: tuple[str, ...]) -> list[CellRow]:
    rows: list[CellRow] = []
    previous: list[str] = []
    width = len(names)
    for start, length, kind in spans:
        own = [_FOOTNOTE_MARK.sub(r"\1", c.text) for c in cells[start:start + length]]
        lines = (cells[start].first, cells[start + length - 1].last)
        if kind == "g":
            rows.append(CellRow(tuple(own), (), lines, category="、".join(own)))
            continue
        missing = width - length  # merged cells: the columns after the number, as in the row above
        values = own[:1] + [previous[i] if i < len(previous) else "" for i in range(1, 1 + missing)] + own[1:]
        previous = values
        rows.append(CellRow(tuple(own), tuple(zip(names, values)), lines))
    return rows


def _with_lead_category(cells: list[_Cell], names: tuple[str, ...]) -> CellTable | None:
    """A table whose first column groups the rows (板块: 绿化 / 市容景观建设 / 环卫), printed once before
    the first row of its group, and whose rows may have sub-rows ("其中 公园绿地 58.46 17.5"): the
    category cells and sub-rows are taken out, the numbered rows read as usual, then each row gets its
    category and each sub-row the merged cells of its row (属性, 单位) with its own figures last."""
    main: list[_Cell] = []
    category_at: dict[int, str] = {}  # index in `main` of a row's number -> the category starting there
    subrows: dict[int, list[_Cell]] = {}  # index in `main` of the row a sub-row follows -> its cells
    expected, since = 1, len(names)
    k = 0
    while k < len(cells):
        cell, following = cells[k], cells[k + 1] if k + 1 < len(cells) else None
        start = _start(cell.text)
        if start is None and following is not None and _start(following.text) == ("n", expected) and since >= len(names) - 2 \
                and len(cell.text) <= 12 and re.search(r"[\u4e00-\u9fff]", cell.text) and not re.match(r"[\d≥≤><约/]", cell.text):
            category_at[len(main)] = cell.text
        elif cell.text.startswith(_SUBROW) and main:
            run = [cell]
            while (k + 1 < len(cells) and re.match(r"[\d≥≤><约]", cells[k + 1].text) and len(run) < len(names) - 2
                   and _start(cells[k + 1].text) != ("n", expected)):
                k += 1
                run.append(cells[k])
            subrows.setdefault(len(main) - 1, []).extend(run)
        else:
            if start == ("n", expected):
                expected, since = expected + 1, 0
            main.append(cell)
            since += 1
        k += 1
    spans = _trim_last(main, _numbered(main, len(names) - 1), len(names) - 1)
    if not spans:
        return None
    rows, category = [], ""
    for (start, length, kind), row in zip(spans, _rows(main, spans, names[1:])):
        category = category_at.get(start, category)
        if row.category:
            rows.append(row)
            continue
        rows.append(CellRow(((category,) if start in category_at else ()) + row.cells, ((names[0], category),) + row.fields, row.lines))
        last = start + length - 1
        sub = subrows.get(last)
        if sub:  # "其中 公园绿地 | 58.46 | 17.5": the label, the row's other cells, its own figures
            values = [c.text for c in sub[1:]]
            inherited = list(row.fields[: len(row.fields) - len(values)])
            label_at = next((i for i, (n, _) in enumerate(inherited) if n not in _rules()["headers"]["numbers"]), 1)
            inherited[label_at] = (inherited[label_at][0], sub[0].text)
            inherited[0] = (inherited[0][0], "")  # a sub-row has no number of its own
            fields = ((names[0], category),) + tuple(inherited) + tuple(zip(names[len(names) - len(values):], values))
            rows.append(CellRow(tuple(c.text for c in sub), fields, (sub[0].first, sub[-1].last)))
    if sum(not r.category for r in rows) < 2:
        return None
    return CellTable(names, tuple(rows), main[spans[-1][0] + spans[-1][1] - 1].end)
