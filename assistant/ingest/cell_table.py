"""Tables flattened to one cell per line: header cells each on a line (序号 / 指标名称 / 单位 / 属性 /
目标值（2025年）…), then the rows' cells, with blank lines between the cells or not.

A run of header cells (`vocab/tables.toml`) opens a table; a header cell written on two lines ("“十四五”" /
"完成值") is one column. Its cells follow until a line that ends it (注：…, 附件, a heading, a
tab-separated row); the header repeated after a page break is skipped. When blank lines separate the
cells, a cell is a run of lines without a blank between them (a value written on two lines stays one
cell); otherwise each line is a cell, and when blank lines separate the rows instead (each row's cells
a run of lines), a blank line inside a row is an empty cell. Rows are recovered from the cells:
- numbered tables (first header 序号, or a grouping column such as 板块 / 任务类型 and then 序号): see
  cell_rows.py (merged cells, group rows, sub-rows, cells matched to the columns they fit);
- other tables: rows of as many cells as the header.
A footnote mark after a percentage ("35%1", the note "1 指…" below the table) is dropped from the value.
A table with a unit-role column (牵头单位, 推进单位 …) is a task list: `CellTable.tasks`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from assistant.ingest.cell_rows import Cell, CellRow, group_row, numbered_rows, paragraph, start_of, trim_last
from assistant.ingest.normalize import join_lines
from assistant.ingest.roles import is_role, lead_roles, support_roles
from assistant.vocab import VOCAB_DIR, vocabulary

__all__ = ["CellRow", "CellTable", "find_cell_table", "header_cells", "header_kind"]

_BRACKETS = re.compile(r"[（(][^（）()]*[）)]")
_FOOTNOTE_MARK = re.compile(r"^([\d.]+\s*[%％])[1-9]$")


@dataclass(frozen=True)
class CellTable:
    header: tuple[str, ...]
    rows: tuple[CellRow, ...]
    end: int  # index of the first item after the table
    tasks: bool = False  # a unit-role column: its rows are tasks


@lru_cache(maxsize=1)
def _rules() -> dict:
    rules = tomllib.loads((VOCAB_DIR / "tables.toml").read_text(encoding="utf-8"))
    rules["stop"] = re.compile("|".join(f"(?:{p})" for p in rules["stops"]["patterns"]))
    rules["words"] = frozenset(rules["headers"]["words"]) | frozenset(lead_roles()) | frozenset(support_roles())
    # a leading period: a plan's name (vocab question.toml [plans]) with its 时期/末…, or a year
    plans = "|".join(re.escape(name) for name in vocabulary().plans)
    suffixes = "|".join(re.escape(s) for s in rules["headers"]["period_suffixes"])
    rules["period"] = re.compile(rf"^(?:[“\"]?(?:{plans})[”\"]?(?:{suffixes})?|(?:19|20)\d\d年?(?:末|底)?)")
    return rules


def header_kind(text: str) -> str:
    """"word" for a column name (指标名称, 目标值（2025年）, “十五五”目标), "period" for a year column
    (2025年, “十四五”末), "" for anything else."""
    rules = _rules()
    if not text or len(text) > rules["headers"]["max_chars"] or any(ch in text for ch in "。，；,;："):
        return ""
    bare = _BRACKETS.sub("", text).strip()
    rest = rules["period"].sub("", bare).strip()
    if rest in rules["words"]:
        return "word"
    heads = tuple(rules["headers"]["named_heads"])
    if 2 < len(rest) <= rules["headers"]["named_max_chars"] and rest.endswith(heads) and re.fullmatch(r"[\u4e00-\u9fff]+", rest):
        return "word"
    return "period" if bare and not rest else ""


def header_cells(text: str) -> list[str]:
    """The header cells of one line: the line itself, or the column names it runs together
    ("指标名称指标属性": two cells written on one line); [] when it is no header. A space inside a
    column name ("指 标", spaced to fit the column's width) is layout, not a word break."""
    text = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", text)
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


def _joined(names: list[str]) -> tuple[str, ...]:
    """A period line and the value word under it are one column: "“十四五”" + "完成值" -> "“十四五”完成值"."""
    joins = _rules()["headers"]["period_joins"]
    out: list[str] = []
    for name in names:
        if out and name in joins and header_kind(out[-1]) == "period":
            out[-1] += name
        else:
            out.append(name)
    return tuple(out)


def _qualifier(text: str) -> bool:
    """A header line that is only a bracketed period ("（2025年）"): the note of a column named above it."""
    inner = re.fullmatch(r"[（(]([^（）()]+)[）)]", text.strip())
    return bool(inner) and header_kind(inner.group(1)) == "period"


def _qualified(names: list[str]) -> list[str]:
    """Bracketed periods under the last columns ("现状" "近期规划" / "（2025年）" "（2030年）") join them in order:
    "现状（2025年）", "近期规划（2030年）"."""
    notes = [n for n in names if _qualifier(n)]
    columns = [n for n in names if not _qualifier(n)]
    if not notes or len(notes) > len(columns):
        return columns
    start = len(columns) - len(notes)
    return columns[:start] + [c + q for c, q in zip(columns[start:], notes)]


def _spanned(names: list[str]) -> tuple[str, ...]:
    """Without a name spanning the value columns under it ("指标值" over 现状 / 近期规划)."""
    rules = _rules()

    def value(name: str) -> bool:  # a value column: a period, or a value word (现状, 近期规划) after one
        return header_kind(name) == "period" or rules["period"].sub("", _BRACKETS.sub("", name).strip()) in rules["headers"]["period_joins"]
    spans = rules["headers"]["spanning"]
    return tuple(n for k, n in enumerate(names) if not (n in spans and len(names) > k + 2 and value(names[k + 1]) and value(names[k + 2])))


def find_cell_table(items: Sequence, index: int) -> CellTable | None:
    """The table whose header starts at items[index] (parse._Item: kind, text, line, group), or None."""
    rules = _rules()
    header: list = []  # (item, its column names)
    i = index
    while i < len(items) and items[i].kind == "text" and len(header) < rules["headers"]["max_columns"]:
        names = header_cells(items[i].text) or ([items[i].text] if _qualifier(items[i].text) else [])
        if not names:
            break
        header.append((items[i], names))
        i += 1
    by_groups = any(a.group != b.group for (a, _), (b, _) in zip(header, header[1:]))
    if by_groups:  # a column name on two lines of one cell ("任务" / "类型") is one column
        header = _one_per_cell(header)
    names = _spanned(_qualified(_joined([name for _, cells in header for name in cells])))
    words = sum(header_kind(name) == "word" for name in names)
    if len(names) < rules["headers"]["min_columns"] or words < 2 or len(names) > rules["headers"]["max_columns"]:
        return None
    cells = _cells(items, i, by_groups, [h.text for h, _ in header])
    numbers, tasks = rules["headers"]["numbers"], any(is_role(n) for n in names)
    if not by_groups:
        cells = _blank_cells(cells)
    if len(names) > 2 and names[1] in numbers and names[0] in rules["headers"]["lead_category"]:
        found = numbered_rows(cells, names, lead=True)  # 板块 | 序号 | 指标名称 …: the 板块 cell is merged down its rows
    elif names[0] in numbers:
        found = numbered_rows(cells, names, lead=False)
    else:
        found = _plain_rows(cells, names)
    if found is None:
        return None
    rows, end = found
    return CellTable(names, tuple(rows), end, tasks)


def _one_per_cell(header: list) -> list:
    """(item, names) of the header with the lines of one cell (same group, one name each) joined."""
    out: list = []
    for item, names in header:
        if out and out[-1][0].group == item.group and len(out[-1][1]) == 1 and len(names) == 1 \
                and header_kind(out[-1][1][0] + names[0]):
            out[-1] = (item, [out[-1][1][0] + names[0]])
        else:
            out.append((item, names))
    return out


def _cells(items: Sequence, i: int, by_groups: bool, header: list[str]) -> list[Cell]:
    stop = _rules()["stop"]
    cells: list[Cell] = []
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
            cells.append(Cell(item.text, item.line, item.line, item.group, i + 1))
        i += 1
    return cells


def _blank_cells(cells: list[Cell]) -> list[Cell]:
    """Rows separated by blank lines (a run of lines each): a blank line inside a row is an empty cell.
    The layout is that when at least three of four breaks between runs fall before a row's start (its
    number, or the group cell before it); the other breaks are empty cells."""
    breaks = [k for k in range(1, len(cells)) if cells[k].group != cells[k - 1].group]
    opening = [k for k in breaks if start_of(cells[k].text) or group_row(cells[k].text)
               or (k + 1 < len(cells) and (start_of(cells[k + 1].text) or ("", 0))[0] == "n")]
    if len(breaks) < 3 or len(opening) < 0.75 * len(breaks):
        return cells
    out: list[Cell] = []
    for k, cell in enumerate(cells):
        if k in breaks and k not in opening:
            out.append(Cell("", cell.first - 1, cell.first - 1, cells[k - 1].group, cells[k - 1].end))
        out.append(cell)
    return out


def _plain_rows(cells: list[Cell], names: tuple[str, ...]) -> tuple[list[CellRow], int] | None:
    """Rows of as many cells as the header, up to a paragraph of the report."""
    width = len(names)
    spans = []
    for start in range(0, len(cells) - width + 1, width):
        if any(paragraph(c.text) for c in cells[start:start + width]):
            break
        spans.append((start, width, "n"))
    spans = trim_last(cells, spans, width)
    rows, previous = [], []
    for start, length, _ in spans:
        own = [_FOOTNOTE_MARK.sub(r"\1", c.text) for c in cells[start:start + length]]
        missing = width - length  # the last row cut short by a paragraph: the columns after the first merged
        values = own[:1] + [previous[i] if i < len(previous) else "" for i in range(1, 1 + missing)] + own[1:]
        previous = values
        rows.append(CellRow(tuple(own), tuple(zip(names, values)), (cells[start].first, cells[start + length - 1].last)))
    if len(rows) < 2:
        return None
    return rows, cells[spans[-1][0] + spans[-1][1] - 1].end
