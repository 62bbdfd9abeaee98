"""Answers read as written Chinese: the tidy step before display, and the rubric that measures it."""

import sys
from pathlib import Path

from assistant.answer.readable import tidy, tidy_text
from assistant.answer.verify import Sentence
from assistant.models import Chunk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
from readable import problems  # noqa: E402


def _chunk(kind: str = "paragraph", text: str = "x") -> Chunk:
    return Chunk(f"d#{kind}{len(text)}", "d", "a", kind, text, text, (), "闵行区", "2023", "t")


def test_pdf_punctuation_becomes_chinese_but_figures_stay():
    text = tidy_text('全年实现税收总收入847.50亿元,同比增长7.05%;实现"宝宝屋"服务(AQI)优良率,共3,238.36亿元')
    assert text == "全年实现税收总收入847.50亿元，同比增长7.05%；实现“宝宝屋”服务（AQI）优良率，共3,238.36亿元"


def test_english_answer_keeps_english_punctuation():
    text = "Together: 3690.98 亿元 (hundred million yuan) (1983.09＋1707.89＝3690.98亿元)."
    assert tidy_text(text, english=True) == text


def test_glossary_and_footnote_numbers_are_dropped():
    assert tidy_text("2 “揭榜挂帅”:也称“科技悬赏制”", glossary=True) == "“揭榜挂帅”：也称“科技悬赏制”"
    assert tidy_text("③功能性外资机构数:指投资性公司", glossary=True) == "功能性外资机构数：指投资性公司"
    assert tidy_text("⁶碳普惠是指将减排行为量化") == "碳普惠是指将减排行为量化"
    assert tidy_text("支持企业申请AEO高级认证⁵，落实措施") == "支持企业申请AEO高级认证，落实措施"
    assert tidy_text("依托莘庄枢纽TOD 6开发") == "依托莘庄枢纽TOD开发"
    # outside a glossary a leading number is a figure
    assert tidy_text("2 个项目竣工").startswith("2")


def test_spaces_and_tabs_of_the_source_go():
    assert tidy_text("2023 年 发展计划\t执行情况") == "2023年发展计划，执行情况"


def test_a_repeat_joins_the_first_sentence_and_a_caption_goes():
    first = Sentence("到2025年基本建成电动汽车充电服务网络，充电设施实现1.5公里服务半径全覆盖。", ["a"], chunks=[_chunk()])
    again = Sentence("到2025年基本建成适当集中的电动汽车充电服务网络,充电设施实现1.5公里服务半径全覆盖。", ["b"], chunks=[_chunk("task")])
    caption = Sentence("表4三大集聚带税收完成情况", ["c"], chunks=[_chunk("table_row")])
    out = tidy([first, again, caption], english=False)
    assert len(out) == 1 and out[0].chunk_ids == ["a", "b"]


def test_differing_figures_are_not_a_repeat():
    a = Sentence("到2025年主要河湖水质断面优于Ⅲ类比例达到55%。", ["a"])
    b = Sentence("到2025年主要河湖水质断面优于Ⅲ类比例达到60%。", ["b"])
    assert len(tidy([a, b], english=False)) == 2


def test_rubric_names_each_problem():
    assert problems("闵行2023年GDP？", "闵行区2023年：全区生产总值3002.04亿元,同比增长2.2%。[1]") == ["ascii_punct"]
    assert "tab" in problems("q", "报告相关内容为：地区生产总值增长率\t5%左右\t7%[1]")
    assert "glossary_number" in problems("TOD是什么", "闵行区“十四五”规划：6 TOD :是Transit Oriented Development的缩写。[1]")
    assert "english_frame" in problems("How much tax did Jing'an collect in 2023?", "Jing'an, 2023: 全年实现税收总收入847.50亿元。[1]")
    assert "responsibility_sentence" in problems("谁牵头？", "闵行区“十四五”重点任务：深化财政体制改革。[1]", "responsibility")
    assert problems("谁牵头？", "“深化财政体制改革”（第71项）由区财政局牵头。[1]", "responsibility") == []


def test_a_from_to_sentence_gives_the_change():
    from assistant.answer.compute import stated_change
    from assistant.answer.phrasing import Place
    from assistant.models import Period, Query
    chunk = _chunk(text="营商环境改革不断深化，经营主体从689万户增至951万户，民营经济增加值从2.9万亿元增至3.8万亿元。")
    query = Query(text="经营主体增加了多少万户", standalone="", search_text="", operation="change")
    said = stated_change(query, chunk.text, Place("四川省", Period(2025, "fyp_target"), "work_report"), chunk)
    assert said is not None and "增加262万户（951－689＝262万户）" in said.text and said.derived == ("262", "38.0")
    assert stated_change(query, "从2.9万亿元增至3800亿元", Place("x", Period(), ""), chunk) is None  # units differ


def test_a_part_of_a_whole_in_one_sentence_gives_its_share():
    from assistant.answer.compute import stated_share
    from assistant.answer.phrasing import Place
    from assistant.models import Period, Query
    text = "完成老旧供水管道改造,实施排水主管检测约123公里,对其中的约24公里修复或改造"
    chunk = _chunk(text=text)
    said = stated_share(Query(text="占检测长度的百分之几", standalone="", search_text=""), text, Place("静安区", Period(2025, "target"), "action_plan"), chunk)
    assert said is not None and "24÷123≈19.5%" in said.text and said.derived == ("19.5",)
    assert stated_share(Query(text="", standalone="", search_text=""), "检测约123公里，其中24个项目", Place("x", Period(), ""), chunk) is None
