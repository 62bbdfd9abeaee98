"""The scale sweep's lexical index: BM25 (`LexicalIndex`) on synthetic documents drawn from the
real chunks' jieba tokens: build time, scoring and top-k selection per query, memory."""

from __future__ import annotations

import gc

import numpy as np

from bench.common import CANDIDATES, log, now, percentile, rss_mb


class TokenSource:
    """Synthetic BM25 documents: lengths drawn from the real chunks' token counts, tokens drawn
    from the real chunks' jieba tokens with their corpus frequencies (so the vocabulary stays
    the real one and posting lists grow with N: a pessimistic case for lexical latency)."""

    def __init__(self, token_lists: list[list[str]], seed: int) -> None:
        self.vocab: dict[str, int] = {}
        pool = []
        for tokens in token_lists:
            for token in tokens:
                pool.append(self.vocab.setdefault(token, len(self.vocab)))
        self.pool = np.asarray(pool, dtype=np.int32)
        self.lengths = np.asarray([max(1, len(t)) for t in token_lists], dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    def sample(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        lengths = self.rng.choice(self.lengths, size=count)
        tokens = self.pool[self.rng.integers(0, len(self.pool), size=int(lengths.sum()))]
        return lengths, tokens


def bm25_vectorized(lengths: np.ndarray, tokens: np.ndarray, vocab: dict[str, int], k1: float = 1.5, b: float = 0.75):
    """The same score matrix `bm25s.BM25().index()` builds (method and idf "lucene", k1 1.5,
    b 0.75, CSC by token), computed with numpy instead of bm25s's per-document Python loop,
    which at 1M documents needs minutes and ~4 GB of Python int lists. Checked against bm25s
    at the smallest sweep size."""
    import bm25s

    n_docs, n_vocab = len(lengths), len(vocab)
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    keys, tf = np.unique(tokens.astype(np.int64) * n_docs + docs, return_counts=True)  # sorted by (token, doc)
    del docs
    token_of = (keys // n_docs).astype(np.int32)
    doc_of = (keys % n_docs).astype(np.int32)
    del keys
    df = np.bincount(token_of, minlength=n_vocab).astype(np.float64)
    idf = np.where(df > 0, np.log(1 + (n_docs - df + 0.5) / (df + 0.5)), 0.0).astype(np.float32)
    avg = float(lengths.mean())
    tf = tf.astype(np.float32)
    data = idf[token_of] * (tf / (k1 * ((1 - b) + b * lengths[doc_of].astype(np.float32) / avg) + tf))
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(np.bincount(token_of, minlength=n_vocab), out=indptr[1:])
    bm25 = bm25s.BM25()
    bm25.scores = {"data": data.astype(np.float32), "indices": doc_of, "indptr": indptr, "num_docs": n_docs}
    bm25.vocab_dict = dict(vocab) | {"": n_vocab}
    bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
    bm25.nonoccurrence_array = None
    return bm25


def bm25_library(lengths: np.ndarray, tokens: np.ndarray, vocab: dict[str, int]):
    import bm25s

    bounds = np.cumsum(lengths)[:-1]
    ids = [part.tolist() for part in np.split(tokens, bounds)]
    bm25 = bm25s.BM25()
    bm25.index((ids, dict(vocab)), show_progress=False)
    return bm25


def lexical_sweep(size: int, source: TokenSource, questions: list[str], plan: dict) -> list[dict]:
    from assistant.indexing.lexical import LexicalIndex, _segment
    from assistant.query.terms import expand_query

    lengths, tokens = source.sample(size)
    rss0 = rss_mb()
    t0 = now()
    library = size <= plan["bm25s_max"]
    bm25 = bm25_library(lengths, tokens, source.vocab) if library else bm25_vectorized(lengths, tokens, source.vocab)
    build = now() - t0
    check = None
    if library and size == min(plan["sizes"]):  # the vectorized builder must give the same scores
        other = LexicalIndex(bm25_vectorized(lengths, tokens, source.vocab))
        mine = LexicalIndex(bm25)
        check = max(float(np.max(np.abs(mine.scores(expand_query(q)) - other.scores(expand_query(q))))) for q in questions[:10])
        del other, mine
    del tokens
    lexical = LexicalIndex(bm25)
    memory = sum(np.asarray(bm25.scores[k]).nbytes for k in ("data", "indices", "indptr")) / 2**20
    scores_ms, select_ms, partition_ms, total_ms = [], [], [], []
    for question in questions:
        _segment.cache_clear()
        t0 = now()
        scores = lexical.scores(expand_query(question))
        t1 = now()
        order = [int(i) for i in np.argsort(-scores)[:CANDIDATES] if scores[i] > 0]  # as retrieve.py does
        t2 = now()
        top = np.argpartition(-scores, CANDIDATES)[:CANDIDATES] if len(scores) > CANDIDATES else np.arange(len(scores))
        top = top[np.argsort(-scores[top])]
        t3 = now()
        scores_ms.append((t1 - t0) * 1e3)
        select_ms.append((t2 - t1) * 1e3)
        partition_ms.append((t3 - t2) * 1e3)
        total_ms.append((t2 - t0) * 1e3)
    # retrieve.py's `_mask` with an explicit year filter runs a Python loop over every chunk
    years = [{2023, 2024} if i % 3 else set(range(2021, 2026)) for i in range(size)]
    wanted = (2023,)
    mask_ms = []
    for _ in range(3):
        t0 = now()
        np.array([bool(y & set(wanted)) for y in years])
        mask_ms.append((now() - t0) * 1e3)
    del years
    row = {"chunks": size, "vectors": "tokens", "index": "lexical", "queries": len(questions),
           "params": {"builder": "bm25s.index" if library else "numpy (bm25s-equivalent)", "vocab": len(source.vocab),
                      "avg_tokens": round(float(lengths.mean()), 1)},
           "build_s": round(build, 3), "p50_ms": percentile(total_ms, 50), "p95_ms": percentile(total_ms, 95),
           "recall@10": None, "memory_mb": round(memory, 1), "rss_delta_mb": round(rss_mb() - rss0, 1),
           "bm25_scores_p50_ms": percentile(scores_ms, 50), "argsort_top50_p50_ms": percentile(select_ms, 50),
           "argpartition_top50_p50_ms": percentile(partition_ms, 50), "year_filter_mask_ms": percentile(mask_ms, 50)}
    if check is not None:
        row["vectorized_max_abs_diff"] = check
    log(f"  {size:>9,} lexical: build {build:.1f} s, p50 {row['p50_ms']:.2f} ms "
        f"(bm25 {row['bm25_scores_p50_ms']:.2f} + argsort {row['argsort_top50_p50_ms']:.2f}; argpartition {row['argpartition_top50_p50_ms']:.2f})")
    del bm25, lexical
    gc.collect()
    return [row]
