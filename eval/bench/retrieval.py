"""Retrieval latency against the peer-style baseline (fixed 750-char chunks, dense + BM25
ensemble, eval/evaluate.py), timed interleaved with our search on the same questions."""

from __future__ import annotations

from pathlib import Path

from bench.build import copy_corpus
from bench.common import WARMUP_QUESTIONS, evaluate_module, now, summary


def run_baseline(assistant, settings, items: list[dict], quick: bool, workdir: Path) -> dict:
    """Our search and the baseline's ensemble, interleaved per question (so a change of load on
    the shared machine hits both alike); the question's tokens are uncached for both."""
    from types import SimpleNamespace

    from assistant.indexing.lexical import _segment
    baseline_searchers = evaluate_module().baseline_searchers

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
