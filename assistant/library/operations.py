"""The knowledge base: add, replace, remove and list reports; `corpus/` + `catalog.toml` stay the
source of truth, and every change ends in an index rebuild (which re-embeds only new chunks).

An upload is first staged and checked (`library_uploads.Uploads`); nothing in `corpus/` changes
until `add`. A change (`add`, `replace`, `remove`, `restore`) writes the report under a safe name (its
doc_id) by rename, edits the catalog atomically and rebuilds the index; when the build fails, the
files and the catalog are put back as they were and the previous index keeps serving (build_index
swaps only on success). Every step is journalled first (`journal.py`): a change cut short by a crash
is settled at the next start without a rebuild. A replaced or removed report's file and entry are
kept as a version (`versions.py`) that `restore` brings back. One change at a time per index (a
file lock: the CLI and the app do not interleave).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock, Timeout

from assistant.config import Settings
from assistant.library import versions
from assistant.library.catalog import CatalogError, CatalogFields, check_fields, write_catalog
from assistant.library.journal import LOCK, Transaction, settle_all
from assistant.library.uploads import LibraryError, Upload, Uploads

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class Change:
    action: str  # add | replace | remove | reindex
    doc_ids: list[str]
    seconds: float
    summary: str  # the build's summary
    embedded: int = 0
    reused: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class _ProgressEmbedder:
    """The build's embedder, calling `progress` between batches (build_index embeds in one call)."""

    def __init__(self, model: Any, progress: Progress, batch: int = 64) -> None:
        self._model, self._progress, self._batch = model, progress, batch

    def encode_document(self, texts, **kwargs):
        import numpy as np

        texts = list(texts)
        parts = []
        for start in range(0, len(texts), self._batch):
            self._progress("embedding", start, len(texts))
            parts.append(np.asarray(self._model.encode_document(texts[start:start + self._batch], **kwargs)))
        self._progress("embedding", len(texts), len(texts))
        return np.concatenate(parts) if parts else self._model.encode_document(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __getitem__(self, index: int) -> Any:
        return self._model[index]

    def __len__(self) -> int:
        return len(self._model)


class Library:
    def __init__(self, settings: Settings, embedder: Any = None) -> None:
        self.settings = settings
        self.embedder = embedder  # the app's model (loaded once); None: build_index loads it
        self.corpus_dir = Path(settings.corpus_dir)
        self.uploads = Uploads(settings)

    def stage(self, name: str, chunks) -> Upload:
        """Check one upload (streamed as byte chunks) and keep it until `add` or `replace`."""
        return self.uploads.stage(name, chunks)

    def stage_file(self, path: Path, name: str | None = None) -> Upload:
        def chunks():
            with Path(path).open("rb") as handle:
                yield from iter(lambda: handle.read(1 << 20), b"")

        try:
            size = Path(path).stat().st_size
        except OSError as exc:
            raise LibraryError(f"{path}: cannot be read ({exc.strerror})") from None
        limit = self.settings.max_upload_bytes
        if limit and size > limit:  # before copying anything
            raise LibraryError(f"{name or Path(path).name}: the file is {size / 2**20:.1f} MB, larger than the upload limit of "
                               f"{limit / 2**20:.3g} MB (setting max_upload_bytes); split it or raise the limit", "too_large")
        return self.uploads.stage(name or Path(path).name, chunks())

    def documents(self, index: Any = None) -> list:
        """Every report with its status (library_status.DocumentStatus); `index`: the serving one."""
        from assistant.library.status import document_statuses

        try:
            return document_statuses(self.settings, index)
        except CatalogError as exc:
            raise LibraryError(str(exc)) from None

    # ------------------------------------------------------------------ changes

    def add(self, items: list[tuple[str, CatalogFields]], progress: Progress | None = None) -> Change:
        """Add staged uploads (token, edited fields) to corpus/ and the catalog, then rebuild."""
        if not items:
            raise LibraryError("nothing to add: upload a file first")

        def change(tx: Transaction) -> list[str]:
            taken = {str(e.get("doc_id", "")) for e in self.uploads.entries()}
            done = []
            for token, fields in items:
                upload = self.uploads.get(token)
                try:
                    fields = check_fields(fields, taken)
                except CatalogError as exc:
                    raise LibraryError(f"{upload.name}: {exc}") from None
                duplicate = self.uploads.duplicate_of(upload.sha256, upload.text_sha256)
                if duplicate:
                    raise LibraryError(f"{upload.name}: the same content was added meanwhile as {duplicate!r}; nothing was added", "duplicate")
                target = self.corpus_dir / f"{fields.doc_id}{upload.suffix}"
                if target.exists():
                    raise LibraryError(f"{upload.name}: {target.name} already exists in {self.corpus_dir}; choose another doc_id")
                tx.store(self.uploads.file(upload), target)
                write_catalog(self.corpus_dir, add=self._entry(fields, target.name, upload))
                taken.add(fields.doc_id)
                done.append(fields.doc_id)
            return done

        staged = [self.uploads.get(token) for token, _ in items]  # unknown tokens are refused before anything changes
        result = self._change("add", change, progress)
        for upload in staged:  # committed: the clean-up cannot fail the change
            self.uploads.release(upload)
        return result

    def replace(self, doc_id: str, token: str, progress: Progress | None = None) -> Change:
        """A new version of a catalogued report: same doc_id and fields, the new file."""
        entry = self.entry(doc_id)

        def change(tx: Transaction) -> list[str]:
            upload = self.uploads.get(token)
            duplicate = self.uploads.duplicate_of(upload.sha256, upload.text_sha256)
            if duplicate:
                raise LibraryError(f"{upload.name}: the same content is already in the knowledge base as {duplicate!r}", "duplicate")
            old = self.corpus_dir / str(entry["file"])
            target = self.corpus_dir / f"{doc_id}{upload.suffix}"
            if old.is_file():
                tx.discard(old, keep=(doc_id, entry))
            tx.store(self.uploads.file(upload), target)
            fields = CatalogFields(doc_id, str(entry.get("title", doc_id)), str(entry.get("district", "")),
                                   str(entry.get("year", "")), str(entry.get("kind", "unknown")))
            write_catalog(self.corpus_dir, update={k: v for k, v in self._entry(fields, target.name, upload).items()})
            return [doc_id]

        staged = self.uploads.get(token)
        result = self._change("replace", change, progress)
        self.uploads.release(staged)  # committed: the clean-up cannot fail the change
        return result

    def remove(self, doc_id: str, progress: Progress | None = None) -> Change:
        """Take a report out of corpus/ and the catalog; the rebuild drops its chunks, vectors,
        BM25 terms, facts and structure (nothing of it is carried over: the index is made from corpus/)."""
        entry = self.entry(doc_id)

        def change(tx: Transaction) -> list[str]:
            path = self.corpus_dir / str(entry.get("file", ""))
            if entry.get("file") and path.is_file() and path.resolve().parent == self.corpus_dir.resolve():
                tx.discard(path, keep=(doc_id, entry))
            write_catalog(self.corpus_dir, remove=doc_id)
            return [doc_id]

        return self._change("remove", change, progress)

    def versions(self, doc_id: str) -> list[versions.Version]:
        """The kept previous versions of a report (replaced or removed), newest first."""
        return versions.versions(self.corpus_dir, doc_id)

    def removed(self) -> list[dict]:
        """Reports no longer in the catalog whose previous version is kept (restorable), newest version each."""
        listed = {str(e.get("doc_id", "")) for e in self.uploads.entries()}
        return [kept[0].to_dict() for doc_id, kept in versions.all_versions(self.corpus_dir).items() if doc_id not in listed]

    def restore(self, doc_id: str, version: str = "", progress: Progress | None = None) -> Change:
        """Bring back a previous version of a report (the newest, or the one named `version`): its file
        and catalog entry replace the current ones, which are kept as a version in turn (so a restore
        can be undone the same way); a removed report is added back. Then rebuild, like any change."""
        kept = self.versions(doc_id)
        chosen = next((v for v in kept if v.id == version), None) if version else (kept[0] if kept else None)
        if chosen is None:
            listed = ", ".join(v.id for v in kept) or "none"
            raise LibraryError(f"{doc_id[:80]!r} has no previous version {version[:40]!r}; kept: {listed}" if version else
                               f"{doc_id[:80]!r} has no previous version to restore (one is kept when a report is replaced or removed)")
        current = next((e for e in self.uploads.entries() if e.get("doc_id") == doc_id), None)

        def change(tx: Transaction) -> list[str]:
            if current is not None:
                old = self.corpus_dir / str(current.get("file", ""))
                if current.get("file") and old.is_file() and old.resolve().parent == self.corpus_dir.resolve():
                    tx.discard(old, keep=(doc_id, current))
            target = self.corpus_dir / chosen.file.name
            if target.exists():
                raise LibraryError(f"{target.name} already exists in {self.corpus_dir} (another report's file?); "
                                   "move it away before restoring")
            tx.store(chosen.file, target)
            entry = {k: v for k, v in chosen.entry.items() if k not in ("replaced", "restored")}
            entry |= {"doc_id": doc_id, "file": target.name, "restored": chosen.id}
            if current is not None:
                write_catalog(self.corpus_dir, update=entry, exact=True)
            else:
                write_catalog(self.corpus_dir, add=entry)
            tx.consume(chosen.folder)
            return [doc_id]

        return self._change("restore", change, progress)

    def reindex(self, progress: Progress | None = None) -> Change:
        return self._change("reindex", lambda tx: [], progress)

    def _model(self) -> Any:
        if self.embedder is None:
            from assistant.indexing.embed import load_embedder

            self.embedder = load_embedder(self.settings.model)
        return self.embedder

    def entry(self, doc_id: str) -> dict:
        """The catalog entry of a report; LibraryError naming the known ids when there is none."""
        entry = next((e for e in self.uploads.entries() if e.get("doc_id") == doc_id), None)
        if entry is None:
            known = ", ".join(sorted(str(e.get("doc_id")) for e in self.uploads.entries()))
            raise LibraryError(f"no report {doc_id[:80]!r} in the catalog; known: {known}")
        return entry

    @staticmethod
    def _entry(fields: CatalogFields, file_name: str, upload: Upload) -> dict:
        entry = {**fields.to_dict(), "file": file_name, "source": upload.name, "format": upload.format,
                 "sha256": upload.sha256, "text_sha256": upload.text_sha256, "pages": upload.pages,
                 "added": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if upload.warnings:
            entry["warnings"] = list(upload.warnings)
        return entry

    def _change(self, action: str, change: Callable[[Transaction], list[str]], progress: Progress | None) -> Change:
        from assistant.indexing.manifest import IndexProblem
        from assistant.indexing.build import build_index

        progress = progress or (lambda stage, done, total: None)
        Path(self.settings.index_dir).mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(Path(self.settings.index_dir) / LOCK))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise LibraryError("another change to the knowledge base is running; wait for it to finish", "busy") from None
        started = time.perf_counter()
        try:
            keep = self.settings.keep_versions
            for note in settle_all(self.corpus_dir, Path(self.settings.index_dir), keep):  # a change a crash cut short
                log.warning("%s", note)
            progress("saving", 0, 1)
            tx = Transaction(self.corpus_dir, Path(self.settings.index_dir), action, keep)
            try:
                doc_ids = change(tx)
                tx.changes(doc_ids)
                progress("indexing", 0, 1)
                report = build_index(self.settings, embedder=_ProgressEmbedder(self._model(), progress), progress=False)
                failed = [d for d in doc_ids if d in report.kept or d in report.missing]
                if failed:
                    why = "; ".join({**report.kept, **report.missing}[d] for d in failed)
                    raise LibraryError(f"{', '.join(failed)} could not be indexed ({why}); nothing was changed", "failed")
            except IndexProblem as exc:
                tx.rollback()
                raise LibraryError(f"the index could not be rebuilt, nothing was changed and the previous index keeps serving: {exc}", "failed") from None
            except BaseException:
                tx.rollback()
                raise
            tx.commit()
        finally:
            lock.release()
        log.info("library %s %s: %s", action, doc_ids, report.summary().splitlines()[1])
        return Change(action, doc_ids, time.perf_counter() - started, report.summary(), report.embedded, report.reused)
