"""How well a flattened table's cells fit its columns (cell_rows.py cuts the rows and places the cells
with it): what the rows that have every cell hold per column (the profile), what a column's name says
it holds (`fits`: 属性 holds 预期性/约束性, 单位 a unit, a name no bare figure), and the best placement of
a row's cells (a column without a cell, two cells of one split over two lines, a cell left over).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from assistant.ingest.normalize import PARAGRAPH_END
from assistant.ingest.roles import lists_units
from assistant.vocab import _load

_NO_VALUE = r"[-—－/／]+"  # "—", "/": a cell that says there is no value
_FIGURE = re.compile(rf"^(?:[≥≤><＞＜~～约近]|不低于|不少于|不超过)?\s*\d|^{_NO_VALUE}$")
_SKIP, _LEFTOVER = 1.0, 1.5  # the cost of a column without a cell, of a cell after the last column
_JOIN = 1.0  # the cost of reading two cells as one written on two lines


@lru_cache(maxsize=1)
def _vocab() -> dict:
    rules = _load("tables.toml")
    tables, facts, values = rules["headers"], _load("facts.toml")["columns"], rules["column_values"]
    units = "|".join(re.escape(u) for u in sorted(values["units"], key=len, reverse=True))
    return {"numbers": tuple(tables["numbers"]), "category_chars": tables["category_max_chars"], "names": tuple(facts["label"]),
            "attribute_columns": frozenset(values["attribute_columns"]), "attribute_values": frozenset(values["attribute_values"]),
            "unit_columns": frozenset(values["unit_columns"]),
            "name_columns": frozenset(facts["label"]) | frozenset(tables["lead_category"]),
            "category_columns": frozenset(tables["lead_category"]), "unit": re.compile(rf"^(?:(?:{units})|[/／]|[（(][^（）()]*[）)])+$")}


def kind(text: str, roles: bool = False) -> str:
    """What a cell holds: a figure (or "-", "/" for none), a list of organisations (in a table with a
    unit-role column), text; "empty"."""
    if not text:
        return "empty"
    if _FIGURE.match(text):
        return "figure"
    return "units" if roles and lists_units(text) else "text"


def paragraph(text: str) -> bool:
    return len(text) >= 60 and text[-1] in PARAGRAPH_END


# ----------------------------------------------------------------------------- cells to columns


@dataclass(frozen=True)
class _Column:
    kinds: Counter  # the kinds of its cells in the rows that have every cell
    values: Counter
    roles: bool  # the table has a unit-role column: a list of organisations is a kind of its own

    @property
    def main(self) -> str:
        return self.kinds.most_common(1)[0][0]


def _profile(cells: list, spans: list, width: int, roles: bool, names: tuple[str, ...]) -> list[_Column] | None:
    """Per column, what its cells (cell_rows.Cell) hold in the rows that have every cell, each where its column's name
    allows (None: fewer than two such rows)."""
    full = [[c.text for c in cells[s:s + n]] for s, n, k in spans if k == "n" and n == width]
    full = [row for row in full if all(fits(text, name) > -2.0 for text, name in zip(row, names))]
    if len(full) < 2:
        return None
    return [_Column(Counter(kind(row[j], roles) for row in full), Counter(row[j] for row in full), roles) for j in range(width)]


def _score(text: str, column: _Column | None, name: str) -> float:
    """0 for a cell of a kind the column holds (a quarter of its cells or more), less for a rarer kind,
    -3 for one it never holds; one more for a short value the column has (约束性, 万平方米); and what the
    column's name says it holds (`fits`)."""
    own = kind(text, column.roles if column else False)
    if own == "empty":
        return 0.0
    fit = fits(text, name)
    if column is None:
        return fit
    share = column.kinds[own] / sum(column.kinds.values())
    score = 0.0 if share >= 0.25 else -1.5 if share > 0 else -3.0
    return score + fit + (1.0 if len(text) <= 8 and column.values[text] else 0.0)


def fits(text: str, name: str) -> float:
    """What the column's name says of the cell: an attribute column holds 预期性/约束性 and no other
    column does; a unit column holds a unit (%, 人/亿元, 万套（间）), and a bare unit is no other column's."""
    vocab = _vocab()
    if re.fullmatch(_NO_VALUE, text):
        return 0.0  # "—": no value, in any column
    attribute, unit = text in vocab["attribute_values"], bool(vocab["unit"].match(text))
    if name in vocab["attribute_columns"]:
        return 1.5 if attribute else -3.0
    if name in vocab["unit_columns"]:  # a short cell may be a unit the list lacks (块); a name or figure is none
        return 1.0 if unit else -3.0 if len(text) > 4 or kind(text) == "figure" else 0.0
    if name in vocab["name_columns"] and kind(text) == "figure":
        return -3.0  # a row's name or category is never a bare figure ("5" is the row above's target)
    if name in vocab["category_columns"]:
        return -3.0 if unit else 0.0  # 指标类型 may be the attribute column (约束性 / 预期性)
    return -3.0 if attribute or unit else 0.0


def _align(cells: list[str], profile: list | None, first: int, names: tuple[str, ...]) -> tuple[list[str | None], list[int]]:
    """For each column from `first` on, its cell (None: no cell; two cells of one split over two lines
    joined), and the indexes of the cells left over after the last."""
    n, m = len(cells), len(names) - first
    if profile is None and not any(fits(text, name) < 0 for text, name in zip(cells, names[first + max(m - n, 0):])):
        missing = max(m - n, 0)  # the missing cells are the first columns; extra cells are left over
        return [None] * missing + cells[:min(n, m)], list(range(m, n))
    return _alignment(cells, profile, first, names)[1:]


def misfit(cells: list[str], names: tuple[str, ...]) -> float:
    """What a row's cells cost placed in the columns by their names alone: columns without a cell,
    cells joined or left over, cells where the column's name says they cannot be (for cutting rows)."""
    return -_alignment(cells, None, 1, names, bonuses=False)[0]


def _alignment(cells: list[str], profile: list | None, first: int, names: tuple[str, ...],
               bonuses: bool = True) -> tuple[float, list[str | None], list[int]]:
    n, m = len(cells), len(names) - first
    column = (lambda j: profile[first + j]) if profile is not None else (lambda j: None)

    def score(text: str, j: int) -> float:
        value = _score(text, column(j), names[first + j])
        return value if bonuses else min(value, 0.0)
    # best[(i, j)]: (score, back) after i cells and j columns
    best: dict[tuple[int, int], tuple[float, tuple | None]] = {(0, 0): (0.0, None)}
    for j in range(m):
        for i in range(n + 1):
            if (i, j) not in best:
                continue
            here = best[(i, j)][0]
            moves = [((i, j + 1), here - _SKIP - 0.01 * j)]  # an earlier column is the likelier merged one
            if i < n:
                moves.append(((i + 1, j + 1), here + score(cells[i], j)))
            if i + 1 < n and _halves(cells[i], cells[i + 1]):  # the shorter the halves, the likelier one cell
                joined = cells[i] + cells[i + 1]
                moves.append(((i + 2, j + 1), here - _JOIN - 0.01 * len(joined) + score(joined, j)))
            for key, value in moves:
                if key not in best or value > best[key][0]:
                    best[key] = (value, (i, j))
    # cells left over only where the row has as many cells as the columns or more (a cell on two rows)
    ends = [i for i in range(n + 1) if (i, m) in best and n - i <= max(n - m + 1, 0)] or [min(n, m)]
    end = max(ends, key=lambda i: best[(i, m)][0] - _LEFTOVER * (n - i))
    assigned: list[str | None] = [None] * m
    i, j = end, m
    while (i, j) != (0, 0):
        pi, pj = best[(i, j)][1]
        if pi < i:
            assigned[pj] = "".join(cells[pi:i])
        i, j = pi, pj
    return best[(end, m)][0] - _LEFTOVER * (n - end), assigned, list(range(end, n))


def _halves(one: str, two: str) -> bool:
    """Two cells that may be one cell written on two lines: short, neither a figure nor an attribute."""
    vocab = _vocab()
    attributes, unit = vocab["attribute_values"], vocab["unit"]
    return (len(one) + len(two) <= vocab["category_chars"] * 2 and one not in attributes and two not in attributes
            and kind(one) == kind(two) == "text" and not paragraph(one)
            and bool(unit.match(one)) == bool(unit.match(two)))  # a name and its unit are two cells; 微克/ + 立方米 one
