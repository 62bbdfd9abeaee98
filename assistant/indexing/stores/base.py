"""The store interface: where an index version's vectors and lexical postings live and are searched.

Two implementations: `faiss` (vectors.faiss + bm25s files in the build directory, searched in
the app process; the default) and `milvus` (one Milvus collection per version, searched by
Milvus Lite in-process or by a Milvus server that every app replica shares). The chunk table,
the structure and the facts stay in the build directory for both: the retriever fuses the two
rankings itself (retrieve.py), so both stores answer the same two questions below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from assistant.models import Chunk, Filters, Period


@dataclass(frozen=True)
class Scope:
    """The scope of a search as data (what retrieve.HybridRetriever.scope_mask computes as a mask),
    so that a store can filter inside its engine instead of after it. Empty fields do not restrict."""

    districts: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    years: tuple[int, ...] = ()  # a chunk matches when any of its years is one of these
    periods: tuple[Period, ...] = ()  # a chunk matches when it may answer any of them (coverage.period_mask)

    @classmethod
    def of(cls, query, filters: Filters | None, scoped: bool) -> "Scope":
        years = filters.years if filters else ()
        if not scoped:
            return cls(filters.districts if filters else (), filters.doc_ids if filters else (), years)
        return cls(tuple(query.districts), tuple(query.doc_ids), years, tuple(query.periods))


@dataclass
class Ranked:
    """One side's ranking: chunk positions (rows of the build's chunks.jsonl), best first, all in scope."""

    order: list[int]
    scores: dict[int, float] = field(default_factory=dict)  # at least every position in `order`
    top: float = 0.0  # the highest score the search saw (the weighted fusion's scale)
    lookup: Callable[[int], float] | None = None  # any chunk's exact score, when the store has it at hand

    def score(self, i: int) -> float:
        return self.lookup(i) if self.lookup is not None else self.scores.get(i, 0.0)


class SearchStore(Protocol):
    """The serving side of one index version."""

    kind: str

    def dense(self, vector: np.ndarray, limit: int, allowed: np.ndarray, scope: Scope) -> Ranked:
        """The `limit` chunks nearest to the query vector (cosine) among the allowed ones."""

    def lexical(self, text: str, limit: int, allowed: np.ndarray, scope: Scope) -> Ranked:
        """The `limit` best BM25 matches (score > 0) for the query text among the allowed ones."""


@dataclass
class Rows:
    """What a build hands to the store: every chunk of the new version, in index order."""

    chunks: list[Chunk]
    hashes: list[str]  # index.chunk_hash: the embedding model and the chunk's context
    vectors: np.ndarray  # (n, dim) float32, L2-normalized
    documents: dict[str, dict]  # the manifest's documents (kind and years feed the chunk periods)
    facts: Sequence = ()  # the build's facts: a chunk stating a figure of another period answers for it too


@dataclass
class Published:
    """What the store wrote for a build: recorded in the manifest under "store"."""

    entry: dict
    upserted: int = 0
    deleted: int = 0
    seconds: float = 0.0
