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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
from filelock import FileLock, Timeout

from .chunk import ChunkedCorpus, ChunkSettings, chunk_corpus
from .chunk_table import ChunkTable, ChunkTableError, read_record
from .config import Settings
from .corpus import CorpusProblem, catalog_errors
from .integrity import checksum_problems, file_checksums, usable_vectors
from .facts import FactBook, extract_facts, read_facts, write_facts
from .lexical import IndexWords, LexicalIndex
from .stores import Rows as StoreRows, publish as publish_store, store_reasons
from .structure_file import StructureError, StructureFile, read_structure, write_structure
from .models import Chunk, Document, ParsedDocument

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: per-file sha256 in the manifest, `failed` reports; 3: words.json, no vectors.faiss with Milvus
PARSER_VERSION = 1  # bump when parse/chunk output changes, so old indexes are reported stale


class IndexProblem(RuntimeError):
    """Base for index problems; the message says what is wrong and how to fix it."""


class IndexMissingError(IndexProblem):
    pass


class IndexStaleError(IndexProblem):
    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("the index does not match the corpus/settings: " + "; ".join(reasons) + ". Run `assistant build` to update it.")


class IndexCorruptError(IndexProblem):
    pass


class BuildLockedError(IndexProblem):
    pass


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
class LoadedIndex:
    path: Path
    manifest: dict
    chunks: Sequence[Chunk]  # a ChunkTable when loaded: decoded from chunks.jsonl when used
    embeddings: np.ndarray  # memory-mapped, read-only: builds and tests read it, answering does not
    words: IndexWords
    faiss_index: faiss.Index | None = None  # None when Milvus serves the searches
    lexical: LexicalIndex | None = None
    doc_titles: dict[str, str] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.manifest["model"]["id"]

    @cached_property
    def positions(self) -> dict[str, int]:
        """chunk_id -> row (chunks.jsonl order, the stores' ids); one map shared by the retriever and the store."""
        return getattr(self.chunks, "positions", None) or {c.chunk_id: i for i, c in enumerate(self.chunks)}


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


def current_path(settings: Settings) -> Path:
    return Path(settings.index_dir) / "current"


def _read_manifest(path: Path, require_checksums: bool = True) -> dict:
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}/manifest.json is missing; run `assistant build` to rebuild the index") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise IndexCorruptError(f"{path}/manifest.json is unreadable ({exc}); run `assistant build` to rebuild the index") from None
    # valid JSON is not enough: the fields the loader relies on must be there
    try:
        ok = (isinstance(manifest["model"]["id"], str) and isinstance(manifest["model"]["dim"], int)
              and all(isinstance(m["sha256"], str) and isinstance(m["title"], str) for m in manifest["documents"].values()))
    except (KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise IndexCorruptError(f"{path}/manifest.json lacks the model or documents fields; run `assistant build` to rebuild the index")
    if require_checksums:
        _require_checksums(path, manifest)
    return manifest


def _require_checksums(path: Path, manifest: dict) -> None:
    files = manifest.get("files")
    if not (isinstance(files, dict) and files and all(isinstance(v, str) for v in files.values())):
        raise IndexCorruptError(f"{path}/manifest.json has no file checksums (an index from an older version, or a damaged "
                                "manifest); run `assistant build` to rebuild the index")


def verify_files(path: Path, manifest: dict, only: tuple[str, ...] | None = None) -> None:
    """IndexCorruptError naming every file whose sha256 differs from the manifest's."""
    problems = checksum_problems(path, manifest["files"], only)
    if problems:
        raise IndexCorruptError(f"the index in {path} is damaged: {'; '.join(problems)}; run `assistant build` to rebuild it")


def _load_chunks(path: Path) -> tuple[list[Chunk], list[str]]:
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
        manifest = _read_manifest(path, require_checksums=False)  # an older build: its vectors are still checked one by one
        if isinstance(manifest.get("files"), dict):
            verify_files(path, manifest, only=("chunks.jsonl", "embeddings.npy", "structure.jsonl"))
        chunks, hashes = _load_chunks(path)
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
    from .corpus import read_report

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


def corpus_fingerprint(corpus: ChunkedCorpus) -> dict[str, str]:
    return {d.doc_id: d.sha256 for d in corpus.documents}


def build_index(
    settings: Settings,
    embedder=None,
    progress: bool = True,
    on_embedded: Callable[[int], None] | None = None,
) -> BuildReport:
    """Parse, chunk, embed and write a new index; swap it in only when complete."""
    from .embed import encode_documents, load_embedder, model_dimension, model_id as embedder_id

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
    model = embedder if embedder is not None else load_embedder(settings.model)
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
        write_facts(staging, _extract_facts(corpus.chunks, manifest_documents(corpus.documents)))
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
        published, activate_store = publish_store(settings, StoreRows(corpus.chunks, hashes, vectors, manifest_documents(corpus.documents)), lexical)
        if published.entry["kind"] != "faiss":
            notes.append(f"store {published.entry['kind']}: {published.entry.get('collection')} {published.upserted} rows written, "
                         f"{published.deleted} deleted ({published.seconds:.1f} s)")
        manifest = {
            "format": FORMAT_VERSION,
            "parser_version": PARSER_VERSION,
            "model": {"id": model_id, "setting": settings.model, "dim": dim},
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


def _remove_old_builds(index_dir: Path, keep: tuple[Path | None, ...]) -> None:
    """Remove every build but the new one and the one it replaced (so that a reader that resolved
    `current` just before the swap can still open it; the next build removes it), including the
    staging folders of builds that were killed."""
    kept = {path.resolve() for path in keep if path is not None}
    for path in (index_dir / "builds").iterdir():
        if path.resolve() not in kept:
            shutil.rmtree(path, ignore_errors=True)


def manifest_documents(documents: list[Document]) -> dict[str, dict]:
    return {d.doc_id: {"sha256": d.sha256, "title": d.title, "district": d.district, "year": d.year, "kind": d.kind} for d in documents}


def _extract_facts(chunks: list[Chunk], documents: dict[str, dict]):
    from .coverage import Coverage  # each chunk's period comes from its report's kind and headings

    return extract_facts(chunks, Coverage.from_index(chunks, documents).periods)


def load_facts(index: "LoadedIndex") -> FactBook:
    """The index's facts (read once per index); an index built before facts existed gets them extracted now."""
    cached = getattr(index, "_facts", None)
    if cached is None:
        facts = read_facts(index.path)
        if facts is None:
            facts = _extract_facts(index.chunks, index.manifest["documents"])
        cached = index._facts = FactBook(facts)
    return cached


def load_structure(index: "LoadedIndex") -> Mapping[str, ParsedDocument]:
    """doc_id -> its parsed structure (sections and blocks), as stored at build time; each report is
    read from the file when asked for (structure_file.py), the offsets once per index."""
    cached = getattr(index, "_structure", None)
    if cached is not None:
        return cached
    try:
        structure = StructureFile(index.path)
    except (OSError, StructureError) as exc:
        raise IndexCorruptError(f"{index.path}/structure.jsonl is missing or damaged ({type(exc).__name__}: {str(exc)[:200]}); "
                                "run `assistant build`") from None
    if set(structure) != set(index.manifest["documents"]):  # e.g. emptied: every citation link would be a 404
        raise IndexCorruptError(f"{index.path}/structure.jsonl is missing or damaged: it lists {len(structure)} reports, the "
                                f"manifest {len(index.manifest['documents'])}; run `assistant build`")
    index._structure = structure
    return index._structure


def check_manifest(manifest: dict, settings: Settings, fingerprint: dict[str, str] | None, model_id: str) -> list[str]:
    reasons = store_reasons(manifest, settings)
    if manifest.get("format") != FORMAT_VERSION or manifest.get("parser_version") != PARSER_VERSION:
        reasons.append("it was built by another version of the assistant")
    if manifest["model"]["id"] != model_id:
        reasons.append(f"it was built with model {manifest['model']['id']!r}, the settings ask for {model_id!r}")
    chunking = {"max_chars": settings.max_chars, "overlap_chars": settings.overlap_chars}
    if manifest.get("chunking") != chunking:
        reasons.append(f"chunking settings changed ({manifest.get('chunking')} -> {chunking})")
    if fingerprint is not None:
        failed = manifest.get("failed") or {}
        # a report that failed at build time and still fails is not a change (it keeps its old version);
        # one that loads now, or loads with other content than the failing one, is
        recovered = sorted(k for k in failed if k in fingerprint and fingerprint[k] != failed[k].get("sha256"))
        built = {k: v["sha256"] for k, v in manifest["documents"].items() if k not in failed}
        current = {k: v for k, v in fingerprint.items() if k not in failed}
        added = sorted(set(current) - set(built))
        removed = sorted(set(built) - set(current))
        changed = sorted(k for k in set(built) & set(current) if built[k] != current[k])
        for label, ids in (("new reports", added), ("removed reports", removed), ("changed reports", changed),
                           ("reports that load again", recovered)):
            if ids:
                reasons.append(f"{label}: {', '.join(ids)}")
    return reasons


def corpus_fingerprint_from_files(settings: Settings) -> dict[str, str]:
    """Hashes of the reports as they are now (cheap: no parsing)."""
    from .corpus import load_corpus

    return {d.doc_id: d.sha256 for d, _ in load_corpus(settings.corpus_dir).documents}


def load_index(settings: Settings, check: bool = True) -> LoadedIndex:
    """Load the current index; with `check`, raise IndexStaleError when it does not match
    the corpus and the settings (another model, changed reports, other chunking)."""
    from .embed import model_id as embedder_id

    path = current_path(settings)
    if not path.exists():
        raise IndexMissingError(f"no index in {settings.index_dir}; run `assistant build` (or start the app, which builds it)")
    path = path.resolve()
    manifest = _read_manifest(path, require_checksums=False)
    if check:
        reasons = check_manifest(manifest, settings, corpus_fingerprint_from_files(settings), embedder_id(settings.model))
        if reasons:
            raise IndexStaleError(reasons)
    _require_checksums(path, manifest)
    serves = settings.store == "faiss"  # with Milvus, the searches (and their memory) are Milvus's
    # every file this process reads: damage that keeps sizes loads without any other error (with
    # Milvus, embeddings.npy and lexical/ are read by builds only, which verify them first)
    unread = () if serves else ("embeddings.npy", "lexical/")
    verify_files(path, manifest, only=tuple(n for n in manifest["files"] if not n.startswith(unread)))
    try:
        chunks = ChunkTable(path)
    except (OSError, ChunkTableError) as exc:
        raise IndexCorruptError(f"{path}/chunks.jsonl is missing or damaged ({type(exc).__name__}: {str(exc)[:200]}); "
                                "run `assistant build`") from None
    faiss_index = lexical = None
    try:
        embeddings = np.load(path / "embeddings.npy", mmap_mode="r")
        words = IndexWords.load(path)
        if serves:
            faiss_index = faiss.read_index(str(path / "vectors.faiss"))
            lexical = LexicalIndex.load(path / "lexical")
    except Exception as exc:  # faiss raises RuntimeError, numpy ValueError/OSError on truncated files
        raise IndexCorruptError(f"the index in {path} is damaged ({type(exc).__name__}: {str(exc)[:200]}); run `assistant build` to rebuild it") from None
    dim = manifest["model"]["dim"]
    if embeddings.ndim != 2 or len(embeddings) != len(chunks) or embeddings.shape[1] != dim:
        raise IndexCorruptError(f"the index in {path} is inconsistent ({len(chunks)} chunks, embeddings of shape {embeddings.shape}, "
                                f"the manifest says {dim} dimensions); run `assistant build`")
    if serves and (faiss_index.ntotal != len(chunks) or faiss_index.d != dim or lexical.bm25.scores["num_docs"] != len(chunks)):
        raise IndexCorruptError(f"the index in {path} is inconsistent ({len(chunks)} chunks, {faiss_index.ntotal} vectors of "
                                f"{faiss_index.d} dimensions, the manifest says {dim}); run `assistant build`")
    if isinstance(faiss_index, faiss.IndexHNSW):
        faiss_index.hnsw.efSearch = settings.hnsw_ef_search
    titles = {doc_id: meta["title"] for doc_id, meta in manifest["documents"].items()}
    return LoadedIndex(path, manifest, chunks, embeddings, words, faiss_index, lexical, titles)


def index_warnings(manifest: dict) -> list[str]:
    """What users of the app and the API must be told about this index: reports that failed to
    load at its build, served from their previous version or missing (no file paths: users see these)."""
    warnings = []
    for doc_id, failure in sorted((manifest.get("failed") or {}).items()):
        if failure.get("kept_previous"):
            title = manifest["documents"].get(doc_id, {}).get("title", doc_id)
            warnings.append(f"注意：报告《{title}》在最近一次索引更新时无法读取，回答使用其上一版本。Warning: report {doc_id} "
                            "could not be read at the last index build; answers use its previous version until the file is "
                            "fixed and `assistant build` is run.")
        else:
            warnings.append(f"注意：报告 {doc_id} 无法读取，未收入索引。Warning: report {doc_id} could not be read and is not "
                            "in the index; questions about it cannot be answered until the file is fixed and `assistant build` is run.")
    return warnings


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
