"""The index's chunks as a serving process reads them: from chunks.jsonl, one chunk when it is used.

A replica serving millions of chunks cannot hold every chunk's text and search context as Python
objects (1.9 KB per chunk: eval/reports/replica-memory.md). `ChunkTable` maps the file, keeps each
line's byte offset, the chunk-id map and a few code columns (document, kind, district, year) that
the scope and start-up need, and decodes a chunk when asked, with the recent ones cached. It is a
`Sequence[Chunk]`: `table[i]`, `len(table)` and iteration behave like the list builds use.

The columns come from a scan of the raw lines, not from decoding them: `Chunk.to_dict` writes
chunk_id, doc_id, anchor and kind first, and district and year after the text (a JSON string
value cannot contain an unescaped quote, so the field patterns below cannot match inside one).
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.models import Chunk

FILE = "chunks.jsonl"
_STRING = rb'("(?:[^"\\]|\\.)*")'
_HEAD = re.compile(rb'\{"chunk_id": ' + _STRING + rb', "doc_id": ' + _STRING + rb', "anchor": ' + _STRING + rb', "kind": ' + _STRING)
_PLACE = re.compile(rb', "district": ' + _STRING + rb', "year": ' + _STRING)


def read_record(line: bytes | str) -> tuple[Chunk, str]:
    """One line of chunks.jsonl: the chunk and its content hash (index.chunk_hash)."""
    record = json.loads(line)
    content_hash = record.pop("hash")
    return Chunk.from_dict(record), content_hash


class ChunkTableError(ValueError):
    """chunks.jsonl does not hold what it should (index.py turns it into an IndexCorruptError)."""


class Column:
    """A per-chunk string column as int32 codes into its few distinct values."""

    def __init__(self, values: list[str]) -> None:
        names, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
        self.names, self.codes = names, codes.astype(np.int32).reshape(-1)

    def isin(self, wanted) -> np.ndarray:
        return np.isin(self.codes, np.flatnonzero(np.isin(self.names, list(wanted))))


class ChunkColumns:
    """What the scope filters read per chunk, without the chunks: district, document, kind, years."""

    def __init__(self, district: list[str], doc_id: list[str], kind: list[str], year: list[str]) -> None:
        from assistant.ingest.coverage import year_range

        self.district, self.doc_id, self.kind = Column(district), Column(doc_id), Column(kind)
        spans = {label: year_range(label) for label in set(year)}
        self.year_from = np.array([spans[y][0] for y in year], dtype=np.int32)
        self.year_to = np.array([spans[y][1] for y in year], dtype=np.int32)

    @classmethod
    def of(cls, chunks: Sequence[Chunk]) -> "ChunkColumns":
        """A ChunkTable's own columns; for a plain list (tests, a build), computed from its chunks."""
        if isinstance(chunks, ChunkTable):
            return chunks.columns
        return cls([c.district for c in chunks], [c.doc_id for c in chunks], [c.kind for c in chunks], [c.year for c in chunks])


class ChunkTable(Sequence[Chunk]):
    def __init__(self, directory: Path, cached: int = 16384) -> None:
        self.path = directory / FILE
        self.positions: dict[str, int] = {}
        starts: list[int] = []
        columns: tuple[list[str], ...] = ([], [], [], [])  # doc_id, kind, district, year
        shared: dict[str, str] = {}  # a few distinct values: one string each while scanning
        offset = 0
        with open(self.path, "rb") as handle:
            for line in handle:
                head, place = _HEAD.match(line), _PLACE.search(line)
                if head is None or place is None:
                    raise ChunkTableError(f"line {len(starts) + 1} is not a chunk record")
                chunk_id, doc_id, _, kind = (json.loads(g) for g in head.groups())
                self.positions[chunk_id] = len(starts)
                for column, value in zip(columns, (doc_id, kind, json.loads(place.group(1)), json.loads(place.group(2)))):
                    column.append(shared.setdefault(value, value))
                starts.append(offset)
                offset += len(line)
            # mapped, not read: the pages are the file's (shared by the processes of one machine, dropped under pressure)
            self._data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if offset else b""
        self._starts = np.array(starts + [offset], dtype=np.int64)
        doc_ids, kinds, districts, years = columns
        self.columns = ChunkColumns(districts, doc_ids, kinds, years)
        self._chunk = lru_cache(maxsize=cached)(self._decode)

    def _decode(self, row: int) -> Chunk:
        try:
            return read_record(self._data[self._starts[row]:self._starts[row + 1]])[0]
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:  # incl. UnicodeDecodeError
            raise ChunkTableError(f"line {row + 1}: {type(exc).__name__}: {str(exc)[:200]}") from None

    def __len__(self) -> int:
        return len(self._starts) - 1

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"chunk {row} of {len(self)}")
        return self._chunk(row)

    def __iter__(self) -> Iterator[Chunk]:
        # a pass over everything (start-up) decodes without filling the cache with cold chunks
        for row in range(len(self)):
            yield self._decode(row)
