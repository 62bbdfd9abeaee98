"""Two years' indicator tables compared row by row: "2024年的主要目标比2023年少了几项？少的是哪一项？"
is answered by the rows one table lists and the other does not, each cited to its row."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Protocol

from assistant.answer.task_rows import row_name
from assistant.answer.verify import Sentence
from assistant.ingest.normalize import letters
from assistant.models import Chunk, Query
from assistant.vocab import vocabulary

SAME_ROW = 0.7  # name similarity at which a row of the later table is the earlier row renamed


class Table(Protocol):  # assistant.answer.tables.Table, as far as a comparison reads it
    caption: str
    rows: list[Chunk]


def _of_year(tables: list[Table], districts: tuple[str, ...], year: int) -> Table | None:
    """The asked place's indicator table whose caption names the year (the longest, if several)."""
    found = [t for t in tables if t.rows[0].kind == "table_row" and re.search(rf"{year}\s*年", t.caption)
             and (not districts or t.rows[0].district in districts)]
    return max(found, key=lambda t: len(t.rows)) if found else None


def _names(table: Table) -> dict[str, Chunk]:
    totals = vocabulary().table_words["total"]
    return {letters(row_name(r)): r for r in table.rows if row_name(r) and row_name(r).lower() not in totals}


def rows_changed(query: Query, tables: list[Table]) -> list[Sentence] | None:
    """The rows the later year's table drops and adds, with both counts; None unless the question
    names two years, asks a count or which rows, and says one table has fewer or more."""
    years = sorted({p.year for p in query.periods if p.year})
    words = vocabulary().table_words
    if len(years) != 2 or not any(w in query.text for w in words["differ"]):
        return None
    earlier, later = (_of_year(tables, query.districts, y) for y in years)
    if earlier is None or later is None or earlier is later:
        return None
    before, after = _names(earlier), _names(later)
    dropped = [row for name, row in before.items() if name not in after]
    added = [row for name, row in after.items() if name not in before]
    # a row renamed ("…税收效益" -> "…税收产出", "功能性外资机构" -> "…机构数") is the same indicator
    renamed = [(old, new) for old in dropped for new in added
               if SequenceMatcher(None, row_name(old), row_name(new)).ratio() >= SAME_ROW]
    dropped = [r for r in dropped if all(r is not old for old, _ in renamed)]
    added = [r for r in added if all(r is not new for _, new in renamed)]
    english = query.english
    head = (f"{earlier.caption} lists {len(before)} rows, {later.caption} {len(after)}." if english
            else f"{earlier.caption}共{len(before)}项，{later.caption}共{len(after)}项。")
    cites = [earlier.rows[0], later.rows[0]]
    lines = [Sentence(head, [c.chunk_id for c in cites], chunks=cites, derived=(str(len(before)), str(len(after))))]
    for rows, verb, verb_en in ((dropped, f"{years[1]}年未列入", f"not in the {years[1]} table"),
                                (added, f"{years[1]}年新列入", f"new in the {years[1]} table")):
        if rows:
            names = "、".join(f"“{row_name(r)}”" for r in rows)
            text = f"{verb_en}: {names}." if english else f"{verb}的有{len(rows)}项：{names}。"
            lines.append(Sentence(text, [r.chunk_id for r in rows], chunks=list(rows), derived=(str(len(rows)),)))
    if renamed:
        pairs = "、".join(f"“{row_name(a)}”→“{row_name(b)}”" for a, b in renamed)
        text = f"renamed: {pairs}." if english else f"名称调整的有{len(renamed)}项：{pairs}。"
        cited = [r for pair in renamed for r in pair]
        lines.append(Sentence(text, [r.chunk_id for r in cited], chunks=cited, derived=(str(len(renamed)),)))
    return lines
