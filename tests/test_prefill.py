"""Catalog prefill of reports nobody here wrote: kind, place (district, city, province), title and years
from the title and the first lines, as `assistant add` and the 资料库 page fill them in."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from assistant.ingest.corpus import KINDS
from assistant.library.catalog import CatalogFields, check_fields, prefill
from assistant.library.prefill import kind_from, place_from, title_from, years_from
from tests.conftest import CORPUS, ROOT

EXCERPTS = ROOT / "tests" / "fixtures" / "unseen"  # the first lines of ../shared/unseen's documents
UNSEEN = ROOT.parent / "shared" / "unseen"

EXPECTED = {
    "putuo-water-15th-plan": ("普陀区水务“十五五”规划", "普陀区", "2026-2030", "special_plan"),
    "yangpu-parking-plan-2021-2025": ("杨浦区公共停车设施建设规划（2021-2025）", "杨浦区", "2021-2025", "special_plan"),
    "huangpu-heritage-14th-plan": ("黄浦区历史风貌保护和利用“十四五”规划", "黄浦区", "2021-2025", "special_plan"),
    "shanghai-2026-work-report": ("2026年上海市政府工作报告", "上海市", "2025-2026", "work_report"),
    "guangdong-2026-work-report": ("广东省2026年政府工作报告", "广东省", "2025-2026", "work_report"),
}


@pytest.mark.parametrize("doc_id", sorted(EXPECTED))
def test_unseen_documents_are_prefilled_from_their_first_lines(doc_id):
    fields = prefill(f"{doc_id}.txt", (EXCERPTS / f"{doc_id}.txt").read_text(encoding="utf-8"), set())
    assert (fields.title, fields.district, fields.year, fields.kind) == EXPECTED[doc_id]
    assert fields.doc_id == doc_id and check_fields(fields, set()) == fields


@pytest.mark.skipif(not UNSEEN.is_dir(), reason="../shared/unseen is not on this machine")
@pytest.mark.parametrize("doc_id", sorted(EXPECTED))
def test_the_whole_unseen_documents_give_the_same_fields(doc_id):
    fields = prefill(f"{doc_id}.txt", (UNSEEN / f"{doc_id}.txt").read_text(encoding="utf-8"), set())
    assert (fields.title, fields.district, fields.year, fields.kind) == EXPECTED[doc_id]


def test_the_seed_reports_keep_their_fields():
    for entry in tomllib.loads((CORPUS / "catalog.toml").read_text(encoding="utf-8"))["document"]:
        by_title = prefill(entry["title"] + ".pdf", "", set())
        assert (by_title.title, by_title.district, by_title.year, by_title.kind) == (
            entry["title"], entry["district"], entry["year"], entry["kind"])
        by_text = prefill(entry["file"], (CORPUS / entry["file"]).read_text(encoding="utf-8"), set())
        assert (by_text.doc_id, by_text.district, by_text.kind) == (entry["doc_id"], entry["district"], entry["kind"])


@pytest.mark.parametrize("title, kind", [
    ("关于静安区2024年国民经济和社会发展计划执行情况与2025年计划草案的报告", "yearly_report"),
    ("上海市长宁区国民经济和社会发展第十五个五年规划纲要", "five_year_plan"),
    ("虹口区国民经济和社会发展“十五五”规划纲要", "five_year_plan"),
    ("松江区节能降碳“十五五”规划", "special_plan"),
    ("闵行区综合交通专项规划", "special_plan"),
    ("静安区城市更新三年行动计划（2026-2028年）", "action_plan"),
    ("长宁区推进数字化转型实施方案", "action_plan"),
    ("闵行区“十四五”规划重点任务责任分解表", "task_table"),
    ("2025年北京市政府工作报告", "work_report"),
    ("静安区2025年经济运行情况", "article"),
])
def test_kinds_from_titles(title, kind):
    assert kind_from(title) == kind and kind in KINDS


@pytest.mark.parametrize("title, place", [
    ("上海市闵行区国民经济和社会发展第十四个五年规划", "闵行区"),  # the district, not the city it is in
    ("2025年北京市政府工作报告", "北京市"),
    ("浙江省2026年政府工作报告", "浙江省"),
    ("浦东新区“十五五”规划纲要", "浦东新区"),
    ("宝山区水务“十五五”规划", "宝山区"),
    ("崇明区生态岛建设规划", "崇明区"),
    ("南京西路商圈发展规划", ""),  # a street of 静安, not 南京
])
def test_places_in_titles(title, place):
    assert place_from(title) == place


def test_a_place_from_the_first_lines_when_the_title_has_none():
    assert place_from("政府工作报告", "政府工作报告\n——2026年1月20日在浙江省第十四届人民代表大会第四次会议上\n") == "浙江省"
    assert place_from("政府工作报告", "政府工作报告\n北京市市长 殷勇\n") == "北京市"
    assert place_from("关于做好停车工作的通知", "各街道：\n请认真执行。\n") == ""


def test_titles_skip_web_chrome_and_notices():
    chrome = "分享\n【打印】【关闭】\n字号：大 中 小\n关于印发《闵行区综合交通“十五五”规划》的通知\n各有关单位：\n"
    assert title_from("page.txt", chrome) == "闵行区综合交通“十五五”规划"
    assert title_from("政府工作报告.docx", "政府工作报告\n——2026年1月25日在北京市第十六届人民代表大会第四次会议上\n") == \
        "北京市2026年政府工作报告"


@pytest.mark.parametrize("title, kind, years", [
    ("普陀区水务“十五五”规划", "special_plan", "2026-2030"),
    ("上海市闵行区国民经济和社会发展第十四个五年规划和二〇三五年远景目标纲要（2022年更新）", "five_year_plan", "2021-2025"),
    ("静安区“十五五”城市更新行动方案（2026-2028年）", "action_plan", "2026-2028"),  # the range it names
    ("2026年上海市政府工作报告", "work_report", "2025-2026"),  # last year's results, this year's plan
    ("闵行区2023年重点工作", "article", "2023"),
])
def test_years(title, kind, years):
    assert years_from(title, kind) == years


def test_kind_ids_are_checked():
    fields = CatalogFields("x", "t", "上海市", "2025-2026", "work_report")
    assert check_fields(fields, set()) == fields
    with pytest.raises(ValueError, match="special_plan"):
        check_fields(CatalogFields("x", "t", "", "", "plan"), set())


def test_the_library_page_names_every_kind():
    from assistant.serve.labels import kind_names

    page = (ROOT / "assistant" / "serve" / "static" / "library.html").read_text(encoding="utf-8")
    assert set(KINDS) <= set(kind_names()) and all(kind_names()[kind] for kind in KINDS)  # vocab/library.toml [kind_names]
    assert "{{KINDS}}" in page  # the page gets them from there (library_page.py), not from its own list
