"""The index: a directory with FAISS vectors, the chunk store, the lexical index and a manifest.

Layout (under `index_dir`):
    builds/<build_id>/  manifest.json, chunks.jsonl, embeddings.npy, vectors.faiss, lexical/, words.json
                        (with `store = "milvus"` no vectors.faiss: Milvus holds the vectors)
    current -> builds/<build_id>   (a symlink, replaced atomically when a build completes)
    .build.lock                     (one build at a time)

A build writes a new directory beside the old one and only then swaps the `current` link,
so an interrupted or failed build leaves the previous index working. Embeddings of chunks
whose (model, context) hash is unchanged are copied from the previous build, not recomputed,
but only from a previous build whose files match their checksums, and only vectors that are
finite and of unit length. A catalogued report that fails to load keeps its previous version
(chunks and structure) instead of silently disappearing; the manifest lists it under `failed`.
The manifest records a sha256 of every file; `load_index` verifies every file it reads.

What a serving process loads depends on the store: with faiss, the FAISS vectors and the bm25s
index; with Milvus, neither (Milvus searches), only the chunk table, the small words file and a
memory-mapped embeddings.npy (read only by builds), so that N replicas do not hold N copies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
from filelock import FileLock, Timeout

from assistant.config import Settings
from assistant.indexing.chunk_table import read_record
from assistant.indexing.integrity import file_checksums, usable_vectors
from assistant.indexing.lexical import IndexWords, LexicalIndex
from assistant.indexing.load import LoadedIndex, extract_index_facts, load_index, load_structure
from assistant.indexing.manifest import (FORMAT_VERSION, PARSER_VERSION, BuildLockedError, IndexCorruptError, IndexProblem,
                                         current_path, manifest_documents, model_entry, read_manifest, verify_files)
from assistant.indexing.stores import Rows as StoreRows, publish as publish_store
from assistant.indexing.structure_file import read_structure, write_structure
from assistant.ingest.chunk import ChunkedCorpus, ChunkSettings, chunk_corpus
from assistant.ingest.corpus import CorpusProblem, catalog_errors
from assistant.ingest.facts import write_facts
from assistant.models import Chunk, ParsedDocument

log = logging.getLogger(__name__)


def chunk_hash(model_id: str, chunk: Chunk) -> str:
    return hashlib.sha256(f"{model_id}\n{chunk.context}".encode("utf-8")).hexdigest()[:32]


def make_faiss_index(vectors: np.ndarray, settings: Settings) -> faiss.Index:
    """Inner product on L2-normalized vectors is cosine similarity. Below `flat_max_vectors`
    an exact flat scan is the right choice: a few hundred thousand 384-d vectors are scanned
    in milliseconds and need no training or tuning. Above it, HNSW keeps latency logarithmic
    at a small recall cost (measured by eval/bench.py)."""
    count, dim = vectors.shape
    kind = settings.index_type
    if kind == "auto":
        kind = "flat" if count <= settings.flat_max_vectors else "hnsw"
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = settings.hnsw_ef_search
    else:
        raise ValueError(f"index_type {settings.index_type!r} is not one of auto, flat, hnsw")
    if count:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


@dataclass
class BuildReport:
    path: Path
    chunks: int
    documents: int
    embedded: int  # chunks embedded in this build
    reused: int  # chunks whose embedding came from the previous build
    seconds: float
    embed_seconds: float
    problems: list[CorpusProblem]
    index_type: str
    size_bytes: int
    kept: dict[str, str] = field(default_factory=dict)  # doc_id -> why its previous version is served
    missing: dict[str, str] = field(default_factory=dict)  # doc_id -> why a catalogued report is not indexed at all
    notes: list[str] = field(default_factory=list)  # what was not reused from the previous build, and why

    @property
    def ok(self) -> bool:
        """False when a catalogued report is served from an older build or not at all."""
        return not self.kept and not self.missing

    def summary(self) -> str:
        rate = self.embedded / self.embed_seconds if self.embed_seconds > 0 and self.embedded else 0.0
        lines = [
            f"index: {self.path}",
            f"documents: {self.documents}, chunks: {self.chunks} ({self.embedded} embedded, {self.reused} reused)",
            f"time: {self.seconds:.1f} s (embedding {self.embed_seconds:.1f} s, {rate:.1f} chunks/s)",
            (f"faiss: {self.index_type}" if self.index_type != "none" else "vectors: in Milvus (no FAISS file)")
            + f", size on disk: {self.size_bytes / 1e6:.1f} MB",
        ]
        lines += [f"{p.severity}: {p.path}: {p.message}" for p in self.problems]
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"error: {doc_id} failed to load; the index keeps its previous version ({why})" for doc_id, why in self.kept.items()]
        lines += [f"error: {doc_id} failed to load and is NOT in the index ({why})" for doc_id, why in self.missing.items()]
        return "\n".join(lines)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def load_chunks(path: Path) -> tuple[list[Chunk], list[str]]:
    """Every chunk and its hash, decoded (a build's reuse; serving reads a ChunkTable)."""
    chunks, hashes = [], []
    try:
        with open(path / "chunks.jsonl", encoding="utf-8") as handle:
            for line in handle:
                chunk, content_hash = read_record(line)
                chunks.append(chunk)
                hashes.append(content_hash)
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}/chunks.jsonl is missing; run `assistant build`") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:  # incl. UnicodeDecodeError
        raise IndexCorruptError(f"{path}/chunks.jsonl is corrupted ({exc}); run `assistant build`") from None
    return chunks, hashes


@dataclass
class _Previous:
    """What a build may take from the build it replaces (all of it checked first)."""

    manifest: dict
    chunks: list[Chunk]
    hashes: list[str]
    vectors: np.ndarray | None
    structures: dict[str, ParsedDocument]


def _previous_build(settings: Settings) -> tuple[_Previous | None, list[str]]:
    """The current index's chunks, vectors and structure, or None (with the reason) when it is
    missing or damaged: nothing is reused from files that fail their checksums."""
    path = current_path(settings)
    if not path.exists():
        return None, []
    try:
        path = path.resolve()
        manifest = read_manifest(path, require_checksums=False)  # an older build: its vectors are still checked one by one
        if isinstance(manifest.get("files"), dict):
            verify_files(path, manifest, only=("chunks.jsonl", "embeddings.npy", "structure.jsonl"))
        chunks, hashes = load_chunks(path)
        vectors = np.load(path / "embeddings.npy")
        if vectors.ndim != 2 or len(vectors) != len(hashes):
            vectors = None
        structures = {p.document.doc_id: p for p in read_structure(path)}
    except (IndexProblem, OSError, ValueError, KeyError, TypeError) as exc:  # StructureError is a ValueError
        return None, [f"nothing reused from the previous index: {str(exc)[:300]}"]
    return _Previous(manifest, chunks, hashes, vectors, structures), []


def _reusable(previous: _Previous | None, model_id: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """hash -> vector from the previous build when it used the same model; damaged rows are skipped."""
    if previous is None or previous.vectors is None or previous.manifest["model"]["id"] != model_id:
        return {}, []
    good = usable_vectors(previous.vectors)
    notes = []
    if not good.all():
        notes.append(f"{int((~good).sum())} vectors of the previous index were not finite or not unit length; "
                     "their chunks were embedded again")
    return {h: np.array(previous.vectors[i]) for i, h in enumerate(previous.hashes) if good[i]}, notes


def _text_sha(path: str) -> str:
    """sha256 of a report that loads but failed later (parsing), as the corpus fingerprint computes it;
    "" for a file that cannot be read at all."""
    from assistant.ingest.corpus import read_report

    try:
        return hashlib.sha256(read_report(Path(path)).encode("utf-8")).hexdigest()
    except (ValueError, OSError):
        return ""


def _keep_failed_reports(corpus: ChunkedCorpus, previous: _Previous | None) -> tuple[dict[str, str], dict[str, str]]:
    """A catalogued report that failed to load keeps its previous version (chunks and structure),
    so that its questions are not answered from another report. Returns (kept, missing)."""
    loaded = {d.doc_id for d in corpus.documents}
    kept, missing = {}, {}
    for problem in corpus.problems:
        doc_id = problem.doc_id
        if problem.severity != "error" or not doc_id or doc_id in loaded or doc_id in kept or doc_id in missing:
            continue
        old = previous.structures.get(doc_id) if previous else None
        old_chunks = [c for c in previous.chunks if c.doc_id == doc_id] if previous else []
        if old is None or not old_chunks:
            missing[doc_id] = f"{problem.path}: {problem.message}"
            continue
        corpus.documents.append(old.document)
        corpus.parsed.append(old)
        corpus.chunks.extend(old_chunks)
        kept[doc_id] = f"{problem.path}: {problem.message}"
    return kept, missing


def build_index(
    settings: Settings,
    embedder=None,
    progress: bool = True,
    on_embedded: Callable[[int], None] | None = None,
) -> BuildReport:
    """Parse, chunk, embed and write a new index; swap it in only when complete."""
    from assistant.indexing.embed import encode_documents, load_embedder, model_dimension, model_id as embedder_id

    index_dir = Path(settings.index_dir)
    (index_dir / "builds").mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".build.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise BuildLockedError(f"another build is running on {index_dir} (lock {index_dir / '.build.lock'}); wait for it to finish") from None
    try:
        return _build_locked(settings, embedder, progress, on_embedded, encode_documents, load_embedder, model_dimension, embedder_id)
    finally:
        lock.release()


def _build_locked(settings, embedder, progress, on_embedded, encode_documents, load_embedder, model_dimension, embedder_id) -> BuildReport:
    from assistant.indexing.embed import document_engine

    started = time.perf_counter()
    index_dir = Path(settings.index_dir)
    corpus = chunk_corpus(settings.corpus_dir, ChunkSettings(settings.max_chars, settings.overlap_chars))
    broken_catalog = catalog_errors(corpus.problems)
    if broken_catalog:  # re-indexing with default metadata would silently break district/year filters
        raise IndexProblem(f"{'; '.join(f'{p.path} {p.message}' for p in broken_catalog)}. A build needs the catalog: without it every "
                           "report would lose its district, year and title. The previous index (if any) is kept.")
    if not corpus.chunks:
        reasons = "; ".join(str(p) for p in corpus.problems) or "no reports found"
        raise IndexProblem(f"nothing to index in {settings.corpus_dir}: {reasons}. The previous index (if any) is kept.")
    model = embedder if embedder is not None else load_embedder(settings.model, settings.query_engine, settings.document_engine)
    model_id = embedder_id(settings.model)
    dim = model_dimension(model)
    previous_build, notes = _previous_build(settings)
    kept, missing = _keep_failed_reports(corpus, previous_build)
    failing_sha = {p.doc_id: _text_sha(p.path) for p in corpus.problems if p.doc_id in kept or p.doc_id in missing}
    hashes = [chunk_hash(model_id, c) for c in corpus.chunks]
    previous, reuse_notes = _reusable(previous_build, model_id)
    notes += reuse_notes
    todo = [i for i, h in enumerate(hashes) if h not in previous]
    vectors = np.zeros((len(hashes), dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h in previous:
            vectors[i] = previous[h]
    embed_started = time.perf_counter()
    if todo:
        fresh = encode_documents(model, [corpus.chunks[i].context for i in todo], show_progress_bar=progress)
        vectors[todo] = fresh
        if on_embedded:
            on_embedded(len(todo))
    embed_seconds = time.perf_counter() - embed_started

    build_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    staging = index_dir / "builds" / f".tmp-{build_id}"
    staging.mkdir(parents=True)
    try:
        with open(staging / "chunks.jsonl", "w", encoding="utf-8") as handle:
            for chunk, h in zip(corpus.chunks, hashes):
                handle.write(json.dumps(chunk.to_dict() | {"hash": h}, ensure_ascii=False) + "\n")
        write_structure(staging, corpus.parsed)  # the heading tree and blocks, for the source viewer
        # the figures of tables and text as typed facts (cheap: regular expressions over the chunks)
        facts = extract_index_facts(corpus.chunks, manifest_documents(corpus.documents))
        write_facts(staging, facts)
        np.save(staging / "embeddings.npy", vectors)
        index_type = "none"  # Milvus builds its own vector index; an HNSW over 10M here would take hours
        if settings.store == "faiss":
            faiss_index = make_faiss_index(vectors, settings)
            faiss.write_index(faiss_index, str(staging / "vectors.faiss"))
            index_type = "flat" if isinstance(faiss_index, faiss.IndexFlat) else "hnsw"
        lexical = LexicalIndex.build([c.context for c in corpus.chunks])
        lexical.save(staging / "lexical")  # Milvus's sparse rows are computed from it; faiss replicas load it
        IndexWords.of(lexical, [c.district for c in corpus.chunks]).save(staging)
        # the configured store's copy (Milvus: the standby collection; its alias moves after `current`)
        rows = StoreRows(corpus.chunks, hashes, vectors, manifest_documents(corpus.documents), facts)
        published, activate_store = publish_store(settings, rows, lexical)
        if published.entry["kind"] != "faiss":
            notes.append(f"store {published.entry['kind']}: {published.entry.get('collection')} {published.upserted} rows written, "
                         f"{published.deleted} deleted ({published.seconds:.1f} s)")
        manifest = {
            "format": FORMAT_VERSION,
            "parser_version": PARSER_VERSION,
            "model": model_entry(model_id, settings.model, dim, document_engine(model) if todo else "",
                                 previous_build.manifest if previous_build and len(todo) < len(hashes) else None),
            "chunking": {"max_chars": settings.max_chars, "overlap_chars": settings.overlap_chars},
            "faiss": {"type": index_type, "vectors": len(hashes)},
            "store": published.entry,
            "documents": manifest_documents(corpus.documents),
            "problems": [str(p) for p in corpus.problems],
            # reports that failed to load: served from their previous version (kept) or absent
            "failed": {doc_id: {"problem": why, "kept_previous": doc_id in kept, "sha256": failing_sha.get(doc_id, "")}
                       for doc_id, why in {**missing, **kept}.items()},
            "files": file_checksums(staging),
            "counts": {"documents": len(corpus.documents), "chunks": len(hashes), "embedded": len(todo), "reused": len(hashes) - len(todo)},
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        # the manifest is written last: a build directory without one is never loaded
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        final = index_dir / "builds" / build_id
        link = index_dir / "current"
        previous = link.resolve() if link.is_symlink() else None
        os.replace(staging, final)
        _swap_current(index_dir, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    activate_store()
    _remove_old_builds(index_dir, keep=(final, previous))
    for doc_id, why in {**kept, **missing}.items():
        log.error("%s failed to load (%s); %s", doc_id, why, "its previous version is kept" if doc_id in kept else "it is not in the index")
    return BuildReport(final, len(hashes), len(corpus.documents), len(todo), len(hashes) - len(todo),
                       time.perf_counter() - started, embed_seconds, corpus.problems, index_type, _dir_size(final),
                       kept=kept, missing=missing, notes=notes)


def _swap_current(index_dir: Path, target: Path) -> None:
    """Point `current` at the new build atomically (rename of a symlink over the old one)."""
    link = index_dir / "current"
    temp = index_dir / f".current-{os.getpid()}"
    if temp.is_symlink() or temp.exists():
        temp.unlink()
    os.symlink(os.path.relpath(target, index_dir), temp)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)  # an index directory from an older layout
    elif link.exists() and not link.is_symlink():
        link.unlink()  # a stray file where the link belongs
    os.replace(temp, link)


def point_current(index_dir: Path, build: str) -> bool:
    """Point `current` back at an earlier build (by name) that is still there, under the build lock
    (a library change that failed after its build had moved it). False when it is gone or a build runs."""
    index_dir = Path(index_dir)
    target = index_dir / "builds" / build
    if not build or "/" in build or not (target / "manifest.json").is_file():
        return False
    lock = FileLock(str(index_dir / ".build.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    try:
        _swap_current(index_dir, target)
    finally:
        lock.release()
    return True


def _remove_old_builds(index_dir: Path, keep: tuple[Path | None, ...]) -> None:
    """Remove every build but the new one and the one it replaced (so that a reader that resolved
    `current` just before the swap can still open it; the next build removes it), including the
    staging folders of builds that were killed."""
    kept = {path.resolve() for path in keep if path is not None}
    for path in (index_dir / "builds").iterdir():
        if path.resolve() not in kept:
            shutil.rmtree(path, ignore_errors=True)


def ensure_index(settings: Settings, embedder=None, progress: bool = True) -> tuple[LoadedIndex, BuildReport | None]:
    """Load the index, building it first when it is missing, stale or damaged (the app's first start)."""
    try:
        index = load_index(settings)
        load_structure(index)  # the source viewer needs it: a damaged one is rebuilt too
        return index, None
    except IndexProblem as exc:
        log.warning("%s; building the index", exc)
        report = build_index(settings, embedder=embedder, progress=progress)
        return load_index(settings), report
