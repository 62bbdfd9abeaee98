"""The corpus: report files plus `catalog.toml`, loaded without ever writing to them.

A report may be UTF-8 text, Markdown, PDF or DOCX (`readers.SUPPORTED_SUFFIXES`): each is read
into the text shape parse.py reads by `readers.read_document`; a paged format's page of every
line is kept (`LoadedCorpus.pages`) so blocks, chunks and citations know their page.

A broken file (missing, not UTF-8, empty, binary, too large) becomes a `CorpusProblem`
naming the file (and, for a catalogued report, its doc_id, so that a build can keep the
report's previous version); the other reports still load. A file without a catalog entry is
loaded with defaults and a warning. A missing or unreadable catalog is an error: a build
refuses to run on it rather than re-index every report with default metadata.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from assistant.models import Document
from assistant.ingest.readers import MAX_BYTES as MAX_DOCUMENT_BYTES
from assistant.ingest.readers import SUPPORTED_SUFFIXES, ExtractedText, UnreadableDocument, read_document

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.toml"
MAX_FILE_BYTES = 20 * 1024 * 1024  # the largest text report we expect is a few hundred KB
TEXT_SUFFIXES = (".txt", ".md")  # PDF/DOCX files may be larger (images, fonts): MAX_DOCUMENT_BYTES
# The catalog's document kinds: 年度计划执行情况报告, 国民经济和社会发展五年规划纲要, 专项规划, 行动计划/方案,
# 任务分解表, 政府工作报告, anything else. "unknown" is what a file without a catalog entry gets.
KINDS = ("yearly_report", "five_year_plan", "special_plan", "action_plan", "task_table", "work_report", "article")


@dataclass(frozen=True)
class CorpusProblem:
    path: str
    message: str
    severity: str = "error"  # error: the file is skipped; warning: loaded with defaults
    doc_id: str = ""  # the catalogued report this problem is about ("" for stray files and the catalog)

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


@dataclass
class LoadedCorpus:
    documents: list[tuple[Document, str]] = field(default_factory=list)  # (document, text)
    problems: list[CorpusProblem] = field(default_factory=list)
    pages: dict[str, tuple[int, ...]] = field(default_factory=dict)  # doc_id -> page of each text line (paged formats)

    @property
    def errors(self) -> list[CorpusProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def catalog_errors(self) -> list[CorpusProblem]:
        return catalog_errors(self.problems)


def catalog_errors(problems: list[CorpusProblem]) -> list[CorpusProblem]:
    """Problems that make the catalog as a whole unusable (missing, not TOML, wrong shape)."""
    return [p for p in problems if p.severity == "error" and Path(p.path).name == CATALOG_NAME and not p.doc_id]


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "report"


# A PDF takes seconds to read (7-12 pages/s) and every build reloads the whole corpus: a running
# app that re-indexes after each upload reads an unchanged file once. Keyed by what changes when
# the file is replaced or edited; holds text only (a report is a few hundred KB of it).
_EXTRACTED: dict[tuple, ExtractedText] = {}
_EXTRACTED_MAX = 64


def extract_report(path: Path) -> ExtractedText:
    """Read one report of any supported format; raise ValueError with the reason (not the path)
    when it is unusable."""
    limit = MAX_FILE_BYTES if path.suffix.lower() in TEXT_SUFFIXES else MAX_DOCUMENT_BYTES
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, limit)
    except OSError:
        key = None
    if key in _EXTRACTED:
        return _EXTRACTED[key]
    try:
        extracted = read_document(path, max_bytes=limit)
    except UnreadableDocument as exc:
        raise ValueError(exc.reason) from None
    if key is not None and path.suffix.lower() not in TEXT_SUFFIXES:  # text is read faster than it is looked up
        if len(_EXTRACTED) >= _EXTRACTED_MAX:
            _EXTRACTED.pop(next(iter(_EXTRACTED)))
        _EXTRACTED[key] = extracted
    return extracted


def read_report(path: Path) -> str:
    """The text of one report (as parse.py reads it); ValueError with the reason when it is unusable."""
    return extract_report(path).text


def display_path(path: Path | str) -> str:
    """A path that can always be printed and stored as UTF-8 (undecodable name bytes as \\xNN)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _unusable_name(path: Path, corpus_dir: Path) -> str | None:
    """Why a file found in the corpus folder cannot be a report, or None."""
    if display_path(path.name) != path.name:
        return "the file name is not valid UTF-8; rename the file"
    if path.is_symlink() and path.resolve().parent != corpus_dir.resolve():
        return "is a link to a file outside the corpus folder; copy the report into the folder instead"
    if not path.is_file():
        return "is not a regular file"
    return None


def _read_catalog(corpus_dir: Path, problems: list[CorpusProblem]) -> list[dict]:
    catalog_path = corpus_dir / CATALOG_NAME
    if not catalog_path.exists():
        problems.append(CorpusProblem(str(catalog_path), f"is missing; restore it (e.g. `git checkout {CATALOG_NAME}`) or "
                                      "write one with a [[document]] entry per report (see README: Adding a report)"))
        return []
    try:
        entries = tomllib.loads(catalog_path.read_text(encoding="utf-8")).get("document", [])
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:  # OSError: e.g. a folder
        problems.append(CorpusProblem(str(catalog_path), f"cannot be read as TOML: {exc}", "error"))
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(CorpusProblem(str(catalog_path), "`document` must be a list of [[document]] tables; "
                                      "entries that are not tables are ignored", "error"))
        entries = entries if isinstance(entries, list) else []
    return [e for e in entries if isinstance(e, dict)]


def load_corpus(corpus_dir: str | Path) -> LoadedCorpus:
    corpus_dir = Path(corpus_dir)
    result = LoadedCorpus()
    if not corpus_dir.is_dir():
        result.problems.append(CorpusProblem(str(corpus_dir), "corpus folder does not exist"))
        return result
    entries = _read_catalog(corpus_dir, result.problems)
    seen_ids: set[str] = set()
    catalogued_files: set[str] = set()
    for entry in entries:
        file_name = str(entry.get("file", ""))
        doc_id = str(entry.get("doc_id", "")) or slugify(Path(file_name).stem)
        path = corpus_dir / file_name
        catalogued_files.add(file_name)
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", doc_id):
            result.problems.append(CorpusProblem(str(path), f"doc_id {doc_id!r} must be a lower-case slug (a-z, 0-9, -)"))
            continue
        if doc_id in seen_ids:
            result.problems.append(CorpusProblem(str(path), f"duplicate doc_id {doc_id!r} in {CATALOG_NAME}; the first entry wins"))
            continue
        seen_ids.add(doc_id)  # even if its file fails below: the id is the catalog's, not a stray file's
        if not file_name or not path.is_file() or path.resolve().parent != corpus_dir.resolve():
            result.problems.append(CorpusProblem(str(path), f"catalog entry {doc_id!r} names a file that does not exist in {corpus_dir}",
                                                 doc_id=doc_id))
            continue
        kind = str(entry.get("kind", "unknown"))
        if kind not in KINDS and kind != "unknown":
            result.problems.append(CorpusProblem(str(path), f"unknown kind {kind!r}, expected one of {', '.join(KINDS)}", "warning"))
        _add(result, path, doc_id, entry)
    for path in sorted(p for p in corpus_dir.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES):
        if path.name in catalogued_files:
            continue
        reason = _unusable_name(path, corpus_dir)
        if reason:
            result.problems.append(CorpusProblem(display_path(path), reason))
            continue
        doc_id = slugify(path.stem)
        while doc_id in seen_ids:
            doc_id += "-x"
        result.problems.append(CorpusProblem(str(path), f"not in {CATALOG_NAME}; indexed as {doc_id!r} with default metadata", "warning"))
        if _add(result, path, doc_id, {}):
            seen_ids.add(doc_id)
    for problem in result.problems:
        log.warning("%s", problem)
    return result


def _add(result: LoadedCorpus, path: Path, doc_id: str, entry: dict) -> bool:
    try:
        extracted = extract_report(path)
    except (ValueError, OSError) as exc:
        result.problems.append(CorpusProblem(str(path), str(exc), doc_id=doc_id if entry else ""))
        return False
    text = extracted.text
    for warning in extracted.warnings:  # e.g. a page without a text layer: the rest is indexed
        result.problems.append(CorpusProblem(str(path), warning, "warning", doc_id if entry else ""))
    if extracted.page_starts:
        result.pages[doc_id] = extracted.line_pages()
    document = Document(
        doc_id=doc_id,
        title=str(entry.get("title", path.stem)),
        district=str(entry.get("district", "")),
        year=str(entry.get("year", "")),
        kind=str(entry.get("kind", "unknown")),
        path=str(path),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    result.documents.append((document, text))
    return True
