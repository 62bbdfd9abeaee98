"""The scale sweep over sizes (dense and lexical, with a memory guard and HNSW build-time
estimates) and the flat_max_vectors advice drawn from it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import psutil

from bench.common import log
from bench.dense import VectorSource, _normalize, dense_sweep
from bench.lexical import TokenSource, lexical_sweep


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
