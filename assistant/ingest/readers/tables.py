"""Table rows -> the two table shapes parse.py reads (shared by the DOCX and PDF readers).

- a table inside running text: one row per line, cells separated by tabs, a cell that a
  vertical merge continues left empty (parse.py carries the value of the row above into it);
- a responsibility table (header cells 序号 and 牵头…: what parse.py's task-table parser keys on,
  see parse._is_task_table): the shape the corpus's docx export has, each cell on its own line
  starting with a tab, rows separated by blank lines, a merged cell (the category) written out
  on every row.
"""

from __future__ import annotations

Cell = tuple[str, bool]  # (text, continues a vertical merge: the text is the merged cell's)
_TASK_HEADER = ("序号", "牵头")


def is_task_table(header: list[str]) -> bool:
    return any(h == _TASK_HEADER[0] for h in header) and any(_TASK_HEADER[1] in h for h in header)


def table_rows(rows: list[list[Cell]]) -> list[str]:
    """The text of each row, newline-terminated; the table is their concatenation plus a blank line."""
    if rows and is_task_table([text for text, _ in rows[0]]):
        return ["".join("\t" + text + "\n" for text, _ in row) + "\n" for row in rows]
    return [("\t".join("" if merged else text for text, merged in row).rstrip("\t") or "\t") + "\n" for row in rows]


def table_lines(rows: list[list[Cell]]) -> list[str]:
    return "".join(table_rows(rows)).split("\n") if rows else []
