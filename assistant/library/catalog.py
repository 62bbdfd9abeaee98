"""Catalog entries for the knowledge-base page: prefilled from a report's title, checked, and
written into `corpus/catalog.toml` without disturbing its comments or the other entries.

The prefill reads its cues from `vocab/library.toml` (kinds, five-year-plan periods, title endings)
and the district names from `vocab/places.toml`; the user edits the result before indexing.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import tomlkit

from assistant.ingest.corpus import CATALOG_NAME, KINDS, slugify

VOCAB = Path(__file__).resolve().parent.parent / "vocab"
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


@lru_cache(maxsize=1)
def _vocab() -> tuple[dict, dict]:
    library = tomllib.loads((VOCAB / "library.toml").read_text(encoding="utf-8"))
    places = tomllib.loads((VOCAB / "places.toml").read_text(encoding="utf-8"))
    return library, places


def _squash(text: str) -> str:
    """NFKC, and no spaces between CJK characters (PDF text layers break titles into pieces)."""
    text = unicodedata.normalize("NFKC", text).strip()
    return re.sub(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])", "", text)


def title_from(file_name: str, text: str) -> str:
    """The file's name when it says something in Chinese, else the report's first lines up to a
    line that ends like a title (…报告, …纲要), else the file's name."""
    stem = Path(file_name).stem
    if re.search(r"[\u4e00-\u9fff]{4,}", stem):
        return _squash(stem)
    rules = _vocab()[0]["title"]
    lines = [_squash(line) for line in text.splitlines() if _squash(line)][: rules["max_lines"]]
    lines = [re.sub(r"^\[bookmark:[^\]]*\]", "", line) for line in lines]
    for n in range(1, len(lines) + 1):
        candidate = "".join(lines[:n])
        if len(candidate) > rules["max_chars"]:
            break
        if candidate.endswith(tuple(rules["endings"])):
            return candidate
    return lines[0][: rules["max_chars"]] if lines and re.search(r"[\u4e00-\u9fff]", lines[0]) else stem


def district_from(title: str) -> str:
    places = _vocab()[1]
    folded = unicodedata.normalize("NFKC", title).lower()
    for name, aliases in places.get("corpus_districts", {}).items():
        if any(alias.lower() in folded for alias in (name, *aliases)):
            return name
    for name in places.get("other_places", {}):  # another district of Shanghai: a new district for the corpus
        if name.endswith("区") and name in title:
            return name
    return ""


def years_from(title: str) -> str:
    library = _vocab()[0]
    for cue, period in library["plan_periods"].items():
        if cue in title:
            return period
    years = sorted({int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d\d)(?=\s*年|\D|$)", title)})
    if not years:
        return ""
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


def kind_from(title: str) -> str:
    for kind, cues in _vocab()[0]["kinds"].items():
        if any(cue in title for cue in cues):
            return kind
    return "unknown"


def doc_id_for(file_name: str, fields: dict, taken: set[str]) -> str:
    """An ASCII file name gives the id ("jingan-2023-plan-report.pdf"); otherwise district, year
    and kind do (the district's pinyin alias from places.toml). Unique among `taken`."""
    stem = Path(file_name).stem
    if re.search(r"[a-zA-Z]{3,}", stem) and not re.search(r"[^\x00-\x7f]", stem):
        base = slugify(stem)
    else:
        places = _vocab()[1].get("corpus_districts", {})
        pinyin = next((a for a in places.get(fields.get("district", ""), []) if re.fullmatch(r"[a-z]+", a)), "")
        year = fields.get("year", "").split("-")[0]
        base = slugify("-".join(p for p in (pinyin, year, fields.get("kind", "").replace("_", "-")) if p and p != "unknown")
                       or "report")
    base = base[:72].strip("-") or "report"
    doc_id, n = base, 2
    while doc_id in taken:
        doc_id, n = f"{base}-{n}", n + 1
    return doc_id


def prefill(file_name: str, text: str, taken: set[str]) -> CatalogFields:
    title = title_from(file_name, text)
    fields = {"title": title, "district": district_from(title), "year": years_from(title), "kind": kind_from(title)}
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
    if clean.kind not in KINDS:
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


def write_catalog(corpus_dir: Path, add: dict | None = None, remove: str | None = None, update: dict | None = None) -> None:
    """Append an entry, drop one (by doc_id) or change one's keys, keeping everything else of the
    file as it is; written to a temporary file and renamed, so a crash never leaves half a catalog."""
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
