"""The facts layer and analyst answers (issue 10): facts of the real corpus with the right period
and unit, unit tests of extraction and arithmetic, and the issue's examples end to end."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assistant.answer.compute import Side, check_target, compare, prose_target_pairs
from assistant.ingest.facts import FACTS_FILE, Fact, read_facts, table_facts, text_facts, write_facts
from assistant.indexing.load import load_facts
from assistant.models import Chunk, Period, Query
from assistant.answer.phrasing import Place
from assistant.answer.verify import Sentence, verify


def chunk(text: str, kind: str = "paragraph", fields=(), anchor: str = "s1-b1") -> Chunk:
    return Chunk(f"doc#{anchor}", "doc", anchor, kind, text, text, ("一、2023年执行情况",), "闵行区", "2023-2024", "t", tuple(fields))


# ----------------------------------------------------------------------------- unit


def test_text_facts_carry_the_subject_to_the_continuing_clause():
    facts = text_facts(chunk("固定资产投资实现758.83亿元，同比增长13.8%。"), Period(2023, "outcome"))
    assert [(f.subject, f.value, f.unit, f.relation) for f in facts] == [
        ("固定资产投资", "758.83", "亿元", "amount"), ("固定资产投资", "13.8", "%", "growth")]
    assert all(f.period == Period(2023, "outcome") for f in facts)


def test_a_target_in_brackets_is_the_target_of_the_figure_before_it():
    facts = text_facts(chunk("已筹集6315套(目标4179套)、已供应4314套(目标2611套),助力人才安居。"), Period(2023, "outcome"))
    assert [(f.subject, f.value, f.period.kind) for f in facts] == [
        ("已筹集", "6315", "outcome"), ("已筹集", "4179", "target"), ("已供应", "4314", "outcome"), ("已供应", "2611", "target")]
    assert [(a.value, b.value) for a, b in prose_target_pairs(facts)] == [("6315", "4179"), ("4314", "2611")]
    sentence = check_target(Query("供应比目标多多少", "供应比目标多多少", "供应比目标多多少"), *prose_target_pairs(facts)[1], Place("静安区", Period(2023, "outcome"), ""), chunk("x"))
    assert "已供应4314套，目标2611套" in sentence.text and "1703套" in sentence.text  # no "已供应完成"


def test_a_prose_cell_of_a_table_row_gives_its_figures_as_text_facts():
    row = chunk("创新策源能力\t全区共培育新增科技“小巨人”企业56家，有效期内高新技术企业达到3612家", "table_row",
                (("领域", "创新策源能力"), ("进展情况", "全区共培育新增科技“小巨人”企业56家，有效期内高新技术企业达到3612家")))
    facts = table_facts(row, Period(2023, "outcome"))
    assert ("有效期内高新技术企业", "3612", "家") in [(f.subject, f.value, f.unit) for f in facts]
    assert all(f.source == "text" for f in facts)


def test_facts_of_another_extraction_version_are_not_read(tmp_path):
    fact = text_facts(chunk("固定资产投资实现758.83亿元。"), Period(2023, "outcome"))
    write_facts(tmp_path, fact)
    assert read_facts(tmp_path) == fact
    lines = (tmp_path / FACTS_FILE).read_text(encoding="utf-8").splitlines()
    (tmp_path / FACTS_FILE).write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")  # as an older build wrote it
    assert read_facts(tmp_path) is None  # the loader extracts them again from the chunks


def test_a_row_gives_target_and_outcome_as_separate_facts():
    row = chunk("7\t社会消费品零售总额\t预期性\t亿元\t2000以上\t1983.09", "table_row",
                (("序号", "7"), ("指标名称", "社会消费品零售总额"), ("属性", "预期性"), ("单位", "亿元"), ("年度目标", "2000以上"), ("完成情况", "1983.09")))
    target, outcome = table_facts(row, Period(2023, "outcome"))
    assert (target.period, target.value, target.qualifier, target.unit) == (Period(2023, "target"), "2000", "以上", "亿元")
    assert (outcome.period, outcome.value, outcome.display()) == (Period(2023, "outcome"), "1983.09", "1983.09亿元")
    assert target.display() == "2000以上（亿元）"  # the cell as printed, its unit from the unit column


def test_target_check_arithmetic_is_exact_and_shown():
    row = chunk("外贸进出口总额\t520亿元\t561.02亿元", "table_row", (("指标名称", "外贸进出口总额"), ("全年预期目标", "520亿元"), ("完成情况", "561.02亿元")))
    target, outcome = table_facts(row, Period(2023, "outcome"))
    sentence = check_target(Query("q", "q", "q"), outcome, target, Place("静安区", Period(2023, "outcome"), "yearly_report"), row)
    assert "561.02－520＝41.02亿元" in sentence.text and "已完成目标" in sentence.text and sentence.derived == ("41.02",)
    verified, stats = verify([sentence], {row.chunk_id: row})
    assert verified[0].chunk_ids == [row.chunk_id] and stats.unsupported_sentences == 0


def test_comparison_difference_and_sum():
    a = chunk("闵行：社会消费品零售总额实现1983.09亿元。", anchor="a")
    b = chunk("静安：实现社会消费品零售总额1707.89亿元。", anchor="b")
    fa, fb = (text_facts(c, Period(2023, "outcome"))[0] for c in (a, b))
    sides = [Side("闵行区", Place("闵行区", Period(2023, "outcome"), ""), fa, a), Side("静安区", Place("静安区", Period(2023, "outcome"), ""), fb, b)]
    difference = compare(Query("q", "q", "q"), sides, "")[-1]
    assert "闵行区更多，比静安区多275.20亿元" in difference.text and "1983.09－1707.89＝275.20亿元" in difference.text
    total = compare(Query("q", "q", "q"), sides, "sum")[-1]
    assert "3690.98亿元" in total.text and Decimal("1983.09") + Decimal("1707.89") == Decimal("3690.98")


def test_a_computed_sentence_may_not_invent_an_input():
    a = chunk("社会消费品零售总额实现1983.09亿元。", anchor="a")
    forged = Sentence("1983.09－1700＝283.09亿元", [a.chunk_id], chunks=[a], derived=("283.09",))
    verified, stats = verify([forged], {a.chunk_id: a})
    assert not verified[0].supported and stats.unsupported_sentences == 1  # 1700 is in no cited passage


def test_units_that_differ_are_not_compared():
    a, b = chunk("甲类项目实现100亿元。", anchor="a"), chunk("乙类项目增长5%。", anchor="b")
    fa, fb = text_facts(a, Period(2023, "outcome"))[0], Fact("静安区", "doc", b.chunk_id, Period(2023, "outcome"), "乙", "share", "5", "%")
    sides = [Side("闵行区", Place("闵行区", Period(), ""), fa, a), Side("静安区", Place("静安区", Period(), ""), fb, b)]
    assert "单位不同" in compare(Query("q", "q", "q"), sides, "")[-1].text


# ----------------------------------------------------------------------------- real corpus


@pytest.mark.integration
def test_known_facts_of_the_real_corpus(real_assistant):
    book = load_facts(real_assistant.index)
    docs = {f.doc_id for f in book.facts}
    assert docs == set(real_assistant.index.manifest["documents"]) - {"minhang-2023-priorities-article"} or docs >= {
        "minhang-2023-plan-report", "jingan-2023-plan-report", "minhang-14th-five-year-plan", "minhang-14th-five-year-plan-tasks"}

    def find(doc, subject, kind, year):
        return [(f.value, f.unit) for f in book.select(doc_id=doc, subject=subject) if f.period == Period(year, kind)]

    assert ("3002.04", "亿元") in find("minhang-2023-plan-report", "全区生产总值", "outcome", 2023)
    assert ("1700", "亿元") in find("jingan-2023-plan-report", "社会消费品零售总额", "target", 2024)
    assert ("10", "%") in find("minhang-2023-plan-report", "研发经费支出相当于地区生产总值比例", "target", 2023)
    assert ("10.6", "%") in find("minhang-2023-plan-report", "研发经费支出相当于地区生产总值比例", "outcome", 2023)
    assert (real_assistant.index.path / "facts.jsonl").exists()


@pytest.mark.integration
@pytest.mark.parametrize("question, needles", [
    ("2023年闵行和静安的全社会固定资产投资增速哪个更高？", ["13.8", "20.9", "静安区更高", "7.1个百分点"]),
    ("闵行和静安2023年的区级一般公共预算收入哪个多？多多少？", ["326.70", "287.80", "38.90亿元"]),
    ("What was Minhang's GDP in 2023?", ["3002.04", "Minhang"]),
    ("闵行2023年研发经费支出相当于地区生产总值比例完成目标了吗？", ["10.6", "已完成目标"]),
    ("5G基站累计建设目标在十四五纲要和责任分解表里一致吗？", ["4500", "5000", "不一致"]),
    ("闵行区2023年全区生产总值是多少？", ["闵行区2023年全区生产总值", "3002.04亿元"]),
])
def test_issue_examples_answer_with_figures_and_verdicts(real_assistant, question, needles):
    answer = real_assistant.ask(question)
    assert not answer.refused
    for needle in needles:
        assert needle in answer.text, (needle, answer.text)
    assert "[未核实]" not in answer.text and "[unverified]" not in answer.text


@pytest.mark.integration
def test_a_list_question_gets_the_items_under_its_heading(real_assistant):
    answer = real_assistant.ask("静安区2024年在优化营商环境方面有哪些举措？")
    for item in ("招商引资", "总部经济", "土地亩产", "重大工程", "服务效能"):
        assert item in answer.text
    assert len(answer.citations) >= 5 and "单位 %" not in answer.text


@pytest.mark.integration
def test_chinese_rows_read_as_sentences(real_assistant):
    answer = real_assistant.ask("静安区2024年社会消费品零售总额的目标是多少？")
    assert "静安区2024年社会消费品零售总额" in answer.text and "1700亿元" in answer.text
    assert "单位" not in answer.text and "：" not in answer.text.split("\n")[0]


@pytest.mark.integration
def test_the_subjects_own_figure_beats_a_breakdown_row(real_assistant):
    # the search ranks the "合计" rows of two tax breakdown tables first; the district's own total is
    # stated in a paragraph ("全年实现税收总收入847.50亿元")
    answer = real_assistant.ask("静安区2023年税收总收入多少？")
    assert "847.50亿元" in answer.text and "590.84" not in answer.text and "675.33" not in answer.text
    # a part named by the question keeps its own figure (莘庄工业区, not the district's total)
    part = real_assistant.ask("莘庄工业区2023年规上工业总产值和税收各多少？")
    assert "1019.40亿元" in part.text and "3365.77" not in part.text


@pytest.mark.integration
def test_a_years_outcome_against_the_five_year_plans_target(real_assistant):
    # the outcome is in the 2023 report's table, the 2025 target in the five-year plan's text: both cited
    answer = real_assistant.ask("闵行森林覆盖率2023年完成多少？离十四五2025年目标还差多少？")
    assert "19.23%" in answer.text and "19.5%" in answer.text and "还差0.27个百分点" in answer.text
    assert "未完成" not in answer.text  # a 2025 target is not missed in 2023
    assert {c.doc_id for c in answer.citations} == {"minhang-2023-plan-report", "minhang-14th-five-year-plan"}


@pytest.mark.integration
@pytest.mark.parametrize("question, needle", [
    ("报告里说的“物码”管理是什么？", "二维码"),
    ("功能性外资机构数这个指标怎么统计？", "独立外资研发机构"),
])
def test_the_sentence_that_defines_the_term_answers_alone(real_assistant, question, needle):
    answer = real_assistant.ask(question)
    assert needle in answer.text and len(answer.citations) == 1, answer.text


def test_a_cell_with_a_sign_is_shown_as_printed_and_a_plan_column_is_its_target():
    """"≥80" under 近期规划（2030年） is the plan's target and reads ≥80% (its words, 以上, stay in the
    qualifier for comparisons); 现状（2025年） is the baseline the plan starts from."""
    fields = (("序号", "22"), ("指标项", "建成区达到海绵城市建设要求的比例"), ("单位", "%"), ("类型", "约束性"),
              ("现状（2025年）", "≥40"), ("近期规划（2030年）", "≥80"))
    row = chunk("22\t建成区达到海绵城市建设要求的比例\t%\t约束性\t≥40\t≥80", "table_row", fields)
    baseline, target = table_facts(row, Period(2030, "fyp_target"))
    assert baseline.subject == target.subject == "建成区达到海绵城市建设要求的比例"
    assert (baseline.period, target.period) == (Period(2025, "outcome"), Period(2030, "fyp_target"))
    assert target.display() == "≥80%" and target.qualifier == "以上"
