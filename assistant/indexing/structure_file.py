"""The stored structure of the reports (headings and blocks, `structure.jsonl`, one report per line).

The source viewer and the analyst's heading lists read one report at a time. A serving process
keeps only each report's byte offset and reads a report when it is asked for, with the recent
ones cached: the structure is a second copy of the corpus's text, which a replica serving millions
of chunks should not hold (issue 13, eval/reports/replica-memory.md). Builds read it whole.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from assistant.models import Block, Document, ParsedDocument, Section

FILE = "structure.jsonl"
# structure_to_dict writes the document first and its doc_id first: a line's report is read from its start
_DOC_ID = re.compile(rb'\{"document": \{"doc_id": ("(?:[^"\\]|\\.)*")')


class StructureError(ValueError):
    """structure.jsonl does not hold what it should (index.py turns it into an IndexCorruptError)."""


def structure_to_dict(parsed: ParsedDocument) -> dict:
    return {
        "document": asdict(parsed.document),
        "sections": [asdict(s) for s in parsed.sections],
        "blocks": [asdict(b) for b in parsed.blocks],
    }


def structure_from_dict(data: dict) -> ParsedDocument:
    sections = [Section(**(s | {"path": tuple(s["path"])})) for s in data["sections"]]
    blocks = [Block(**(b | {"lines": tuple(b["lines"]), "fields": tuple(tuple(f) for f in b["fields"])})) for b in data["blocks"]]
    return ParsedDocument(Document(**data["document"]), sections, blocks)


def write_structure(directory: Path, documents: list[ParsedDocument]) -> None:
    with open(directory / FILE, "w", encoding="utf-8") as handle:
        for parsed in documents:
            handle.write(json.dumps(structure_to_dict(parsed), ensure_ascii=False) + "\n")


def read_structure(directory: Path) -> list[ParsedDocument]:
    """Every report's structure (a build's reuse of kept reports)."""
    try:
        with open(directory / FILE, encoding="utf-8") as handle:
            return [structure_from_dict(json.loads(line)) for line in handle if line.strip()]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:  # incl. UnicodeDecodeError
        raise StructureError(f"{type(exc).__name__}: {str(exc)[:200]}") from None


class StructureFile(Mapping[str, ParsedDocument]):
    """doc_id -> ParsedDocument, read from the file on access (`cached` reports kept)."""

    def __init__(self, directory: Path, cached: int = 64) -> None:
        self.path = directory / FILE
        self._offsets: dict[str, int] = {}
        offset = 0
        with open(self.path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    found = _DOC_ID.match(line)
                    if found is None:
                        raise StructureError(f"line {number} does not start with a report")
                    self._offsets[json.loads(found.group(1))] = offset
                offset += len(line)
            # mapped: a replica keeps reading its build even after a later build removed the directory
            self._data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if offset else b""
        self._read = lru_cache(maxsize=cached)(self._read_at)

    def _read_at(self, offset: int) -> ParsedDocument:
        end = self._data.find(b"\n", offset)
        try:
            return structure_from_dict(json.loads(self._data[offset:end if end >= 0 else len(self._data)]))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise StructureError(f"{type(exc).__name__} at byte {offset}: {str(exc)[:200]}") from None

    def __getitem__(self, doc_id: str) -> ParsedDocument:
        parsed = self._read(self._offsets[doc_id])
        if parsed.document.doc_id != doc_id:
            raise StructureError(f"the line of {doc_id} holds {parsed.document.doc_id}")
        return parsed

    def __iter__(self) -> Iterator[str]:
        return iter(self._offsets)

    def __len__(self) -> int:
        return len(self._offsets)
