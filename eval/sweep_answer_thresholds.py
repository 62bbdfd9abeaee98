"""Measure the extractive answerer's thresholds on the eval set (answers only, no retrieval metrics).

    python eval/sweep_answer_thresholds.py [--set FILE] [--report eval/reports/answer-thresholds.md]

MIN_OVERLAP: share of the question's content words the best sentence must contain;
MIN_TASK_OVERLAP: the same for the task row a lead-unit question is answered with;
TOP_K (pipeline): how many passages the answerer picks from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from evaluate import DEFAULT_SET, load_items, run_answers  # noqa: E402

GRID = {"MIN_OVERLAP": [0.3, 0.35, 0.4, 0.45, 0.5], "MIN_TASK_OVERLAP": [0.4, 0.5, 0.6, 0.7], "TOP_K": [6, 8, 12]}
KEYS = ["accuracy", "unanswerable_refused", "false_refusal", "conversation_accuracy", "scope_violations"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()

    from assistant.answer import extractive, pipeline
    from assistant.service import Assistant

    assistant = Assistant.load(progress=False)
    items = load_items(args.set)
    module = {name: pipeline if name == "TOP_K" else extractive for name in GRID}
    defaults = {name: getattr(module[name], name) for name in GRID}
    lines = [f"# Answer thresholds on {args.set.name} ({len(items)} questions)", "",
             "One threshold varied at a time, the other at its default "
             + ", ".join(f"{k}={v}" for k, v in defaults.items()) + ".", "",
             "| setting | value | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 2) + "|"]
    for name, values in GRID.items():
        for value in values:
            setattr(module[name], name, value)
            result = run_answers(items, assistant, "extractive")
            row = f"| {name} | {value} | " + " | ".join(f"{result.get(k, 0):.3f}" if k != "scope_violations"
                                                      else str(result.get(k, 0)) for k in KEYS) + " |"
            print(row, flush=True)
            lines.append(row)
        setattr(module[name], name, defaults[name])
    if args.report:
        args.report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
