"""Lists inside one sentence (assistant/enumerations.py) and the item count of list questions."""

from __future__ import annotations

import pytest

from assistant.answer.enumerations import _serial_items, find
from assistant.models import Chunk, Hit
from assistant.query.parse import QueryParser


@pytest.fixture(scope="module")
def parser():
    return QueryParser()


def hit(text: str, breadcrumb=("一、积极打造两大城市副中心",)) -> Hit:
    chunk = Chunk("doc#s1-b1", "doc", "s1-b1", "paragraph", text, text, breadcrumb, "闵行区", "2021-2025", "t")
    return Hit(chunk=chunk, score=1.0)


@pytest.mark.parametrize("question, count, kind, intent", [
    ("静安的四大功能区是哪四个？", 4, "功能区", "list"),
    ("闵行要在“五型经济”招商中提升哪三个“度”？", 3, "度", "list"),
    ("“便捷就医”数字化转型2.0的七大场景包括哪些？", 7, "场景", "list"),
    ("闵行依托哪两所高校建专业化孵化平台？", 2, "高校", "list"),
    ("闵行的四大民俗节庆活动是什么？", 4, "民俗节庆活动", "list"),  # a count of a kind asks for the items
    ("上海南部科创中心包括哪些镇和街道？", 0, "镇和街道", "list"),
    ("闵行2023年全区生产总值是多少？", 0, "", "figure"),
])
def test_the_question_says_how_many_items_of_what_kind(parser, question, count, kind, intent):
    query = parser.parse(question)
    assert (query.item_count, query.item_kind, query.intent) == (count, kind, intent)
    assert not any(t in ("四大", "三个", "两个", "七大") for t in query.terms)  # the count is not the topic


@pytest.mark.parametrize("question, sentence, items, label", [
    ("静安的四大功能区是哪四个？", "在南西、苏河湾、大宁、市北四大功能区举行人才规划师签约活动。", ("南西", "苏河湾", "大宁", "市北"), "四大功能区"),
    ("闵行要建的两个城市副中心是哪两个？", "高水平、高标准建设虹桥、莘庄两大城市副中心,加快形成新格局。", ("虹桥", "莘庄"), "两大城市副中心"),
    ("“便捷就医”的七大场景包括哪些？", "² 七大场景是指智能分诊导诊、院内导航、智能识别通行、医疗收费电子票据、智能诊后管理、中药代煎配送、便民“一键呼救”。",
     ("智能分诊导诊", "院内导航", "智能识别通行", "医疗收费电子票据", "智能诊后管理", "中药代煎配送", "便民“一键呼救”"), "七大场景"),
    ("闵行的四大主导产业是哪四个？", "着力发展高端装备、新一代信息技术、生物医药、人工智能等四大主导产业。", ("高端装备", "新一代信息技术", "生物医药", "人工智能"), "四大主导产业"),
    ("闵行四大民俗节庆活动是什么？", "持续办好江南吃货节等重大文化活动和“莘庄灯会、颛桥糕会、召楼粽情、月满马桥”四大民俗节庆活动。",
     ("莘庄灯会", "颛桥糕会", "召楼粽情", "月满马桥"), "四大民俗节庆活动"),
])
def test_counted_enumerations_are_cut_to_their_items(parser, question, sentence, items, label):
    found = _serial_items(parser.parse(question), sentence)
    assert found and found[0][:2] == (items, label) and found[0][2] >= 2


def test_the_asked_kind_beats_a_neighbouring_list_of_the_same_count(parser):
    query = parser.parse("静安的三大潜能产业指哪三个？")
    text = "聚焦商贸服务业、金融服务业、专业服务业三大优势产业,以及数据智能、文化创意、生命健康三大潜能产业,形成重点产业体系。"
    found = find(query, [hit(text, ("合力推进重点产业增效",))])
    assert found is not None and found.items == ("数据智能", "文化创意", "生命健康")


def test_a_list_needs_an_anchor_to_the_question(parser):
    query = parser.parse("闵行2024年提升主城区功能品质有哪些任务？")
    # "即将…量化、记录": two verbs, no count, no kind, no introducing word: not the list asked for
    assert find(query, [hit("即将企业与公众的减排行为进行量化、记录。", ("提升主城区功能品质",))]) is None
    wrong_count = parser.parse("闵行的五大主导产业是哪五个？")
    assert find(wrong_count, [hit("着力发展高端装备、新一代信息技术、生物医药、人工智能等四大主导产业。")]) is None


def test_items_of_the_asked_kind_after_an_introducing_word(parser):
    query = parser.parse("闵行上海南部科创中心包括哪些镇和街道？")
    found = find(query, [hit("南部打造上海南部科创中心。包括浦江镇、吴泾镇、马桥镇、颛桥镇、江川路街道、浦锦街道、莘庄工业区。", ("五、空间战略",))])
    assert found is not None and found.items[:2] == ("浦江镇", "吴泾镇") and len(found.items) == 7


def test_parallel_clauses_quoting_the_asked_kind(parser):
    query = parser.parse("闵行要在“五型经济”招商中提升哪三个“度”？")
    text = ("围绕“五型经济”招大引强，不断扩大总部经济的“贡献度”；聚焦重点产业，不断提升数字经济的“活跃度”；"
            "打造进口商品集散地，持续增强国际贸易的“开放度”。")
    found = find(query, [hit(text, ("聚焦一南一北重点区域",))])
    assert found is not None and found.clauses
    assert [c[-5:] for c in found.items] == ["“贡献度”", "“活跃度”", "“开放度”"]


@pytest.mark.integration
@pytest.mark.parametrize("question, needles", [
    ("静安的四大功能区是哪四个？", ["南京西路", "苏河湾", "大宁", "市北"]),
    ("闵行要建的两个城市副中心是哪两个？", ["虹桥", "莘庄"]),
    ("“便捷就医”数字化转型2.0的七大场景包括哪些？", ["智能分诊导诊", "中药代煎配送", "一键呼救"]),
    ("闵行要在“五型经济”招商中提升哪三个“度”？", ["贡献度", "活跃度", "开放度"]),
])
def test_lists_written_in_one_sentence_end_to_end(real_assistant, question, needles):
    answer = real_assistant.ask(question)
    assert not answer.refused and all(n in answer.text for n in needles), answer.text
    assert "[未核实]" not in answer.text


@pytest.mark.integration
def test_a_side_whose_growth_is_in_another_passage_is_looked_up_in_the_facts(real_assistant):
    # 闵行's 社零 amount is in the indicator table (ranked first); its growth is in a paragraph
    answer = real_assistant.ask("2023年静安和闵行的社零增速谁更快？快多少？")
    for needle in ("7.5%", "15.3%", "7.8个百分点", "静安区更高"):
        assert needle in answer.text, answer.text
