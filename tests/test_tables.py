"""Tables as tables (assistant/answer/tables.py): rows in order, counts and sets over a column's value,
footnotes, a unit's tasks. Real corpus, real model and index; the figures are the reports' own."""

import pytest

from assistant.ingest.normalize import squash

pytestmark = pytest.mark.integration


def ask(assistant, question, history=()):
    answer = assistant.ask(question, history=[(q, "") for q in history])
    assert not answer.refused, answer.text
    return squash(answer.text), answer


def test_how_many_rows_share_a_column_value(real_assistant):
    text, answer = ask(real_assistant, "闵行2023年19项主要指标里，约束性指标一共有几项？")
    assert "共11项" in text and "[未核实]" not in text
    assert all(real_assistant.chunk_text(c.chunk_id).count("约束性") for c in answer.citations)


def test_the_last_row_of_a_table(real_assistant):
    text, _ = ask(real_assistant, "闵行2024年主要目标表（表七）排在最后的一项指标是什么，目标值多少？")
    assert "新增体育场地面积" in text and "6.5万" in text


def test_a_footnote_mark_is_explained_from_the_footnote(real_assistant):
    text, _ = ask(real_assistant, "闵行“十四五”重点任务责任分解表中，任务名称后面带*号的是什么意思？共有多少项？")
    assert "涉及闵行区的任务" in text and "17项" in text


def test_tasks_a_unit_leads_alone_and_in_all(real_assistant):
    text, answer = ask(real_assistant, "责任分解表里，区交通委作为唯一牵头单位的任务有哪些？")
    assert "共3项" in text and "建设畅通的道路交通网络" in text and len(answer.citations) == 3
    text, _ = ask(real_assistant, "区绿化市容局在“十四五”重点任务责任分解表中一共参与牵头几项任务？")
    assert "共5项" in text and "巩固垃圾分类新成效" in text


def test_a_row_condition_besides_the_value_is_not_a_plain_count(real_assistant):
    text, _ = ask(real_assistant, "闵行2023年哪几项预期性经济指标没达到年初目标？")
    assert "制造业增加值占全区生产总值比重" in text and "属性为" not in text


def test_a_task_named_in_the_question_own_words_gets_a_sentence_naming_its_lead_units(real_assistant):
    text, answer = ask(real_assistant, "垃圾分类巩固成效那条任务，牵头的是谁啊")
    assert answer.text.startswith("“巩固垃圾分类新成效”（第48项）由区绿化市容局、浦江镇、马桥镇、华漕镇牵头。") and "\t" not in answer.text
    text, _ = ask(real_assistant, "打造国际一流营商环境这项重点任务，牵头单位有几个，分别是哪些？")
    assert "区府办" in text and "区发改委" in text
    refused = real_assistant.ask("海绵城市建设由哪个单位牵头？")
    assert refused.refused and "没有“海绵城市建设”这项任务" in refused.text


def test_a_row_by_its_number(real_assistant):
    text, _ = ask(real_assistant, "闵行2023年主要目标完成情况那张表，第12项指标是啥？")
    assert squash("主要河湖水质断面优于Ⅲ类") in text and "约束性" in text


def test_a_yes_no_question_about_a_bound_says_yes_or_no_with_the_deciding_figure(real_assistant):
    answer = real_assistant.ask("静安外贸进出口总额2023年超过550亿了吗")
    assert not answer.refused and answer.text.startswith("是，") and "561.02" in answer.text and "[未核实]" not in answer.text
    answer = real_assistant.ask("闵行2023年PM2.5浓度低于30了没有？")
    assert answer.text.startswith("否，") and "30微克" in answer.text


def test_a_named_indicator_is_not_answered_by_another_quantity_of_the_same_words(real_assistant):
    answer = real_assistant.ask("静安2024年新增就业岗位的目标是多少个？")
    assert answer.refused and "500" not in answer.text.split("\n")[0]
    assert "5.2万" in real_assistant.ask("闵行区2023年新增就业岗位有多少个？").text


def test_a_paragraph_with_its_units_in_brackets_is_a_task_row():
    from assistant.ingest.inline_tasks import task_fields

    fields = dict(task_fields("4.完成旧住房修缮更新60万平方米。（牵头单位：区住房保障房屋管理局、相关街镇，支撑单位：区建设管理委）", "（二）人居环境品质提升行动"))
    assert fields == {"类别": "（二）人居环境品质提升行动", "序号": "4", "主要任务": "完成旧住房修缮更新60万平方米。",
                      "牵头单位": "区住房保障房屋管理局、相关街镇", "支撑单位": "区建设管理委"}
    assert task_fields("全年完成旧住房修缮（见表2）。") == ()  # a bracket without units is no task


def test_a_task_named_by_its_content_is_found_and_its_supporting_units_said():
    from assistant.answer.tables import TableBook
    from assistant.models import Chunk, Hit, Query

    def task(n, text, lead, support=""):
        fields = (("序号", n), ("主要任务", text), ("牵头单位", lead)) + ((("支撑单位", support),) if support else ())
        return Chunk(f"d#t{n}", "d", f"t{n}", "task", f"{n}.{text}", "", ("（一）行动",), "松江区", "2025", "计划", fields)

    rows = [task("1", "推进晨星口袋公园建设。", "区绿化市容局", "经开区"), task("2", "完成燃气老化管道改造7公里。", "区建设管理委")]
    book = TableBook(rows)
    query = Query("晨星口袋公园谁负责建设？", "晨星口袋公园谁负责建设？", "晨星口袋公园谁负责建设？", districts=("松江区",),
                  intent="responsibility", terms=("晨星", "口袋", "公园", "口袋公园"))
    sentences = book.answer(query, [Hit(rows[0], 1.0)])
    assert sentences and sentences[0].text == "“推进晨星口袋公园建设”（第1项）由区绿化市容局牵头，经开区支撑。"
    other = Query("无废城市建设谁牵头？", "无废城市建设谁牵头？", "无废城市建设谁牵头？", intent="responsibility", terms=("无废", "城市", "建设"))
    assert book.task_about(other, [Hit(rows[0], 1.0)]) is None  # its subject is in no task


def test_numbered_task_lines_of_an_action_plan_are_task_rows_under_their_action():
    from assistant.ingest.parse import parse_document
    from assistant.models import Document

    text = ("松江区城市更新2025年度实施计划\n\n一、行动任务\n\n（二）人居环境品质提升行动\n\n"
            "4.完成旧住房修缮更新60万平方米。（牵头单位：区住房保障房屋管理局、相关街镇）\n\n"
            "10.开展雨污水分流改造，积极推动重点区域雨污混接整治工作。（牵头单位：区水务局）\n")
    parsed = parse_document(Document("sj", "计划", "松江区", "2025", "action_plan", "x", "0"), text)
    tasks = [dict(b.fields) for b in parsed.blocks if b.kind == "task"]
    assert [(t["序号"], t["主要任务"], t["牵头单位"], t["类别"]) for t in tasks] == [
        ("4", "完成旧住房修缮更新60万平方米。", "区住房保障房屋管理局、相关街镇", "（二）人居环境品质提升行动"),
        ("10", "开展雨污水分流改造，积极推动重点区域雨污混接整治工作。", "区水务局", "（二）人居环境品质提升行动")]


def test_a_question_of_when_gets_the_task_s_time_column_with_its_units():
    from assistant.answer.tables import TableBook
    from assistant.models import Chunk, Hit, Query

    fields = (("项目序号", "7"), ("任务类型", "构建系统运营体系"), ("改革任务", "感知体系建设"),
              ("工作要求", "完成排水感知体系和模拟评估系统建设"), ("完成时间", "2026年12月"),
              ("责任单位", "上海城投集团"), ("配合单位", "区建设管理委（区水务局）"))
    row = Chunk("d#t7", "d", "t7", "task", "7\t感知体系建设", "", ("附件1",), "杨浦区", "2025", "方案", fields)
    book = TableBook([row])
    text = "“感知体系建设”由谁负责、谁配合，什么时候完成？"
    query = Query(text, text, text, districts=("杨浦区",), intent="responsibility", terms=("感知", "体系", "建设"))
    said = [s.text for s in book.answer(query, [Hit(row, 1.0)])]
    assert said[0] == "“感知体系建设”（第7项）的责任单位为上海城投集团，区建设管理委（区水务局）配合。"
    assert said[-1] == "感知体系建设的完成时间为2026年12月。"
    # without a question of when, the time is not added
    plain = Query("“感知体系建设”由谁负责？", "", "", districts=("杨浦区",), intent="responsibility", terms=("感知", "体系", "建设"))
    assert [s.text for s in book.answer(plain, [Hit(row, 1.0)])] == said[:1]


def _division_rows():
    from assistant.models import Chunk

    rows = [("1", "推进综合管理", "编制温室气体排放清单", "生态环境局"),
            ("2", "推进综合管理", "落实碳排放统计快报制度", "统计局"),
            ("3", "提升建筑绿色低碳水平", "完成北站医院等9个节能改造项目", "卫生健康委、机管局"),
            ("4", "提升建筑绿色低碳水平", "推进既有公共建筑节能改造", "建设管理委"),
            ("5", "（三）提升建筑绿色低碳水平（3项）", "推进超低能耗建筑", "建设管理委、统计局")]
    return [Chunk(f"d#t{n}", "d", f"t{n}", "task", f"{n}\t{work}", "", ("附件",), "静安区", "2026", "安排",
                  (("序号", n), ("重点任务", group), ("具体工作", work), ("时间进度", "年内完成"), ("责任部门", units)))
            for n, group, work, units in rows]


def test_the_rows_under_a_group_of_a_task_list_are_counted():
    """"“提升建筑绿色低碳水平”下面有几条": the rows whose group cell names it, its numbering and count
    ("（三）…（3项）") aside; structure words of the question (下面, 分工表) set no condition."""
    from assistant.answer.tables import TableBook, category_name
    from assistant.models import Hit, Query

    assert category_name("（六）建设绿色生态的美丽城区（9项）") == "建设绿色生态的美丽城区"
    rows = _division_rows()[:4]
    book = TableBook(rows)
    text = "静安这个分工表里“提升建筑绿色低碳水平”下面有几条任务？"
    query = Query(text, text, text, districts=("静安区",), intent="fact", measure="count",
                  terms=("分工", "表", "提升", "建筑", "绿色", "低碳", "水平", "下面", "几条", "任务"))
    said = book.answer(query, [Hit(rows[2], 1.0)])
    assert said[0].text.startswith("该表中重点任务为“提升建筑绿色低碳水平”的共2项（全表4项）")


def test_the_task_a_unit_alone_is_responsible_for_in_the_table_s_own_verb():
    from assistant.answer.tables import TableBook
    from assistant.models import Hit, Query

    rows = _division_rows()
    book = TableBook(rows)
    text = "分工表里哪一条是统计局单独负责的？"
    query = Query(text, text, text, districts=("静安区",), intent="fact", terms=("分工", "表", "一条", "统计局", "单独"))
    said = [s.text for s in book.answer(query, [Hit(rows[1], 1.0)])]
    assert said[0].startswith("统计局单独负责的任务共1项") and "落实碳排放统计快报制度" in " ".join(said)


def test_an_indicator_name_parted_by_one_word_is_stated():
    from assistant.answer.tables import _states_name

    assert _states_name("地区生产总值增长", "今年经济社会发展主要预期目标是地区生产总值按增长5安排")
    assert not _states_name("地区生产总值增长", "地区生产总值年均增长59")  # an annual average is another quantity
    assert not _states_name("新增就业岗位", "提供500个青年就业实习见习岗位")


def test_a_row_number_is_read_in_the_table_whose_row_says_the_question_s_words():
    """"分工表第2条统计快报那项": row 2 of the table that says 统计快报, not row 2 of the first table found."""
    from assistant.answer.tables import TableBook
    from assistant.models import Chunk, Hit, Query

    other = [Chunk(f"m#t{n}", "m", f"t{n}", "task", f"{n}\t{task}", "", ("表",), "闵行区", "2021-2025", "分解表",
                   (("序号", str(n)), ("主要任务", task), ("牵头单位", "区科委"))) for n, task in ((1, "建设科创中心"), (2, "畅通成果转化渠道"))]
    rows = other + _division_rows()[:2]
    book = TableBook(rows)
    text = "分工表第2条统计快报那项，时间进度是什么？"
    query = Query(text, text, text, intent="fact", terms=("分工", "表", "统计", "快报", "时间", "进度"))
    said = book.answer(query, [Hit(other[1], 1.0)])
    assert "落实碳排放统计快报制度" in said[0].text and "畅通成果转化渠道" not in said[0].text
