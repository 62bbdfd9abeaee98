"""The scale sweep's vector indexes: FAISS flat against approximate (HNSW from
`assistant.indexing.build.make_faiss_index`, IVF-Flat with nlist = 4*sqrt(N)) on synthetic
384-d normalized vectors: build time, p50/p95 per query, recall@10 against flat, size."""

from __future__ import annotations

import gc
import math
from pathlib import Path

import numpy as np

from bench.common import CANDIDATES, RECALL_K, log, now, percentile, rss_mb


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
