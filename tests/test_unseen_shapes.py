"""Table, task and glossary shapes of real documents kept out of the default corpus (issue 22 item 3),
parsed from their files in eval/unseen-extra2 and eval/unseen-extra3: every row with the right cells
under the document's own headers, figures with the periods their headers name."""

from __future__ import annotations

from functools import lru_cache

import pytest

from assistant.ingest.cell_rows import group_row, kind
from assistant.ingest.cell_table import header_cells
from assistant.ingest.chunk import chunk_document
from assistant.ingest.coverage import Coverage
from assistant.ingest.facts import chunk_facts, row_label
from assistant.ingest.parse import parse_document
from assistant.ingest.roles import lead_units, lists_units, task_text
from assistant.models import Document, Period
from tests.conftest import ROOT

EVAL = ROOT / "eval"
DOCS = {"minhang": ("unseen-extra3/minhang-urban-renewal-15th-plan.txt", "special_plan", "2026-2030"),
        "jingan": ("unseen-extra3/jingan-urban-renewal-action-2023-2025.txt", "action_plan", "2023-2025"),
        "huangpu": ("unseen-extra3/huangpu-renewable-energy-action-plan.txt", "action_plan", "2025-2030"),
        "sichuan": ("unseen-extra3/sichuan-2026-gov-work-report.txt", "work_report", "2025-2026"),
        "putuo": ("unseen-extra2/putuo-greening-cityscape-15th-plan.txt", "special_plan", "2026-2030"),
        "changning": ("unseen-extra2/changning-15th-fyp-outline.txt", "five_year_plan", "2026-2030")}


@lru_cache(maxsize=None)
def _parsed(name: str):
    path, kind_, years = DOCS[name]
    document = Document(name, name, "某区", years, kind_, str(EVAL / path), "")
    return parse_document(document, (EVAL / path).read_text(encoding="utf-8"))


def _blocks(name: str, kind_: str) -> list:
    return [b for b in _parsed(name).blocks if b.kind == kind_]


def _facts(name: str) -> dict[str, list]:
    """The facts of each row (by its label), with the periods the index gives its chunks."""
    _, kind_, years = DOCS[name]
    chunks = chunk_document(_parsed(name))
    periods = Coverage.from_index(chunks, {name: {"kind": kind_, "year": years, "district": "某区"}}).periods
    out: dict[str, list] = {}
    for chunk, period in zip(chunks, periods):
        if chunk.kind in ("table_row", "task"):
            out.setdefault(row_label(chunk.fields), []).extend(chunk_facts(chunk, period))
    return out


pytestmark = pytest.mark.skipif(not (EVAL / "unseen-extra3").is_dir(), reason="eval/unseen-extra3 is not here")


# ----------------------------------------------------------------------------- 闵行 城市更新“十五五”规划


def test_an_indicator_table_whose_header_cells_run_over_two_lines():
    rows = [dict(b.fields) for b in _blocks("minhang", "table_row")]
    assert len(rows) == 11 and list(rows[0]) == ["类别", "序号", "一级指标", "二级指标", "单位", "属性", "“十四五”完成值", "“十五五”目标值"]
    assert rows[1] == {"类别": "建设全龄友好宜居城区", "序号": "2", "一级指标": "推进老旧小区整治改造", "二级指标": "老旧小区整治改造面积",
                       "单位": "万平方米", "属性": "预期性", "“十四五”完成值": "240", "“十五五”目标值": "300"}
    assert all(b.caption == "主要指标表" for b in _blocks("minhang", "table_row"))
    # 一级指标 merged over rows 5-6 (written on row 5 only), the 类别 of a new group, '-' and ＞ kept as printed
    assert (rows[5]["一级指标"], rows[5]["“十四五”完成值"], rows[5]["“十五五”目标值"]) == ("推进商务楼宇和商业设施更新提升", "-", "≥50")
    assert (rows[9]["类别"], rows[9]["一级指标"], rows[9]["“十四五”完成值"]) == ("构筑安全韧性生态城区", "加强城市基础设施建设改造", "＞1.5")
    # row 8: an empty line for its empty “十四五”完成值 (rows are runs of lines here), its 一级指标 merged with row 7's
    assert rows[7] == {"类别": "打造创新人文活力城区", "序号": "8", "一级指标": "推进产业空间提质增效", "二级指标": "老旧街区改造数量",
                       "单位": "个", "属性": "预期性", "“十四五”完成值": "", "“十五五”目标值": "≥5"}
    assert rows[3]["“十四五”完成值"] == "启动8个城中村整体改造项目"  # a text cell stays one cell


def test_the_minhang_rows_give_the_outcome_of_the_last_plan_and_the_target_of_this_one():
    facts = _facts("minhang")
    assert {(f.period, f.value, f.unit, f.column) for f in facts["老旧小区整治改造面积"]} == {
        (Period(2025, "outcome"), "240", "万平方米", "“十四五”完成值"), (Period(2030, "fyp_target"), "300", "万平方米", "“十五五”目标值")}
    shelter = {f.period.year: f for f in facts["人均应急避难面积"]}
    # the cell's sign as the table prints it ("＞1.5"), its meaning (以上) kept for comparisons
    assert (shelter[2025].value, shelter[2025].display(), shelter[2030].display()) == ("1.5", "＞1.5平方米", "＞1.7平方米")
    assert shelter[2025].qualifier == "以上"
    assert [f.period for f in facts["完整社区覆盖率"]] == [Period(2030, "fyp_target")]  # '-': no figure


# ----------------------------------------------------------------------------- 静安 城市更新行动方案 重点任务清单


def test_a_task_list_with_group_rows_and_merged_cells_gives_task_blocks():
    tasks = [dict(b.fields) for b in _blocks("jingan", "task")]
    assert len(tasks) == 27 and not _blocks("jingan", "table_row")
    assert tasks[1] == {"行动": "行动一：再造发展新极行动（综合区域整体焕新行动）", "任务类型": "", "序号": "2",
                        "工作任务": "推进走马塘片区规划研究",
                        "推进单位": "区规划资源局、区建设管理委、区发展改革委、区商务委、区国资委、市北高新集团"}
    by_number = {t["序号"]: t for t in tasks}
    assert (by_number["7"]["行动"], by_number["7"]["任务类型"]) == ("行动二：重塑美丽新居行动（人居环境品质提升行动）", "旧住房更新改造")
    assert by_number["22"]["任务类型"] == "历史文化风貌区风貌保护街坊风貌保护道路"
    assert by_number["27"]["工作任务"].startswith("鼓励引导楼宇改造升级")


def test_a_merged_units_cell_is_shared_within_its_group_only():
    units = {dict(b.fields)["序号"]: dict(b.fields)["推进单位"] for b in _blocks("jingan", "task")}
    assert units["13"] == units["14"] == units["12"] == "区绿化市容局"  # one group (公共空间优化): the cell of row 12
    assert {units[n] for n in ("16", "17", "18", "19", "20")} == {units["15"]}
    # after a group's end the layout does not say whether the cell runs on: no units rather than a guess
    assert [n for n, u in units.items() if not u] == ["5", "6", "7", "8", "21", "23", "27"]


def test_a_task_row_is_found_by_its_task_and_read_by_its_own_headers():
    block = next(b for b in _blocks("jingan", "task") if "走马塘片区规划研究" in b.text)
    assert task_text(block.fields) == row_label(block.fields) == "推进走马塘片区规划研究"
    assert lead_units(block.fields) == ("推进单位", "区规划资源局、区建设管理委、区发展改革委、区商务委、区国资委、市北高新集团")
    assert block.caption.startswith("静安区“卓越城区”城市更新行动重点任务清单（2023-2025年） 行动一")
    assert _parsed("jingan").section(block.section_id).heading == "附件"
    lifts = _facts("jingan")["完成既有多层住宅加装电梯700台"]
    assert [(f.value, f.unit) for f in lifts] == [("700", "台")]


# ----------------------------------------------------------------------------- 普陀 绿化市容“十五五”规划


def test_a_completion_table_with_a_merged_category_column_a_sub_row_and_a_cell_on_two_rows():
    rows = [dict(b.fields) for b in _blocks("putuo", "table_row") if b.caption.startswith("表1")]
    assert len(rows) == 30 and [r["序号"] for r in rows if r["序号"]] == [str(n) for n in range(1, 30)]
    assert rows[0] == {"序号": "1", "类目": "绿化建设", "指标名称": "新建绿地", "单位": "万平方米", "“十四五”目标值": "75",
                       "2025年": "90.87", "指标类型": "约束性", "完成情况": "超额完成"}
    assert rows[1] == {"序号": "", "类目": "绿化建设", "指标名称": "其中公园绿地", "单位": "万平方米", "“十四五”目标值": "50",
                       "2025年": "58.46", "指标类型": "约束性", "完成情况": "超额完成"}
    sorting = next(r for r in rows if r["序号"] == "22")  # 类目 merged, the 2025 value of 居住小区 and of 单位 on two rows
    assert (sorting["类目"], sorting["单位"], sorting["2025年"], sorting["完成情况"]) == ("生活垃圾", "%", "95.8%；96.15%", "超额完成")


def test_the_two_putuo_tables_are_the_last_plan_results_and_this_plan_targets():
    targets = [dict(b.fields) for b in _blocks("putuo", "table_row") if b.caption.startswith("表2")]
    assert len(targets) == 15 and list(targets[0]) == ["板块", "序号", "指标名称", "属性", "单位", "“十四五”现状", "“十五五”目标"]
    assert targets[-1] == {"板块": "环卫", "序号": "14", "指标名称": "新能源环卫车辆占比", "属性": "预期性", "单位": "%",
                           "“十四五”现状": "/", "“十五五”目标": "70以上"}
    facts = _facts("putuo")
    green = {(f.period, f.value) for f in facts["新建绿地"]}
    assert green == {(Period(2025, "fyp_target"), "75"), (Period(2025, "outcome"), "90.87"),  # table 1: 十四五 target and result
                     (Period(2030, "fyp_target"), "35")}  # table 2: its “十四五”现状 90.87 is the same 2025 outcome
    assert {(f.period, f.column) for f in facts["公园数量"]} == {(Period(2025, "outcome"), "“十四五”现状"), (Period(2030, "fyp_target"), "“十五五”目标")}


# ----------------------------------------------------------------------------- 黄浦 可再生能源行动方案


def test_units_closing_a_section_are_the_task_named_by_its_heading():
    tasks = [dict(b.fields) for b in _blocks("huangpu", "task")]
    assert len(tasks) == 11
    assert tasks[1] == {"类别": "一、主要任务", "序号": "二", "主要任务": "开展新建建筑光伏项目建设工程", "责任单位": "区建管委、区发展改革委"}
    assert [t["序号"] for t in tasks[:10]] == list("一二三四五六七八九十") and tasks[7]["责任单位"] == "区投促办"
    assert tasks[10] == {"序号": "二", "主要任务": "保障措施", "责任单位": "区发展改革委、各相关部门，各街道管理办"}
    block = _blocks("huangpu", "task")[7]
    assert lead_units(block.fields) == ("责任单位", "区投促办") and block.text == "（责任单位：区投促办）"


# ----------------------------------------------------------------------------- numbered glossaries


def test_a_numbered_glossary_gives_one_entry_each_lines_broken_inside_an_entry_included():
    entries = [b.text for b in _blocks("sichuan", "glossary")]
    assert len(entries) == 20 and [e.split(" ")[0] for e in entries] == [str(n) for n in range(1, 21)]
    assert entries[0] == "1 “两重”：是指国家重大战略实施和重点领域安全能力建设。"
    seventh = next(b for b in _blocks("sichuan", "glossary") if b.text.startswith("7 "))
    assert seventh.text.startswith("7 “双向揭榜挂帅”：企业找技术、成果找市场“双向揭榜挂帅”的简称，其中“企业找技术”")
    assert seventh.text.endswith("由成果需求方带资金、带场景揭榜。") and seventh.lines == (102, 108)
    assert all(_parsed("sichuan").section(b.section_id).heading == "名词解释" for b in _blocks("sichuan", "glossary"))


def test_a_glossary_entry_whose_term_starts_with_a_figure():
    entries = [b.text for b in _blocks("changning", "glossary")]
    assert len(entries) == 18 and entries[5].startswith("6 15分钟出海服务圈(第31页)：以虹桥上城为核心承载区")


# ----------------------------------------------------------------------------- the pieces


def test_shapes_of_cells_and_headers():
    assert header_cells("推进单位") == ["推进单位"] and header_cells("二级指标") == ["二级指标"]
    assert group_row("行动二：重塑美丽新居行动（人居环境品质提升行动）") == ("行动", 2)
    assert group_row("一、水安全") == ("", 1) and group_row("统一、规范管理") is None
    assert lists_units("区“两旧”专班、区房管局、区旧改总办、区成套办、各相关街镇") and not lists_units("产业园区")
    assert not lists_units("完成架空线入地和杆箱整治约48公里")
    assert [kind(t) for t in ("≥5000", "-", "", "约束性")] == ["figure", "figure", "empty", "text"]


def test_a_glossary_headed_by_the_reports_name_is_read_as_entries(tmp_path):
    # "《政府工作报告》有关内容名词注释" after 附件: its numbered lines are glossary entries, not headings
    from assistant.ingest.chunk import chunk_document
    from assistant.ingest.parse import parse_document
    from assistant.models import Document

    text = ("各位代表！让我们团结奋斗。\n\n附件\n\n《政府工作报告》有关内容名词注释\n\n"
            "1.“四融一共”和美乡村：景村融合、产村融合、三治融合、城乡融合、共同富裕。\n\n"
            "2.“三通一码”：赣服通、赣政通、赣企通、赣通码。\n")
    chunks = chunk_document(parse_document(Document("jx", "2026年江西省政府工作报告", "江西省", "2026", "work_report", "x", ""), text))
    entries = [c.text for c in chunks if c.kind == "glossary"]
    assert entries == ["1 “四融一共”和美乡村：景村融合、产村融合、三治融合、城乡融合、共同富裕。", "2 “三通一码”：赣服通、赣政通、赣企通、赣通码。"]
