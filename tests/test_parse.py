"""Structure recovery on the real corpus."""

import collections
import re

from assistant.ingest.chunk import ChunkSettings, chunk_corpus, split_text
from assistant.ingest.normalize import squash
from tests.conftest import CJK_SPACE, CORPUS

MINHANG = "minhang-2023-plan-report"
PLAN = "minhang-14th-five-year-plan"
ARTICLE = "minhang-2023-priorities-article"
TASKS = "minhang-14th-five-year-plan-tasks"
JINGAN = "jingan-2023-plan-report"


def test_all_five_reports_load(corpus):
    assert sorted(d.doc_id for d in corpus.documents) == sorted([MINHANG, PLAN, ARTICLE, TASKS, JINGAN])
    assert corpus.problems == []


def test_plan_has_ten_chapters_and_appendix(parsed_by_id):
    headings = [s.heading for s in parsed_by_id[PLAN].sections]
    chapters = [h for h in headings if re.match(r"^第.+章", h)]
    assert len(chapters) == 10
    assert "第二章 实施创新驱动核心战略" in headings  # run-on heading split from its paragraph
    assert "前言" in headings and "结语" in headings
    assert any(h.startswith("附录") for h in headings)


def test_plan_glossary_and_indicator_entries_are_one_block_each(parsed_by_id):
    blocks = parsed_by_id[PLAN].blocks
    glossary = [b for b in blocks if b.kind == "glossary"]
    circled = [b for b in glossary if b.text[0] in "①②③④⑤⑥⑦⑧⑨"]
    assert len(circled) == 9
    numbered = [b for b in glossary if re.match(r"^\d+ ", b.text)]
    assert [int(b.text.split()[0]) for b in numbered] == list(range(2, 18))
    jiebang = next(b for b in glossary if "揭榜挂帅" in b.text[:10])
    assert jiebang.text.endswith("一种制度安排。")
    bullets = [b for b in blocks if b.kind == "bullet"]
    assert len(bullets) == 13 and all(b.text.startswith("——") for b in bullets)


def test_task_table_yields_74_tasks_with_category_and_leads(parsed_by_id):
    tasks = [b for b in parsed_by_id[TASKS].blocks if b.kind == "task"]
    assert len(tasks) == 74
    for task in tasks:
        fields = dict(task.fields)
        assert fields["类别"].startswith("（") and fields["牵头单位"] and fields["序号"].isdigit()
    nine = dict(next(t for t in tasks if dict(t.fields)["序号"] == "9").fields)
    assert nine["主要任务"].startswith("促进创新创业人才集聚")
    assert nine["牵头单位"] == "区委组织部、团区委、区科委、区人社局"
    assert nine["类别"] == "（一）实施创新驱动核心战略（11项）"
    categories = collections.Counter(dict(t.fields)["类别"] for t in tasks)
    assert len(categories) == 9 and sum(categories.values()) == 74


def test_minhang_table_one_rows_after_repeated_header(parsed_by_id):
    rows = [b for b in parsed_by_id[MINHANG].blocks if b.kind == "table_row" and b.caption.startswith("表一")]
    assert len(rows) == 19  # the repeated header is not a row
    by_number = {dict(r.fields)["序号"]: dict(r.fields) for r in rows}
    assert by_number["16"] == {"序号": "16", "指标名称": "新增就业岗位数", "属性": "约束性", "单位": "个", "年度目标": "4.3万", "完成情况": "5.2万"}
    assert by_number["19"]["指标名称"] == "新增体育场地面积" and by_number["19"]["完成情况"] == "6.3万"
    assert by_number["5"]["完成情况"] == "1983.09" and by_number["5"]["单位"] == "亿元"


def test_merged_cells_are_filled_down(parsed_by_id):
    rows = [b for b in parsed_by_id[MINHANG].blocks if b.caption.startswith("表二")]
    row = next(r for r in rows if r.text.startswith("航空工业上电所"))
    assert dict(row.fields)["产业"] == "先进制造业" and dict(row.fields)["类别"] == "高端装备"


def test_jingan_captions_before_and_after_tables(parsed_by_id):
    rows = [b for b in parsed_by_id[JINGAN].blocks if b.kind == "table_row"]
    assert any(r.caption.startswith("表2") and dict(r.fields).get("产业名称") == "金融服务业" for r in rows)
    # 表 4's caption follows its table in the PDF
    assert any(r.caption.startswith("表4") and "南京西路高端服务集聚带" in r.text for r in rows)


def test_page_split_paragraphs_are_rejoined(parsed_by_id):
    jingan = [b.text for b in parsed_by_id[JINGAN].blocks]
    assert sum("大力宣传推广四大功能区载体" in t for t in jingan) == 1
    minhang = [b.text for b in parsed_by_id[MINHANG].blocks]
    assert any("全区生产总值增长率、制造业增加值" in t for t in minhang)
    # a paragraph interrupted by footnotes continues after them
    assert any("社会资源和内生资源下沉" in t and t.startswith("社会治理体系持续完善") for t in minhang)
    article = [b.text for b in parsed_by_id[ARTICLE].blocks]
    assert any("围绕经济发展和民生急需" in t for t in article)


def test_article_headlines_become_headings(parsed_by_id):
    headings = [s.heading for s in parsed_by_id[ARTICLE].sections if s.heading]
    assert headings == [
        "着力彰显落实国家战略的引领带动作用，加快推进高质量发展",
        "始终不渝践行人民城市重要理念，全方位提升闵行区城区能级和核心竞争力",
        "用心用情用力增进民生福祉，不断实现人民对美好生活的向往？",
        "聚焦一南一北重点区域，落实国家战略中展现闵行担当作为",
    ]


def test_runon_numbered_headings_are_split(parsed_by_id):
    headings = [s.heading for s in parsed_by_id[MINHANG].sections]
    assert "1、巩固增强制造业竞争优势" in headings
    jingan = [s.heading for s in parsed_by_id[JINGAN].sections]
    assert '(三)深化"一轴三带"发展战略,夯实四大功能区建设' in jingan


def test_no_cjk_spaces_and_bounded_size(corpus):
    for chunk in corpus.chunks:
        assert not CJK_SPACE.search(chunk.text), chunk.chunk_id
        assert len(chunk.text) <= ChunkSettings().max_chars, chunk.chunk_id


def test_anchors_unique_and_stable(corpus):
    ids = [c.chunk_id for c in corpus.chunks]
    assert len(ids) == len(set(ids))
    again = chunk_corpus(str(CORPUS))
    assert [c.chunk_id for c in again.chunks] == ids
    assert all(re.fullmatch(r"[a-z0-9-]+#s[0-9_]+-b\d+(-p\d+)?", i) for i in ids)


def test_chunks_cover_the_reports(corpus):
    """At least 99% of every report's non-whitespace characters appear in its chunks."""
    for document in corpus.documents:
        source = collections.Counter(squash(open(document.path, encoding="utf-8").read()))
        chunks = [c for c in corpus.chunks if c.doc_id == document.doc_id]
        parsed = next(p for p in corpus.parsed if p.document.doc_id == document.doc_id)
        seen = collections.Counter(squash("".join(c.context for c in chunks) + "".join(s.heading for s in parsed.sections)))
        covered = sum(min(n, seen[ch]) for ch, n in source.items())
        assert covered / sum(source.values()) >= 0.99, (document.doc_id, covered / sum(source.values()))


def test_table_row_context_reads_on_its_own(corpus):
    chunk = next(c for c in corpus.chunks if c.doc_id == MINHANG and "1983.09" in c.text)
    assert chunk.kind == "table_row"
    assert "指标名称: 社会消费品零售总额" in chunk.context and "完成情况: 1983.09" in chunk.context
    assert "表一" in chunk.context and "单位: 亿元" in chunk.context


def test_split_text_never_cuts_numbers():
    text = "甲" * 50 + "1234567.89" + "乙" * 50
    pieces = split_text(text, 55, 10)
    assert all(len(p) <= 55 for p in pieces)
    assert "".join(pieces) == text
    assert any("1234567.89" in p for p in pieces)


def test_split_text_sentence_overlap():
    text = "第一句话很长很长。" * 10 + "最后一句。"
    pieces = split_text(text, 40, 20)
    assert len(pieces) > 1 and all(len(p) <= 40 for p in pieces)
    assert pieces[1].startswith("第一句话很长很长。")
