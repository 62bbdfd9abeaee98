"""Exports of answers (issue 24, item 3): plain text for 复制, Markdown, and Word with the citations as
endnotes, opened again with python-docx. Pure functions of typed records; no model, no server."""

from __future__ import annotations

import io

import docx
import pytest
from lxml import etree

from assistant.models import Answer, Chunk, Citation, Hit
from assistant.serve.export import conversation_text, markdown, md_escape, plain_text
from assistant.serve.export_docx import ENDNOTES_PART, docx_bytes

BASE = "http://qa.example:7860"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
HYPERLINK = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"
MINHANG = "关于闵行区2023年国民经济和社会发展规划执行情况与2024年国民经济和社会发展规划的报告"
RETAIL = Citation(n=1, chunk_id="minhang-2023-plan-report#s1_1-b7", doc_id="minhang-2023-plan-report", title=MINHANG,
                  breadcrumb=("一、2023年国民经济和社会发展规划执行情况", "（一）主要目标完成情况"),
                  quote="社会消费品零售总额 · 预期性 · 亿元 · 2000以上 · 1983.09", url="/source/minhang-2023-plan-report#s1_1-b7",
                  page=3)
GROWTH = Citation(n=2, chunk_id="minhang-2023-plan-report#s1_1-b1", doc_id="minhang-2023-plan-report", title=MINHANG,
                  breadcrumb=("一、2023年国民经济和社会发展规划执行情况",), quote="全区生产总值增长率…",
                  url="/source/minhang-2023-plan-report#s1_1-b1")


def retail_answer() -> Answer:
    return Answer(text="闵行区2023年社会消费品零售总额完成1983.09亿元[1]，未达到2000亿元以上的目标[1][2]。\n"
                       "主要原因是有效需求不足[2]。",
                  citations=[RETAIL, GROWTH], refused=False, mode="extractive",
                  question="闵行区2023年社会消费品零售总额完成了多少？")


def refusal() -> Answer:
    chunk = Chunk(chunk_id="jingan-2023-plan-report#s1-b3", doc_id="jingan-2023-plan-report", anchor="s1-b3", kind="table_row",
                  text="外贸进出口总额 · 561.02亿元", context="", breadcrumb=("一、2023年执行情况",), district="静安区",
                  year="2023", title="静安区2023年报告", page=2)
    return Answer(text="资料中未找到答案：报告没有浦东新区的内容。", citations=[], refused=True, mode="extractive",
                  question="浦东新区2023年外贸进出口总额是多少？", closest=[Hit(chunk, 0.4)])


# ----------------------------------------------------------------------------- plain text


def test_plain_text_keeps_markers_and_lists_sources_with_links():
    text = plain_text(retail_answer(), BASE)
    assert text.startswith("闵行区2023年社会消费品零售总额完成1983.09亿元[1]，未达到2000亿元以上的目标[1][2]。\n主要原因")
    assert "<" not in text and "href" not in text and "class=" not in text  # no HTML left
    lines = text.splitlines()
    sources = lines.index("来源 Sources:")
    assert lines[sources + 1] == f"[1] {MINHANG} · 一、2023年国民经济和社会发展规划执行情况 › （一）主要目标完成情况 · 第3页"
    assert lines[sources + 2].strip() == f"{BASE}/source/minhang-2023-plan-report#s1_1-b7"
    assert lines[sources + 3] == f"[2] {MINHANG} · 一、2023年国民经济和社会发展规划执行情况"  # no page: none shown
    assert lines[sources + 4].strip() == f"{BASE}/source/minhang-2023-plan-report#s1_1-b1"


def test_plain_text_of_a_refusal_lists_the_closest_passages():
    text = plain_text(refusal(), BASE)
    assert text.splitlines()[0] == "资料中未找到答案：报告没有浦东新区的内容。"
    assert "最接近的段落 Closest passages:" in text and "- 静安区2023年报告 · 一、2023年执行情况 · 第2页" in text
    assert f"{BASE}/source/jingan-2023-plan-report#s1-b3" in text


def test_plain_text_reads_a_pasted_row_and_leaves_relative_links_without_a_base():
    answer = Answer(text="促进人才集聚\t区人才局\t区科委[1]", citations=[RETAIL], refused=False, mode="extractive")
    text = plain_text(answer)
    assert text.splitlines()[0] == "促进人才集聚 · 区人才局 · 区科委[1]" and "\t" not in text
    assert "    /source/minhang-2023-plan-report#s1_1-b7" in text


def test_conversation_text_has_every_question():
    text = conversation_text([retail_answer(), refusal()], "零售总额", BASE)
    assert text.startswith("零售总额\n") and text.count("问 Q：") == 2 and "1983.09" in text and "浦东新区" in text


# ----------------------------------------------------------------------------- Markdown


def test_markdown_has_question_answer_and_linked_sources():
    text = markdown([retail_answer()], "零售总额", BASE, "导出于 2025-01-01")
    assert text.startswith("# 零售总额\n\n*导出于 2025-01-01*\n\n## 问 Q：闵行区2023年社会消费品零售总额完成了多少？")
    assert "闵行区2023年社会消费品零售总额完成1983.09亿元[1]，未达到2000亿元以上的目标[1][2]。\n\n主要原因" in text
    assert (f"- [1] [{MINHANG}]({BASE}/source/minhang-2023-plan-report#s1_1-b7) · 一、2023年国民经济和社会发展规划执行情况"
            " › （一）主要目标完成情况 · 第3页") in text
    assert "**最接近的段落 Closest passages**" in markdown([refusal()], base_url=BASE)


@pytest.mark.parametrize("raw, shown", [
    ("增长*5%*与_x_", r"增长\*5%\*与\_x\_"),
    ("见[附表]和[1][12]", r"见\[附表\]和[1][12]"),
    ("[1](注)", r"[1]\(注)"),  # not a link
    ("2023. 年", r"2023\. 年"),  # not a list item
    ("<b>x</b>", r"\<b\>x\</b\>"),
])
def test_markdown_escapes_markup_but_keeps_markers(raw, shown):
    assert md_escape(raw) == shown


# ----------------------------------------------------------------------------- Word


def _endnotes(document) -> tuple[etree._Element, dict[str, str]]:
    part = next(p for p in document.part.package.iter_parts() if str(p.partname) == ENDNOTES_PART)
    links = {rel.rId: rel.target_ref for rel in part.rels.values() if rel.reltype == HYPERLINK}
    return etree.fromstring(part.blob), links


def _note_texts(root) -> dict[str, str]:
    return {note.get(f"{W}id"): "".join(note.itertext()) for note in root.iter(f"{W}endnote")
            if note.get(f"{W}type") is None}


def test_docx_has_the_answer_and_its_citations_as_endnotes_with_links():
    document = docx.Document(io.BytesIO(docx_bytes([retail_answer()], "零售总额", BASE, "导出于 2025-01-01")))
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == "零售总额" and paragraphs[1] == "导出于 2025-01-01"
    assert paragraphs[2] == "问 Q：闵行区2023年社会消费品零售总额完成了多少？"
    assert document.paragraphs[2].style.name == "Heading 2"
    # the markers became endnote references: the first use of [1] and [2] a reference, a repeat its number
    assert paragraphs[3] == "闵行区2023年社会消费品零售总额完成1983.09亿元，未达到2000亿元以上的目标1。"
    assert paragraphs[4] == "主要原因是有效需求不足2。"
    references = [r.get(f"{W}id") for r in document.element.body.iter(f"{W}endnoteReference")]
    assert references == ["1", "2"]

    root, links = _endnotes(document)
    notes = _note_texts(root)
    assert set(notes) == {"1", "2"}
    assert MINHANG in notes["1"] and "（一）主要目标完成情况" in notes["1"] and "第3页" in notes["1"]
    assert notes["1"].endswith(f"{BASE}/source/minhang-2023-plan-report#s1_1-b7")
    assert "第" not in notes["2"].replace("第二", "")  # no page: none written
    anchors = {note.get(f"{W}id"): [h.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id")
                                     for h in note.iter(f"{W}hyperlink")] for note in root.iter(f"{W}endnote")}
    assert [links[r] for r in anchors["1"]] == [f"{BASE}/source/minhang-2023-plan-report#s1_1-b7"]
    assert [links[r] for r in anchors["2"]] == [f"{BASE}/source/minhang-2023-plan-report#s1_1-b1"]
    # numbered 1, 2, 3 (Word's default for endnotes is i, ii, iii)
    settings = document.settings.element
    assert settings.find(f"{W}endnotePr/{W}numFmt").get(f"{W}val") == "decimal"
    assert document.sections[0]._sectPr.find(f"{W}endnotePr/{W}numFmt").get(f"{W}val") == "decimal"


def test_docx_of_a_conversation_numbers_endnotes_through_the_document():
    answers = [retail_answer(), refusal(), retail_answer()]
    document = docx.Document(io.BytesIO(docx_bytes(answers, "对话", BASE)))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 2"]
    assert headings == ["问 Q：闵行区2023年社会消费品零售总额完成了多少？", "问 Q：浦东新区2023年外贸进出口总额是多少？",
                        "问 Q：闵行区2023年社会消费品零售总额完成了多少？"]
    texts = [p.text for p in document.paragraphs]
    assert "未达到2000亿元以上的目标3。" in texts[-2]  # the third answer's repeat of its [1]: endnote 3
    root, _ = _endnotes(document)
    assert list(_note_texts(root)) == ["1", "2", "3", "4"]
    # the refusal's closest passages are listed with links in the text
    body_links = {rel.target_ref for rel in document.part.rels.values() if rel.reltype == HYPERLINK}
    assert body_links == {f"{BASE}/source/jingan-2023-plan-report#s1-b3"}
    assert any(p.text.startswith("静安区2023年报告，一、2023年执行情况，第2页") for p in document.paragraphs)


def test_docx_gives_an_unmarked_citation_its_endnote():
    answer = Answer(text="目标是2000亿元以上。", citations=[RETAIL], refused=False, mode="extractive", question="目标？")
    document = docx.Document(io.BytesIO(docx_bytes([answer])))
    assert [r.get(f"{W}id") for r in document.element.body.iter(f"{W}endnoteReference")] == ["1"]
    assert document.paragraphs[0].text == "政策问答 Policy Q&A"  # the default title
