"""What every measurement shares: timers, percentiles, memory, the question file, the machine."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
ENTRY = ROOT / "eval" / "bench.py"  # the workers run as `python eval/bench.py --worker-…`

DEFAULT_SET = ROOT / "eval" / "questions.jsonl"
STAGES = ["query", "embed", "lexical", "dense", "fusion", "compose", "verify", "total"]
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


def evaluate_module():
    """eval/evaluate.py, loaded by path (`evaluate` is also the name of a Hugging Face package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("assistant_eval_evaluate", ROOT / "eval" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
