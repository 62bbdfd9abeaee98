"""The LLM answer mode on the local model beside the extractive mode, scored as eval/evaluate.py
scores answers (its `ask_item` and `run_answers`), plus what only this comparison needs: the share
of answers with a figure marked [未核实] / [unverified], the prompt's size and the model's time.

    ASSISTANT_LLM_GGUF_PATH=bundled:qwen2.5-coder-0.5b .venv/bin/python eval/llm_eval.py \
        [--set eval/questions.jsonl] [--subset N] [--sweep 600,1000,1500,2500,0 --sweep-n 16] \
        [--json eval/out/llm.json] [--report eval/reports/llm.md]

--subset N takes a fixed stratified subset: the first N/13 items of each question type in file
order (the same items on every run); --sweep times a few questions at several prompt budgets
(llm_prompt_chars) to choose the default.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from evaluate import DEFAULT_SET, load_items, percentile, run_answers, source_districts, user_turns  # noqa: E402

UNVERIFIED = ("[未核实]", "[unverified]")
KEYS = ["accuracy", "citation_support", "citation_precision", "unanswerable_refused", "false_refusal",
        "near_miss_refused", "conversation_accuracy", "refusal_informative"]


def stratified(items: list[dict], n: int) -> list[dict]:
    """A fixed subset: the first items of each type in file order, as evenly as the types allow."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        by_type[item.get("type", "")].append(item)
    per_type = max(1, n // max(1, len(by_type)))
    chosen = {id(i) for group in by_type.values() for i in group[:per_type]}
    return [i for i in items if id(i) in chosen]


def usage_of(assistant) -> dict:
    model = getattr(assistant.pipeline, "_llm", None)
    return dict(getattr(model, "last_usage", {}) or {})


def clear_usage(assistant) -> None:
    model = getattr(assistant.pipeline, "_llm", None)
    if model is not None and hasattr(model, "last_usage"):
        model.last_usage.clear()


def ask_item(assistant, item: dict, mode: str, before_last=None):
    """evaluate.ask_item, with a hook before the final question (the usage is that question's)."""
    history: list[tuple[str, str]] = []
    for question in user_turns(item):
        previous = assistant.ask(question, history=list(history), mode=mode)
        history.append((question, previous.text))
    if before_last:
        before_last()
    started = time.perf_counter()
    answer = assistant.ask(item["question"], history=history, mode=mode)
    return answer, (time.perf_counter() - started) * 1e3


def ask_all(assistant, items: list[dict], mode: str) -> tuple[dict, list[dict]]:
    """item id -> (answer, ms), and per item what the model read and how long it took."""
    answers, rows = {}, []
    for item in tqdm(items, desc=f"asking ({mode})", unit="q", file=sys.stderr):
        answer, ms = ask_item(assistant, item, mode, before_last=lambda: clear_usage(assistant))
        answers[item["id"]] = (answer, ms)
        usage = usage_of(assistant) if mode == "llm" else {}
        rows.append({"id": item["id"], "type": item.get("type", ""), "ms": round(ms, 1), "refused": answer.refused,
                     "unverified": sum(answer.text.count(u) for u in UNVERIFIED),
                     "model_called": bool(usage), **usage})
    return answers, rows


def summarize(scored: dict, rows: list[dict]) -> dict:
    answered = [r for r in rows if not r["refused"]]
    called = [r for r in rows if r.get("model_called")]
    out = {k: scored.get(k, 0.0) for k in KEYS} | {"scope_violations": scored.get("scope_violations", 0)}
    out["unverified_answers"] = round(sum(1 for r in answered if r["unverified"]) / len(answered), 4) if answered else 0.0
    out["unverified_marks"] = sum(r["unverified"] for r in answered)
    out["answered"] = len(answered)
    out["latency_ms"] = {"p50": round(percentile([r["ms"] for r in rows], 50), 1),
                         "p95": round(percentile([r["ms"] for r in rows], 95), 1)}
    if called:
        out["model_calls"] = len(called)
        out["model_latency_ms"] = {"p50": round(percentile([r["ms"] for r in called], 50), 1),
                                   "p95": round(percentile([r["ms"] for r in called], 95), 1)}
        out["prompt_chars"] = {"p50": percentile([r["prompt_chars"] for r in called], 50),
                               "max": max(r["prompt_chars"] for r in called)}
        out["prompt_tokens_p50"] = percentile([r["prompt_tokens"] for r in called], 50)
        out["first_token_s_p50"] = percentile([r["first_token_seconds"] for r in called], 50)
    return out


def sweep(assistant, items: list[dict], budgets: list[int]) -> list[dict]:
    """Prompt size vs time (and accuracy) on the same questions, one budget after another."""
    model = assistant.pipeline.llm()
    results = []
    for budget in budgets:
        model.prompt_chars = budget
        load_before = os.getloadavg()[0]
        answers, rows = ask_all(assistant, items, "llm")
        scored = run_answers(items, assistant, "llm", answers, source_districts(assistant.settings.corpus_dir))
        called = [r for r in rows if r.get("model_called")]
        results.append({"budget": budget, "n": len(items), "calls": len(called), "accuracy": scored.get("accuracy", 0.0),
                        "prompt_chars_p50": percentile([r["prompt_chars"] for r in called], 50) if called else 0,
                        "prompt_tokens_p50": percentile([r["prompt_tokens"] for r in called], 50) if called else 0,
                        "first_token_s_p50": percentile([r["first_token_seconds"] for r in called], 50) if called else 0,
                        "ms_p50": percentile([r["ms"] for r in called], 50) if called else 0,
                        "ms_max": max((r["ms"] for r in called), default=0),
                        "loadavg": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"})
        print(json.dumps(results[-1]), file=sys.stderr)
    model.prompt_chars = assistant.settings.llm_prompt_chars
    return results


def render(result: dict) -> str:
    ext, llm = result["modes"]["extractive"], result["modes"]["llm"]
    lines = [f"## Answers on {result['set']} ({result['n']} questions{', ' + result['subset'] if result.get('subset') else ''})", "",
             f"model: `{result['model_file']}`, prompt budget {result['prompt_chars']} characters of passages, "
             f"{result['threads']} threads", "", "| metric | extractive | llm |", "|---|---|---|"]
    for key in KEYS + ["scope_violations", "unverified_answers", "unverified_marks", "answered"]:
        fmt = (lambda v: f"{v:.3f}") if isinstance(ext.get(key), float) else str
        lines.append(f"| {key} | {fmt(ext.get(key, 0))} | {fmt(llm.get(key, 0))} |")
    lines.append(f"| latency p50 / p95 ms (all questions) | {ext['latency_ms']['p50']:.0f} / {ext['latency_ms']['p95']:.0f} | "
                 f"{llm['latency_ms']['p50']:.0f} / {llm['latency_ms']['p95']:.0f} |")
    if "model_latency_ms" in llm:
        lines.append(f"| latency p50 / p95 ms (questions the model answered: {llm['model_calls']}) | | "
                     f"{llm['model_latency_ms']['p50']:.0f} / {llm['model_latency_ms']['p95']:.0f} |")
        lines.append(f"| prompt chars p50 / max, tokens p50, first token s p50 | | {llm['prompt_chars']['p50']} / "
                     f"{llm['prompt_chars']['max']}, {llm['prompt_tokens_p50']}, {llm['first_token_s_p50']} |")
    lines += ["", "| type | n | extractive accuracy | llm accuracy |", "|---|---|---|---|"]
    for t, e in result["by_type"]["extractive"].items():
        l = result["by_type"]["llm"].get(t, {})
        acc = lambda r: f"{r['accuracy']:.3f}" if "accuracy" in r else f"refused {r.get('unanswerable_refused', 0):.3f}"
        lines.append(f"| {t} | {e['n']} | {acc(e)} | {acc(l)} |")
    if result.get("sweep"):
        lines += ["", "## Prompt size vs time", "", "| budget (chars) | questions | model calls | prompt chars p50 | prompt tokens p50 | "
                  "first token s p50 | answer ms p50 | answer ms max | accuracy | load average |", "|---" * 10 + "|"]
        for s in result["sweep"]:
            lines.append(f"| {s['budget'] or 'all'} | {s['n']} | {s['calls']} | {s['prompt_chars_p50']} | {s['prompt_tokens_p50']} | "
                         f"{s['first_token_s_p50']} | {s['ms_p50']:.0f} | {s['ms_max']:.0f} | {s['accuracy']:.3f} | {s['loadavg']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--subset", type=int, default=0, help="a fixed stratified subset of about N questions")
    parser.add_argument("--sweep", default="", help="prompt budgets to time, e.g. 600,1000,1500,2500,0 (0 = all passages)")
    parser.add_argument("--sweep-n", type=int, default=16)
    parser.add_argument("--skip-modes", action="store_true", help="only the sweep")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)

    from assistant.answer.llm_model import resolve
    from assistant.config import load_settings
    from assistant.service import Assistant

    settings = load_settings()
    assistant = Assistant.load(settings, progress=False)
    items = load_items(args.set)
    subset = ""
    if args.subset:
        items = stratified(items, args.subset)
        subset = f"fixed stratified subset: the first {args.subset // 13} of each type"
    assistant.ask("闵行区2023年社会消费品零售总额完成了多少？", mode="llm")  # load the model before timing
    result = {"set": str(args.set.relative_to(ROOT) if args.set.is_relative_to(ROOT) else args.set), "n": len(items),
              "subset": subset, "model_file": resolve(settings.llm_gguf_path).name,
              "prompt_chars": settings.llm_prompt_chars, "threads": settings.llm_threads, "modes": {}, "by_type": {}, "rows": {}}
    if args.sweep:
        budgets = [int(b) for b in args.sweep.split(",")]
        few = stratified([i for i in items if not i.get("history") and i.get("answerable", True)], args.sweep_n)
        result["sweep"] = sweep(assistant, few, budgets)
    if not args.skip_modes:
        by_source = source_districts(settings.corpus_dir)
        for mode in ("extractive", "llm"):
            started = time.perf_counter()
            answers, rows = ask_all(assistant, items, mode)
            scored = run_answers(items, assistant, mode, answers, by_source)
            result["modes"][mode] = summarize(scored, rows) | {"wall_s": round(time.perf_counter() - started, 1)}
            result["by_type"][mode] = scored["by_type"]
            answers_text = {i: a.text for i, (a, _) in answers.items()}
            result["rows"][mode] = [r | {"answer": answers_text[r["id"]][:300]} for r in rows]
            result.setdefault("failures", {})[mode] = [
                {k: f[k] for k in ("id", "type", "question", "refused", "answer") if k in f} for f in scored["failures"]]
        print(render(result))
    elif result.get("sweep"):
        result["modes"] = {}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.report and result["modes"]:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(render(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
