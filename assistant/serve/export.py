"""Answers as text to paste or keep: plain text (the chat's 复制 Copy) and Markdown; Word is in
export_docx.py. Pure functions of the typed records (`Answer`, `Citation`): no I/O, no Gradio.

The answer keeps its [n] markers; its sources follow as a numbered list, each with the report's
title, the section path, the page (PDF) and the link to the source viewer, made absolute with
`base_url` (the `public_url` setting or the request's own) so that it opens from Word, WeChat or
a mail. Nothing here is HTML: what the chat shows as links is written as text.
"""

from __future__ import annotations

import re
from typing import Sequence

from assistant.models import Answer, Citation, Hit
from assistant.serve.viewer import page_label

MARKER = re.compile(r"\[(\d{1,3})\]")
SOURCES = "来源 Sources"
CLOSEST = "最接近的段落 Closest passages"
DEFAULT_TITLE = "政策问答 Policy Q&A"


def absolute(url: str, base_url: str = "") -> str:
    """A citation's `/source/…` link under `base_url` ("" leaves it as it is)."""
    if not base_url or re.match(r"^[a-z][a-z0-9+.-]*://", url, re.I):
        return url
    return base_url.rstrip("/") + "/" + url.lstrip("/")


def section_of(breadcrumb: Sequence[str]) -> str:
    return " › ".join(part.strip() for part in breadcrumb if part and part.strip())


def source_parts(citation: Citation) -> list[str]:
    """Title, section path and page of a cited passage (those it has)."""
    return [part for part in (citation.title.strip(), section_of(citation.breadcrumb), page_label(citation.page)) if part]


def passage_parts(hit: Hit) -> list[str]:
    chunk = hit.chunk
    return [part for part in (chunk.title.strip(), section_of(chunk.breadcrumb), page_label(chunk.page)) if part]


def cited_numbers(text: str) -> list[int]:
    """The citation numbers the text uses, in the order it first uses them."""
    return list(dict.fromkeys(int(m.group(1)) for m in MARKER.finditer(text)))


def ordered_citations(answer: Answer) -> list[Citation]:
    """The answer's citations in their numbers' order (a citation the text never marks comes last)."""
    return sorted(answer.citations, key=lambda c: c.n)


def clean_text(text: str) -> str:
    """One answer's text as lines: cells of a pasted row (tabs) read as ' · ', no trailing blanks."""
    lines = [" · ".join(cell.strip() for cell in line.split("\t") if cell.strip()) if "\t" in line else line.rstrip()
             for line in text.strip().splitlines()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plain text


def plain_text(answer: Answer, base_url: str = "") -> str:
    """The answer with its [n] markers, then its sources: '[n] title · section · 第p页' and the link
    on the next line. A refusal lists the closest passages instead when it cites nothing."""
    lines = [clean_text(answer.text)]
    citations = ordered_citations(answer)
    if citations:
        lines += ["", f"{SOURCES}:"]
        for citation in citations:
            lines.append(f"[{citation.n}] " + " · ".join(source_parts(citation)))
            lines.append(f"    {absolute(citation.url, base_url)}")
    elif answer.refused and answer.closest:
        lines += ["", f"{CLOSEST}:"]
        for hit in answer.closest:
            lines.append("- " + " · ".join(passage_parts(hit)))
            lines.append(f"    {absolute(hit.chunk.url, base_url)}")
    return "\n".join(lines)


def conversation_text(answers: Sequence[Answer], title: str = "", base_url: str = "") -> str:
    """A whole conversation as plain text: each question, then its answer as `plain_text` writes it."""
    parts = [title or DEFAULT_TITLE]
    for answer in answers:
        parts.append(f"问 Q：{' '.join(answer.question.split())}\n\n{plain_text(answer, base_url)}")
    return "\n\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def md_escape(text: str) -> str:
    """Text that Markdown shows as written: its markup characters escaped, the [n] markers kept
    (CommonMark shows a bracketed number that no link definition names as it is)."""
    pieces = MARKER.split(text)  # text, number, text, number, …
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(f"[{piece}]")
            continue
        piece = _MD_SPECIAL.sub(r"\\\1", piece)
        out.append("\\" + piece if i and piece.startswith("(") else piece)  # "[1](" would be a link
    text = "".join(out)
    return re.sub(r"^(\s*)(\d+)\.(\s)", r"\1\2\\.\3", text, flags=re.M)  # "2023. …" is not a list item


def _md_link(label: str, url: str) -> str:
    url = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"[{md_escape(label)}]({url})"


def markdown_answer(answer: Answer, base_url: str = "", heading: str = "##") -> str:
    """One question and its answer: a heading with the question, the answer's lines as paragraphs,
    the reading in italics, the sources as a list ('[n] [title](link) · section · 第p页')."""
    parts = [f"{heading} 问 Q：{md_escape(' '.join(answer.question.split()))}"] if answer.question else []
    parts += [md_escape(line) for line in clean_text(answer.text).splitlines() if line.strip()]
    if answer.reading:
        parts.append(f"*{md_escape(answer.reading)}*")
    citations = ordered_citations(answer)
    if citations:
        items = []
        for citation in citations:
            rest = [md_escape(part) for part in source_parts(citation)[1:]]
            items.append(f"- [{citation.n}] " + " · ".join([_md_link(citation.title or citation.url,
                                                                       absolute(citation.url, base_url))] + rest))
        parts.append(f"**{SOURCES}**\n\n" + "\n".join(items))
    elif answer.refused and answer.closest:
        items = ["- " + " · ".join([_md_link(hit.chunk.title or hit.chunk.url, absolute(hit.chunk.url, base_url))]
                                    + [md_escape(part) for part in passage_parts(hit)[1:]]) for hit in answer.closest]
        parts.append(f"**{CLOSEST}**\n\n" + "\n".join(items))
    return "\n\n".join(parts)


def markdown(answers: Sequence[Answer], title: str = "", base_url: str = "", exported: str = "") -> str:
    """One answer or a whole conversation as a Markdown document."""
    head = [f"# {md_escape(title or DEFAULT_TITLE)}"]
    if exported:
        head.append(f"*{md_escape(exported)}*")
    return "\n\n".join(head + [markdown_answer(answer, base_url) for answer in answers]) + "\n"
