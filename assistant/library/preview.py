"""How an upload's tables were read, shown on the 资料库 page before the user adds it.

An upload is parsed (`ingest.parse.parse_document`, as the build will) right after it is read, and
each table the parser recovered is described: its caption, its column headers, its first rows
(cells as read) and how many rows it has. A table flattened into running text, or headers taken
for a row, show here, before anything is indexed. Consecutive rows with the same kind, caption and
headers form one table: the source viewer groups them the same way (`table_key`).
"""

from __future__ import annotations

import logging
from itertools import groupby
from typing import Sequence

from assistant.models import Block, Document

log = logging.getLogger(__name__)

TASK_HEADERS = ("类别", "序号", "主要任务", "牵头单位")  # a responsibility table's columns when no header was read
MAX_TABLES = 12  # tables described (the count says how many there are)
MAX_ROWS = 4  # rows shown per table
MAX_CELL = 60  # characters shown per cell


def table_key(block: Block) -> tuple:
    """Consecutive rows with the same kind, caption and column headers form one table."""
    if block.kind in ("table_row", "task"):
        return (block.kind, block.caption, tuple(name for name, _ in block.fields))
    return (block.anchor,)  # anything else stands alone


def cells(block: Block) -> list[str]:
    return [cell for _, cell in block.fields] if block.fields else block.text.split("\t")


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table_preview(document: Document, text: str, line_pages: Sequence[int] = ()) -> dict:
    """{"tables": [{caption, headers, rows, count, page}], "table_count", "row_count"} (or {"error"})."""
    from assistant.ingest.parse import parse_document

    try:
        parsed = parse_document(document, text, line_pages)
    except Exception as exc:  # noqa: BLE001 - the build names the problem; the preview only says it has none
        log.info("no table preview for %s: %s", document.doc_id, exc)
        return {"tables": [], "table_count": 0, "row_count": 0, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    tables = []
    for key, group in groupby(parsed.blocks, key=table_key):
        rows = list(group)
        if rows[0].kind not in ("table_row", "task"):
            continue
        headers = list(key[2]) or (list(TASK_HEADERS) if rows[0].kind == "task" else [])
        tables.append({"caption": _cut(rows[0].caption), "headers": [_cut(h) for h in headers],
                       "rows": [[_cut(c) for c in cells(row)] for row in rows[:MAX_ROWS]], "count": len(rows),
                       "page": rows[0].page})
    return {"tables": tables[:MAX_TABLES], "table_count": len(tables), "row_count": sum(t["count"] for t in tables)}
