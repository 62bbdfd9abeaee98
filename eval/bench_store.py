"""The Milvus store at scale, and its parity with the faiss store.

    python eval/bench_store.py --sizes 100000 [--uri /tmp/bench.db] [--queries 200] [--json OUT]
    python eval/bench_store.py --parity faiss.json milvus.json   # two `eval/evaluate.py --mode extractive --json` runs

Scale: N synthetic chunks go into a collection with the store's own schema and index
parameters (assistant/stores/milvus_store.py: `_schema`, `_index_params`, lexical "sparse"),
through the same MilvusClient calls as a build: vectors real-like (eval/bench.py's
VectorSource: the real chunk embeddings' mean and covariance), lexical weights from BM25 over
documents drawn from the real chunks' jieba tokens (eval/bench.py's TokenSource and
bm25_vectorized, i.e. bm25s's scores), scalars like the corpus (16 districts, 200-chunk
documents, years 2021-2025, period kinds). Measured: insert rate (rows/s, batches of 500 as a
build writes them), flush + index build + load, RSS of this process (Milvus Lite runs in it) and
the size on disk; then per query (one at a time, limit 50 as the retriever asks): dense, lexical
and both as the retriever calls them (two searches, fused in the app), unfiltered and with a
district + year filter, plus Milvus's own hybrid_search with RRFRanker (one call), p50/p95.

Parity: per question, the extractive answers of two evaluate.py runs (same question set).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

DISTRICTS = ["黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区", "嘉定区", "浦东新区",
             "金山区", "松江区", "青浦区", "奉贤区", "崇明区"]
KINDS = ["outcome", "target", "fyp_target", "prior", ""]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))], 2)


def _rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def _sources(seed: int):
    from bench.dense import VectorSource
    from bench.lexical import TokenSource

    from assistant.indexing.lexical import tokenize

    chunks = [json.loads(line) for line in open(ROOT / "index" / "current" / "chunks.jsonl", encoding="utf-8")]
    real = np.load(ROOT / "index" / "current" / "embeddings.npy")
    return VectorSource("real-like", real, seed), TokenSource([tokenize(c["context"]) for c in chunks], seed)


def _sparse_rows(lengths: np.ndarray, tokens: np.ndarray, vocab: dict[str, int]) -> list[dict[int, float]]:
    """Per document {crc32(word): BM25 weight}, exactly what the store writes for a real build."""
    from bench.lexical import bm25_vectorized

    from assistant.indexing.stores.milvus_store import token_id

    bm25 = bm25_vectorized(lengths, tokens, vocab)
    scores = bm25.scores
    word_of = {i: w for w, i in vocab.items()}
    dims = np.array([token_id(word_of[i]) for i in range(len(vocab))], dtype=np.int64)
    data, docs, indptr = scores["data"], scores["indices"], scores["indptr"]
    word_of_posting = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))[: len(data)]
    order = np.argsort(docs, kind="stable")
    doc_sorted, dim_sorted, val_sorted = docs[order], dims[word_of_posting[order]], data[order]
    bounds = np.searchsorted(doc_sorted, np.arange(len(lengths) + 1))
    return [dict(zip(dim_sorted[a:b].tolist(), np.round(val_sorted[a:b], 6).tolist())) or {0: 0.0}
            for a, b in zip(bounds[:-1], bounds[1:])]


def bench_size(n: int, uri: str, queries: int, seed: int = 7) -> dict:
    from pymilvus import AnnSearchRequest, RRFRanker

    from assistant.config import load_settings
    from assistant.indexing.stores.milvus_store import _index_params, _schema, connect, token_id

    path = Path(uri)
    shutil.rmtree(path, ignore_errors=True)
    settings = load_settings(store="milvus", milvus_uri=uri)
    vectors_source, tokens_source = _sources(seed)
    rng = np.random.default_rng(seed)
    rss_start = _rss_mb()
    client = connect(settings)
    name = f"bench_{n}"
    client.create_collection(name, schema=_schema(client, 384, "sparse"), index_params=_index_params(client, settings, n, "sparse"),
                             consistency_level="Strong")
    result = {"n": n, "uri": uri, "index": "FLAT" if n <= settings.flat_max_vectors else f"HNSW M={settings.hnsw_m} ef={settings.hnsw_ef_search}",
              "lexical": "sparse (bm25s weights, IP)"}
    insert_seconds, prepare_seconds, block = 0.0, 0.0, 50_000
    for start in range(0, n, block):
        count = min(block, n - start)
        t0 = time.perf_counter()
        vectors = vectors_source.sample(count)
        lengths, tokens = tokens_source.sample(count)
        sparse = _sparse_rows(lengths, tokens, tokens_source.vocab)  # weights per block: the timing is what matters here
        districts = rng.integers(0, len(DISTRICTS), count)
        first_year = rng.integers(2021, 2025, count)
        rows = [{"chunk_id": f"doc{(start + i) // 200}#c{start + i}", "sig": "x" * 32, "text": "", "dense": vectors[i].tolist(),
                 "lex": sparse[i], "district": DISTRICTS[districts[i]], "doc_id": f"doc{(start + i) // 200}",
                 "year_from": int(first_year[i]), "year_to": int(first_year[i]) + 1, "period_year": int(first_year[i]),
                 "period_kind": KINDS[(start + i) % len(KINDS)], "in_plan": bool((start + i) % 7 == 0)} for i in range(count)]
        prepare_seconds += time.perf_counter() - t0
        t0 = time.perf_counter()
        for b in range(0, count, 500):
            client.insert(name, rows[b:b + 500])
        insert_seconds += time.perf_counter() - t0
        del rows, vectors, sparse
        gc.collect()
        print(f"  {start + count}/{n} rows, insert {insert_seconds:.0f} s, rss {_rss_mb()} MB", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    client.flush(name)
    flush_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    client.load_collection(name)  # no release first: Milvus Lite may still be writing index files after a flush
    client.search(name, data=[vectors_source.sample(1)[0].tolist()], anns_field="dense", limit=1, output_fields=["chunk_id"])
    load_seconds = time.perf_counter() - t0
    result |= {"insert_rows_per_s": round(n / insert_seconds), "insert_s": round(insert_seconds, 1), "flush_s": round(flush_seconds, 1),
               "load_index_s": round(load_seconds, 1), "rss_mb": _rss_mb(), "rss_added_mb": round(_rss_mb() - rss_start, 1),
               "disk_mb": _dir_mb(path)}

    query_vectors = vectors_source.sample(queries)
    query_tokens = [tokens_source.pool[rng.integers(0, len(tokens_source.pool), rng.integers(3, 8))] for _ in range(queries)]
    word_of = {i: w for w, i in tokens_source.vocab.items()}
    query_sparse = [{token_id(word_of[int(t)]): 1.0 for t in toks} for toks in query_tokens]
    filters = [f'district in ["{DISTRICTS[int(d)]}"] and (year_from <= 2023 and year_to >= 2023)' for d in rng.integers(0, len(DISTRICTS), queries)]
    dense_params = {"metric_type": "IP", "params": {"ef": settings.hnsw_ef_search}}

    def dense(i, expr):
        return client.search(name, data=[query_vectors[i].tolist()], anns_field="dense", limit=50, filter=expr,
                             output_fields=["chunk_id"], search_params=dense_params)

    def lexical(i, expr):
        return client.search(name, data=[query_sparse[i]], anns_field="lex", limit=50, filter=expr, output_fields=["chunk_id"],
                             search_params={"metric_type": "IP"})

    def hybrid(i, expr):
        requests = [AnnSearchRequest([query_vectors[i].tolist()], "dense", dense_params, 50, expr=expr),
                    AnnSearchRequest([query_sparse[i]], "lex", {"metric_type": "IP"}, 50, expr=expr)]
        return client.hybrid_search(name, requests, ranker=RRFRanker(20), limit=50, output_fields=["chunk_id"])

    lexical(0, ""), dense(0, "")  # first calls build per-segment caches: not what a warm server pays
    timings: dict[str, list[float]] = {}
    hits_in_scope = []
    for i in range(queries):
        for label, expr in (("unfiltered", ""), ("filtered", filters[i])):
            t0 = time.perf_counter()
            d = dense(i, expr)
            t1 = time.perf_counter()
            lexical(i, expr)
            t2 = time.perf_counter()
            hybrid(i, expr)
            t3 = time.perf_counter()
            timings.setdefault(f"dense {label}", []).append((t1 - t0) * 1e3)
            timings.setdefault(f"lexical {label}", []).append((t2 - t1) * 1e3)
            timings.setdefault(f"dense+lexical {label}", []).append((t2 - t0) * 1e3)
            timings.setdefault(f"hybrid_search RRF {label}", []).append((t3 - t2) * 1e3)
            if label == "filtered":
                hits_in_scope.append(len(d[0]))
    result["latency_ms"] = {k: {"p50": _pct(v, 50), "p95": _pct(v, 95)} for k, v in timings.items()}
    result["filtered_hits_p50"] = _pct(hits_in_scope, 50)
    result["rss_after_queries_mb"] = _rss_mb()
    result["load_average"] = os.getloadavg()
    if not os.environ.get("BENCH_KEEP"):
        client.drop_collection(name)
    return result


def parity(first: Path, second: Path) -> dict:
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (first, second))
    answers_a = {row["id"]: row for row in a["answer"]["items"]}
    answers_b = {row["id"]: row for row in b["answer"]["items"]}
    common = sorted(set(answers_a) & set(answers_b))
    differ = [i for i in common if (answers_a[i]["answer"], answers_a[i]["refused"]) != (answers_b[i]["answer"], answers_b[i]["refused"])]
    metrics = {name: {m: round(d["retrieval"][m], 4) for m in ("hit@1", "hit@5", "mrr@10")} | {"accuracy": round(d["answer"]["accuracy"], 4)}
               for name, d in ((str(first), a), (str(second), b))}
    return {"questions": len(common), "same_answers": len(common) - len(differ), "same_share": round(1 - len(differ) / len(common), 4),
            "metrics": metrics, "differ": [{"id": i, "question": answers_a[i]["question"], "correct": [answers_a[i].get("correct"), answers_b[i].get("correct")],
                                            "first": answers_a[i]["answer"][:160], "second": answers_b[i]["answer"][:160]} for i in differ]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="comma-separated chunk counts")
    parser.add_argument("--uri", default="/tmp/bench_store/milvus.db", help="Milvus Lite file (removed first) or server URI")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, help="append the results to this JSON file")
    parser.add_argument("--parity", nargs=2, type=Path, metavar=("FAISS_JSON", "MILVUS_JSON"))
    args = parser.parse_args(argv)
    if args.parity:
        out = parity(*args.parity)
    else:
        out = {"runs": [bench_size(int(n), args.uri, args.queries) for n in args.sizes.split(",")]}
    text = json.dumps(out, ensure_ascii=False, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
