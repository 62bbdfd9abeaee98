"""Answers as a Word document (python-docx): one answer or a whole conversation, its citations as
Word endnotes. Pure: typed records in, the .docx's bytes out.

Each [n] of an answer becomes an endnote reference (Word numbers them 1, 2, … through the
document, decimal); the endnote holds the report's title, the section path, the page (PDF) and
a link to the passage in the source viewer (absolute, from `base_url`). A citation marked again
in the same answer points to the same endnote: the later marks show its number as a superscript.
A citation the text never marks gets its endnote at the end of the answer. python-docx has no
endnote API, so the endnotes part (`word/endnotes.xml`), its relationship and the hyperlinks in
it are written with its low-level XML classes.
"""

from __future__ import annotations

import io
from typing import Sequence

from docx import Document
from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
from docx.opc.packuri import PackURI
from docx.opc.part import XmlPart
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Pt, RGBColor

from assistant.models import Answer, Citation
from assistant.serve.export import (CLOSEST, DEFAULT_TITLE, MARKER, clean_text, absolute, ordered_citations, passage_parts,
                                    source_parts)

ENDNOTES_PART = "/word/endnotes.xml"
LINK_COLOR = "0563C1"
_EMPTY_ENDNOTES = (
    f"<w:endnotes {nsdecls('w', 'r')}>"
    '<w:endnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:endnote>'
    '<w:endnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:endnote>'
    "</w:endnotes>"
)


def _text_run(text: str, superscript: bool = False, color: str = "", underline: bool = False, size: float = 0):
    run = OxmlElement("w:r")
    properties = OxmlElement("w:rPr")
    if color:
        properties.append(_attr("w:color", color))
    if size:
        properties.append(_attr("w:sz", str(int(size * 2))))
    if underline:
        properties.append(_attr("w:u", "single"))
    if superscript:
        properties.append(_attr("w:vertAlign", "superscript"))
    if len(properties):
        run.append(properties)
    if text:
        t = OxmlElement("w:t")
        t.text = text
        t.set(qn("xml:space"), "preserve")
        run.append(t)
    return run


def _attr(tag: str, value: str):
    element = OxmlElement(tag)
    element.set(qn("w:val"), value)
    return element


def _hyperlink(paragraph, part, url: str, text: str, size: float = 0):
    """Append a link to `url` (an external relationship of `part`, the part holding the paragraph)."""
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True))
    link.append(_text_run(text, color=LINK_COLOR, underline=True, size=size))
    paragraph.append(link)


class _Endnotes:
    """The document's endnotes part: adds an endnote per citation and its reference in the text."""

    def __init__(self, document) -> None:
        package = document.part.package
        self.part = XmlPart(PackURI(ENDNOTES_PART), CONTENT_TYPE.WML_ENDNOTES, parse_xml(_EMPTY_ENDNOTES), package)
        document.part.relate_to(self.part, RELATIONSHIP_TYPE.ENDNOTES)
        self.count = 0  # the number Word shows on the last endnote
        _decimal_endnotes(document)

    def add(self, paragraph, citation: Citation, base_url: str) -> int:
        """An endnote for `citation`, referenced at the end of `paragraph` (a python-docx Paragraph)."""
        self.count += 1
        note_id = str(self.count)  # ids -1 and 0 are the separators
        reference = _text_run("", superscript=True)
        mark = OxmlElement("w:endnoteReference")
        mark.set(qn("w:id"), note_id)
        reference.append(mark)
        paragraph._p.append(reference)

        note = OxmlElement("w:endnote")
        note.set(qn("w:id"), note_id)
        body = OxmlElement("w:p")
        own_mark = _text_run("", superscript=True)
        own_mark.append(OxmlElement("w:endnoteRef"))
        body.append(own_mark)
        body.append(_text_run(" " + "，".join(source_parts(citation)) + "。", size=10))
        url = absolute(citation.url, base_url)
        if url:
            body.append(_text_run("原文 Source: ", size=10))
            _hyperlink(body, self.part, url, url, size=10)
        note.append(body)
        self.part.element.append(note)
        return self.count


def _decimal_endnotes(document) -> None:
    """Endnotes numbered 1, 2, 3 (Word's default for endnotes is i, ii, iii)."""
    settings = document.settings.element
    properties = parse_xml(f'<w:endnotePr {nsdecls("w")}><w:numFmt w:val="decimal"/>'
                           '<w:endnote w:id="-1"/><w:endnote w:id="0"/></w:endnotePr>')
    compat = settings.find(qn("w:compat"))
    if compat is not None:
        compat.addprevious(properties)  # the schema's order: …, footnotePr, endnotePr, compat, …
    else:
        settings.append(properties)
    section = document.sections[-1]._sectPr
    numbering = parse_xml(f'<w:endnotePr {nsdecls("w")}><w:numFmt w:val="decimal"/></w:endnotePr>')
    page_size = section.find(qn("w:pgSz"))
    if page_size is not None:
        page_size.addprevious(numbering)
    else:
        section.insert(0, numbering)


def _setup(document) -> None:
    """A4, a font with Chinese glyphs for East Asian text."""
    from docx.shared import Cm

    section = document.sections[-1]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.5)
    section.top_margin = section.bottom_margin = Cm(2.5)
    normal = document.styles["Normal"]
    normal.font.size = Pt(11)
    fonts = normal.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), "宋体")


def _answer(document, answer: Answer, notes: _Endnotes, base_url: str) -> None:
    by_n = {c.n: c for c in answer.citations}
    numbers: dict[int, int] = {}  # citation n -> the endnote number Word shows
    paragraph = None
    for line in clean_text(answer.text).splitlines():
        if not line.strip():
            continue
        paragraph = document.add_paragraph()
        at = 0
        for match in MARKER.finditer(line):
            citation = by_n.get(int(match.group(1)))
            if citation is None:  # a marker with no citation: kept as written
                continue
            if line[at:match.start()]:
                paragraph.add_run(line[at:match.start()])
            if citation.n in numbers:
                paragraph._p.append(_text_run(str(numbers[citation.n]), superscript=True))
            else:
                numbers[citation.n] = notes.add(paragraph, citation, base_url)
            at = match.end()
        if line[at:]:
            paragraph.add_run(line[at:])
    if paragraph is None:
        paragraph = document.add_paragraph()
    for citation in ordered_citations(answer):  # cited by the answer but never marked in its text
        if citation.n not in numbers:
            numbers[citation.n] = notes.add(paragraph, citation, base_url)
    if answer.reading:
        run = document.add_paragraph().add_run(answer.reading)
        run.font.size, run.font.color.rgb = Pt(9), RGBColor(0x59, 0x63, 0x6E)
    if answer.refused and answer.closest and not answer.citations:
        document.add_paragraph().add_run(CLOSEST).bold = True
        for hit in answer.closest:
            item = document.add_paragraph(style="List Bullet")
            item.add_run("，".join(passage_parts(hit)) + " ")
            url = absolute(hit.chunk.url, base_url)
            _hyperlink(item._p, document.part, url, url, size=9)


def docx_bytes(answers: Sequence[Answer], title: str = "", base_url: str = "", exported: str = "") -> bytes:
    """The .docx of one answer or a conversation: the title, then per answer its question as a
    heading, its text with endnote references, its reading; the endnotes at the document's end."""
    document = Document()
    _setup(document)
    notes = _Endnotes(document)
    document.add_heading(title or DEFAULT_TITLE, level=1)
    if exported:
        run = document.add_paragraph().add_run(exported)
        run.font.size, run.font.color.rgb = Pt(9), RGBColor(0x59, 0x63, 0x6E)
    for answer in answers:
        if answer.question:
            document.add_heading("问 Q：" + " ".join(answer.question.split()), level=2)
        _answer(document, answer, notes, base_url)
    document.core_properties.title = title or DEFAULT_TITLE
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
