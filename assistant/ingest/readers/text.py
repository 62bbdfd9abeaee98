"""TXT and Markdown: UTF-8 text as it is (TXT) or with Markdown's marks turned into the shapes
`parse.py` reads (headings on their own line, pipe tables as tab-separated rows)."""

from __future__ import annotations

import re
from pathlib import Path

from assistant.ingest.readers import ExtractedText, UnreadableDocument

_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_MD_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")  # | --- | :---: |
_MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 text of a report; UnreadableDocument with the reason when it is not."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableDocument(path, "is UTF-16 (it starts with a UTF-16 byte-order mark); re-save it as UTF-8")
    if b"\x00" in data[:8192]:
        raise UnreadableDocument(path, "looks binary (contains NUL bytes); reports must be UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(path, f"is not valid UTF-8 (byte {exc.start}); re-save it as UTF-8") from None
    if not text.strip():
        raise UnreadableDocument(path, "is empty")
    return text


def read_txt(path: Path, max_bytes: int) -> ExtractedText:
    return ExtractedText(decode_text(path, path.read_bytes()), "txt")


def markdown_to_text(markdown: str) -> str:
    lines = []
    for line in markdown.replace("\r\n", "\n").split("\n"):
        heading = _MD_HEADING.match(line)
        if heading:  # "## 一、总体要求" -> "一、总体要求" standing alone
            lines += ["", heading.group(1), ""]
        elif _MD_RULE.match(line) and "|" in line:
            continue  # a table's header separator
        elif line.strip().startswith("|") and line.strip().endswith("|"):
            lines.append("\t".join(cell.strip() for cell in line.strip()[1:-1].split("|")))
        else:
            lines.append(_MD_EMPHASIS.sub(r"\2", line))
    return "\n".join(lines).strip("\n") + "\n"


def read_markdown(path: Path, max_bytes: int) -> ExtractedText:
    return ExtractedText(markdown_to_text(decode_text(path, path.read_bytes())), "md")
