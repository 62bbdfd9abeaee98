"""Catalog entries for the knowledge-base page: prefilled from a report's title, checked, and
written into `corpus/catalog.toml` without disturbing its comments or the other entries.

The prefill (`prefill.py`) reads its cues from `vocab/library.toml` (kinds, plan spellings, title
endings, web-page chrome) and the places from `vocab/places.toml`; the user edits the result before indexing.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import tomlkit

from assistant.ingest.corpus import CATALOG_NAME, KINDS
from assistant.library.prefill import doc_id_base, prefill_fields

DOC_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
YEAR = re.compile(r"(19|20)\d\d(-(19|20)\d\d)?")


class CatalogError(ValueError):
    """An entry that cannot go into the catalog; the message names the field and what to do."""


@dataclass(frozen=True)
class CatalogFields:
    doc_id: str
    title: str
    district: str
    year: str
    kind: str

    def to_dict(self) -> dict:
        return asdict(self)


def doc_id_for(file_name: str, fields: dict, taken: set[str]) -> str:
    """An ASCII file name gives the id ("jingan-2023-plan-report.pdf"); otherwise district, year
    and kind do (the place's pinyin alias from places.toml). Unique among `taken`."""
    base = doc_id_base(file_name, fields)[:72].strip("-") or "report"
    doc_id, n = base, 2
    while doc_id in taken:
        doc_id, n = f"{base}-{n}", n + 1
    return doc_id


def prefill(file_name: str, text: str, taken: set[str]) -> CatalogFields:
    fields = prefill_fields(file_name, text)
    return CatalogFields(doc_id=doc_id_for(file_name, fields, taken), **fields)


def check_fields(fields: CatalogFields, taken: set[str]) -> CatalogFields:
    """The fields as they will be stored (trimmed); CatalogError naming the first bad one."""
    clean = CatalogFields(*(" ".join(str(v).split()) for v in (fields.doc_id, fields.title, fields.district, fields.year, fields.kind)))
    if not DOC_ID.fullmatch(clean.doc_id):
        raise CatalogError(f"doc_id {clean.doc_id[:90]!r} must be 1-80 lower-case letters, digits or '-', starting with a letter or digit")
    if clean.doc_id in taken:
        raise CatalogError(f"doc_id {clean.doc_id!r} is already in the catalog; choose another id (or replace that report)")
    if not clean.title or len(clean.title) > 200:
        raise CatalogError("title must be 1-200 characters")
    if len(clean.district) > 40:
        raise CatalogError("district must be at most 40 characters, e.g. 静安区")
    if clean.year and not YEAR.fullmatch(clean.year):
        raise CatalogError(f"year {clean.year[:40]!r} must look like 2023 or 2023-2024")
    if clean.kind not in KINDS and clean.kind != "unknown":  # "unknown": an entry written before the kinds were complete
        raise CatalogError(f"kind {clean.kind[:40]!r} must be one of {', '.join(KINDS)}")
    return clean


# ----------------------------------------------------------------------------- the catalog file


def read_entries(corpus_dir: Path) -> list[dict]:
    """The catalog's [[document]] tables as plain dicts (CatalogError when it cannot be read)."""
    path = corpus_dir / CATALOG_NAME
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("document", [])
    except FileNotFoundError:
        return []
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise CatalogError(f"{path} cannot be read ({exc}); fix it before adding or removing reports") from None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def write_catalog(corpus_dir: Path, add: dict | None = None, remove: str | None = None, update: dict | None = None,
                  exact: bool = False) -> None:
    """Append an entry, drop one (by doc_id) or change one's keys (`exact`: and drop the keys `update`
    lacks), keeping everything else of the file as it is; written to a temporary file and renamed,
    so a crash never leaves half a catalog."""
    path = corpus_dir / CATALOG_NAME
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    tables = document.get("document")
    if tables is None:
        tables = tomlkit.aot()
        document.append("document", tables)
    if remove is not None:
        keep = [t for t in tables if t.get("doc_id") != remove]
        if len(keep) == len(tables):
            raise CatalogError(f"{remove!r} is not in {path}")
        while len(tables):
            tables.pop()  # AoT has no clear(); rebuilt below with the same tables and their comments
        for table in keep:
            tables.append(table)
    if update is not None:
        table = next((t for t in tables if t.get("doc_id") == update["doc_id"]), None)
        if table is None:
            raise CatalogError(f"{update['doc_id']!r} is not in {path}")
        for key in [k for k in table if exact and k not in update]:
            del table[key]
        for key, value in update.items():
            table[key] = value
    if add is not None:
        table = tomlkit.table()
        for key, value in add.items():
            table[key] = value
        tables.append(table)
    text = tomlkit.dumps(document)
    tomllib.loads(text)  # never write a catalog the loader cannot read
    atomic_write(path, text.encode("utf-8"))


def atomic_write(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        # mkstemp makes the file private (0600); keep the mode the file had, or the usual one
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
