"""Previous versions of reports: a replaced (or removed) report's file and its catalog entry are kept
under `corpus/.versions/<doc_id>/<when>/`, so a replace or a delete can be undone (`Library.restore`,
`assistant restore`, the 资料库 page's 恢复上一版本 button; issue 23).

Each version folder holds the file as it was in corpus/ and `entry.json`, the catalog entry it had,
plus `replaced` (when it was put aside). Folder names start with a UTC time stamp, so their order
is the order of the changes. The corpus loader reads only the files at the top of corpus/, so
nothing here is ever indexed. The newest `keep_versions` versions of a report are kept (0: all).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from assistant.library.catalog import DOC_ID, atomic_write

VERSIONS = ".versions"
ENTRY = "entry.json"


@dataclass(frozen=True)
class Version:
    doc_id: str
    folder: Path
    file: Path
    entry: dict  # the catalog entry the report had in this version

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def replaced(self) -> str:
        return str(self.entry.get("replaced", ""))

    def to_dict(self) -> dict:
        return {"doc_id": self.doc_id, "version": self.id, "file": self.file.name, "title": str(self.entry.get("title", "")),
                "source": str(self.entry.get("source", "")), "added": str(self.entry.get("added", "")),
                "replaced": self.replaced, "size": self.file.stat().st_size if self.file.is_file() else 0}


def new_folder(doc_id: str) -> str:
    """The name (relative to corpus/) of the folder a version of `doc_id` put aside now will get."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{VERSIONS}/{doc_id}/{stamp}-{uuid.uuid4().hex[:4]}"


def keep(corpus_dir: Path, folder: str, moved: Path, entry: dict) -> None:
    """Move `moved` (a report's file, put aside by a change) into the version folder `folder` with
    its catalog entry. Idempotent: a recovery after a crash may run it again."""
    target = corpus_dir / folder
    target.mkdir(parents=True, exist_ok=True)
    if not (target / ENTRY).exists():
        stamped = entry | {"replaced": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        atomic_write(target / ENTRY, json.dumps(stamped, ensure_ascii=False, indent=1, default=str).encode("utf-8"))
    if moved.is_file():
        os.replace(moved, target / moved.name)


def versions(corpus_dir: Path, doc_id: str) -> list[Version]:
    """The kept versions of a report, newest first (incomplete folders are skipped)."""
    if not DOC_ID.fullmatch(doc_id or ""):
        return []
    found = []
    folder = corpus_dir / VERSIONS / doc_id
    for path in sorted(folder.iterdir(), reverse=True) if folder.is_dir() else []:
        try:
            entry = json.loads((path / ENTRY).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        file = path / Path(str(entry.get("file", ""))).name
        if isinstance(entry, dict) and entry.get("file") and file.is_file():
            found.append(Version(doc_id, path, file, entry))
    return found


def all_versions(corpus_dir: Path) -> dict[str, list[Version]]:
    """doc_id -> its kept versions (newest first), for every report that has any."""
    root = corpus_dir / VERSIONS
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return {name: found for name in names if (found := versions(corpus_dir, name))}


def prune(corpus_dir: Path, doc_id: str, keep_count: int) -> None:
    """Delete the oldest versions of a report beyond the newest `keep_count` (0: keep all)."""
    if keep_count > 0:
        for old in versions(corpus_dir, doc_id)[keep_count:]:
            shutil.rmtree(old.folder, ignore_errors=True)
