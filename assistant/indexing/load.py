"""Loading the current build for serving: every file it reads is verified against the manifest first;
facts and structure are read once per index, when first asked for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

from assistant.config import Settings
from assistant.indexing.chunk_table import ChunkTable, ChunkTableError
from assistant.indexing.lexical import IndexWords, LexicalIndex
from assistant.indexing.manifest import (IndexCorruptError, IndexMissingError, IndexStaleError, check_manifest,
                                         corpus_fingerprint_from_files, current_path, read_manifest, require_checksums, verify_files)
from assistant.indexing.structure_file import StructureError, StructureFile
from assistant.ingest.facts import FactBook, extract_facts, read_facts
from assistant.models import Chunk, ParsedDocument

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


def extract_index_facts(chunks: list[Chunk], documents: dict[str, dict]):
    from assistant.ingest.coverage import Coverage  # each chunk's period comes from its report's kind and headings

    return extract_facts(chunks, Coverage.from_index(chunks, documents).periods)


def load_facts(index: "LoadedIndex") -> FactBook:
    """The index's facts (read once per index); an index built before facts existed gets them extracted now."""
    cached = getattr(index, "_facts", None)
    if cached is None:
        facts = read_facts(index.path)
        if facts is None:
            facts = extract_index_facts(index.chunks, index.manifest["documents"])
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


def load_index(settings: Settings, check: bool = True) -> LoadedIndex:
    """Load the current index; with `check`, raise IndexStaleError when it does not match
    the corpus and the settings (another model, changed reports, other chunking)."""
    from assistant.indexing.embed import model_id as embedder_id

    path = current_path(settings)
    if not path.exists():
        raise IndexMissingError(f"no index in {settings.index_dir}; run `assistant build` (or start the app, which builds it)")
    path = path.resolve()
    manifest = read_manifest(path, require_checksums=False)
    if check:
        reasons = check_manifest(manifest, settings, corpus_fingerprint_from_files(settings), embedder_id(settings.model))
        if reasons:
            raise IndexStaleError(reasons)
    require_checksums(path, manifest)
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
