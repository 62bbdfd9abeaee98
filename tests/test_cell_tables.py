"""Tables flattened to one cell per line (issue 22 item 3): recovered into rows with their headers, in
.txt, .md and .docx, so that a row answers alone; the seed reports parse as before (their parity is
checked against `assistant chunks --json` when the parser changes, see the commit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.ingest.cell_table import header_cells, header_kind
from assistant.ingest.chunk import chunk_document
from assistant.ingest.parse import parse_document
from assistant.ingest.readers import read_document
from assistant.models import Document
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "tables"
UNSEEN = ROOT.parent / "shared" / "unseen"


def _docx_from_text(text: str, path: Path) -> Path:
    """The .txt fixture as Word writes such a table flattened: a paragraph per cell, a value on two
    lines one paragraph with a soft line break (the fixture's only run of long lines without a blank)."""
    from docx import Document as Docx

    doc = Docx()
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        for part in ([lines] if len(lines) > 1 and len(lines[0]) > 12 else [[line] for line in lines]):
            paragraph = doc.add_paragraph()
            for n, line in enumerate(part):
                run = paragraph.add_run(line)
                if n < len(part) - 1:
                    run.add_break()
    doc.save(str(path))
    return path


def _parsed(path: Path):
    extracted = read_document(path)
    document = Document("fixture", "普陀区水务“十五五”规划", "普陀区", "2026-2030", "special_plan", str(path), "")
    return parse_document(document, extracted.text)


def _rows(parsed) -> list[dict]:
    return [dict(b.fields) | {"_caption": b.caption} for b in parsed.blocks if b.kind == "table_row"]


@pytest.fixture(scope="module")
def txt():
    return _parsed(FIXTURES / "indicators.txt")


def test_header_cells():
    assert [header_kind(t) for t in ("目标值（2025年）", "现状值(2025年）", "“十五五”目标", "2025年", "指标完成情况", "约束性")] == \
        ["word", "word", "word", "period", "", ""]
    assert header_cells("指标名称指标属性") == ["指标名称", "指标属性"]  # two header cells written on one line
    assert header_cells("“十四五”指标完成情况") == []  # the caption above the header


def test_one_cell_per_line_rows_get_their_headers(txt):
    rows = _rows(txt)
    assert len(rows) == 15
    water = next(r for r in rows if r.get("指标名称") == "河湖水面率" and "进展评价" in r)
    assert water == {"指标名称": "河湖水面率", "指标属性": "约束性", "目标值（2025年）": "3.76%", "现状值(2025年）": "3.86%",
                     "进展评价": "已完成", "_caption": "“十四五”指标完成情况"}
    first = rows[0]
    assert first["目标值（2025年）"] == "35%" and first["现状值(2025年）"] == "74.2%"  # footnote marks 1, 2 dropped
    two_lines = rows[1]["现状值(2025年）"]
    assert two_lines == "100%（区管以上河道断面）；100%（市考断面）" and rows[1]["进展评价"] == "已完成"
    notes = [b.text for b in txt.blocks if b.kind == "paragraph" and b.text.startswith(("注", "2指"))]
    assert len(notes) == 3  # the notes under the tables stay paragraphs
    assert any(b.kind == "paragraph" and b.text == "强化组织领导，完善协同高效的水务治理体系。" for b in txt.blocks)  # the report goes on


def test_rows_separated_by_blank_lines_and_a_header_repeated_after_a_page_break(txt):
    rows = [r for r in _rows(txt) if r["_caption"] == "续表清单"]
    assert [(r["序号"], r["项目名称"], r["完成时间"]) for r in rows] == [("1", "新建泵站", "2027年"), ("2", "河道整治", "2028年"),
                                                                     ("3", "管网改造", "2029年")]


def test_results_and_targets_keep_both_columns_and_merged_cells_are_carried(txt):
    rows = [r for r in _rows(txt) if "目标值(2030年）" in r]
    assert [(r["序号"], r["类别"], r["指标名称"], r["现状值(2025年）"], r["目标值(2030年）"]) for r in rows] == [
        ("1", "水安全", "城市易积水点消除比例", "100%", "100%"),
        ("2", "水安全", "河湖水面率", "3.86%", "3.95%"),  # 类别 merged over rows 1-2: written once
        ("3", "水资源", "万元GDP用水量", "6.3m3", "完成市级考核要求")]


def test_a_value_equal_to_the_next_row_number_is_a_value(txt):
    rows = [r for r in _rows(txt) if "2025年目标值" in r]
    assert [(r["序号"], r["类型"], r["指标单位"], r["2025年目标值"], r["属性"]) for r in rows] == [
        ("1", "红色文化", "处", "2", "预期性"), ("2", "红色文化", "条", "5", "预期性"), ("3", "民生改善", "万户", ">2", "约束性")]


def test_category_rows_name_the_rows_below_them(txt):
    rows = [r for r in _rows(txt) if r["_caption"].startswith("普陀区水务")]
    assert [(r["序号"], r["项目类型"], r["项目名称"], r["_caption"]) for r in rows] == [
        ("1", "泵闸新改建工程", "蔡家浜泵闸建设工程", "普陀区水务“十五五”重点项目清单 一、水安全"),
        ("2", "泵闸新改建工程", "真如泵闸建设工程", "普陀区水务“十五五”重点项目清单 一、水安全"),
        ("3", "节水宣传教育", "普陀区节水宣传点建设", "普陀区水务“十五五”重点项目清单 二、水资源")]


def test_a_row_answers_alone(txt):
    chunks = chunk_document(txt)
    row = next(c for c in chunks if c.kind == "table_row" and "河湖水面率" in c.text and "3.76%" in c.text)
    assert row.text == "河湖水面率\t约束性\t3.76%\t3.86%\t已完成"
    assert "指标名称: 河湖水面率; 指标属性: 约束性; 目标值（2025年）: 3.76%; 现状值(2025年）: 3.86%; 进展评价: 已完成" in row.context
    assert "“十四五”指标完成情况" in row.context and row.breadcrumb == ("一、发展现状及成效",)
    assert not any(c.kind == "paragraph" and "指标名称" in c.text for c in chunks)  # no run-on chunk of the table


def test_row_figures_are_facts_of_both_periods(txt):
    from assistant.ingest.facts import chunk_facts
    from assistant.models import Period

    facts = [f for c in chunk_document(txt) if c.kind == "table_row" for f in chunk_facts(c, Period(2030, "fyp_target"))]
    water = {(f.period.year, f.period.kind, f.value, f.unit) for f in facts if f.subject == "河湖水面率"}
    assert water == {(2025, "fyp_target", "3.76", "%"), (2025, "outcome", "3.86", "%"), (2030, "fyp_target", "3.95", "%")}
    # the row's label is its 指标名称 (not the 类别 before it); a year in a header is no unit; 指标单位 is the unit
    assert {f.subject for f in facts} >= {"万元GDP用水量", "红色文物保护建筑修缮改造"} and "水安全" not in {f.subject for f in facts}
    assert next(f for f in facts if f.subject == "万元GDP用水量").unit == ""
    assert next(f for f in facts if f.subject == "红色文物保护建筑修缮改造").unit == "处"


@pytest.mark.parametrize("suffix", [".md", ".docx"])
def test_markdown_and_word_give_the_same_rows(txt, suffix, tmp_path):
    path = FIXTURES / "indicators.md" if suffix == ".md" else _docx_from_text(
        (FIXTURES / "indicators.txt").read_text(encoding="utf-8"), tmp_path / "indicators.docx")
    parsed = _parsed(path)
    plain = lambda rows: [{k: v.replace("；", "") for k, v in r.items()} for r in rows]  # noqa: E731
    # Word's soft line break inside a cell is read as a space, dropped beside Chinese text: the two
    # values on two lines of the .txt are one run of text there
    assert plain(_rows(parsed)) == plain(_rows(txt))
    assert [s.heading for s in parsed.sections] == [s.heading for s in txt.sections]


@pytest.mark.skipif(not UNSEEN.is_dir(), reason="../shared/unseen is not on this machine")
@pytest.mark.parametrize("name, tables", [("putuo-water-15th-plan", {"“十四五”指标完成情况": 4, "“十五五”发展目标、主要指标": 10,
                                                                       "普陀区水务“十五五”重点项目清单": 27}),
                                          ("huangpu-heritage-14th-plan", {"“十四五”时期黄浦区历史风貌保护和利用规划指标": 11,
                                                                          "“十四五”时期黄浦区历史风貌保护和利用规划重点任务与项目清单": 22})])
def test_the_unseen_plans_tables(name, tables):
    parsed = _parsed(UNSEEN / f"{name}.txt")
    counts: dict[str, int] = {}
    for block in parsed.blocks:
        if block.kind == "table_row":
            base = next(t for t in tables if block.caption.startswith(t))
            counts[base] = counts.get(base, 0) + 1
            assert len(block.fields) == len(next(b for b in parsed.blocks if b.caption.startswith(base) and b.fields).fields)
    assert counts == tables


def test_a_first_column_that_groups_the_rows_and_sub_rows_are_read():
    from assistant.ingest.parse import parse_document
    from assistant.models import Document

    cells = ["表2 主要指标表", "板块", "序号", "指标名称", "属性", "单位", "“十四五”现状", "“十五五”目标",
             "绿化", "1", "新建绿地", "约束性", "万平方米", "90.87", "35", "其中 公园绿地", "58.46", "17.5",
             "2", "绿化覆盖率", "约束性", "%", "31.46", "31.5",
             "环卫", "3", "生活垃圾回收利用率", "约束性", "%", "47", "50"]
    parsed = parse_document(Document("pt", "规划", "普陀区", "2026-2030", "special_plan", "x", "0"), "\n\n".join(cells) + "\n")
    rows = [[v for _, v in b.fields] for b in parsed.blocks if b.kind == "table_row"]
    assert rows == [["绿化", "1", "新建绿地", "约束性", "万平方米", "90.87", "35"],
                    ["绿化", "", "其中公园绿地", "约束性", "万平方米", "58.46", "17.5"],
                    ["绿化", "2", "绿化覆盖率", "约束性", "%", "31.46", "31.5"],
                    ["环卫", "3", "生活垃圾回收利用率", "约束性", "%", "47", "50"]]


TASK_LIST = """附件1

杨浦区关于推进排水管理体制改革任务表

项目序号

任务
类型

改革任务

工作要求

完成时间

责任单位

配合单位

1

推进平稳有序移交

实施方案编制

完成区级实施方案制定

2025年6月

区建设管理委
（区水务局）

各成员单位

2

移交清单建立

建立移交清单，完成现场盘点、核实查验、清单锁定

2025年9月

区建设管理委
（区水务局）
上海城投集团

杨浦城投集团

3

构建系统运营体系

感知体系建设

完成排水感知体系和模拟评估系统建设

2026年12月

上海城投集团

区建设管理委
（区水务局）

附件2
"""


def test_a_task_list_in_its_own_column_names_with_a_column_name_on_two_lines():
    """项目序号 numbers the rows, "任务" / "类型" in one cell is one column (merged down its rows), and the
    table's own names (改革任务, 工作要求) are columns: each row is a task with its name, units and time."""
    from assistant.answer.task_rows import row_name, row_number
    from assistant.ingest.chunk import chunk_document

    document = Document("d", "杨浦区排水管理体制改革实施方案", "杨浦区", "2025-2026", "action_plan", "x", "")
    tasks = [c for c in chunk_document(parse_document(document, TASK_LIST)) if c.kind == "task"]
    assert [(row_number(t), row_name(t)) for t in tasks] == [("1", "实施方案编制"), ("2", "移交清单建立"), ("3", "感知体系建设")]
    third = dict(tasks[2].fields)
    assert third["任务类型"] == "构建系统运营体系" and third["完成时间"] == "2026年12月"
    assert third["责任单位"] == "上海城投集团" and third["配合单位"] == "区建设管理委（区水务局）"
    assert dict(tasks[1].fields)["任务类型"] == "推进平稳有序移交"  # the merged category cell, carried down


NEAR_TERM = "\n\n".join("""专栏1 核心指标表
指标类别
序号
指标项
单位
类型
指标值
现状
近期规划
（2025年）
（2030年）
发展规模
1
建设用地总规模
平方千米
约束性
53.75
53.74
服务设施和历史文化
2
风貌保护街坊面积
平方千米
约束性
1.31
1.31
3
住宅用地面积
平方千米
预期性
20.26
动态调整
4
道路网密度
千米/平方千米
约束性
5.8
6.2
二、行动任务""".split("\n"))


def test_a_name_over_two_value_columns_and_their_bracketed_periods():
    """"指标值" spans 现状 / 近期规划, whose periods "（2025年）" / "（2030年）" sit on the lines below: the
    columns are 现状（2025年） and 近期规划（2030年）; a row written with all its cells keeps a worded last
    value (动态调整) instead of taking it for the next group's name; 千米/平方千米 is a unit."""
    document = Document("d", "普陀区国土空间近期规划（2026-2030年）", "普陀区", "2026-2030", "special_plan", "x", "")
    rows = _rows(parse_document(document, NEAR_TERM))
    assert list(rows[0])[:7] == ["指标类别", "序号", "指标项", "单位", "类型", "现状（2025年）", "近期规划（2030年）"]
    assert rows[2]["近期规划（2030年）"] == "动态调整" and rows[2]["指标类别"] == "服务设施和历史文化"
    assert rows[3]["指标项"] == "道路网密度" and rows[3]["单位"] == "千米/平方千米"
    assert rows[3]["指标类别"] == "服务设施和历史文化" and rows[3]["近期规划（2030年）"] == "6.2"


DIVISION = "\n\n".join("""2026年重点工作任务分工表
序号
重点任务
具体工作
时间进度
责任部门
一
推进综合管理
1
编制温室气体排放清单
年内完成
生态环境局
2
落实碳排放统计快报制度
全年推进
统计局
二
提升建筑绿色低碳水平
3
完成北站医院等9个节能改造项目
年内完成
卫生健康委、机管局""".split("\n"))


def test_a_division_of_work_table_with_group_rows_over_its_tasks():
    """具体工作 / 时间进度 / 责任部门 are columns; a group row (二 / 提升建筑绿色低碳水平) fills the 重点任务 its
    rows leave to it, and a row's task is its own 具体工作."""
    from assistant.ingest.roles import task_text

    document = Document("d", "静安区2026年碳达峰碳中和及节能减排重点工作安排", "静安区", "2026", "action_plan", "x", "")
    tasks = [c for c in chunk_document(parse_document(document, DIVISION)) if c.kind == "task"]
    assert [task_text(t.fields) for t in tasks] == ["编制温室气体排放清单", "落实碳排放统计快报制度", "完成北站医院等9个节能改造项目"]
    last = dict(tasks[2].fields)
    assert last["重点任务"] == "提升建筑绿色低碳水平" and last["时间进度"] == "年内完成" and last["责任部门"] == "卫生健康委、机管局"
