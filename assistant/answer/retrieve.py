"""Hybrid retrieval: BM25 over jieba tokens + dense FAISS search, fused, within the Query's scope.

The scope is a hard constraint, not a boost: a question about 闵行 is answered from 闵行's documents
only, a question about 2023 outcomes never from a 2024 plan table (periods: coverage.py). Explicit
CLI filters (a year) restrict further.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.indexing.chunk_table import ChunkColumns
from assistant.config import Settings
from assistant.indexing.load import LoadedIndex
from assistant.ingest.coverage import Coverage
from assistant.models import Chunk, Filters, Hit, Query
from assistant.ingest.normalize import squash
from assistant.vocab import vocabulary
from assistant.indexing.stores import Scope, open_search

DISTRICT_ALIASES = {name: aliases for name, aliases in vocabulary().districts.items()}


@dataclass
class SearchResult:
    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage
    query: Query | None = None
    in_scope: int = 0  # how many chunks the scope allowed
    best_dense: float = 0.0  # highest cosine similarity among all chunks (for refusal)
    sides: list[tuple[Query, "SearchResult"]] = field(default_factory=list)  # a comparison's per-side searches


class HybridRetriever:
    def __init__(self, index: LoadedIndex, embedder: Any, settings: Settings, coverage: Coverage | None = None) -> None:
        from assistant.indexing.embed import encode_queries

        self.index = index
        self.coverage = coverage or Coverage.from_index(index.chunks, index.manifest["documents"])
        self.embedder = embedder
        self.settings = settings
        self._encode_queries = encode_queries
        self.chunks = index.chunks
        # code columns, no per-chunk objects: a replica holds millions of chunks (issue 13, chunk_table.py)
        self.columns = ChunkColumns.of(self.chunks)
        self.is_task = self.columns.kind.isin(["task"])  # rows of the responsibility table
        self._position = index.positions
        # the near-duplicate check's folded texts, for the chunks searches return (not a copy of all of them)
        self._squashed = lru_cache(maxsize=8192)(lambda i: squash(self.chunks[i].text))
        self.store = open_search(index, settings)

    def next_chunk(self, chunk: Chunk) -> Chunk | None:
        """The chunk after this one in its document (chunks are stored in reading order)."""
        i = self._position.get(chunk.chunk_id)
        if i is None or i + 1 >= len(self.chunks) or self.chunks[i + 1].doc_id != chunk.doc_id:
            return None
        return self.chunks[i + 1]

    def scope_mask(self, query: Query, filters: Filters | None = None) -> np.ndarray:
        """The chunks the question may be answered from: its districts, documents and periods."""
        # the filters' districts and documents are already in the query (which may override them)
        mask = self._mask(Filters(years=filters.years)) if filters else np.ones(len(self.chunks), dtype=bool)
        if query.districts:
            mask &= self.columns.district.isin(query.districts)
        if query.doc_ids:
            mask &= self.columns.doc_id.isin(query.doc_ids)
        if query.periods:
            in_period = np.logical_or.reduce([self.coverage.period_mask(asked) for asked in query.periods])
            if query.intent == "definition":  # a term means the same all through a report: the year names the report
                doc_codes = np.unique(self.columns.doc_id.codes[in_period])
                in_period = np.isin(self.columns.doc_id.codes, doc_codes)
            mask &= in_period
        return mask

    def _mask(self, filters: Filters) -> np.ndarray:
        mask = np.ones(len(self.chunks), dtype=bool)
        if filters.districts:
            mask &= self.columns.district.isin(filters.districts)
        if filters.doc_ids:
            mask &= self.columns.doc_id.isin(filters.doc_ids)
        if filters.years:
            columns = self.columns
            mask &= np.logical_or.reduce([(columns.year_from <= y) & (columns.year_to >= y) for y in filters.years])
        return mask

    def embed_query(self, question: str) -> np.ndarray:
        return self._encode_queries(self.embedder, [question])[0]

    def search(self, query: Query, k: int = 10, filters: Filters | None = None, scoped: bool = True) -> SearchResult:
        """The best k chunks for the query, within its scope unless scoped=False (used to say what
        the corpus holds instead when the scope has nothing)."""
        timings: dict[str, float] = {}
        n = len(self.chunks)
        t0 = time.perf_counter()
        # the search text carries the reports' terms for colloquial and English words, for both
        # sides: cross-lingual similarities of the small model are compressed and rank poorly alone
        query_vector = self.embed_query(query.search_text)
        t1 = time.perf_counter()
        allowed = self.scope_mask(query, filters) if scoped else (self._mask(filters) if filters else np.ones(n, dtype=bool))
        # the store ranks each side within the scope (assistant/stores: FAISS + bm25s here, or Milvus)
        scope = Scope.of(query, filters, scoped)
        lexical_side = self.store.lexical(query.search_text, self.settings.candidates, allowed, scope)
        t2 = time.perf_counter()
        dense_side = self.store.dense(query_vector, max(self.settings.candidates, k), allowed, scope)
        t3 = time.perf_counter()
        lexical, dense = lexical_side.score, dense_side.scores
        lexical_order = lexical_side.order[: self.settings.candidates]
        dense_order = dense_side.order[: self.settings.candidates]
        fused: dict[int, float] = {}
        s = self.settings
        if s.fusion == "weighted":
            top_lex = lexical_side.top or 1.0
            for i in set(lexical_order) | set(dense_order):
                fused[i] = s.lexical_weight * lexical(i) / top_lex + s.dense_weight * max(dense.get(i, 0.0), 0.0)
        else:
            for rank, i in enumerate(lexical_order):
                fused[i] = fused.get(i, 0.0) + s.lexical_weight / (s.rrf_k + rank + 1)
            for rank, i in enumerate(dense_order):
                fused[i] = fused.get(i, 0.0) + s.dense_weight / (s.rrf_k + rank + 1)
        if query.intent == "responsibility":
            # "who leads …": the answer is a row of the responsibility table, not the plan text
            for i in fused:
                if self.is_task[i]:
                    fused[i] *= 1.5
        ranked = sorted(fused, key=lambda i: (-fused[i], i))  # equal scores: reading order (chunk position), in every process
        hits: list[Hit] = []
        seen: list[str] = []
        for i in ranked:
            text = self._squashed(i)
            # near-duplicates: the same text (a repeated row, an overlap piece) is shown once
            if any(text == other or (len(text) > 30 and (text in other or other in text)) for other in seen):
                continue
            seen.append(text)
            hits.append(Hit(self.chunks[i], fused[i], {"lexical": lexical(i), "dense": dense.get(i, 0.0)}))
            if len(hits) == k:
                break
        t4 = time.perf_counter()
        timings.update(embed=(t1 - t0) * 1e3, lexical=(t2 - t1) * 1e3, dense=(t3 - t2) * 1e3, fusion=(t4 - t3) * 1e3)
        best_dense = max((v for i, v in dense.items() if allowed[i]), default=0.0)
        return SearchResult(hits, timings, query, int(allowed.sum()), best_dense)


def hit_to_document(hit: Hit) -> LCDocument:
    metadata = hit.chunk.to_dict()
    text = metadata.pop("text")
    metadata.update(url=hit.chunk.url, score=hit.score, scores=hit.scores_by_retriever)
    return LCDocument(page_content=text, metadata=metadata)


class PolicyRetriever(BaseRetriever):
    """LangChain face of the hybrid retriever: `invoke(question)` -> Documents with chunk metadata."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    hybrid: HybridRetriever
    k: int = 10
    filters: Filters | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        from assistant.query import QueryParser

        parsed = QueryParser(self.hybrid.coverage, self.hybrid.index.words.known).parse(query, filters=self.filters)
        return [hit_to_document(h) for h in self.hybrid.search(parsed, k=self.k, filters=self.filters).hits]
