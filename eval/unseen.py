"""Score the assistant on real reports it has never seen, added the way a user adds them.

    python eval/unseen.py [--docs ../shared/unseen] [--set eval/blind/unseen-2026-12-03.jsonl]
                          [--workspace DIR] [--json OUT] [--report OUT.md]

A workspace (a temporary folder unless --workspace) gets a copy of the default corpus and of the
current index (so the seed reports' embeddings are reused), then every .txt/.md/.docx/.pdf of --docs
is added with `assistant add FILE...` and only its prefilled metadata, exactly as on the command line.
The set is then scored by eval/evaluate.py against that workspace, and the figures are printed per
document as well as overall. The default corpus and index are never touched: these reports stay out
of the default corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUFFIXES = (".txt", ".md", ".docx", ".pdf")


def prepare(workspace: Path, docs: list[Path]) -> str:
    """Copy the corpus and the current index into `workspace` and add `docs`; returns the CLI's output."""
    shutil.copytree(ROOT / "corpus", workspace / "corpus", ignore=shutil.ignore_patterns(".library-*"))
    current = (ROOT / "index" / "current").resolve()
    if current.exists():
        (workspace / "index" / "builds").mkdir(parents=True)
        shutil.copytree(current, workspace / "index" / "builds" / current.name)
        (workspace / "index" / "current").symlink_to(Path("builds") / current.name)
    env = os.environ | {"ASSISTANT_CORPUS_DIR": str(workspace / "corpus"), "ASSISTANT_INDEX_DIR": str(workspace / "index")}
    cli = Path(sys.executable).with_name("assistant")
    done = subprocess.run([str(cli), "add", *map(str, docs)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"assistant add failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stderr + done.stdout


def per_document(rows: list[dict], items: dict[str, dict]) -> dict[str, dict]:
    by_doc: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        docs = items[row["id"]].get("doc") or ["(no document: out of scope)"]
        by_doc[docs if isinstance(docs, str) else docs[0]].append(row)
    out = {}
    for doc, selected in sorted(by_doc.items()):
        answerable = [r for r in selected if r["answerable"]]
        unanswerable = [r for r in selected if not r["answerable"]]
        out[doc] = {"n": len(selected),
                    "accuracy": round(sum(r["correct"] for r in answerable) / len(answerable), 3) if answerable else None,
                    "false_refusal": round(sum(r["false_refusal"] for r in answerable) / len(answerable), 3) if answerable else None,
                    "unanswerable_refused": round(sum(r["refused_ok"] for r in unanswerable) / len(unanswerable), 3) if unanswerable else None,
                    "scope_violations": int(sum(r["scope_violation"] for r in selected))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=ROOT.parent / "shared" / "unseen")
    parser.add_argument("--set", type=Path, default=ROOT / "eval" / "blind" / "unseen-2026-12-03.jsonl")
    parser.add_argument("--workspace", type=Path, help="keep the workspace here (default: a temporary folder)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    docs = sorted(p for p in args.docs.iterdir() if p.suffix.lower() in SUFFIXES and not p.stem.upper().startswith("README"))
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="unseen-"))
    if args.workspace and (workspace / "corpus").exists():
        print(f"reusing {workspace}", file=sys.stderr)
    else:
        workspace.mkdir(parents=True, exist_ok=True)
        print(prepare(workspace, docs)[-3000:], file=sys.stderr)
    os.environ["ASSISTANT_CORPUS_DIR"] = str(workspace / "corpus")
    os.environ["ASSISTANT_INDEX_DIR"] = str(workspace / "index")
    import evaluate  # noqa: E402  (eval/ is on the path when run as a script)
    from assistant.config import load_settings
    from assistant.service import Assistant

    items = {item["id"]: item for item in evaluate.load_items(args.set)}
    assistant = Assistant.load(load_settings())
    result = evaluate.run_answers(list(items.values()), assistant, "extractive")
    result["by_document"] = per_document(result["items"], items)
    keys = ("accuracy", "false_refusal", "unanswerable_refused", "scope_violations")
    print("overall: " + " ".join(f"{k}={result.get(k)}" for k in keys + ("citation_precision",)))
    lines = ["| document | n | accuracy | false refusal | unanswerable refused | scope violations |", "|---|---|---|---|---|---|"]
    for doc, figures in result["by_document"].items():
        lines.append(f"| {doc} | {figures['n']} | " + " | ".join("-" if figures[k] is None else str(figures[k]) for k in keys) + " |")
    print("\n".join(lines))
    for row in result["failures"]:
        print(f"  {row['id']} [{row['type']}] {evaluate.asked(row)}\n      refused={row['refused']} "
              f"{'; '.join(row.get('scope_reasons', []))} expected: {row.get('expected', '(refusal)')[:120]}\n      got: {row['answer'][:160]}")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.report:
        args.report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
