"""The query stage on the real corpus map (no model): scope, periods, intent, measure, follow-ups."""

from __future__ import annotations

import tomllib

import pytest

from assistant.ingest.coverage import Coverage
from assistant.indexing.lexical import tokenize
from assistant.models import Filters, Period
from assistant.query import QueryParser, vocabulary
from assistant.vocab import VOCAB_DIR


@pytest.fixture(scope="module")
def parser(corpus):
    documents = {d.doc_id: {"kind": d.kind, "year": d.year, "title": d.title, "district": d.district} for d in corpus.documents}
    coverage = Coverage.from_index(corpus.chunks, documents)
    known = {t for c in corpus.chunks for t in tokenize(c.context)}
    return QueryParser(coverage, known.__contains__)


def chain(parser, *turns, filters=None):
    query = None
    for turn in turns:
        query = parser.parse(turn, query, filters)
    return query


def test_coverage_knows_what_each_district_holds(parser):
    coverage = parser.coverage
    assert coverage.reporting_year == 2024
    assert coverage.has("闵行区", "fyp_target", 2025) and not coverage.has("静安区", "fyp_target", 2025)
    assert coverage.has("静安区", "outcome", 2023) and not coverage.has("静安区", "outcome", 2024)
    assert coverage.has("闵行区", "prior", 2020)


def test_table_rows_get_the_period_of_their_table(parser, corpus):
    periods = dict(zip((c.chunk_id for c in corpus.chunks), parser.coverage.periods))
    plan_row = next(c for c in corpus.chunks if c.doc_id == "minhang-2023-plan-report" and "2024年计划目标" in dict(c.fields))
    outcome_row = next(c for c in corpus.chunks if c.doc_id == "minhang-2023-plan-report" and "完成情况" in dict(c.fields))
    assert periods[plan_row.chunk_id] == Period(2024, "target")
    assert periods[outcome_row.chunk_id] == Period(2023, "outcome")


def test_scope_time_and_measure(parser):
    q = parser.parse("静安区2024年新增就业岗位实际完成了多少个？")
    assert q.districts == ("静安区",) and q.periods == (Period(2024, "outcome"),) and q.measure == "count"
    q = parser.parse("闵行2023年全社会研发经费支出相当于地区生产总值比例是多少？")
    assert q.periods == (Period(2023, "outcome"),) and q.measure == "share"
    q = parser.parse("静安区“十四五”规划对2025年绿道建设提出了什么目标？")
    assert q.periods == (Period(2025, "fyp_target"),) and q.topic == "绿道建设"
    q = parser.parse("静安区2023年新引进外资项目的总投资额是多少？")
    assert q.measure == "amount" and "新引进外资项目" in q.topic


def test_relative_time_resolves_against_the_reporting_year(parser):
    q = parser.parse("闵行去年搞研发花的钱占GDP多少，达标没？")
    assert q.periods == (Period(2023, "outcome"),) and q.intent == "target_check"
    assert "研发经费支出" in q.topic and any("2023" in n for n in q.notes)
    assert parser.parse("今年静安区社会消费品零售总额目标是多少？").years == (2024,)


def test_full_width_decimals_and_places(parser):
    assert parser.parse("ＧＤＰ　闵行区２０２３").years == (2023,)
    assert parser.parse("ＧＤＰ　闵行区２０２３").districts == ("闵行区",)
    q = parser.parse("1983.09亿元是什么指标？")
    assert q.years == () and q.unknown_years == () and "1983.09" in q.terms
    assert parser.parse("北京市2023年GDP是多少？").other_places == ("北京市",)
    assert parser.parse("What was Hangzhou's GDP in 2023?").other_places == ("杭州市",)
    # streets of 静安 named after cities are not those cities
    assert parser.parse("静安区南京西路和北京西路有哪些项目？").other_places == ()
    # a town right after the district: only a passage (or a document) naming it answers
    assert parser.parse("闵行区七宝镇有哪些重点项目？").must_mention == ("七宝镇",)
    assert parser.parse("闵行区有哪些重点项目？").must_mention == ()
    # an organisation named after its city is no question about the city
    assert parser.parse("静安区的排水设施什么时候移交给上海城投集团？").other_places == ()
    assert parser.parse("When are Jing'an's drainage facilities handed over to Shanghai Chengtou Group?").other_places == ()
    assert parser.parse("闵行区2019年社会消费品零售总额是多少？").unknown_years == (2019,)


def test_intents(parser):
    assert parser.parse("促进创新创业人才集聚由哪些单位牵头？").intent == "responsibility"
    assert parser.parse("“揭榜挂帅”是什么意思？").intent == "definition"
    assert parser.parse("2023年闵行和静安的全社会固定资产投资增速哪个更高？").intent == "comparison"
    assert parser.parse("经济怎么样").intent == "overview"
    assert parser.parse("为什么闵行2023年社会消费品零售总额下降了？").premise == "down"


def test_filter_that_contradicts_the_question_loses_visibly(parser):
    q = parser.parse("闵行区2024年社会消费品零售总额目标是多少？", filters=Filters(districts=("静安区",)))
    assert q.districts == ("闵行区",) and any("静安区" in n for n in q.notes)
    assert parser.parse("社会消费品零售总额是多少？", filters=Filters(districts=("静安区",))).districts == ("静安区",)


def test_follow_ups_inherit_and_override(parser):
    first = "闵行区2023年社会消费品零售总额是多少？"
    q = chain(parser, first, "那静安区呢？")
    assert q.follow_up and q.districts == ("静安区",) and q.years == (2023,) and "社会消费品零售总额" in q.standalone
    q = chain(parser, first, "那静安区呢？", "2024年的目标呢？")
    assert q.districts == ("静安区",) and q.periods == (Period(2024, "target"),)
    q = chain(parser, first, "同比增长多少？")
    assert q.measure == "growth" and q.districts == ("闵行区",) and q.years == (2023,)
    q = chain(parser, first, "And what about the target?")
    assert q.period_kinds == ("target",) and q.districts == ("闵行区",) and q.english
    q = chain(parser, "智慧教育示范区建设是哪项任务？", "它的牵头单位是谁？")
    assert q.intent == "responsibility" and "智慧教育示范区" in q.standalone
    q = chain(parser, first, "和静安比呢？")
    assert set(q.districts) == {"闵行区", "静安区"} and q.intent == "comparison"


def test_a_new_question_is_not_a_follow_up(parser):
    q = chain(parser, "闵行区2023年社会消费品零售总额是多少？", "静安区2023年外贸进出口总额是多少？")
    assert not q.follow_up and q.districts == ("静安区",) and "外贸进出口总额" in q.topic


def test_vocabulary_entries_are_used_and_point_at_report_terms(corpus):
    """Every synonym's report term occurs in the corpus (a synonym that maps nowhere is a defect)."""
    text = "".join(c.text for c in corpus.chunks).lower()
    vocab = vocabulary()
    missing = [f"{k}->{v}" for k, v in vocab.synonyms.items() if v.lower() not in text]
    assert not missing, missing
    with open(VOCAB_DIR / "synonyms.toml", "rb") as handle:
        assert all(k != v for k, v in tomllib.load(handle)["zh"].items())


def test_a_district_that_a_catalogued_report_names_is_a_corpus_district():
    # a 浦东新区 report uploaded on the 资料库 page: 浦东 is no longer "outside the corpus"
    class Covered:
        districts = ["浦东新区", "闵行区", "静安区"]
        reporting_year = 2024
        years = {2023, 2024}
        doc_titles: dict = {}
        available = []

        def has(self, *args):
            return True

        def reporting_year_of(self, districts):
            return 2024

    query = QueryParser(coverage=Covered()).parse("浦东2023年社会消费品零售总额是多少？")
    assert query.districts == ("浦东新区",) and query.other_places == ()
    assert QueryParser().parse("浦东2023年社会消费品零售总额是多少？").other_places == ("浦东新区",)


def test_one_spelling_for_the_same_question(parser):
    # 繁体, spaces between characters, full-width digits and a near-homophone typo read as the plain question
    plain = parser.parse("闵行区2023年新增就业岗位有多少个？")
    for variant in ("閔行區2023年新增就業崗位有多少個？", "闵 行 区 2 0 2 3 年 新 增 就 业 岗 位 有 多 少 个 ？",
                    "闵行区２０２３年新增就业岗位有多少个？", "敏行区2023年新增就业岗位有多少个？", "闵行区23年新增就业岗位有多少个？"):
        query = parser.parse(variant)
        assert (query.districts, query.periods, query.terms) == (plain.districts, plain.periods, plain.terms), variant
    assert parser.parse("What was Minhang's GDP in 2023 and 2024?").text == "What was Minhang's GDP in 2023 and 2024?"
    # a two-digit year is that year; a count of years, an ordinal or a decade is not
    assert sorted(p.year for p in parser.parse("静安24年加装电梯开工目标是不是比23年多？").periods) == [2023, 2024]
    for kept in ("第23年", "近20年来", "10年以上", "90年代"):
        assert kept in parser.parse(f"闵行{kept}怎么样").text


def test_a_figure_with_its_unit_is_not_a_year_and_an_unset_target_year_is_unknown(parser):
    assert parser.parse("闵行2023年社会消费品零售总额离2000亿元的目标还差多少？").unknown_years == ()
    # a year the reports name but no period covers: its figure must be stated by the passage (named_years)
    assert parser.parse("闵行区2030年森林覆盖率要达到多少？").named_years == (2030,)
    assert parser.parse("多少个亿").measure == "amount"


def test_a_report_title_in_the_question_is_scope_and_a_polite_opening_is_dropped():
    from assistant.ingest.coverage import Coverage

    coverage = Coverage([], {"t": "task_table"}, {"t": "闵行区“十四五”规划重点任务责任分解表"}, {"t": "闵行区"})
    parser = QueryParser(coverage=coverage)
    query = parser.parse("在《闵行区“十四五”规划重点任务责任分解表》里，“加快建设马桥人工智能创新试验区”的牵头单位是谁？")
    assert query.doc_ids == ("t",) and "分解表" not in query.topic and "马桥" in query.topic
    close = parser.parse("《闵行十四五规划重点任务责任分解表》中“强化规划实施保障”归谁负责牵头？")
    assert close.doc_ids == ("t",)
    assert parser.parse("您好，想请教一下，静安区2023年税收总收入多少？").terms == parser.parse("静安区2023年税收总收入多少？").terms


def test_how_many_things_a_question_asks(parser):
    assert parser.parse("静安2023年全区税收总收入一共多少，比上年涨了多少？").asks == 2
    assert parser.parse("How many new 5G base stations went up in Minhang in 2023, and what is the running total?").asks == 2
    assert parser.parse("闵行2023年新建了多少座5G基站？").asks == 1


def test_a_one_year_plan_later_than_the_reports_moves_the_place_s_this_year():
    """A 2026 work plan of 静安 beside its 2023-2024 report: "今年" for 静安 is 2026; 闵行's stays 2024."""
    from assistant.ingest.coverage import Coverage
    from assistant.models import Chunk

    documents = {"report": {"district": "静安区", "year": "2023-2024", "kind": "yearly_report", "title": "执行情况"},
                 "plan": {"district": "静安区", "year": "2026", "kind": "action_plan", "title": "2026年重点工作安排"},
                 "mh": {"district": "闵行区", "year": "2023-2024", "kind": "yearly_report", "title": "执行情况"}}
    chunks = [Chunk(f"{d}#a", d, "a", "paragraph", "2024年计划目标", "2024年计划目标", ("二、2024年计划",),
                    documents[d]["district"], documents[d]["year"], "t") for d in documents]
    coverage = Coverage.from_index(chunks, documents)
    assert coverage.reporting_year_of(["静安区"]) == 2026 and coverage.reporting_year_of(["闵行区"]) == 2024
