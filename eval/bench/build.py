"""The index build: the corpus copied to a temporary directory and indexed in a subprocess (so
its peak RSS is its own), then one paragraph appended to one report and the index rebuilt."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ENTRY, ROOT, dir_size, now, peak_rss_mb, rss_mb

APPENDED_REPORT = "jingan-2023-plan-report.txt"
APPENDED_PARAGRAPH = ("\n\n（补充说明）2024年，全区将持续优化营商环境，推进重点项目建设，"
                      "新增市场主体数量保持增长，全年新增就业岗位不少于2万个，城镇调查失业率控制在5%以内。\n")


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
    from assistant.indexing.embed import document_engine, encode_documents, load_embedder
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

    cpu = time.process_time()
    full = build_index(settings, embedder=embedder, progress=False)
    cpu = time.process_time() - cpu  # the whole build's CPU (embedding is nearly all of it): robust beside other jobs
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
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_chunk": round(1e3 * cpu / full.embedded, 2) if full.embedded else 0.0,
        "document_engine": document_engine(embedder),
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
    command = [sys.executable, str(ENTRY), "--worker-build", str(workdir)]
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
