"""Issue examples end to end on the real model, index and corpus: scope is binding, refusals say
what the reports hold, the asked measure is the one answered, follow-ups carry their context."""

from __future__ import annotations

import pytest

from assistant.models import Filters

pytestmark = pytest.mark.integration


def ask(assistant, question, history=(), filters=None):
    return assistant.ask(question, history=[(q, "") for q in history], filters=filters)


def cited_districts(answer):
    return {answer_chunk.split("#")[0].split("-")[0] for answer_chunk in (c.chunk_id for c in answer.citations)}


def test_question_district_wins_over_the_filter_and_says_so(real_assistant):
    answer = ask(real_assistant, "闵行区2024年社会消费品零售总额目标是多少？", filters=Filters(districts=("静安区",)))
    assert not answer.refused and "2200" in answer.text and "1700" not in answer.text
    assert cited_districts(answer) == {"minhang"} and "未按筛选条件" in answer.text
    assert "闵行区" in answer.reading


def test_no_jingan_five_year_plan(real_assistant):
    answer = ask(real_assistant, "静安区“十四五”规划对2025年绿道建设提出了什么目标？")
    assert answer.refused and "没有静安区的“十四五”规划" in answer.text and "200公里" not in answer.text
    assert "闵行区" in answer.text  # what the library holds instead


def test_outcome_of_a_planned_year_is_refused_with_the_target(real_assistant):
    answer = ask(real_assistant, "静安区2024年新增就业岗位实际完成了多少个？")
    assert answer.refused and "34368" not in answer.text
    assert "没有2024年的实际完成情况" in answer.text
    # the 2024 plan's passages are shown as the closest ones; none is cited as the answer, since none states
    # the indicator asked (新增就业岗位): "500个青年就业见习岗位" is another quantity (test_tables)
    assert answer.closest and all(h.chunk.district == "静安区" for h in answer.closest)


def test_unstated_quantity_is_not_answered_with_another(real_assistant):
    answer = ask(real_assistant, "静安区2023年新引进外资项目的总投资额是多少？")
    assert answer.refused and "236" in answer.text and answer.citations  # says what the report gives instead


def test_outcome_not_the_plan_target(real_assistant):
    answer = ask(real_assistant, "闵行2023年全社会研发经费支出相当于地区生产总值比例是多少？")
    assert not answer.refused and "10.6" in answer.text
    answer = ask(real_assistant, "闵行去年搞研发花的钱占GDP多少，达标没？")
    assert not answer.refused and "10.6" in answer.text and "2023" in answer.text


def test_follow_up_lead_units_of_the_task_of_the_previous_turn(real_assistant):
    answer = ask(real_assistant, "它的牵头单位是谁？", history=["智慧教育示范区建设是哪项任务？"])
    assert not answer.refused and "区教育局" in answer.text and "智慧教育示范区" in answer.text


def test_three_turn_chain(real_assistant):
    turns = ["闵行区2023年社会消费品零售总额是多少？", "那静安区呢？"]
    assert "1707.89" in ask(real_assistant, turns[1], history=turns[:1]).text
    answer = ask(real_assistant, "2024年的目标呢？", history=turns)
    assert not answer.refused and "1700" in answer.text and cited_districts(answer) == {"jingan"}


def test_vague_questions_get_an_overview_or_a_clarification(real_assistant):
    vague = ask(real_assistant, "经济怎么样")
    assert "例如" in vague.text and "表" not in vague.text.split("例如")[0]
    overview = ask(real_assistant, "介绍一下静安")
    assert not overview.refused and overview.citations and cited_districts(overview) == {"jingan"}


def test_false_premise_is_corrected_with_the_figure(real_assistant):
    answer = ask(real_assistant, "为什么闵行2023年社会消费品零售总额下降了？")
    assert answer.refused and "7.5%" in answer.text and answer.citations


@pytest.mark.parametrize("question", ["北京市2023年GDP是多少？", "1' OR '1'='1", "../../../../etc/passwd", "闵",
                                      "What was Hangzhou's GDP in 2023?", "闵行区2019年社会消费品零售总额是多少？"])
def test_out_of_corpus_questions_are_refused(real_assistant, question):
    answer = ask(real_assistant, question)
    assert answer.refused and not answer.citations


@pytest.mark.parametrize("question", ["ＧＤＰ　闵行区２０２３", "闵行区2023年地区生产总值是多少？", "What was Minhang's GDP in 2023?"])
def test_gdp_in_any_wording(real_assistant, question):
    answer = ask(real_assistant, question)
    assert not answer.refused and "3002.04" in answer.text


def test_a_decimal_is_a_figure_not_a_year(real_assistant):
    answer = ask(real_assistant, "1983.09亿元是什么指标？")
    assert not answer.refused and "社会消费品零售总额" in answer.text


def test_http_api_carries_the_conversation_and_the_reading(real_assistant):
    """The Gradio `/ask_with_history` endpoint: earlier questions one per line, three turns."""
    from gradio_client import Client

    from _reliability import serve
    from assistant.serve.web import create_app

    with serve(create_app(real_assistant)) as url:
        client = Client(url + "/", verbose=False)
        turns = ["闵行区2023年社会消费品零售总额是多少？", "那静安区呢？"]
        second = client.predict(turns[1], turns[0], api_name="/ask_with_history")
        assert "1707.89" in second["answer"] and "静安区" in second["reading"]
        third = client.predict("2024年的目标呢？", "\n".join(turns), "全部", "extractive", api_name="/ask_with_history")
        assert not third["refused"] and "1700" in third["answer"] and third["query"]["periods"] == [{"year": 2024, "kind": "target"}]


def test_named_items_of_a_sum_or_difference():
    from assistant.query.items import named_items
    place = lambda name: name in ("闵行", "静安")  # noqa: E731
    assert named_items("把莘庄工业区、闵行经济技术开发区、紫竹高新技术产业开发区三个园区2023年的规上工业总产值加起来是多少？") == (
        "莘庄工业区", "闵行经济技术开发区", "紫竹高新技术产业开发区")
    assert named_items("数据智能、文化创意和生命健康三个潜能产业2023年税收加起来是多少") == ("数据智能", "文化创意", "生命健康")
    assert named_items("静安区2023年商贸服务业税收比金融服务业多多少") == ("商贸服务业税收", "金融服务业")
    assert named_items("它比金融服务业多多少？", ("它",)) == ("它", "金融服务业")
    assert named_items("闵行和静安2023年社会消费品零售总额合计多少？", (), place) == ()


def test_the_reading_line_shows_report_words_not_parse_leftovers(real_assistant):
    parse = real_assistant.pipeline.understand
    assert parse("2023年闵行有哪些主要指标没有完成年度目标？", [], None).reading.endswith("· 主要指标")
    assert parse("TOD是什么意思？", [], None).reading == "理解为：TOD"
    assert "三乱治理指标" in parse("闵行2023年三乱治理指标完成了吗", [], None).reading


def test_a_second_part_found_in_another_sentence_is_added(real_assistant):
    # the target row answers "完成了吗"; 完工 is stated only in the report's text, not in the row
    answer = ask(real_assistant, "静安2023年既有多层住宅加装电梯开工目标完成了吗？完工了多少台？")
    assert not answer.refused and "500" in answer.text and "335" in answer.text
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))  # the added sentence's citation renumbered into the answer's
    assert all(f"[{n}]" in answer.text for n in numbers)


def test_english_two_part_question_keeps_both_figures(real_assistant):
    answer = ask(real_assistant, "How many new-energy charging piles did Minhang add in 2023, and how many new public "
                                 "charging piles does it plan for 2024?")
    assert not answer.refused and "5489" in answer.text and "1200" in answer.text
    assert cited_districts(answer) == {"minhang"}


def test_a_part_about_a_place_the_library_lacks_is_refused_and_said(real_assistant):
    answer = ask(real_assistant, "闵行区2023年社会消费品零售总额是多少？那浦东新区呢？")
    assert not answer.refused and "1983.09" in answer.text and "没有浦东新区的资料" in answer.text
    assert cited_districts(answer) == {"minhang"}
    # every part of a question about such a place is refused: no later part is answered from elsewhere
    whole = ask(real_assistant, "浦东新区2023年社会消费品零售总额是多少？比上年增长多少？")
    assert whole.refused and not whole.citations


def test_parts_of_a_question_naming_no_district_stay_in_the_district_it_is_answered_from(real_assistant):
    # 表一 is 闵行's table: "各是多少" read alone must not add 静安's jobs figure to the answer
    answer = ask(real_assistant, "表一里新增就业岗位数是第几项？年度目标和完成情况各是多少")
    assert not answer.refused and "4.3万" in answer.text and "5.2万" in answer.text
    assert cited_districts(answer) == {"minhang"}


@pytest.mark.parametrize("question, verdict, figure", [
    ("闵行2023年全区生产总值有没有超过3000亿元？", "是", "3002.04"),
    ("闵行2023年全区生产总值是否达到了5000亿元？", "否", "3002.04"),
    ("静安2023年社会消费品零售总额是不是1800亿元？", "不是", "1707.89"),
    ("静安2023年社会消费品零售总额是不是1707.89亿元？", "是", "1707.89")])
def test_a_yes_no_question_is_decided_by_the_figure_of_the_asked_year(real_assistant, question, verdict, figure):
    answer = ask(real_assistant, question)
    first = answer.text.split("\n")[0]
    assert not answer.refused and first.startswith(verdict + "，") and figure in first
    assert "1600" not in first  # the 2023 target, not the outcome asked


def test_a_place_no_list_holds_is_refused_by_name(real_assistant):
    answer = ask(real_assistant, "吴江区2025年GDP是多少？")
    assert answer.refused and "没有吴江区的资料" in answer.text
    for task in ("强化城市运行一网统管那条，牵头单位有哪些？", "老旧小区改造80万平方米、租赁住房10万套的任务谁牵头？"):
        assert not ask(real_assistant, task).refused  # task names that start like a place


def test_the_rows_of_a_table_that_counts_the_asked_items(real_assistant):
    answer = ask(real_assistant, "静安区的三大集聚带分别是哪三个？")
    assert not answer.refused
    assert all(name in answer.text for name in ("南京西路", "苏河湾", "中环两翼"))
    answer = ask(real_assistant, "静安区2024年主要预期目标一共列了几项指标？")
    assert "共列7项" in answer.text and "旧住房综合改造面积" in answer.text
    # a figure asked with 一共 is not a count of the table's rows
    answer = ask(real_assistant, "静安2023年全区税收总收入一共多少，比上年涨了多少？")
    assert "847.50" in answer.text and "共列" not in answer.text


def test_an_english_follow_up_naming_only_a_district(real_assistant):
    answer = ask(real_assistant, "How does that compare with Minhang?",
                 history=["What was Jing'an's total retail sales of consumer goods in 2023?", "And the growth rate?"])
    assert not answer.refused and "7.5%" in answer.text and "15.3%" in answer.text


def test_two_years_tables_compared_row_by_row(real_assistant):
    for question in ("闵行2024年的主要目标比2023年少了几项？少的是哪一项？", "闵行区2024年的主要目标表比2023年的少了一项指标，少的是哪个？"):
        answer = ask(real_assistant, question)
        assert not answer.refused and "共19项" in answer.text and "共18项" in answer.text
        assert "未列入的有1项：“新增就业岗位数”" in answer.text
        assert "名称调整的有2项" in answer.text  # renamed rows are the same indicators, not dropped ones


def test_a_unit_s_tasks_whatever_the_question_s_wording_and_a_unit_that_leads_none(real_assistant):
    # "负责哪几项" reads as a list question; the unit named with a role verb still asks for its tasks
    answer = ask(real_assistant, "区司法局负责哪几项十四五重点任务")
    assert not answer.refused and "全面推进依法治区" in answer.text and "共3项" in answer.text
    # a unit that no row of the responsibility table names leads nothing: refused, not a near task's units
    answer = ask(real_assistant, "区商务委在十四五任务分解表里牵头了哪几项？")
    assert answer.refused and "区商务委" in answer.text and "南虹桥集团" not in answer.text
    # a filler ("高一点") is no topic word whose absence refuses the comparison
    answer = ask(real_assistant, "闵行跟静安2023年的空气质量优良率，哪个区高一点？")
    assert not answer.refused and "87.9%" in answer.text and "87.4%" in answer.text
