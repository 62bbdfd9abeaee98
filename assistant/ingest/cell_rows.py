"""The rows of a numbered table flattened to one cell per line (cell_table.py reads its header and cells).

1. Cells that are no row's own are taken out first: a group row in one cell ("行动一：再造发展新极行动"),
   spanning the table and naming the rows below it; the first column's cell of a table grouped by it
   (板块 / 任务类型: "旧区改造", printed once before the first row of its group); a sub-row
   ("其中 公园绿地 58.46 17.5") with the cells after it.
2. The rest is cut into rows at the row numbers 1, 2, 3 … (and category rows 一, 二 … followed by their
   name): the segmentation with the fewest cells missing (a row with more cells than the header only where no other cut exists).
3. Each row's cells are matched to the columns by what the columns hold: the kinds of cell (a figure, a
   short word, a list of organisations, a sentence) and the values seen in the rows that have every
   cell. A column a row has no cell for is a merged cell: the value of the row above; but an empty cell
   for a figure column, and for a unit-role column (推进单位) the value above only when the row is in the
   same group as the row above (same group row, same first-column cell): a merged units cell in the
   flattened text is printed on its first row only, and whether it runs on past a group's end the layout
   does not say, so there the row is left without units rather than given a guess. A cell left over
   after the last column is the second line of a cell merged over two rows ("95.8%" / "96.15%"): it
   joins the last column of its kind. Without two complete rows to learn from, the missing cells are the
   columns after the number (the 类别 of several rows written on its first row only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.ingest.cell_fit import _align, _halves, _profile, _vocab, kind, misfit, paragraph
from assistant.ingest.normalize import chinese_numeral
from assistant.ingest.roles import is_role, lists_units

_NUMBER = re.compile(r"\d{1,3}")
_CATEGORY = re.compile(r"[一二三四五六七八九十]{1,3}")
# a group row in one cell: "行动一：再造发展新极行动（…）" (its word names the field), "一、水安全"
_GROUP_ROW = re.compile(r"^([\u4e00-\u9fff]{1,4}?)([一二三四五六七八九十]{1,3})[：:]\s*\S|^()([一二三四五六七八九十]{1,3})[、．.]\s*\S")
_FOOTNOTE_MARK = re.compile(r"^([\d.]+\s*[%％])[1-9]$")
_SUBROW = ("其中", "含")


@dataclass(frozen=True)
class CellRow:
    cells: tuple[str, ...]  # as the source has them
    fields: tuple[tuple[str, str], ...]  # (header, value) for every column, merged cells filled in
    lines: tuple[int, int]
    category: str = ""  # a category row ("一 水安全") has no fields: it names the rows below it
    groups: tuple[tuple[str, str], ...] = ()  # the group row over the row: (("行动", "行动一：…"),)


@dataclass
class Cell:
    text: str
    first: int
    last: int
    group: int
    end: int  # index of the item after the cell


def start_of(text: str) -> tuple[str, int] | None:
    """("n", 3) for a row number, ("g", 2) for a category numeral (二), else None."""
    if _NUMBER.fullmatch(text):
        return "n", int(text)
    if _CATEGORY.fullmatch(text):
        value = chinese_numeral(text)
        return ("g", value) if value else None
    return None


def group_row(text: str) -> tuple[str, int] | None:
    """("行动", 2) for "行动二：重塑美丽新居行动…", ("", 1) for "一、水安全"; None for anything else."""
    match = _GROUP_ROW.match(text)
    if not match or len(text) > 60 or text[-1] in "。；;":
        return None
    word, numeral = (match.group(1), match.group(2)) if match.group(2) else (match.group(3), match.group(4))
    value = chinese_numeral(numeral)
    return (word, value) if value else None


def numbered_rows(cells: list[Cell], names: tuple[str, ...], lead: bool) -> tuple[list[CellRow], int] | None:
    """The rows of a table whose first column (or second, after a grouping `lead` column) numbers them,
    and the index of the item after the table; None when fewer than two rows are found."""
    columns = names[1:] if lead else names
    width = len(columns)
    roles = any(is_role(n) for n in names)
    main, lead_at, group_at, subrows = _extract(cells, width, lead, roles)
    spans = trim_last(main, _segment(main, columns), width)
    if not spans:
        return None
    profile = _profile(main, spans, width, roles, columns)
    rows: list[CellRow] = []
    previous: list[str] = []
    group: tuple[tuple[str, str], ...] = ()
    category, before = "", None  # the lead cell of the rows, and the group of the row above
    named = ""  # the name a category row (一 / 水安全) gives the rows below it
    for start, length, row_kind in spans:
        if start in group_at:
            name, cell = group_at[start]
            group, category = ((name or "类别", cell.text),), ""  # a row across the table ends a merged cell above it
            rows.append(CellRow((cell.text,), (), (cell.first, cell.last), category=cell.text))
        category = lead_at.get(start, category)
        own = [_FOOTNOTE_MARK.sub(r"\1", c.text) for c in main[start:start + length]]
        lines = (main[start].first, main[start + length - 1].last)
        if row_kind == "g":
            rows.append(CellRow(tuple(own), (), lines, category="、".join(own), groups=group))
            named, previous = "".join(own[1:]), []  # no merged cell runs on across a group row
            continue
        here = (group, category)
        values = _place(own, columns, profile, previous, same_group=here == before)
        if named and len(values) > 1 and not values[1] and not is_role(columns[1]):
            values[1] = named  # "一 / 推进碳达峰碳中和综合管理" over rows that leave their 重点任务 cell to it
        previous, before = values, here
        head = ((names[0], category),) if lead else ()
        printed = ((category,) if lead and start in lead_at else ()) + tuple(own)
        rows.append(CellRow(printed, head + tuple(zip(columns, values)), lines, groups=group))
        sub = subrows.get(start + length - 1)
        if sub:
            rows.append(_subrow(sub, columns, values, profile, head, group))
    if sum(not r.category for r in rows) < 2:
        return None
    last = spans[-1][0] + spans[-1][1] - 1
    ends = [main[last].end] + [c.end for c in subrows.get(last, [])]
    return rows, max(ends)


def _extract(cells: list[Cell], width: int, lead: bool, roles: bool) -> tuple[list[Cell], dict, dict, dict]:
    """The row cells, and by the index (in them) of the row they precede: the lead cells, the group rows;
    by the index of a row's last cell: its sub-row's cells."""
    main: list[Cell] = []
    lead_at: dict[int, str] = {}
    group_at: dict[int, tuple[str, Cell]] = {}
    subrows: dict[int, list[Cell]] = {}
    expected, next_group, since = 1, 1, width
    # a row may end one cell short (an empty cell of rows written as runs of lines, a units cell merged down
    # a task list), so a lead cell may follow width - 1 cells; with every cell on its own line and values
    # last, a row is all its cells ("5 住宅用地面积 平方千米 预期性 20.26 动态调整": the row's 2030 value)
    short = int(roles or sum(a.group == b.group for a, b in zip(cells, cells[1:])) * 2 > len(cells))
    k = 0
    while k < len(cells):
        cell, following = cells[k], cells[k + 1] if k + 1 < len(cells) else None
        start, group = start_of(cell.text), group_row(cell.text)
        if group and group[1] == next_group and following is not None and _opens_row(cells, k + 1, expected, lead, roles):
            group_at[len(main)] = (group[0], cell)
            next_group, since = next_group + 1, width
        elif lead and start is None and following is not None and start_of(following.text) == ("n", expected) \
                and since >= width - short and _is_category(cell.text, roles):
            lead_at[len(main)] = cell.text
        elif cell.text.startswith(_SUBROW) and main:
            run = [cell]
            while k + 1 < len(cells) and len(run) < width - 1 and start_of(cells[k + 1].text) != ("n", expected) \
                    and (kind(cells[k + 1].text) == "figure" or len(cells[k + 1].text) <= 8):
                k += 1
                run.append(cells[k])
            subrows.setdefault(len(main) - 1, []).extend(run)
        else:
            if start == ("n", expected):
                expected, since = expected + 1, 0
            main.append(cell)
            since += 1
        k += 1
    return main, lead_at, group_at, subrows


def _opens_row(cells: list[Cell], k: int, expected: int, lead: bool, roles: bool) -> bool:
    if start_of(cells[k].text) == ("n", expected):
        return True
    return lead and k + 1 < len(cells) and start_of(cells[k + 1].text) == ("n", expected) and _is_category(cells[k].text, roles)


def _is_category(text: str, roles: bool) -> bool:
    """A first-column group cell: a short name, no sentence, no figure, no list of units."""
    return (len(text) <= _vocab()["category_chars"] and bool(re.search(r"[\u4e00-\u9fff]", text)) and not re.match(r"[\d≥≤><约/]", text)
            and not re.search(r"[，。；：,;:]", text) and not (roles and lists_units(text)))


def _segment(cells: list[Cell], names: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """(start, length, "n"|"g") of each row: the segmentation whose rows' cells fit the columns best
    (`misfit`: fewest missing cells, a cell split over two lines read whole, no cell where its column's
    name says it cannot be), a row with cells more than the header only where two of them are one
    cell's halves or no other cut exists (each other extra cell costs a row), cells left over after the
    last row costing more than any missing one."""
    width = len(names)
    texts = [c.text for c in cells]
    count = len(cells)
    starts = [start_of(c.text) for c in cells]
    if not cells or starts[0] not in (("n", 1), ("g", 1)):
        return []
    # state (k, g) at a row start `pos`: the number and category before it; value: (cost, previous state, its row)
    best: dict[int, dict[tuple[int, int], tuple[int, tuple | None, tuple | None]]] = {0: {(0, 0): (0, None, None)}}
    finals: list[tuple[int, int, tuple, tuple]] = []
    for p in range(count):
        for (k, g), (cost, _, _) in sorted(best.get(p, {}).items()):
            row_kind, value = starts[p]
            if row_kind == "g" and value == g + 1:
                options, after = [2], (k, value)
            elif row_kind == "n" and value == k + 1:
                options, after = list(range(2, width + 3)), (value, g)
            else:
                continue
            for length in options:
                q = p + length
                if q > count:
                    break
                step = cost + (_row_cost(texts[p:q], names, width) if row_kind == "n" else 0)
                nxt = starts[q] if q < count else None
                if nxt and ((nxt[0] == "n" and nxt[1] == after[0] + 1) or (nxt[0] == "g" and nxt[1] == after[1] + 1)):
                    here = best.setdefault(q, {})
                    if after not in here or step < here[after][0]:
                        here[after] = (step, (p, k, g), (p, length, row_kind))
                if row_kind == "n":
                    finals.append((step + width * (count - q), -q, (p, k, g), (p, length, row_kind)))
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


def _row_cost(row: list[str], names: tuple[str, ...], width: int) -> float:
    length = len(row)
    if length > width + 1 or (length == width + 1 and not any(_halves(a, b) for a, b in zip(row[1:], row[2:]))):
        return (width + 1) * (length - width)
    return misfit(row[1:], names)


def trim_last(cells: list[Cell], spans: list, width: int) -> list:
    """The last row ends where a paragraph of the report starts: a long finished sentence in a column
    whose cells above were all short."""
    if len(spans) < 2:
        return spans
    start, length, row_kind = spans[-1]
    longest = max((len(cells[s + i].text) for s, n, k in spans[:-1] if k == "n" and n == width for i in range(n)), default=0)
    while length > 2 and paragraph(cells[start + length - 1].text) and longest < 30:
        length -= 1
    return spans[:-1] + [(start, length, row_kind)]


# ----------------------------------------------------------------------------- cells to columns (the fit: cell_fit.py)


def _place(own: list[str], columns: tuple[str, ...], profile: list | None, previous: list[str], same_group: bool) -> list[str]:
    """The row's value for every column: its number first, its other cells where they fit (see the module docstring)."""
    assigned, left = _align(own[1:], profile, 1, columns)
    values = [own[0]]
    for j, cell in enumerate(assigned, start=1):
        if cell is not None:
            values.append(cell)
        elif is_role(columns[j]):
            values.append(previous[j] if same_group and j < len(previous) else "")
        elif profile is not None and profile[j].main == "figure":
            values.append("")
        else:
            values.append(previous[j] if j < len(previous) else "")
    for at in left:
        text = own[1:][at]
        j = next((j for j in range(len(columns) - 1, 0, -1) if profile and profile[j].main == kind(text, profile[j].roles)),
                 len(columns) - 1)
        values[j] = f"{values[j]}；{text}" if values[j] else text
    return values


def _subrow(sub: list[Cell], columns: tuple[str, ...], parent: list[str], profile: list | None,
            head: tuple, group: tuple) -> CellRow:
    """"其中 公园绿地 | 58.46 | 17.5": the label in the row's name column, its figures where they fit, the
    parent row's cells in the columns it has none for (a sub-row has no number of its own)."""
    names = _vocab()["names"]
    at = next((j for j, n in enumerate(columns) if n in names), next((j for j, n in enumerate(columns) if n not in _vocab()["numbers"]), 1))
    texts = [c.text for c in sub]
    assigned, left = _align(texts[1:], profile, at + 1, columns)  # without a profile: the last columns
    values = list(parent)
    values[0], values[at] = "", texts[0]
    for j, cell in enumerate(assigned, start=at + 1):
        if cell is not None:
            values[j] = cell
    for index in left:
        values[-1] = f"{values[-1]}；{texts[1:][index]}"
    return CellRow(tuple(texts), head + tuple(zip(columns, values)), (sub[0].first, sub[-1].last), groups=group)
