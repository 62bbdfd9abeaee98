"""Readers: a report file (TXT, Markdown, PDF, DOCX, ...) -> plain text shaped like `corpus/*.txt`.

One module per format; each returns the text `parse.py` already understands (headings on their
own lines, paragraphs separated by blank lines, table rows as tab-separated cells) plus what the
format gives for free (page starts). `read_document` checks what every format shares first —
the file exists, is not empty, is under the size limit, and its content is what its name says —
then hands it to the reader for its suffix. Every failure is an `UnreadableDocument` whose
message names the file, the problem and what to do.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 100 * 1024 * 1024  # the largest file accepted by default (issue 11: setting, default 100 MB)


@dataclass(frozen=True)
class ExtractedText:
    text: str  # plain text shaped like corpus/*.txt so parse.py recovers headings/tables
    format: str  # "pdf" | "docx" | "ofd" | "txt" | "md"
    page_starts: tuple[int, ...] = ()  # offset in `text` where each page starts; () when the format has no pages
    warnings: tuple[str, ...] = ()  # e.g. "page 3 has no text layer"

    def page_at(self, offset: int) -> int:
        """1-based page holding character `offset` of `text`; 0 when the format has no pages."""
        if not self.page_starts:
            return 0
        return max(bisect.bisect_right(self.page_starts, offset), 1)

    def line_pages(self) -> tuple[int, ...]:
        """Page of each line of `text` (index 0 = line 1, as `Block.lines` counts); all 0 without pages."""
        pages, offset = [], 0
        for line in self.text.split("\n"):
            pages.append(self.page_at(offset))
            offset += len(line) + 1
        return tuple(pages)


@dataclass(frozen=True)
class Limits:
    """What reading one file may cost (issue 23: a 1.85 MB DOCX holding 46 MB of XML took 12 min of
    CPU; a 50-page scan took 51 s of OCR). 0 = no limit. Uploads get them from the settings
    max_docx_xml_bytes, max_pdf_pages and max_ocr_pages; `Limits()` (none) is for the corpus the
    build reads, whose files were checked when they were uploaded or put there by hand."""

    xml_bytes: int = 0  # the XML of a DOCX package, inflated (the declared sizes, checked before anything is inflated)
    pages: int = 0  # pages of a PDF
    ocr_pages: int = 0  # pages of a PDF without a text layer that OCR would read

    @classmethod
    def from_settings(cls, settings: object) -> "Limits":
        return cls(getattr(settings, "max_docx_xml_bytes", 0), getattr(settings, "max_pdf_pages", 0),
                   getattr(settings, "max_ocr_pages", 0))


class UnreadableDocument(ValueError):
    """A file that cannot be read as a report; str() names the file, the problem and what to do."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


from assistant.ingest.readers import docx as _docx, pdf as _pdf, text as _text  # noqa: E402  (the readers import the names above)

_READERS = {".txt": _text.read_txt, ".md": _text.read_markdown, ".docx": _docx.read_docx, ".pdf": _pdf.read_pdf}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_READERS)
# formats staff have that we cannot read yet, with why and what to do instead (eval/reports/formats.md)
_NOT_SUPPORTED = {
    ".ofd": " yet (the one OFD library we could test, easyofd, failed to read OFD files; see "
            "eval/reports/formats.md); open it in an OFD reader (数科, 福昕) and save it as PDF",
    ".doc": " (the old binary Word format); open it in Word or WPS and save it as .docx",
    ".wps": " (WPS's own format); open it in WPS and save it as .docx",
}


def read_document(path: Path, max_bytes: int = MAX_BYTES, limits: Limits = Limits()) -> ExtractedText:
    """Read one report file of any supported format; raise UnreadableDocument when it cannot be used
    (or would cost more than `limits` to read)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        hint = _NOT_SUPPORTED.get(suffix, "")
        raise UnreadableDocument(path, f"files of type {suffix or '(no extension)'} are not supported{hint}; "
                                 f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    if not path.is_file():
        raise UnreadableDocument(path, "does not exist or is not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise UnreadableDocument(path, f"is {_mb(size)}, larger than the {_mb(max_bytes)} limit; "
                                 "split it or raise the limit")
    if size == 0:
        raise UnreadableDocument(path, "is empty (0 bytes); upload the file again")
    try:
        _check_content(path, suffix)
        extracted = _READERS[suffix](path, max_bytes, **({"limits": limits} if suffix in (".docx", ".pdf") else {}))
    except OSError as exc:  # unreadable (permissions, a disk error): named like every other failure
        raise UnreadableDocument(path, f"cannot be read ({exc.strerror or exc}); check the file and upload it again") from None
    if not extracted.text.strip():
        raise UnreadableDocument(path, "contains no text")
    return extracted


def _mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 10 * 2**20 else f"{size / 2**20:.1f} MB"


# what a file's first bytes say it is (its "magic"), whatever its name says
_OLE2 = b"\xd0\xcf\x11\xe0"
_MAGIC = ((b"%PDF-", "a PDF file"), (b"PK\x03\x04", "a ZIP package (DOCX, OFD, XLSX, ...)"),
          (_OLE2, "an OLE2 file (an old .doc/.xls, or an encrypted Office file)"),
          (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"))
_EXPECTED = {".txt": None, ".md": None, ".pdf": b"%PDF-", ".docx": b"PK\x03\x04", ".ofd": b"PK\x03\x04"}


def _check_content(path: Path, suffix: str) -> None:
    """The name's suffix and the content must agree: a PDF renamed .docx is named, not mis-parsed."""
    with path.open("rb") as handle:
        head = handle.read(1024)
    found = next(((magic, what) for magic, what in _MAGIC if head.startswith(magic)), None)
    expected = _EXPECTED.get(suffix)
    if suffix == ".docx" and found is not None and found[0] == _OLE2:
        raise UnreadableDocument(path, "is password-protected (Word stores an encrypted .docx as an OLE2 file) "
                                 "or an old-format .doc; remove the password, or save it as .docx, and upload it again")
    if expected is None:  # a text format: any known binary signature is a mismatch
        if found is not None:
            raise UnreadableDocument(path, f"is named {suffix} but its content is binary, {found[1]}; "
                                     "give it the right extension")
        return
    if expected == b"%PDF-" and b"%PDF-" in head:  # a PDF may have a few bytes of junk before its header
        return
    if not head.startswith(expected):
        what = found[1] if found else "not a " + suffix.lstrip(".").upper() + " file (unknown content)"
        raise UnreadableDocument(path, f"is named {suffix} but its content is {what}; "
                                 "give it the right extension or export it again")


__all__ = ["ExtractedText", "Limits", "MAX_BYTES", "SUPPORTED_SUFFIXES", "UnreadableDocument", "read_document"]
