"""Metamorphic test of the answer stage: meaning-preserving variants of every answerable item must
keep its answer.

    python eval/perturb.py [--set eval/questions.jsonl] [--set eval/blind/...] [--json OUT] [--report OUT.md]

Each answerable item (its last question; a follow-up keeps its history) is asked as written and in
these variants, none of which changes what is asked:
  preamble   a polite opening ("您好，想请教一下，" / "Hello, I have a question: ")
  title      the report's own title as scope ("在《<catalog title>》中，"; items answered from one report)
  traditional  繁体 characters (OpenCC s2t)
  fullwidth  full-width digits and letters (２０２３, ＧＤＰ)
  spaced     a space between every Chinese character and digit (Latin words such as GDP stay whole)
  alias      a district's other name (闵行区 <-> 闵行)
A variant keeps the answer when it is answered (not refused) and contains every `must_contain`
string, as the eval scores. Reported: per variant and overall, the share of items answered right as
written whose variant is still right (target >= 0.95), and the variants that broke.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

import evaluate  # noqa: E402

_FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def _chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text)) and not evaluate_english(text)


def evaluate_english(text: str) -> bool:
    from assistant.query.terms import is_english

    return is_english(text)


def variants(question: str, titles: list[str], aliases: dict[str, str]) -> dict[str, str]:
    import opencc

    out: dict[str, str] = {}
    chinese = _chinese(question)
    out["preamble"] = ("您好，想请教一下，" if chinese else "Hello, I have a question: ") + question
    if chinese and len(titles) == 1:
        out["title"] = f"在《{titles[0]}》中，{question}"
    if chinese:
        out["traditional"] = opencc.OpenCC("s2t").convert(question)
        out["spaced"] = re.sub(r"(?<=[\u4e00-\u9fff\d])(?=[\u4e00-\u9fff\d])", " ", question)
    if re.search(r"[0-9A-Za-z]", question) and chinese:
        out["fullwidth"] = question.translate(_FULLWIDTH)
    for name, alias in aliases.items():
        if name in question:
            out["alias"] = question.replace(name, alias)
            break
        if alias in question:
            out["alias"] = question.replace(alias, name)
            break
    return {k: v for k, v in out.items() if v != question}


def correct(answer, item: dict) -> bool:
    return not answer.refused and all(evaluate._answer_text_has(answer.text, m) for m in item.get("must_contain", []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, action="append", help="question file(s) (default: eval/questions.jsonl)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    from assistant.config import load_settings
    from assistant.service import Assistant

    settings = load_settings()
    assistant = Assistant.load(settings)
    catalog = tomllib.loads((Path(settings.corpus_dir) / "catalog.toml").read_text(encoding="utf-8"))["document"]
    title_of = {d.get("source", d["file"]): d["title"] for d in catalog}
    aliases = {"闵行区": "闵行", "静安区": "静安"}
    items = [i for path in (args.set or [evaluate.DEFAULT_SET]) for i in evaluate.load_items(path) if i.get("answerable", True)]
    kept: dict[str, list[int]] = defaultdict(list)
    broke: list[dict] = []
    base_right = 0
    for item in items:
        answer, _ = evaluate.ask_item(assistant, item, "extractive")
        if not correct(answer, item):
            continue  # only variants of items answered right as written are meaningful
        base_right += 1
        for name, question in variants(item["question"], sorted({title_of[d] for d in item.get("doc", []) if d in title_of}),
                                       aliases).items():
            varied, _ = evaluate.ask_item(assistant, item | {"question": question}, "extractive")
            ok = correct(varied, item)
            kept[name].append(int(ok))
            if not ok:
                broke.append({"id": item["id"], "variant": name, "question": question, "answer": varied.text[:200]})
    total = [v for values in kept.values() for v in values]
    result = {"items": len(items), "right_as_written": base_right, "variants": len(total),
              "kept": round(sum(total) / len(total), 4) if total else 0.0,
              "by_variant": {k: {"n": len(v), "kept": round(sum(v) / len(v), 4)} for k, v in sorted(kept.items())},
              "broke": broke}
    lines = [f"items {result['items']} (answerable), right as written {base_right}, variants {len(total)}, "
             f"kept the answer {result['kept']:.3f}", "", "| variant | n | kept |", "|---|---|---|"]
    lines += [f"| {k} | {v['n']} | {v['kept']:.3f} |" for k, v in result["by_variant"].items()]
    lines += ["", "Broken variants:"] + [f"- {b['id']} ({b['variant']}) {b['question']}  \n  got: {b['answer'][:120]}" for b in broke]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.report:
        args.report.write_text("# Meaning-preserving variants (eval/perturb.py)\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
