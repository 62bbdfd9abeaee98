"""What one serving process (an app replica) holds in memory, per chunk, with each store.

    python eval/replica_memory.py --copies 150 [--json OUT] [--report OUT.md]

Writes a synthetic index of `copies` x the real index (index/current): every report copied under
a new doc_id and one of 16 districts, with its chunks, facts and structure, the embeddings plus
noise, and the build's own bm25s index, words file, FAISS vectors and checksums. Then, in one
fresh process per store, it measures the resident memory after each step a replica takes at start-up:
load_index, the retriever (coverage, scope arrays), the answer pipeline, and the analyst's facts
and structure (which the first answer loads). With `store = "milvus"` the searches run in a Milvus
server, outside the replica, so the store object is not opened here (Milvus Lite would run inside
this process and blur the figure); the store's own per-chunk state is the index's chunk-id map,
which the retriever holds anyway. Per-chunk costs are the step's growth of private resident memory
(RssAnon, Linux) over the chunk count; the pages of mapped index files (RssFile) are reported apart.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DISTRICTS = ["黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区", "嘉定区", "浦东新区",
             "金山区", "松江区", "青浦区", "奉贤区", "崇明区"]
STEPS = ("load_index", "retriever", "pipeline", "analyst")


def _lines(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _copy(record: dict, doc_id: str, new_id: str, district: str) -> dict:
    out = dict(record, doc_id=new_id, district=district)
    if "chunk_id" in out:
        out["chunk_id"] = new_id + out["chunk_id"][len(doc_id):]
    return out


def write_index(source: Path, target: Path, copies: int, seed: int = 7) -> int:
    """The synthetic build directory; returns its chunk count."""
    from assistant.config import load_settings
    from assistant.indexing.build import make_faiss_index
    from assistant.indexing.integrity import file_checksums
    from assistant.indexing.lexical import IndexWords, LexicalIndex

    import faiss

    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    chunks, facts, structure = _lines(source / "chunks.jsonl"), _lines(source / "facts.jsonl"), _lines(source / "structure.jsonl")
    real = np.load(source / "embeddings.npy")
    target.mkdir(parents=True)
    documents, contexts, districts = {}, [], []
    rng = np.random.default_rng(seed)
    with open(target / "chunks.jsonl", "w", encoding="utf-8") as c_out, open(target / "facts.jsonl", "w", encoding="utf-8") as f_out, \
            open(target / "structure.jsonl", "w", encoding="utf-8") as s_out, open(target / "vectors.bin", "wb") as v_out:
        for k in range(copies):
            district = DISTRICTS[k % len(DISTRICTS)]
            new = {doc_id: f"{doc_id}~{k}" for doc_id in manifest["documents"]}
            documents |= {new[d]: dict(meta, district=district) for d, meta in manifest["documents"].items()}
            for chunk in chunks:
                c_out.write(json.dumps(_copy(chunk, chunk["doc_id"], new[chunk["doc_id"]], district), ensure_ascii=False) + "\n")
                contexts.append(chunk["context"])
                districts.append(district)
            for fact in facts:
                f_out.write(json.dumps(_copy(fact, fact["doc_id"], new[fact["doc_id"]], district), ensure_ascii=False) + "\n")
            for parsed in structure:
                doc_id = parsed["document"]["doc_id"]
                s_out.write(json.dumps(dict(parsed, document=_copy(parsed["document"], doc_id, new[doc_id], district),
                                            sections=[dict(s, doc_id=new[doc_id]) for s in parsed["sections"]]), ensure_ascii=False) + "\n")
            noisy = real + rng.normal(0, 0.02, real.shape).astype(np.float32)
            v_out.write((noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32).tobytes())
    n = len(contexts)
    vectors = np.fromfile(target / "vectors.bin", dtype=np.float32).reshape(n, real.shape[1])
    (target / "vectors.bin").unlink()
    np.save(target / "embeddings.npy", vectors)
    faiss.write_index(make_faiss_index(vectors, load_settings()), str(target / "vectors.faiss"))
    lexical = LexicalIndex.build(contexts)
    lexical.save(target / "lexical")
    IndexWords.of(lexical, districts).save(target)
    manifest |= {"documents": documents, "counts": {"documents": len(documents), "chunks": n}, "failed": {}, "problems": [],
                 "store": {"kind": "faiss"}, "faiss": {"type": "flat" if n <= load_settings().flat_max_vectors else "hnsw", "vectors": n}}
    manifest["files"] = file_checksums(target)
    (target / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return n


def measure(index_dir: Path, store: str) -> dict:
    """RSS (MB) after each start-up step, in this process (run in a fresh one per store)."""
    from assistant.config import load_settings
    from assistant.indexing.load import load_index
    from assistant.answer.pipeline import AnswerPipeline
    from assistant.answer import retrieve

    def memory() -> tuple[float, float]:
        """(private, file-backed) resident MB: RssAnon is the process's own memory; RssFile the pages of
        mapped files (the index's chunks.jsonl, embeddings.npy), shared and dropped under pressure."""
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return int(status["RssAnon"].split()[0]) / 1024, int(status["RssFile"].split()[0]) / 1024

    settings = load_settings(index_dir=str(index_dir), store=store)
    if store == "milvus":
        retrieve.open_search = lambda index, settings: None  # the server's memory, not the replica's (module docstring)
    result, seconds = {"store": store, "start": memory()[0], "file_start": memory()[1]}, {}

    def step(name: str, started: float) -> None:
        (result[name], result[f"file_{name}"]), seconds[name] = memory(), round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    index = load_index(settings, check=False)
    step("load_index", started)
    started = time.perf_counter()
    retriever = retrieve.HybridRetriever(index, None, settings)
    step("retriever", started)
    started = time.perf_counter()
    pipeline = AnswerPipeline(retriever, settings)
    step("pipeline", started)
    started = time.perf_counter()
    assert pipeline.analyst is not None
    step("analyst", started)
    return result | {"chunks": len(index.chunks), "seconds": seconds}


def render(results: list[dict], copies: int) -> str:
    n = results[0]["chunks"]
    lines = [f"# Memory of one serving process per chunk (`eval/replica_memory.py --copies {copies}`, {n:,} chunks)", "",
             "Growth of the process's private resident memory (RssAnon) at each start-up step (MB), and per chunk (bytes); "
             "\"at 10M\" scales the total to 10M chunks. The last column is the resident pages of mapped index files "
             "(RssFile growth: chunks.jsonl, embeddings.npy), which the processes of one machine share and the kernel drops "
             "under pressure.", "",
             "| store | " + " | ".join(STEPS) + " | total | per chunk | at 10M chunks | mapped files |", "|---|" + "---:|" * (len(STEPS) + 4)]
    for r in results:
        previous, cells = r["start"], []
        for step in STEPS:
            cells.append(f"{r[step] - previous:.0f} MB ({(r[step] - previous) * 2**20 / n:,.0f} B)")
            previous = r[step]
        total = r["analyst"] - r["start"]
        per_chunk = total * 2**20 / n
        mapped = r["file_analyst"] - r["file_start"]
        lines.append(f"| {r['store']} | " + " | ".join(cells) + f" | {total:,.0f} MB | {per_chunk:,.0f} B | {per_chunk * 1e7 / 2**30:.1f} GB "
                     f"| {mapped:,.0f} MB |")
    lines += ["", "Seconds per step: " + "; ".join(f"{r['store']} " + ", ".join(f"{k} {v}" for k, v in r["seconds"].items()) for r in results)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=150, help="copies of the real index (628 chunks each)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--keep", type=Path, help="write the synthetic index here and keep it (to measure other code on it)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: one fresh process per store
    parser.add_argument("--store", default="faiss", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.store)))
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="replica-memory-"))
    try:
        build = work / "builds" / "synthetic"
        n = write_index((ROOT / "index" / "current").resolve(), build, args.copies)
        (work / "current").symlink_to(build)
        print(f"synthetic index: {n} chunks in {build}", file=sys.stderr)
        results = []
        for store in ("faiss", "milvus"):
            out = subprocess.run([sys.executable, __file__, "--measure", str(work), "--store", store], capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(results, args.copies)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"copies": args.copies, "results": results}, indent=2), encoding="utf-8")
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
