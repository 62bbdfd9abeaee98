"""Readers (issue 11): the DOCX and PDF of two real reports (made with LibreOffice by
eval/make_format_fixtures.py) parse into the same blocks as their .txt; pages reach blocks,
chunks, citations and the viewer; every kind of bad file is refused with a message naming it."""

from __future__ import annotations

import functools
import io
import shutil
import zipfile
from pathlib import Path

import pytest

from assistant.ingest.chunk import chunk_corpus
from assistant.ingest.corpus import load_corpus
from assistant.models import Answer, Citation
from assistant.ingest.normalize import squash
from assistant.ingest.parse import parse_document
from assistant.ingest.readers import SUPPORTED_SUFFIXES, ocr, ExtractedText, UnreadableDocument, read_document
from assistant.ingest.readers.numbering import chinese_number, format_number
from assistant.serve.viewer import render_answer, render_document

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "formats"
JINGAN, TASKS = "jingan-2023-plan-report", "minhang-14th-five-year-plan-tasks"


@pytest.fixture(scope="module")
def corpus():
    return {d.doc_id: (d, t) for d, t in load_corpus(ROOT / "corpus").documents}


@functools.cache
def _extracted(name: str) -> ExtractedText:
    return read_document(FIXTURES / name)  # each fixture is read once (the 23-page PDF takes seconds)


def _parsed(corpus, doc_id: str, suffix: str):
    document, text = corpus[doc_id]
    if suffix == ".txt":
        return parse_document(document, text)
    extracted = _extracted(f"{doc_id}{suffix}")
    return parse_document(document, extracted.text, extracted.line_pages())


# --------------------------------------------------------------------------- parity with the .txt


@pytest.mark.parametrize("suffix", [".docx", ".pdf"])
def test_task_table_gives_the_same_74_tasks(corpus, suffix):
    def tasks(parsed):
        return [(dict(b.fields)["类别"], dict(b.fields)["序号"], dict(b.fields)["主要任务"], dict(b.fields)["牵头单位"])
                for b in parsed.blocks if b.kind == "task"]

    expected, got = tasks(_parsed(corpus, TASKS, ".txt")), tasks(_parsed(corpus, TASKS, suffix))
    assert len(expected) == 74
    assert got == expected
    assert len({category for category, *_ in got}) == 9  # the merged category cell, filled on every row


@pytest.mark.parametrize("suffix", [".docx", ".pdf"])
def test_report_gives_the_same_headings_and_blocks(corpus, suffix):
    txt, other = _parsed(corpus, JINGAN, ".txt"), _parsed(corpus, JINGAN, suffix)
    assert [squash(s.heading) for s in other.sections] == [squash(s.heading) for s in txt.sections]
    assert [(b.kind, squash(b.text)) for b in other.blocks] == [(b.kind, squash(b.text)) for b in txt.blocks]
    rows = [b for b in other.blocks if b.kind == "table_row"]
    assert dict(rows[0].fields) == {"指标名称": "地区生产总值增长率", "全年预期目标": "5%左右", "完成情况": "7%"}


def test_docx_renders_word_list_numbering():
    text = read_document(FIXTURES / f"{JINGAN}.docx").text
    # the fixture's heading numbers are Word numbering (numbering.xml), not typed text
    assert "\n一、2023年国民经济和社会发展计划执行情况\n" in text
    assert "\n（二）持续优化营商环境" in text and "\n三、2024年" in text
    assert [chinese_number(n) for n in (1, 10, 11, 20, 23, 100, 105)] == ["一", "十", "十一", "二十", "二十三", "一百", "一百零五"]
    assert format_number(3, "decimalEnclosedCircle") == "③" and format_number(4, "upperRoman") == "IV"


@pytest.mark.parametrize("doc_id, last_page", [(JINGAN, 23), (TASKS, 15)])
def test_pdf_blocks_know_their_page(corpus, doc_id, last_page):
    import pypdfium2  # another library's page text as the reference

    text = _extracted(f"{doc_id}.pdf").text  # every page has a running header and a "— 3 —" footer: dropped
    assert "— 3 —" not in text and "\n静安区2023年\n" not in text and "静安区2023年静安区" not in text
    parsed = _parsed(corpus, doc_id, ".pdf")
    pages = [b.page for b in parsed.blocks]
    assert all(p >= 1 for p in pages) and pages == sorted(pages) and pages[-1] == last_page
    pdf = pypdfium2.PdfDocument(FIXTURES / f"{doc_id}.pdf")
    def bare(text: str) -> str:  # pypdfium2 puts fallback-font quote marks at the line's end: compare without them
        return "".join(c for c in squash(text) if c not in "\"'“”‘’")

    page_text = [bare(page.get_textpage().get_text_range()) for page in pdf]
    for block in parsed.blocks:  # the block's first words are on the page it names
        assert bare(block.text)[:8] in page_text[block.page - 1], (block.anchor, block.page)


def test_pages_reach_chunks_citations_and_the_viewer(tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    shutil.copy(FIXTURES / f"{JINGAN}.pdf", corpus_dir)
    (corpus_dir / "catalog.toml").write_text(
        f'[[document]]\ndoc_id = "{JINGAN}"\nfile = "{JINGAN}.pdf"\ntitle = "静安报告"\ndistrict = "静安区"\n'
        'year = "2023-2024"\nkind = "yearly_report"\n', encoding="utf-8")
    chunked = chunk_corpus(str(corpus_dir))
    assert not chunked.problems and chunked.chunks
    chunk = next(c for c in chunked.chunks if "1707.89" in c.text)
    assert chunk.page == 1 and chunk.to_dict()["page"] == 1
    late = chunked.chunks[-1]
    assert late.page == 23 and type(late).from_dict(late.to_dict()).page == 23
    page = render_document(chunked.parsed[0], highlight_anchor=late.anchor)
    assert 'data-page="第23页"' in page and "pagestart" in page
    citation = Citation(1, late.chunk_id, late.doc_id, late.title, late.breadcrumb, late.text, late.url, late.page)
    html = render_answer(Answer(text="答案。[1]", citations=[citation], refused=False, mode="extractive"))
    assert "第23页" in html


def test_markdown_headings_and_tables(tmp_path):
    path = tmp_path / "r.md"
    path.write_text("# 一、总体要求\n\n坚持**稳中求进**。\n\n| 指标 | 目标 |\n|---|:---:|\n| 增长率 | 5% |\n", encoding="utf-8")
    extracted = read_document(path)
    assert extracted.format == "md" and extracted.page_starts == ()
    assert "\n一、总体要求\n" in "\n" + extracted.text
    assert "指标\t目标\n增长率\t5%" in extracted.text and "**" not in extracted.text


def test_page_lookup():
    extracted = ExtractedText("a\nb\nc\nd", "pdf", (0, 4), ())
    assert extracted.line_pages() == (1, 1, 2, 2)
    assert ExtractedText("a\nb", "txt").line_pages() == (0, 0)
    assert set(SUPPORTED_SUFFIXES) == {".txt", ".md", ".pdf", ".docx"}


# --------------------------------------------------------------------------- bad input


def _refused(path: Path, *words: str, **kwargs) -> str:
    with pytest.raises(UnreadableDocument) as caught:
        read_document(path, **kwargs)
    message = str(caught.value)
    assert str(path) in message, message  # names the file
    for word in words:
        assert word in message, message
    return message


def test_encrypted_pdf_is_refused():
    _refused(FIXTURES / "encrypted.pdf", "password-protected", "remove the password")


def _scan(tmp_path: Path, crop: float = 1.0) -> Path:
    """An image-only PDF: the top `crop` of the report's first page as a 144 dpi picture (what a scanner gives)."""
    import pypdfium2

    image = pypdfium2.PdfDocument(FIXTURES / f"{JINGAN}.pdf")[0].render(scale=2).to_pil().convert("RGB")
    image = image.crop((0, 0, image.width, int(image.height * crop)))
    path = tmp_path / "scan.pdf"
    image.save(path, resolution=144)  # page size in points = pixels * 72 / 144: the original's
    return path


def test_pdf_without_text_is_refused(tmp_path):
    from PIL import Image

    blank = tmp_path / "blank-scan.pdf"  # two scanned white pages: no text layer, and nothing for OCR to read
    Image.new("RGB", (300, 300), "white").save(blank, save_all=True, append_images=[Image.new("RGB", (300, 300), "white")])
    _refused(blank, "no text layer on any of its 2 pages", "OCR")


@pytest.mark.skipif(not ocr.available(), reason="rapidocr-onnxruntime is not installed")
def test_scanned_page_is_read_by_ocr_with_a_warning(tmp_path):
    import pypdfium2

    merged = pypdfium2.PdfDocument(FIXTURES / f"{TASKS}.pdf")
    merged.import_pages(pypdfium2.PdfDocument(_scan(tmp_path, crop=0.35)))  # a text PDF with one scanned page after it
    path = tmp_path / "mixed.pdf"
    merged.save(path)
    extracted = read_document(path)
    assert "全力建设上海南部科创中心" in extracted.text  # the text layer of pages 1-15
    assert extracted.warnings == ("page 16 has no text layer: its text was read by OCR; check figures against the original",)
    scanned = extracted.text[extracted.page_starts[15]:]
    assert "受静安区人民政府委托，现将静安区2023年国民经济和社会发展计划执行情况与2024年国民经济和社会发展计划草案提交大会" in scanned


def test_corrupt_docx_is_refused(tmp_path):
    data = (FIXTURES / f"{JINGAN}.docx").read_bytes()
    truncated = tmp_path / "truncated.docx"
    truncated.write_bytes(data[: len(data) // 2])
    _refused(truncated, "damaged")
    broken_xml = tmp_path / "broken.docx"  # a whole ZIP whose document.xml is not XML
    with zipfile.ZipFile(FIXTURES / f"{JINGAN}.docx") as source, zipfile.ZipFile(broken_xml, "w") as target:
        for item in source.infolist():
            body = source.read(item)
            target.writestr(item, body[:200] if item.filename == "word/document.xml" else body)
    _refused(broken_xml, "damaged", "save it again")
    not_word = tmp_path / "photos.docx"  # a ZIP, but not a Word package
    with zipfile.ZipFile(not_word, "w") as target:
        target.writestr("photo.txt", "x")
    _refused(not_word, "without word/document.xml")


def test_truncated_pdf_is_refused(tmp_path):
    data = (FIXTURES / f"{JINGAN}.pdf").read_bytes()
    for share in (0.5, 0.99):  # an upload or download cut off
        path = tmp_path / f"cut{share}.pdf"
        path.write_bytes(data[: int(len(data) * share)])
        _refused(path, "damaged or incomplete", "upload it again")


def test_zip_bomb_named_docx_is_refused_before_inflating(tmp_path):
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        target.writestr("[Content_Types].xml", "<Types/>")
        with target.open("word/document.xml", "w") as member:
            zeros = bytes(1 << 20)
            for _ in range(64):  # 64 MB of zeros -> ~64 KB on disk
                member.write(zeros)
    assert bomb.stat().st_size < 200_000
    _refused(bomb, "ZIP bomb")


def test_file_over_the_size_limit_is_refused(tmp_path):
    path = tmp_path / "big.pdf"
    shutil.copy(FIXTURES / f"{TASKS}.pdf", path)
    _refused(path, "is 0.4 MB, larger than the 0.1 MB limit", max_bytes=100 * 1024)


def test_empty_file_is_refused(tmp_path):
    for suffix in (".pdf", ".docx", ".txt"):
        path = tmp_path / f"empty{suffix}"
        path.write_bytes(b"")
        _refused(path, "is empty")


@pytest.mark.parametrize("source, name, words", [
    (f"{JINGAN}.pdf", "report.docx", ("is named .docx", "a PDF file")),
    (f"{JINGAN}.docx", "report.pdf", ("is named .pdf", "ZIP package")),
    (f"{JINGAN}.pdf", "report.txt", ("is named .txt", "a PDF file")),
    (f"{JINGAN}.docx", "report.md", ("is named .md", "ZIP package")),
])
def test_content_that_does_not_match_the_extension_is_refused(tmp_path, source, name, words):
    path = tmp_path / name
    shutil.copy(FIXTURES / source, path)
    _refused(path, *words)


def test_ole_docx_and_unsupported_formats_say_what_to_do(tmp_path):
    ole = tmp_path / "locked.docx"  # Word writes a password-protected .docx as an OLE2 container
    ole.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    _refused(ole, "password-protected", "save it as .docx")
    for suffix, words in ((".ofd", ("not supported yet", "save it as PDF")), (".doc", ("save it as .docx",)),
                          (".xlsx", ("not supported",))):
        path = tmp_path / f"file{suffix}"
        path.write_bytes(b"PK\x03\x04" + bytes(100))
        _refused(path, *words)


def test_a_bad_file_in_the_corpus_is_named_and_the_rest_loads(tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    shutil.copy(FIXTURES / f"{TASKS}.docx", corpus_dir)
    shutil.copy(FIXTURES / "encrypted.pdf", corpus_dir)
    (corpus_dir / "catalog.toml").write_text(
        f'[[document]]\ndoc_id = "tasks"\nfile = "{TASKS}.docx"\nkind = "task_table"\n', encoding="utf-8")
    loaded = load_corpus(corpus_dir)
    assert [d.doc_id for d, _ in loaded.documents] == ["tasks"]
    assert loaded.pages == {}  # LibreOffice's DOCX carries no page marks
    [problem] = loaded.errors
    assert problem.path.endswith("encrypted.pdf") and "password-protected" in problem.message
    assert isinstance(io.StringIO(loaded.documents[0][1]).read(), str)


def test_corpus_reads_an_unchanged_pdf_once(tmp_path):
    import os
    import time

    from assistant.ingest.corpus import extract_report

    path = tmp_path / "report.pdf"
    shutil.copy(FIXTURES / f"{TASKS}.pdf", path)
    first = extract_report(path)
    started = time.perf_counter()
    assert extract_report(path) is first and time.perf_counter() - started < 0.05
    shutil.copy(FIXTURES / f"{JINGAN}.pdf", path)  # replaced by another file: read again
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    assert "静安" in extract_report(path).text


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium (make chromium) prints the PDF")
def test_chrome_pdf_radicals_and_variants_are_read_as_the_characters_shown(tmp_path):
    """Chromium's PDFs map some glyphs to CJK radicals (⺠ U+2EA0 for 民, ⼤ U+2F24 for 大) or variants (戶 for 户)
    in pdfminer's reading: read back as the characters shown."""
    import subprocess

    page = tmp_path / "p.html"
    page.write_text('<meta charset="utf-8"><p style="font-family:\'Noto Sans CJK SC\',\'WenQuanYi Micro Hei\'">'
                    "国民经济和社会发展计划执行情况，社会消费品零售总额增长率，大力推动，见表一。自由贸易账户。</p>", encoding="utf-8")
    pdf = tmp_path / "p.pdf"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", page.as_uri()], capture_output=True, timeout=120, check=True)
    text = read_document(pdf).text
    assert not [c for c in text if 0x2E80 <= ord(c) <= 0x2FDF], text
    assert "国民经济和社会发展计划执行情况，社会消费品零售总额增长率，大力推动，见表一。自由贸易账户。" in text  # not 账戶


def test_docx_tracked_changes_hyperlinks_and_fields(tmp_path):
    from docx import Document as Docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    doc = Docx()
    paragraph = doc.add_paragraph("全年新增就业岗位")
    paragraph._p.append(parse_xml(  # tracked: "34368个" inserted, "3万个" deleted
        f'<w:ins {nsdecls("w")} w:id="1" w:author="a"><w:r><w:t>34368个</w:t></w:r></w:ins>'))
    paragraph._p.append(parse_xml(
        f'<w:del {nsdecls("w")} w:id="2" w:author="a"><w:r><w:delText>3万个</w:delText></w:r></w:del>'))
    paragraph._p.append(parse_xml(f'<w:r {nsdecls("w")}><w:t>，详见</w:t></w:r>'))
    paragraph._p.append(parse_xml(
        f'<w:hyperlink {nsdecls("w")}><w:r><w:t>附件</w:t></w:r></w:hyperlink>'))
    paragraph._p.append(parse_xml(
        f'<w:fldSimple {nsdecls("w")} w:instr="PAGE"><w:r><w:t>3</w:t></w:r></w:fldSimple>'))
    path = tmp_path / "tracked.docx"
    doc.save(str(path))
    assert read_document(path).text.strip() == "全年新增就业岗位34368个，详见附件3"


def test_docx_pages_from_words_rendered_page_breaks(tmp_path):
    """Word writes w:lastRenderedPageBreak where its last layout broke a page: those give the pages."""
    from docx import Document as Docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls, qn

    def page_break(paragraph, at_start: bool) -> None:
        run = parse_xml(f'<w:r {nsdecls("w")}><w:lastRenderedPageBreak/><w:t>续</w:t></w:r>')
        first = paragraph._p.find(qn("w:r"))
        first.addprevious(run) if at_start else paragraph._p.append(run)

    doc = Docx()
    doc.add_paragraph("第一页的段落。")
    page_break(doc.add_paragraph("第二页开头的段落。"), at_start=True)  # the page breaks before it
    page_break(doc.add_paragraph("跨页的段落"), at_start=False)  # ...inside it: it starts on page 2
    table = doc.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, (("指标", "完成"), ("甲", "1"), ("乙", "2"))):
        row.cells[0].text, row.cells[1].text = cells
    table.rows[1].cells[1].paragraphs[0]._p.append(parse_xml(f'<w:r {nsdecls("w")}><w:lastRenderedPageBreak/></w:r>'))
    doc.add_paragraph("表后的段落。")
    path = tmp_path / "paged.docx"
    doc.save(str(path))
    extracted = read_document(path)
    pages = dict(zip(extracted.text.split("\n"), extracted.line_pages()))
    assert pages["第一页的段落。"] == 1 and pages["续第二页开头的段落。"] == 2 and pages["跨页的段落续"] == 2
    assert pages["指标\t完成"] == 3 and pages["甲\t1"] == 3 and pages["乙\t2"] == 4 and pages["表后的段落。"] == 4
    assert read_document(FIXTURES / f"{JINGAN}.docx").page_starts == ()  # LibreOffice writes no such marks
