"""Make the DOCX and PDF fixtures of issue 11 from two corpus reports, with a real office suite.

    apt-get install -y libreoffice-writer-nogui fonts-noto-cjk   # once; CI does not need it
    .venv/bin/python eval/make_format_fixtures.py [--out tests/fixtures/formats]

The DOCX is the Word file the report's text came from, rebuilt from the structure `parse.py`
recovers from the .txt: section headings as Word heading styles (Heading 1/2) whose numbers
("一、", "（一）") are Word list numbering (numbering.xml), not typed text; paragraphs whole (the
.txt's PDF page-break cuts joined); tables as Word tables with a header row, a category cell
merged vertically over its rows (the task table: one category over 4-13 tasks). The PDF is
LibreOffice's export of that DOCX (`soffice --headless --convert-to pdf`), so it has a real text
layer, page breaks inside paragraphs and tables across pages, a running header and a "— 3 —"
page-number footer on every page (which the reader must drop). Also written: a password-protected
PDF (LibreOffice's PDF export with EncryptFile) for the bad-input tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from itertools import groupby
from pathlib import Path

from docx import Document as Docx
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.ingest.corpus import load_corpus  # noqa: E402
from assistant.models import Block, ParsedDocument  # noqa: E402
from assistant.ingest.parse import parse_document  # noqa: E402

REPORTS = ("jingan-2023-plan-report", "minhang-14th-five-year-plan-tasks")
CJK_FONT = "Noto Serif CJK SC"  # fonts-noto-cjk; embedded (subset) in the PDF
NUM_ID = 90  # our numbering definition's id in numbering.xml


def _fonts(doc) -> None:
    for name in ("Normal", "Heading 1", "Heading 2", "Title"):
        style = doc.styles[name]
        style.font.name = CJK_FONT
        rpr = style.element.get_or_add_rPr()
        rpr.get_or_add_rFonts().set(qn("w:eastAsia"), CJK_FONT)
        style.font.size = Pt(16 if name == "Title" else 14 if name.startswith("Heading") else 12)


def _numbering(doc) -> None:
    """Chinese outline numbering: level 0 "一、", level 1 "（一）" (restarts under each level 0)."""
    numbering = doc.part.numbering_part.element
    abstract = parse_xml(
        f'<w:abstractNum {nsdecls("w")} w:abstractNumId="{NUM_ID}"><w:multiLevelType w:val="multilevel"/>'
        '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="%1、"/>'
        '<w:lvlJc w:val="left"/></w:lvl>'
        '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="（%2）"/>'
        '<w:lvlJc w:val="left"/></w:lvl></w:abstractNum>')
    num = parse_xml(f'<w:num {nsdecls("w")} w:numId="{NUM_ID}"><w:abstractNumId w:val="{NUM_ID}"/></w:num>')
    first_num = numbering.find(qn("w:num"))
    if first_num is not None:
        first_num.addprevious(abstract)  # schema order: every abstractNum before the nums
    else:
        numbering.append(abstract)
    numbering.append(num)


def _numbered_heading(doc, text: str, level: int) -> None:
    """A heading whose "一、"/"（一）" prefix is Word numbering (level 1/2), else typed text."""
    import re

    prefix = re.match(r"^([一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[）)])\s*", text)
    if not prefix or level > 2:
        doc.add_heading(text, level=min(level, 2))
        return
    paragraph = doc.add_heading(text[prefix.end():], level=level)
    ppr = paragraph._p.get_or_add_pPr()
    ppr.append(parse_xml(f'<w:numPr {nsdecls("w")}><w:ilvl w:val="{level - 1}"/><w:numId w:val="{NUM_ID}"/></w:numPr>'))


def _table(doc, rows: list[Block], merge_first: bool) -> None:
    headers = [name for name, _ in rows[0].fields]
    table = doc.add_table(rows=1 + len(rows), cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, name in zip(table.rows[0].cells, headers):
        cell.text = name
    for r, block in enumerate(rows, start=1):
        for c, (_, value) in enumerate(block.fields):
            table.rows[r].cells[c].text = value
    if len(headers) == 4:  # the task table: the task text gets the width
        table.autofit = False
        for column, width in zip(table.columns, (2.6, 1.2, 9.5, 3.2)):
            column.width = Cm(width)  # the grid LibreOffice lays out by
        for row in table.rows:
            for cell, width in zip(row.cells, (2.6, 1.2, 9.5, 3.2)):
                cell.width = Cm(width)
    # merged cells: the first column's value spans the rows that repeat it (the task table's
    # category; a running-text table's category whose cell the .txt left empty below its first row)
    start = 1
    values = [b.fields[0][1] for b in rows]
    for r in range(2, len(rows) + 2):
        same = r <= len(rows) and values[r - 1] == values[start - 1] and (
            merge_first or values[r - 1] not in rows[r - 1].text.split("\t"))
        if same:
            continue
        if r - 1 > start:
            top = table.cell(start, 0)
            text = top.text
            merged = top.merge(table.cell(r - 1, 0))
            merged.text = text  # merge() concatenates the cells' paragraphs: keep one copy
        start = r


def _header_footer(doc, header: str) -> None:
    """A running header and a "— 3 —" page-number footer, as government documents have them."""
    section = doc.sections[0]
    section.header.paragraphs[0].text = header
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("— ")
    footer._p.append(parse_xml(f'<w:fldSimple {nsdecls("w")} w:instr="PAGE"><w:r><w:t>1</w:t></w:r></w:fldSimple>'))
    footer.add_run(" —")


def build_docx(parsed: ParsedDocument, out: Path) -> None:
    doc = Docx()
    _fonts(doc)
    _numbering(doc)
    _header_footer(doc, f"{parsed.document.district}{parsed.document.year.split('-')[0]}年")
    task_table = parsed.document.kind == "task_table"
    sections = {s.section_id: s for s in parsed.sections}
    opened: set[str] = set()
    for key, group in groupby(parsed.blocks, key=lambda b: (b.kind in ("table_row", "task"), b.caption, "" if task_table else b.section_id)):
        blocks = list(group)
        section = sections[blocks[0].section_id]
        if not task_table and section.section_id not in opened:
            # open this section and any ancestors that have no block of their own
            chain = []
            sid = section.section_id
            while sid and sid != "s0" and sid not in opened:
                chain.append(sections[sid])
                sid = sid.rsplit("_", 1)[0] if "_" in sid else ""
            for s in reversed(chain):
                _numbered_heading(doc, s.heading, s.level)
                opened.add(s.section_id)
        if key[0]:
            _table(doc, blocks, merge_first=task_table)
            continue
        for block in blocks:
            style = "Title" if block.anchor == "s0-b1" else None
            doc.add_paragraph(block.text, style=style)
    doc.core_properties.title = parsed.document.title
    doc.save(str(out))


def soffice(args: list[str], workdir: Path) -> None:
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{workdir}/profile", *args],
                   check=True, cwd=workdir, capture_output=True, timeout=300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "formats")
    args = parser.parse_args(argv)
    if not shutil.which("soffice"):
        raise SystemExit("soffice not found: apt-get install -y libreoffice-writer-nogui fonts-noto-cjk")
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = {d.doc_id: (d, t) for d, t in load_corpus(ROOT / "corpus").documents}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for doc_id in REPORTS:
            document, text = corpus[doc_id]
            docx = args.out / f"{doc_id}.docx"
            build_docx(parse_document(document, text), docx)
            soffice(["--convert-to", "pdf", "--outdir", str(args.out), str(docx)], work)
            print(f"{docx.name}: {docx.stat().st_size} bytes; {docx.with_suffix('.pdf').name}: "
                  f"{docx.with_suffix('.pdf').stat().st_size} bytes")
        # a password-protected PDF (AES, open password "secret") of a one-page document
        small = work / "encrypted.docx"
        one = Docx()
        _fonts(one)
        one.add_paragraph("一、加密文件\n\n本文件需要密码才能打开。")
        one.save(str(small))
        options = json.dumps({"EncryptFile": {"type": "boolean", "value": "true"},
                              "DocumentOpenPassword": {"type": "string", "value": "secret"}})
        soffice(["--convert-to", f"pdf:writer_pdf_Export:{options}", "--outdir", str(work), str(small)], work)
        shutil.copy(work / "encrypted.pdf", args.out / "encrypted.pdf")
        print(f"encrypted.pdf: {(args.out / 'encrypted.pdf').stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
