"""A change to corpus/ with a journal, so that a change cut short (kill -9, power loss) is undone or
finished at the next start in milliseconds, before the index is loaded (issue 23, item 9).

A change (`operations.Library._change`) opens a `Transaction`: the folder
`corpus/.library-trash-<id>/` with `journal.json` and a copy of the catalog. The journal names the
build `current` pointed at when the change began and, written *before* each step, every file the
change creates, every file it puts aside (and which of those become previous versions), and its
state: pending -> commit or rollback. A failed build rolls back (files, catalog, and `current`
when the build had moved it); a successful one commits: put-aside files become versions
(`versions.py`), the folder goes.

At the next start (`recover`, before the app loads the index; also before every change) each
folder left behind is settled: a journal in `commit` or `rollback` is finished; a `pending` one
is committed only when `current` moved on to a build that indexed its reports (the build had
finished), otherwise rolled back; so the previous index matches the corpus again and is loaded
without a rebuild. A folder without a journal (left by a version before this one) holds replaced
originals: they are kept as versions and reported. Interrupted copies (`corpus/.*.part`) go.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from assistant.ingest.corpus import CATALOG_NAME
from assistant.library import versions
from assistant.library.catalog import DOC_ID, atomic_write

log = logging.getLogger(__name__)

PREFIX = ".library-trash-"
JOURNAL = "journal.json"
LOCK = ".library.lock"  # in the index folder: one change at a time per index (CLI and app alike)


def current_build(index_dir: Path) -> str:
    """The name of the build `current` points at ("" when there is none)."""
    link = Path(index_dir) / "current"
    try:
        return link.resolve().name if link.is_symlink() and link.resolve().is_dir() else ""
    except OSError:
        return ""


class Transaction:
    """What a change did to corpus/, journalled, so that a failed build (or the next start after a
    crash) can put it back, and a successful one keeps what it replaced as a version."""

    def __init__(self, corpus_dir: Path, index_dir: Path, action: str, keep_versions: int = 0,
                 folder: Path | None = None, journal: dict | None = None) -> None:
        self.corpus_dir, self.index_dir, self.keep_versions = Path(corpus_dir), Path(index_dir), keep_versions
        if folder is not None:  # a journal found at start-up
            self.folder, self.journal = folder, journal or {}
            return
        self.folder = self.corpus_dir / f"{PREFIX}{uuid.uuid4().hex[:8]}"
        catalog = self.corpus_dir / CATALOG_NAME
        self.journal = {"action": action, "state": "pending", "pid": os.getpid(),
                        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "build": current_build(self.index_dir), "catalog": catalog.is_file(), "doc_ids": [],
                        "created": [], "trashed": [], "consumed": []}
        self.folder.mkdir()
        if catalog.is_file():
            atomic_write(self.folder / CATALOG_NAME, catalog.read_bytes())
        self._save()

    def _save(self) -> None:
        atomic_write(self.folder / JOURNAL, json.dumps(self.journal, ensure_ascii=False, indent=1, default=str).encode("utf-8"))

    def _set(self, **values) -> None:
        self.journal.update(values)
        self._save()

    # ------------------------------------------------------------------ steps (journalled first)

    def changes(self, doc_ids: list[str]) -> None:
        self._set(doc_ids=list(doc_ids))

    def store(self, source: Path, target: Path) -> None:
        """Copy `source` to `target` under a temporary name, then rename: never half a report in corpus/."""
        self._set(created=self.journal["created"] + [target.name])
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:6]}.part")
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def discard(self, path: Path, keep: tuple[str, dict] | None = None) -> None:
        """Put a report's file aside; `keep` = (doc_id, its catalog entry): it becomes a version at the commit."""
        trashed = {"moved": path.name, "original": path.name}
        if keep is not None:
            trashed |= {"doc_id": keep[0], "entry": keep[1], "version": versions.new_folder(keep[0])}
        self._set(trashed=self.journal["trashed"] + [trashed])
        os.replace(path, self.folder / path.name)

    def consume(self, folder: Path) -> None:
        """A version folder the change restores from: deleted at the commit, kept at a rollback."""
        self._set(consumed=self.journal["consumed"] + [str(folder.relative_to(self.corpus_dir))])

    # ------------------------------------------------------------------ endings

    def rollback(self) -> None:
        self._set(state="rollback")
        for name in self.journal["created"]:
            (self.corpus_dir / name).unlink(missing_ok=True)
        for item in self.journal["trashed"]:
            moved = self.folder / item["moved"]
            if moved.is_file():
                os.replace(moved, self.corpus_dir / item["original"])
        catalog, saved = self.corpus_dir / CATALOG_NAME, self.folder / CATALOG_NAME
        if saved.is_file() and (not catalog.is_file() or catalog.read_bytes() != saved.read_bytes()):
            atomic_write(catalog, saved.read_bytes())
        elif not self.journal.get("catalog") and not saved.exists():
            catalog.unlink(missing_ok=True)  # the change wrote the first catalog
        self._back_to_build()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _back_to_build(self) -> None:
        """When the failed change's build had moved `current` (a report that failed to load), point it
        back at the build the change started from: it matches the restored corpus."""
        from assistant.indexing.build import point_current

        build = self.journal.get("build") or ""
        if build and current_build(self.index_dir) not in ("", build):
            point_current(self.index_dir, build)

    def commit(self) -> None:
        self._set(state="commit")
        kept = set()
        for item in self.journal["trashed"]:
            if item.get("version"):
                versions.keep(self.corpus_dir, item["version"], self.folder / item["moved"], item.get("entry") or {})
                kept.add(item["doc_id"])
        for name in self.journal["consumed"]:
            shutil.rmtree(self.corpus_dir / name, ignore_errors=True)
        for doc_id in kept:
            versions.prune(self.corpus_dir, doc_id, self.keep_versions)
        shutil.rmtree(self.folder, ignore_errors=True)

    def settle(self) -> str:
        """Finish a journal found at start-up; what was done, for the log."""
        state, doc_ids = self.journal.get("state"), ", ".join(self.journal.get("doc_ids") or []) or "?"
        what = f"{self.journal.get('action', 'change')} {doc_ids} (started {self.journal.get('started', '?')})"
        if state == "commit" or (state == "pending" and self._indexed()):
            self.commit()
            return f"finished an interrupted {what}: the index already holds it"
        self.rollback()
        return f"rolled back an interrupted {what}: the previous corpus, catalog and index serve"

    def _indexed(self) -> bool:
        """Whether a build made after the change began holds it (current moved, its reports loaded)."""
        from assistant.indexing.manifest import IndexProblem, read_manifest

        now = current_build(self.index_dir)
        if not now or now == self.journal.get("build"):
            return False
        try:
            failed = read_manifest(self.index_dir / "builds" / now, require_checksums=False).get("failed") or {}
        except IndexProblem:
            return False
        return not set(self.journal.get("doc_ids") or []) & set(failed)


# ----------------------------------------------------------------------------- start-up


def settle_all(corpus_dir: Path, index_dir: Path, keep_versions: int = 0) -> list[str]:
    """Settle every change folder in corpus/ (the caller holds the library lock); notes for the log."""
    corpus_dir, notes = Path(corpus_dir), []
    if not corpus_dir.is_dir():
        return notes
    for folder in sorted(p for p in corpus_dir.iterdir() if p.name.startswith(PREFIX) and p.is_dir()):
        try:
            journal = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
        except FileNotFoundError:
            notes.append(_orphan(corpus_dir, folder))
            continue
        except ValueError:  # the journal is written by rename: this is not one of ours
            notes.append(f"{folder} has an unreadable {JOURNAL}; left as it is: check it by hand")
            continue
        notes.append(Transaction(corpus_dir, index_dir, "", keep_versions, folder, journal).settle())
    for temp in corpus_dir.glob(".*.part"):  # a copy or a catalog write cut short
        temp.unlink(missing_ok=True)
        notes.append(f"removed the interrupted copy {temp.name}")
    return notes


def _orphan(corpus_dir: Path, folder: Path) -> str:
    """A folder from before the journal: the originals a crashed change had replaced. Each report file
    named by its id (as changes name them) is kept as that report's version; any other under .versions/_orphaned."""
    from assistant.ingest.readers import SUPPORTED_SUFFIXES
    from assistant.library.catalog import CatalogError, read_entries

    try:
        entries = {str(e.get("doc_id")): e for e in read_entries(corpus_dir)}
    except CatalogError:
        entries = {}
    kept = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        doc_id = path.stem
        if DOC_ID.fullmatch(doc_id) and path.suffix.lower() in SUPPORTED_SUFFIXES:
            entry = {k: v for k, v in entries.get(doc_id, {"doc_id": doc_id, "title": doc_id}).items()
                     if k not in ("sha256", "text_sha256", "pages", "warnings")} | {"file": path.name, "recovered": folder.name}
            target = versions.new_folder(doc_id)
        else:
            entry, target = {"doc_id": "", "file": path.name, "recovered": folder.name}, f"{versions.VERSIONS}/_orphaned/{folder.name}"
        versions.keep(corpus_dir, target, path, entry)
        kept.append(f"{path.name} -> {target}")
    shutil.rmtree(folder, ignore_errors=True)
    return (f"{folder.name}: left by an interrupted change of an older version; "
            f"{'kept ' + '; '.join(kept) if kept else 'it was empty'} (restore with `assistant restore <doc_id>`)")


def recover(settings) -> list[str]:
    """At start-up, before the index is loaded: settle the changes a crash cut short and drop
    interrupted uploads. Fast (renames and a catalog write); notes for the start-up log."""
    from assistant.library.uploads import Uploads

    corpus_dir, index_dir = Path(settings.corpus_dir), Path(settings.index_dir)
    notes = []
    if any(corpus_dir.glob(f"{PREFIX}*")) or any(corpus_dir.glob(".*.part")):
        index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(index_dir / LOCK))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            notes.append("a change to the knowledge base is running in another process: its files are left to it")
        else:
            try:
                notes += settle_all(corpus_dir, index_dir, getattr(settings, "keep_versions", 0))
            finally:
                lock.release()
    removed = Uploads(settings).clean_interrupted()
    if removed:
        notes.append(f"removed {removed} interrupted upload(s) from {Uploads(settings).folder}")
    for note in notes:
        log.warning("%s", note)
    return notes
