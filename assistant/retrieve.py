"""Hybrid retrieval: BM25 over jieba tokens + dense FAISS search, fused, with metadata filters.

Filters given explicitly (district, document, year) restrict the candidates. Filters
inferred from the question ("静安", "Minhang", "2023年", "十四五") only boost: a
question about 闵行 still finds a 静安 passage when nothing else fits.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .config import Settings
from .index import LoadedIndex
from .models import Chunk, Hit
from .normalize import squash
from .terms import expand_query, is_english

DISTRICT_ALIASES = {
    "闵行区": ("闵行", "閔行", "minhang"),
    "静安区": ("静安", "靜安", "jing'an", "jingan", "jing an"),
}
# Districts of Shanghai that the corpus may not cover: naming one is a reason to refuse.
OTHER_DISTRICTS = {
    "浦东新区": ("浦东", "pudong"), "黄浦区": ("黄浦", "huangpu"), "徐汇区": ("徐汇", "xuhui"),
    "长宁区": ("长宁", "changning"), "普陀区": ("普陀", "putuo"), "虹口区": ("虹口", "hongkou"),
    "杨浦区": ("杨浦", "yangpu"), "宝山区": ("宝山区", "baoshan"), "嘉定区": ("嘉定区", "jiading"),
    "金山区": ("金山区", "jinshan"), "松江区": ("松江区", "songjiang"), "青浦区": ("青浦区", "qingpu"),
    "奉贤区": ("奉贤", "fengxian"), "崇明区": ("崇明", "chongming"),
}
_ASKS_FOR_LEAD = re.compile(r"牵头|负责单位|责任单位|哪个部门|哪些部门|哪个单位|哪些单位|\blead|responsib|in charge", re.I)
_YEAR = re.compile(r"(?<!\d)(20[0-4]\d|19[5-9]\d)(?!\d)")
_FIVE_YEAR = re.compile(r"十四五|14th five|fourteenth five|five-year|five year|五年规划", re.I)


@dataclass(frozen=True)
class Filters:
    districts: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    years: tuple[int, ...] = ()
    five_year_plan: bool = False

    def is_empty(self) -> bool:
        return not (self.districts or self.doc_ids or self.years or self.five_year_plan)


def _mentions(text: str, aliases: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(alias in lowered for alias in aliases)


def infer_filters(question: str) -> Filters:
    districts = tuple(name for name, aliases in DISTRICT_ALIASES.items() if _mentions(question, (name,) + aliases))
    years = tuple(sorted({int(y) for y in _YEAR.findall(question)}))
    return Filters(districts=districts, years=years, five_year_plan=bool(_FIVE_YEAR.search(question)))


def other_districts(question: str) -> list[str]:
    """Districts named in the question that are not in DISTRICT_ALIASES (not in the corpus)."""
    return [name for name, aliases in OTHER_DISTRICTS.items() if _mentions(question, (name,) + aliases)]


def _chunk_years(chunk: Chunk) -> set[int]:
    parts = [int(p) for p in re.findall(r"\d{4}", chunk.year)]
    return set(range(parts[0], parts[-1] + 1)) if parts else set()


@dataclass
class SearchResult:
    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage
    inferred: Filters = Filters()
    best_dense: float = 0.0  # highest cosine similarity among all chunks (for refusal)


class HybridRetriever:
    def __init__(self, index: LoadedIndex, embedder: Any, settings: Settings) -> None:
        from .embed import encode_queries

        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._encode_queries = encode_queries
        self.chunks = index.chunks
        self._district = np.array([c.district for c in self.chunks])
        self._doc = np.array([c.doc_id for c in self.chunks])
        self._years = [_chunk_years(c) for c in self.chunks]
        self._kind_plan = np.array([c.doc_id in self._plan_docs(index) for c in self.chunks])
        self._squashed = [squash(c.text) for c in self.chunks]
        self._position = {c.chunk_id: i for i, c in enumerate(self.chunks)}

    def next_chunk(self, chunk: Chunk) -> Chunk | None:
        """The chunk after this one in its document (chunks are stored in reading order)."""
        i = self._position.get(chunk.chunk_id)
        if i is None or i + 1 >= len(self.chunks) or self.chunks[i + 1].doc_id != chunk.doc_id:
            return None
        return self.chunks[i + 1]

    @staticmethod
    def _plan_docs(index: LoadedIndex) -> set[str]:
        return {d for d, meta in index.manifest["documents"].items() if meta.get("kind") in ("five_year_plan", "task_table")}

    def _mask(self, filters: Filters) -> np.ndarray:
        mask = np.ones(len(self.chunks), dtype=bool)
        if filters.districts:
            mask &= np.isin(self._district, filters.districts)
        if filters.doc_ids:
            mask &= np.isin(self._doc, filters.doc_ids)
        if filters.years:
            mask &= np.array([bool(y & set(filters.years)) for y in self._years])
        return mask

    def embed_query(self, question: str) -> np.ndarray:
        return self._encode_queries(self.embedder, [question])[0]

    def search(self, question: str, k: int = 10, filters: Filters | None = None, infer: bool = True) -> SearchResult:
        timings: dict[str, float] = {}
        n = len(self.chunks)
        t0 = time.perf_counter()
        # an English question also carries the Chinese terms of its phrases, for both sides:
        # cross-lingual similarities of the small model are compressed and rank poorly alone
        expanded = expand_query(question)
        query_vector = self.embed_query(expanded if is_english(question) else question)
        t1 = time.perf_counter()
        lexical = self.index.lexical.scores(expanded)
        t2 = time.perf_counter()
        depth = min(n, max(self.settings.candidates, k) * (4 if filters and not filters.is_empty() else 1))
        scores, ids = self.index.faiss_index.search(query_vector[None, :].astype(np.float32), depth)
        t3 = time.perf_counter()
        dense = {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}
        allowed = self._mask(filters) if filters else np.ones(n, dtype=bool)

        lexical_order = [int(i) for i in np.argsort(-lexical)[: self.settings.candidates] if lexical[i] > 0 and allowed[i]]
        dense_order = [i for i in sorted(dense, key=dense.get, reverse=True) if allowed[i]][: self.settings.candidates]
        fused: dict[int, float] = {}
        s = self.settings
        if s.fusion == "weighted":
            top_lex = float(lexical.max()) or 1.0
            for i in set(lexical_order) | set(dense_order):
                fused[i] = s.lexical_weight * float(lexical[i]) / top_lex + s.dense_weight * max(dense.get(i, 0.0), 0.0)
        else:
            for rank, i in enumerate(lexical_order):
                fused[i] = fused.get(i, 0.0) + s.lexical_weight / (s.rrf_k + rank + 1)
            for rank, i in enumerate(dense_order):
                fused[i] = fused.get(i, 0.0) + s.dense_weight / (s.rrf_k + rank + 1)
        inferred = infer_filters(question) if infer else Filters()
        if not inferred.is_empty() and s.filter_boost < 1.0:
            for i in fused:
                chunk = self.chunks[i]
                if inferred.districts and chunk.district not in inferred.districts:
                    fused[i] *= s.filter_boost
                if inferred.years and not (self._years[i] & set(inferred.years)):
                    fused[i] *= s.filter_boost
                if inferred.five_year_plan and not self._kind_plan[i]:
                    fused[i] *= (1 + s.filter_boost) / 2
        if _ASKS_FOR_LEAD.search(question):
            # "who leads …": the answer is a row of the responsibility table, not the plan text
            for i in fused:
                if self.chunks[i].kind == "task":
                    fused[i] *= 1.5
        ranked = sorted(fused, key=fused.get, reverse=True)
        hits: list[Hit] = []
        seen: list[str] = []
        for i in ranked:
            text = self._squashed[i]
            # near-duplicates: the same text (a repeated row, an overlap piece) is shown once
            if any(text == other or (len(text) > 30 and (text in other or other in text)) for other in seen):
                continue
            seen.append(text)
            hits.append(Hit(self.chunks[i], fused[i], {"lexical": float(lexical[i]), "dense": dense.get(i, 0.0)}))
            if len(hits) == k:
                break
        t4 = time.perf_counter()
        timings.update(embed=(t1 - t0) * 1e3, lexical=(t2 - t1) * 1e3, dense=(t3 - t2) * 1e3, fusion=(t4 - t3) * 1e3)
        best_dense = max((v for i, v in dense.items() if allowed[i]), default=0.0)
        return SearchResult(hits, timings, inferred, best_dense)


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
        return [hit_to_document(h) for h in self.hybrid.search(query, k=self.k, filters=self.filters).hits]
