"""Score the assistant against the hand-written question set.

    python eval/evaluate.py [--set FILE] [--k 10] [--json OUT] [--report OUT.md]
                            [--compare] [--mode extractive|llm] [--model SETTING]

Scoring is by evidence quotes, never by chunk ids or document names: a retrieved chunk
supports an item when its text contains one of the item's evidence quotes (after removing
whitespace and unifying full-width/ASCII forms), so any chunking can be scored.

Conversation items carry `history` (earlier user questions): they are asked in order, each
with the history so far, and the final question is asked with all of them; retrieval for such
an item searches the answer's `standalone_question` (the rewritten, self-contained question).

Scope: an item may say which districts it is about (`scope.districts`, else the districts of
its `doc` reports) and which figures must not appear (`forbidden`). A non-refused answer that
cites a chunk of another district, or contains a forbidden figure, is a scope violation
(refusals are not checked: a good refusal may name what the other district's report holds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from assistant.ingest.normalize import squash  # noqa: E402
from readable import problems as readability_problems  # noqa: E402

DEFAULT_SET = ROOT / "eval" / "questions.jsonl"


def load_items(path: Path) -> list[dict]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{number}: not valid JSON ({exc})")
    return items


def supports(text: str, quotes: Iterable[str]) -> bool:
    squashed = squash(text)
    return any(squash(q) in squashed for q in quotes if q)


def source_districts(corpus_dir: str | Path) -> dict[str, str]:
    """Original source file name (`source` in catalog.toml, as in an item's `doc`) -> district."""
    path = Path(corpus_dir) / "catalog.toml"
    if not path.is_file():
        return {}
    catalog = tomllib.loads(path.read_text(encoding="utf-8")).get("document", [])
    return {entry["source"]: entry.get("district", "") for entry in catalog if entry.get("source")}


def _full_name(place: str) -> str:
    """"闵行" -> "闵行区": a scope may give a district by its short name or any alias of places.toml."""
    from assistant.vocab import vocabulary

    vocab = vocabulary()
    found = vocab.find_places(place.lower(), {**vocab.districts, **vocab.other_places})
    return found[0] if len(found) == 1 else place


def allowed_districts(item: dict, by_source: dict[str, str]) -> set[str] | None:
    """The districts an item's answer may cite: its scope, else its reports' districts; None: no check."""
    scope = item.get("scope")
    if isinstance(scope, dict) and "districts" in scope:
        return {_full_name(d) for d in scope["districts"]}
    districts = {by_source[d] for d in item.get("doc", []) if by_source.get(d)}
    return districts or None


def user_turns(item: dict) -> list[str]:
    """The item's earlier user turns: plain strings, or chat turns {"role": "user", "content": ...}
    (assistant turns are skipped: the system answers them itself)."""
    return [t if isinstance(t, str) else t.get("content", "") for t in item.get("history", [])
            if isinstance(t, str) or t.get("role") == "user"]


def ask_item(assistant, item: dict, mode: str | None):
    """Ask an item as a user would: its history questions first, each with the history so far.
    Returns the final answer and the milliseconds the final question took."""
    history: list[tuple[str, str]] = []
    for question in user_turns(item):
        previous = assistant.ask(question, history=list(history), mode=mode)
        history.append((question, previous.text))
    started = time.perf_counter()
    answer = assistant.ask(item["question"], history=history, mode=mode)
    return answer, (time.perf_counter() - started) * 1e3


def asked(row: dict) -> str:
    """The question as shown in reports: earlier turns first for a conversation."""
    return " → ".join([*(h if isinstance(h, str) else h.get("content", "") for h in row.get("history", [])), row["question"]])


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


# --------------------------------------------------------------------------- retrieval


def score_ranking(texts: list[str], evidence: list[str], k: int) -> dict:
    ranks = [i for i, text in enumerate(texts[:k], start=1) if supports(text, evidence)]
    first = ranks[0] if ranks else None
    top5 = " ".join(texts[:5])
    found = sum(1 for q in evidence if any(supports(t, [q]) for t in texts[:5]))
    return {
        "rank": first,
        "hit@1": float(first == 1),
        "hit@5": float(first is not None and first <= 5),
        "hit@10": float(first is not None and first <= 10),
        "mrr@10": 1.0 / first if first and first <= 10 else 0.0,
        "evidence_recall@5": found / len(evidence) if evidence else 0.0,
    }


METRICS = ["hit@1", "hit@5", "hit@10", "mrr@10", "evidence_recall@5"]


def aggregate(rows: list[dict], keys: list[str]) -> dict:
    return {key: round(statistics.fmean(r[key] for r in rows), 4) if rows else 0.0 for key in keys}


def run_retrieval(items: list[dict], search: Callable[[str], tuple[list[str], float]], k: int, label: str,
                  queries: dict[str, str] | None = None) -> dict:
    """`queries`: item id -> the text to search instead of the question (a conversation's standalone question)."""
    answerable = [it for it in items if it.get("answerable", True) and it.get("evidence")]
    rows, latencies = [], []
    for item in tqdm(answerable, desc=f"retrieval ({label})", unit="q", file=sys.stderr):
        query = (queries or {}).get(item["id"]) or item["question"]
        texts, ms = search(query)
        latencies.append(ms)
        row = score_ranking(texts, item["evidence"], k) | {"id": item["id"], "type": item.get("type", ""), "question": item["question"]}
        if item.get("history"):
            row["history"] = item["history"]
            row["query"] = query
        if row["rank"] is None or row["rank"] > 1:
            row["expected"] = item["evidence"][0]
            row["first"] = texts[0][:120] if texts else ""
        rows.append(row)
    by_type: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_type[row["type"]].append(row)
    return {
        "n": len(rows),
        "retrieval": aggregate(rows, METRICS),
        "latency_ms": {"p50": round(percentile(latencies, 50), 2), "p95": round(percentile(latencies, 95), 2)},
        "by_type": {t: aggregate(r, METRICS) | {"n": len(r)} for t, r in sorted(by_type.items())},
        "items": rows,
    }


# --------------------------------------------------------------------------- baseline


def baseline_searchers(assistant, k: int) -> dict[str, Callable[[str], tuple[list[str], float]]]:
    """Peer-style baseline: fixed 750-character chunks with 150 overlap from the raw text, no
    structure, the same model; dense-only, and an equal-weight BM25 + dense ensemble (weighted
    reciprocal rank, as LangChain's EnsembleRetriever does)."""
    import numpy as np

    from assistant.ingest.corpus import load_corpus
    from assistant.indexing.embed import encode_documents, encode_queries
    from assistant.indexing.lexical import LexicalIndex

    texts: list[str] = []
    for _, raw in load_corpus(assistant.settings.corpus_dir).documents:
        start = 0
        while start < len(raw):
            texts.append(raw[start:start + 750])
            start += 750 - 150
    vectors = encode_documents(assistant.embedder, texts, show_progress_bar=True)
    lexical = LexicalIndex.build(texts)

    def dense_ranking(question: str) -> list[int]:
        query = encode_queries(assistant.embedder, [question])[0]
        return list(np.argsort(-(vectors @ query))[: max(k, 60)])

    def dense_only(question: str) -> tuple[list[str], float]:
        started = time.perf_counter()
        order = dense_ranking(question)[:k]
        return [texts[i] for i in order], (time.perf_counter() - started) * 1e3

    def ensemble(question: str) -> tuple[list[str], float]:
        started = time.perf_counter()
        dense = dense_ranking(question)
        scores = lexical.scores(question)
        lex = [int(i) for i in np.argsort(-scores)[:60] if scores[i] > 0]
        fused: dict[int, float] = defaultdict(float)
        for order in (dense, lex):
            for rank, i in enumerate(order):
                fused[i] += 0.5 / (60 + rank + 1)
        ranked = sorted(fused, key=fused.get, reverse=True)[:k]
        return [texts[i] for i in ranked], (time.perf_counter() - started) * 1e3

    return {"baseline_dense": dense_only, "baseline_ensemble": ensemble}


# --------------------------------------------------------------------------- answers


def _answer_text_has(answer: str, needle: str) -> bool:
    return squash(needle) in squash(answer)


def run_answers(items: list[dict], assistant, mode: str, asked_before: dict[str, tuple[object, float]] | None = None,
                by_source: dict[str, str] | None = None) -> dict:
    """`asked_before`: item id -> (answer, ms) already obtained in this mode (conversations asked
    for their standalone question), reused rather than asked again."""
    rows, latencies = [], []
    fired: dict[str, int] = defaultdict(int)
    district_of = {c.chunk_id: c.district for c in assistant.index.chunks}
    by_source = by_source if by_source is not None else source_districts(assistant.settings.corpus_dir)
    for item in tqdm(items, desc=f"answers ({mode})", unit="q", file=sys.stderr):
        answer, ms = (asked_before or {}).get(item["id"]) or ask_item(assistant, item, mode)
        latencies.append(ms)
        for key, value in answer.verification.items():
            fired[key] += value
        answerable = item.get("answerable", True)
        cited = [assistant.chunk_text(c.chunk_id) for c in answer.citations]
        row = {"id": item["id"], "type": item.get("type", ""), "question": item["question"], "answerable": answerable,
               "refused": answer.refused, "answer": answer.text[:400], "ms": round(ms, 1)}
        if "rewrite" in answer.timings:  # llm_rewrite: the refusal was retried on the model's rewording
            row["rewrite_ms"], row["rewritten"] = answer.timings["rewrite"], bool(answer.verification.get("rewritten"))
        row["readability"] = readability_problems(item["question"], answer.text, item.get("type", ""), answer.refused)
        if item.get("history"):
            row["history"] = item["history"]
            row["standalone"] = getattr(answer, "standalone_question", "") or item["question"]
        if item.get("near_miss"):
            row["near_miss"] = item["near_miss"]
        reasons = []
        if not answer.refused:
            allowed = allowed_districts(item, by_source)
            if allowed is not None:
                outside = sorted({district_of.get(c.chunk_id, "?") for c in answer.citations} - allowed)
                reasons += [f"cites {d}" for d in outside]
            reasons += [f"forbidden {f!r}" for f in item.get("forbidden", []) if _answer_text_has(answer.text, f)]
        row["scope_violation"] = float(bool(reasons))
        if reasons:
            row["scope_reasons"] = reasons
        if answerable:
            must = item.get("must_contain", [])
            row["correct"] = float(not answer.refused and all(_answer_text_has(answer.text, m) for m in must))
            row["citation_support"] = float(any(supports(t, item.get("evidence", [])) for t in cited))
            good = [t for t in cited if supports(t, item.get("evidence", [])) or any(_answer_text_has(t, m) for m in must)]
            row["citations"] = len(cited)
            row["good_citations"] = len(good)
            row["false_refusal"] = float(answer.refused)
            if not row["correct"]:
                row["expected"] = item.get("answer", "")
        else:
            row["refused_ok"] = float(answer.refused)
            must = item.get("must_contain", [])
            if answer.refused and must:
                row["informative"] = float(all(_answer_text_has(answer.text, m) for m in must))
            if not answer.refused or must:
                row["expected"] = item.get("answer", "")
        rows.append(row)
    answerable_rows = [r for r in rows if r["answerable"]]
    unanswerable_rows = [r for r in rows if not r["answerable"]]
    total_citations = sum(r["citations"] for r in answerable_rows)

    def section(selected: list[dict]) -> dict:
        ans = [r for r in selected if r["answerable"]]
        una = [r for r in selected if not r["answerable"]]
        cites = sum(r["citations"] for r in ans)
        out = {"n": len(selected)}
        if ans:
            out |= {
                "accuracy": round(statistics.fmean(r["correct"] for r in ans), 4),
                "citation_support": round(statistics.fmean(r["citation_support"] for r in ans), 4),
                "citation_precision": round(sum(r["good_citations"] for r in ans) / cites, 4) if cites else 0.0,
                "false_refusal": round(statistics.fmean(r["false_refusal"] for r in ans), 4),
            }
        if una:
            out["unanswerable_refused"] = round(statistics.fmean(r["refused_ok"] for r in una), 4)
        out["scope_violations"] = int(sum(r["scope_violation"] for r in selected))
        return out

    by_type: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_type[row["type"]].append(row)
    overall = section(rows)
    overall["citation_precision"] = round(sum(r["good_citations"] for r in answerable_rows) / total_citations, 4) if total_citations else 0.0
    overall["unanswerable_refused"] = round(statistics.fmean(r["refused_ok"] for r in unanswerable_rows), 4) if unanswerable_rows else 0.0
    # a follow-up is any item asked after a history, whatever its kind
    conversation = [r for r in answerable_rows if r["type"] == "conversation" or r.get("history")]
    near_miss = [r for r in rows if r["type"] == "near_miss"]
    informative = [r["informative"] for r in unanswerable_rows if "informative" in r]
    overall["conversation_accuracy"] = round(statistics.fmean(r["correct"] for r in conversation), 4) if conversation else 0.0
    overall["near_miss_refused"] = round(statistics.fmean(r["refused"] for r in near_miss), 4) if near_miss else 0.0
    overall["refusal_informative"] = round(statistics.fmean(informative), 4) if informative else 0.0
    overall["scope_violation_ids"] = [r["id"] for r in rows if r["scope_violation"]]
    overall["readable"] = round(statistics.fmean(not r["readability"] for r in rows), 4) if rows else 0.0
    unreadable: dict[str, int] = defaultdict(int)
    for row in rows:
        for problem in row["readability"]:
            unreadable[problem] += 1
    overall["unreadable"] = dict(sorted(unreadable.items(), key=lambda kv: -kv[1]))
    return {
        "mode": mode,
        **overall,
        "latency_ms": {"p50": round(percentile(latencies, 50), 2), "p95": round(percentile(latencies, 95), 2)},
        "verification": dict(fired),
        "by_type": {t: section(r) for t, r in sorted(by_type.items())},
        "failures": [r for r in rows if (r["answerable"] and (not r["correct"] or not r["citation_support"]))
                     or (not r["answerable"] and not r["refused_ok"]) or r["scope_violation"]],
        "items": rows,
    }


# --------------------------------------------------------------------------- report


def markdown_report(result: dict) -> str:
    lines = [f"# Evaluation: {result['set']}", "", f"model: `{result['model']}`, k={result['k']}, questions: {result['questions']}", ""]
    systems = result["systems"]
    lines += ["## Retrieval", "", "| system | n | " + " | ".join(METRICS) + " | p50 ms | p95 ms |", "|---" * (len(METRICS) + 4) + "|"]
    for name, data in systems.items():
        r = data["retrieval"]
        lines.append(f"| {name} | {data['n']} | " + " | ".join(f"{r[m]:.3f}" for m in METRICS) + f" | {data['latency_ms']['p50']:.1f} | {data['latency_ms']['p95']:.1f} |")
    ours = systems["ours"]
    lines += ["", "### By question type (ours)", "", "| type | n | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 2) + "|"]
    for t, r in ours["by_type"].items():
        lines.append(f"| {t} | {r['n']} | " + " | ".join(f"{r[m]:.3f}" for m in METRICS) + " |")
    misses = [row for row in ours["items"] if row["rank"] is None or row["rank"] > 5]
    lines += ["", f"### Misses (no supporting chunk in the top 5): {len(misses)}", ""]
    for row in misses:
        query = f"  \n  searched: {row['query']}" if row.get("query") else ""
        lines.append(f"- **{row['id']}** ({row['type']}) {asked(row)}{query}  \n  expected: `{row.get('expected', '')}`  \n  first: {row.get('first', '')}")
    if "answer" in result:
        a = result["answer"]
        keys = ["accuracy", "citation_support", "citation_precision", "unanswerable_refused", "false_refusal"]
        extra = ["conversation_accuracy", "near_miss_refused", "refusal_informative"]
        lines += ["", f"## Answers ({a['mode']})", "", "| " + " | ".join(keys + extra) + " | scope_violations | p50 ms | p95 ms |",
                  "|---" * (len(keys) + len(extra) + 3) + "|",
                  "| " + " | ".join(f"{a.get(k, 0):.3f}" for k in keys + extra)
                  + f" | {a.get('scope_violations', 0)} | {a['latency_ms']['p50']:.1f} | {a['latency_ms']['p95']:.1f} |",
                  "", f"verification fired: {a['verification']}", "",
                  "| type | n | " + " | ".join(keys) + " | scope_violations |", "|---" * (len(keys) + 3) + "|"]
        for t, r in a["by_type"].items():
            lines.append(f"| {t} | {r['n']} | " + " | ".join(f"{r[k]:.3f}" if k in r else "-" for k in keys) + f" | {r.get('scope_violations', 0)} |")
        violations = [row for row in a["items"] if row.get("scope_violation")]
        lines += ["", f"### Scope violations: {len(violations)}", ""]
        for row in violations:
            lines.append(f"- **{row['id']}** ({row['type']}) {asked(row)}: {'; '.join(row['scope_reasons'])}")
        lines += ["", f"### Answer failures: {len(a['failures'])}", ""]
        for row in a["failures"]:
            scope = f"; scope: {'; '.join(row['scope_reasons'])}" if row.get("scope_reasons") else ""
            standalone = f"  \n  standalone: {row['standalone']}" if row.get("standalone") else ""
            lines.append(f"- **{row['id']}** ({row['type']}) {asked(row)}{standalone}  \n  refused: {row['refused']}{scope}; "
                         f"expected: {row.get('expected', '(refusal)')}  \n  got: {row['answer'][:200]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="question file (JSONL)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the full result as JSON")
    parser.add_argument("--report", type=Path, help="write a markdown report")
    parser.add_argument("--compare", action="store_true", help="also run the peer-style baseline")
    parser.add_argument("--mode", choices=["extractive", "llm"], help="also score answers in this mode")
    parser.add_argument("--model", help="embedding model setting (default: the configured one)")
    parser.add_argument("--set-option", action="append", default=[], metavar="NAME=VALUE", help="override a setting, e.g. fusion=weighted")
    args = parser.parse_args(argv)

    from assistant.config import Settings, load_settings
    from assistant.service import Assistant

    overrides = {}
    types = {f: type(v) for f, v in Settings().__dict__.items()}
    for option in args.set_option:
        name, _, value = option.partition("=")
        if name not in types:
            parser.error(f"unknown setting {name!r}")
        overrides[name] = types[name](value)
    settings = load_settings(model=args.model, **overrides)
    items = load_items(args.set)
    assistant = Assistant.load(settings)

    def ours(question: str) -> tuple[list[str], float]:
        started = time.perf_counter()
        result = assistant.search(question, k=args.k)
        return [h.chunk.text for h in result.hits], (time.perf_counter() - started) * 1e3

    assistant.search("预热", k=1)  # load lazily-initialised parts before timing
    # conversations are searched by their standalone question, which only asking them gives
    history_mode = args.mode or settings.mode
    asked_before: dict[str, tuple[object, float]] = {}
    for item in tqdm([it for it in items if it.get("history")], desc=f"conversations ({history_mode})", unit="q", file=sys.stderr):
        asked_before[item["id"]] = ask_item(assistant, item, history_mode)
    queries = {i: getattr(answer, "standalone_question", "") for i, (answer, _) in asked_before.items()}
    systems = {"ours": run_retrieval(items, ours, args.k, "ours", queries)}
    if args.compare:
        for name, searcher in baseline_searchers(assistant, args.k).items():
            systems[name] = run_retrieval(items, searcher, args.k, name, queries)
    result = {"set": str(args.set), "model": settings.model, "k": args.k, "questions": len(items), "systems": systems}
    # the top-level keys the issue asks for are ours
    result |= {"n": systems["ours"]["n"], "retrieval": systems["ours"]["retrieval"], "latency_ms": systems["ours"]["latency_ms"],
               "by_type": systems["ours"]["by_type"], "items": systems["ours"]["items"]}
    if args.mode:
        result["answer"] = run_answers(items, assistant, args.mode, asked_before, source_districts(settings.corpus_dir))

    print(f"\nretrieval over {systems['ours']['n']} answerable questions (k={args.k}, model {settings.model})")
    header = f"{'system':<20}" + "".join(f"{m:>18}" for m in METRICS) + f"{'p50 ms':>10}{'p95 ms':>10}"
    print(header)
    for name, data in systems.items():
        print(f"{name:<20}" + "".join(f"{data['retrieval'][m]:>18.3f}" for m in METRICS) + f"{data['latency_ms']['p50']:>10.1f}{data['latency_ms']['p95']:>10.1f}")
    print("\nby type (ours):")
    for t, r in systems["ours"]["by_type"].items():
        print(f"  {t:<16} n={r['n']:<3} hit@1={r['hit@1']:.2f} hit@5={r['hit@5']:.2f} mrr@10={r['mrr@10']:.2f}")
    misses = [row for row in systems["ours"]["items"] if row["rank"] is None or row["rank"] > 5]
    print(f"\nmisses (nothing supporting in the top 5): {len(misses)}")
    for row in misses:
        query = f"\n      searched: {row['query']}" if row.get("query") else ""
        print(f"  {row['id']} [{row['type']}] {asked(row)}{query}\n      expected: {row.get('expected', '')}\n      first:    {row.get('first', '')}")
    if "answer" in result:
        a = result["answer"]
        print(f"\nanswers ({a['mode']}): accuracy={a.get('accuracy', 0):.3f} citation_support={a.get('citation_support', 0):.3f} "
              f"citation_precision={a.get('citation_precision', 0):.3f} unanswerable_refused={a.get('unanswerable_refused', 0):.3f} "
              f"false_refusal={a.get('false_refusal', 0):.3f} p50={a['latency_ms']['p50']:.1f}ms p95={a['latency_ms']['p95']:.1f}ms")
        print(f"conversation_accuracy={a.get('conversation_accuracy', 0):.3f} near_miss_refused={a.get('near_miss_refused', 0):.3f} "
              f"refusal_informative={a.get('refusal_informative', 0):.3f} scope_violations={a.get('scope_violations', 0)}")
        print(f"readable={a.get('readable', 0):.3f} problems: {a.get('unreadable', {})}")
        print(f"verification fired: {a['verification']}")
        for t, r in a["by_type"].items():
            print(f"  {t:<16} " + " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items() if k != "n") + f" n={r['n']}")
        print(f"scope violations: {', '.join(a.get('scope_violation_ids', [])) or 'none'}")
        print(f"answer failures: {len(a['failures'])}")
        for row in a["failures"]:
            scope = f" scope: {'; '.join(row['scope_reasons'])}" if row.get("scope_reasons") else ""
            standalone = f"\n      standalone: {row['standalone']}" if row.get("standalone") else ""
            print(f"  {row['id']} [{row['type']}] {asked(row)}{standalone}\n      refused={row['refused']}{scope} expected: {row.get('expected', '(refusal)')}\n      got: {row['answer'][:160]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(markdown_report(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
