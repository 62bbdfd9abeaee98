"""The knowledge base as a list: each catalogued report (and any report the index holds without a
catalog entry) with its file, pages, blocks, chunks, warnings and the build that indexed it; and the
changes running now (`changes_under_way`: by the app or the CLI, from their journals)."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.indexing.chunk_table import ChunkColumns
from assistant.config import Settings
from assistant.library.catalog import read_entries
from assistant.library.journal import JOURNAL, PREFIX
from assistant.library.versions import all_versions


@dataclass(frozen=True)
class DocumentStatus:
    doc_id: str
    title: str
    district: str
    year: str
    kind: str
    file: str
    format: str
    size: int  # bytes of the file in corpus/ (0 when it is missing)
    pages: int  # 0 for formats without pages
    blocks: int
    chunks: int
    state: str  # indexed | not indexed | failed (previous version served) | failed (not in the index)
    indexed_at: str  # when the serving index was built ("" when not indexed)
    warnings: tuple[str, ...] = ()
    versions: int = 0  # previous versions kept (corpus/.versions), restorable

    def to_dict(self) -> dict:
        return asdict(self) | {"warnings": list(self.warnings)}


def document_statuses(settings: Settings, index: Any = None) -> list[DocumentStatus]:
    """`index`: the serving LoadedIndex (the app's); None loads the current one (the CLI's)."""
    from assistant.indexing.manifest import IndexProblem
    from assistant.indexing.load import load_index, load_structure

    corpus_dir = Path(settings.corpus_dir)
    entries = read_entries(corpus_dir)  # CatalogError when the catalog cannot be read: the caller shows it
    if index is None:
        try:
            index = load_index(settings, check=False)
        except IndexProblem:
            index = None
    manifest = index.manifest if index is not None else {"documents": {}}
    try:
        structure = load_structure(index) if index is not None else {}
    except IndexProblem:
        structure = {}
    chunks = Counter()
    if index is not None:  # counted from the code column: a page view does not decode every chunk
        column = ChunkColumns.of(index.chunks).doc_id
        chunks = Counter(dict(zip(column.names.tolist(), np.bincount(column.codes, minlength=len(column.names)).tolist())))
    failed = manifest.get("failed") or {}
    problems = manifest.get("problems") or []
    built_at = manifest.get("built_at", "")
    kept = all_versions(corpus_dir)
    statuses = []
    listed = set()
    for entry in entries:
        doc_id = str(entry.get("doc_id", ""))
        listed.add(doc_id)
        file_name = str(entry.get("file", ""))
        path = corpus_dir / file_name
        parsed = structure.get(doc_id)
        pages = int(entry.get("pages", 0) or 0)
        if not pages and parsed is not None:  # a report added by hand: the pages its blocks came from
            pages = max((getattr(b, "page", 0) or 0 for b in parsed.blocks), default=0)
        warnings = [str(w) for w in entry.get("warnings", [])] + [p for p in problems if file_name and file_name in p]
        if doc_id in failed:
            state = "failed (previous version served)" if failed[doc_id].get("kept_previous") else "failed (not in the index)"
            warnings.append(str(failed[doc_id].get("problem", "")))
        else:
            state = "indexed" if doc_id in manifest["documents"] else "not indexed"
        statuses.append(DocumentStatus(
            doc_id, str(entry.get("title", "")), str(entry.get("district", "")), str(entry.get("year", "")),
            str(entry.get("kind", "unknown")), file_name, str(entry.get("format", "") or Path(file_name).suffix.lstrip(".")),
            path.stat().st_size if path.is_file() else 0, pages, len(parsed.blocks) if parsed else 0, chunks.get(doc_id, 0),
            state, built_at if state != "not indexed" else "", tuple(dict.fromkeys(w for w in warnings if w)),
            len(kept.get(doc_id, ()))))
    for doc_id, meta in manifest["documents"].items():  # a stray file indexed with default metadata
        if doc_id not in listed:
            parsed = structure.get(doc_id)
            statuses.append(DocumentStatus(doc_id, meta.get("title", ""), meta.get("district", ""), meta.get("year", ""),
                                           meta.get("kind", "unknown"), "", "", 0, 0, len(parsed.blocks) if parsed else 0,
                                           chunks.get(doc_id, 0), "indexed", built_at,
                                           ("not in catalog.toml: indexed with default metadata",)))
    return statuses


@dataclass(frozen=True)
class ChangeUnderWay:
    action: str  # add | replace | remove | restore
    doc_ids: tuple[str, ...]
    started: str  # ISO 8601, UTC
    pid: int


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return pid > 0


def changes_under_way(corpus_dir: str | Path) -> list[ChangeUnderWay]:
    """The changes being made now: a pending journal (journal.py) whose process is alive. One left by
    a crash (its process gone) is not running: the next start settles it."""
    corpus_dir = Path(corpus_dir)
    found = []
    for path in sorted(corpus_dir.glob(f"{PREFIX}*/{JOURNAL}")) if corpus_dir.is_dir() else ():
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = int(journal.get("pid") or 0) if str(journal.get("pid") or "0").isdigit() else 0
        if journal.get("state") == "pending" and _alive(pid):
            found.append(ChangeUnderWay(str(journal.get("action", "")), tuple(map(str, journal.get("doc_ids") or ())),
                                        str(journal.get("started", "")), pid))
    return found
