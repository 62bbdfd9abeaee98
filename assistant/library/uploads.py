"""Uploads waiting to be added to the knowledge base (`data_dir/uploads`).

An upload is streamed to `<token>.part` with a byte limit and a running sha256, and renamed to
`<token><suffix>` only when it is complete: an interrupted upload never becomes a file a reader
opens, let alone a report. It is then read (`readers.read_document`), refused when its content is
already catalogued, and described in `<token>.json` with a prefilled catalog entry the user edits
and a preview of the tables the parser recovered from it (`preview.py`).
Uploads nobody adds are removed after a day. A `.part` is locked (flock) while it is written: one
that nobody holds was left by a crash and is removed at the next start (`clean_interrupted`, from
`journal.recover`) and by every later upload, not after a day (issue 23).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from assistant.config import Settings
from assistant.indexing.integrity import sha256_file
from assistant.library.catalog import CatalogError, CatalogFields, atomic_write, prefill, read_entries
from assistant.library.preview import table_preview
from assistant.models import Document

log = logging.getLogger(__name__)

STALE_UPLOAD_SECONDS = 24 * 3600
PART_GRACE_SECONDS = 1  # a .part younger than this may be one whose writer has not locked it yet
MAX_UNPACKED_RATIO = 100  # a ZIP package (DOCX, OFD) unpacking to more than this x its size is refused...
MAX_UNPACKED_BYTES = 1024 * 2**20  # ...and so is one unpacking to more than 1 GB


class LibraryError(ValueError):
    """A change that was refused or failed; the message names the file and the problem, and nothing was changed.
    `kind`: invalid (the input), too_large, duplicate, busy (another change runs), failed (the build)."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Upload:
    """A checked upload waiting to be added (the catalog fields are a suggestion the user edits)."""

    token: str
    name: str  # the file's name as uploaded
    suffix: str
    size: int
    sha256: str  # of the bytes
    text_sha256: str  # of the extracted text
    format: str
    pages: int
    chars: int
    warnings: tuple[str, ...]
    fields: CatalogFields
    preview: dict = field(default_factory=dict)  # the tables the parser recovered (preview.py)

    def to_dict(self) -> dict:
        return asdict(self) | {"warnings": list(self.warnings)}


def check_name(name: object) -> str:
    """An uploaded file's name, or LibraryError when it could reach outside the upload folder or
    is not a plain name (browsers send the base name only: anything else is a crafted request)."""
    if not isinstance(name, str) or not name.strip():
        raise LibraryError("the upload has no file name; send the file with its name")
    shown = repr(name[:120])
    if "/" in name or "\\" in name or ".." in name or name.strip() == ".":
        raise LibraryError(f"{shown}: the file name contains a path separator or '..'; upload the file itself, under a plain name")
    if any(not ch.isprintable() for ch in name) or len(name.encode("utf-8", "surrogatepass")) > 255:
        raise LibraryError(f"{shown}: the file name contains control characters or is longer than 255 bytes; rename the file")
    return name.strip()


def check_archive(path: Path, name: str) -> None:
    """A DOCX or OFD is a ZIP package: refuse one whose members would unpack to far more than the
    file's size (a "zip bomb" fills memory or disk while being read) before any reader opens it."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(max(info.file_size, 0) for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a readable ZIP: the reader names that problem itself
    size = max(path.stat().st_size, 1)
    if unpacked > MAX_UNPACKED_BYTES or (unpacked > 10 * 2**20 and unpacked > MAX_UNPACKED_RATIO * size):
        raise LibraryError(f"{name}: the package would unpack to {unpacked / 2**20:.0f} MB from {size / 2**20:.2f} MB "
                           "(a \"zip bomb\", or a damaged file); it was not opened. Export the document again.")


class Uploads:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.corpus_dir = Path(settings.corpus_dir)
        self.folder = Path(settings.data_dir) / "uploads"
        self._hashes: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256 of a corpus file

    def entries(self) -> list[dict]:
        try:
            return read_entries(self.corpus_dir)
        except CatalogError as exc:
            raise LibraryError(str(exc)) from None

    def stage(self, name: str, chunks: Iterable[bytes]) -> Upload:
        """Stream one upload to disk (limit, hash), read it and prefill its catalog entry."""
        from assistant.ingest.readers import SUPPORTED_SUFFIXES

        name = check_name(name)
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise LibraryError(f"{name}: files of type {suffix or '(no extension)'} are not supported; "
                               f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clean()
        token = uuid.uuid4().hex
        part, path = self.folder / f"{token}.part", self.folder / f"{token}{suffix}"
        limit, size, digest = self.settings.max_upload_bytes, 0, hashlib.sha256()
        try:
            with part.open("wb") as out:
                fcntl.flock(out, fcntl.LOCK_EX)  # "being written": clean_interrupted leaves it alone
                for chunk in chunks:
                    size += len(chunk)
                    if limit and size > limit:
                        raise LibraryError(f"{name}: the file is larger than the upload limit of {limit / 2**20:.3g} MB "
                                           "(setting max_upload_bytes); split it or ask the administrator to raise the limit", "too_large")
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise LibraryError(f"{name}: the file is empty (0 bytes); upload it again")
            os.replace(part, path)  # only a complete upload gets a name a reader will open
        except LibraryError:
            part.unlink(missing_ok=True)
            raise
        except BaseException as exc:  # the client went away, the disk is full, ...
            part.unlink(missing_ok=True)
            raise LibraryError(f"{name}: the upload was interrupted after {size} bytes ({type(exc).__name__}); "
                               "nothing was stored; upload the file again") from None
        try:
            return self._check(token, name, path, size, digest.hexdigest())
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _check(self, token: str, name: str, path: Path, size: int, sha: str) -> Upload:
        from assistant.ingest.readers import Limits, UnreadableDocument, read_document

        if path.suffix in (".docx", ".ofd"):
            check_archive(path, name)
        from assistant.ingest.corpus import MAX_DOCUMENT_BYTES, MAX_FILE_BYTES, TEXT_SUFFIXES

        # the limit the build applies to this format too: a file the build would refuse is refused now
        limit = MAX_FILE_BYTES if path.suffix in TEXT_SUFFIXES else MAX_DOCUMENT_BYTES
        try:
            extracted = read_document(path, max_bytes=min(limit, self.settings.max_upload_bytes or limit),
                                      limits=Limits.from_settings(self.settings))
        except UnreadableDocument as exc:
            raise LibraryError(f"{name}: {exc.reason}") from None
        except Exception as exc:  # noqa: BLE001 - a reader's own bug: the upload is refused, the app stays up
            log.exception("reading upload %r failed", name)
            raise LibraryError(f"{name}: the file could not be read ({type(exc).__name__}: {str(exc)[:200] or 'no details'}); "
                               "check that it opens in an office program, or export it again") from None
        text_sha = hashlib.sha256(extracted.text.encode("utf-8")).hexdigest()
        duplicate = self.duplicate_of(sha, text_sha)
        if duplicate:
            raise LibraryError(f"{name}: the same content is already in the knowledge base as {duplicate!r}; "
                               "nothing was added (replace that report to update it)", "duplicate")
        taken = {str(e.get("doc_id", "")) for e in self.entries()}
        fields = prefill(name, extracted.text, taken)
        document = Document(fields.doc_id, fields.title, fields.district, fields.year, fields.kind, str(path), text_sha)
        preview = table_preview(document, extracted.text, extracted.line_pages() if extracted.page_starts else ())
        upload = Upload(token, name, path.suffix, size, sha, text_sha, extracted.format, len(extracted.page_starts),
                        len(extracted.text), tuple(extracted.warnings), fields, preview)
        atomic_write(self.folder / f"{token}.json", json.dumps(upload.to_dict(), ensure_ascii=False).encode("utf-8"))
        return upload

    def get(self, token: str) -> Upload:
        meta = self.folder / f"{token}.json"
        if not (isinstance(token, str) and len(token) == 32 and token.isalnum() and meta.is_file()):
            raise LibraryError(f"upload {str(token)[:40]!r} is unknown or expired; upload the file again")
        data = json.loads(meta.read_text(encoding="utf-8"))
        data["fields"], data["warnings"] = CatalogFields(**data["fields"]), tuple(data["warnings"])
        return Upload(**data)

    def file(self, upload: Upload) -> Path:
        return self.folder / f"{upload.token}{upload.suffix}"

    def discard(self, token: str) -> None:
        upload = self.get(token)
        for path in (self.file(upload), self.folder / f"{token}.json"):
            path.unlink(missing_ok=True)

    def release(self, upload: Upload) -> None:
        """Clean-up after a committed change: the staged files go, and when they are gone already
        (discarded meanwhile) nothing fails: the change is done (issue 23)."""
        for path in (self.file(upload), self.folder / f"{upload.token}.json"):
            path.unlink(missing_ok=True)

    def _clean(self) -> None:
        self.clean_interrupted()
        cutoff = time.time() - STALE_UPLOAD_SECONDS
        for path in self.folder.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass

    def clean_interrupted(self) -> int:
        """Remove the `.part` files no live upload is writing (its process was killed); how many."""
        removed = 0
        for path in self.folder.glob("*.part") if self.folder.is_dir() else ():
            try:
                if time.time() - path.stat().st_mtime < PART_GRACE_SECONDS:
                    continue
                with path.open("rb") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: being written
                    path.unlink()
                removed += 1
            except OSError:
                continue
        return removed

    def duplicate_of(self, sha: str, text_sha: str) -> str:
        """The doc_id of a catalogued report with these bytes (or this text), or ""."""
        for entry in self.entries():
            path = self.corpus_dir / str(entry.get("file", ""))
            same_bytes = entry.get("sha256") == sha or (path.is_file() and self._file_sha(path) == sha)
            if same_bytes or entry.get("text_sha256") == text_sha:
                return str(entry.get("doc_id", path.name))
        return ""

    def _file_sha(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = sha256_file(path)
        return self._hashes[key]
