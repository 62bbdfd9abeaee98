"""Refusals that know the corpus: what is missing, and what the reports hold instead.

`precheck` runs before retrieval on the Query and the corpus map: a place outside the corpus, a
year no report covers, a question with no word the reports use, a district without the asked kind
of document ("静安区“十四五”规划"), the outcome of a year the reports only plan. Where the reports
hold something close (the 2024 target when the 2024 outcome was asked), `instead` is the Query for
it, so the refusal can quote and cite it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from assistant.ingest.coverage import DUTY_DOC_KINDS, PLAN_DOC_KINDS, Coverage
from assistant.models import Period, Query
from assistant.vocab import vocabulary


@dataclass(frozen=True)
class Refusal:
    reason: str  # one sentence, in the question's language
    instead: Query | None = None  # what the reports hold instead, to quote and cite
    instead_label: str = ""  # how to introduce it ("2024年的目标是")
    # the question did not say it wants the outcome (the year's kind was only inferred): `instead` is
    # answered as the question, with `reason` as a note, rather than refused
    answer_instead: bool = False


def _t(query: Query, zh: str, en: str) -> str:
    return en if query.english else zh


def _join(names: list[str] | tuple[str, ...], english: bool) -> str:
    return (", " if english else "、").join(names)


def precheck(query: Query, coverage: Coverage, known_term: Callable[[str], bool]) -> Refusal | None:
    districts = coverage.districts
    if query.other_places:
        places = _join(query.other_places, query.english)
        return Refusal(_t(query, f"资料库只有{_join(districts, False)}的报告，没有{places}的资料",
                          f"the library holds reports of {_join(districts, True)} only, nothing on {places}"))
    if query.unknown_years:
        years = _join([str(y) for y in query.unknown_years], query.english)
        held = _join([str(y) for y in sorted(coverage.years)], query.english)
        return Refusal(_t(query, f"报告不涉及{years}年（现有年份：{held}）", f"the reports do not cover {years} (years covered: {held})"))
    content = [t for t in query.terms if not t.replace(".", "").isdigit()]  # a bare "1" is no subject
    # a question about the document itself ("…工作报告是谁作的？") names no content, only the document
    if not any(known_term(t) for t in content) and not query.follow_up and query.intent != "overview" and not query.metadata:
        return Refusal(_t(query, "问题中没有与报告内容相关的词，请换个说法或说得更具体些",
                          "no word of the question occurs in the reports; please rephrase or be more specific"))
    for district in query.districts:
        missing = _missing_documents(query, district, coverage)
        if missing:
            return missing
        for period in query.periods:
            refusal = _missing_period(query, district, period, coverage)
            if refusal:
                return refusal
    return None


def _missing_documents(query: Query, district: str, coverage: Coverage) -> Refusal | None:
    """A five-year-plan or task-table question about a district that has no such document."""
    wants_plan = any(p.kind in ("fyp_target", "prior") for p in query.periods)
    wants_tasks = query.intent == "responsibility"
    if not (wants_plan or wants_tasks) or (wants_tasks and district in coverage.task_districts):
        return None  # a place whose documents name lead units (in a table or "（牵头单位：…）") answers on evidence
    if wants_tasks and not wants_plan and coverage.documents_of(district, DUTY_DOC_KINDS):
        return None  # an action plan assigns duties in its text ("由区发改委负责制定…"): evidence decides
    kinds = PLAN_DOC_KINDS if wants_plan else ("task_table",)
    years = {p.year for p in query.periods if p.kind in ("fyp_target", "prior") and p.year}
    own = coverage.documents_of(district, kinds)
    if any(not years or not coverage.plan_years(d) or years & set(coverage.plan_years(d)) for d in own):  # no years: not known to lack it
        return None
    if wants_plan and any(coverage.has(district, kind, year) for year in years or {None}
                          for kind in ("fyp_target", "prior") + (("outcome",) if years else ())):
        return None  # no plan document, but passages about that period (a work report's 十四五 review, its 十五五 goals)
    held = [coverage.document_name(d) for d in coverage.documents_of(None, kinds)]
    plan = next((f"“{name}”" for name in map(vocabulary().plan_ending, sorted(years)) if name), "")
    what = f"{plan}规划" if wants_plan else f"{plan}规划重点任务责任分解表"
    return Refusal(_t(query, f"资料库中没有{district}的{what}（现有：{_join(held, False) or '无'}）",
                      f"the library has no {'five-year plan' if wants_plan else 'task responsibility table'} of {district} "
                      f"(it holds: {_join(held, True) or 'none'})"))


def _missing_period(query: Query, district: str, period: Period, coverage: Coverage) -> Refusal | None:
    if period.year is None or coverage.has(district, period.kind if period.kind in ("outcome", "prior") else "", period.year):
        return None
    if period.kind == "outcome" and coverage.has(district, "prior", period.year):
        return None  # a plan's review of the period before it states that year's results ("截至2025年底…")
    if period.kind == "outcome" and coverage.has(district, "", period.year):
        target = Period(period.year, "fyp_target" if coverage.has(district, "fyp_target", period.year) else "target")
        instead = replace(query, periods=(target,), districts=(district,), intent="figure" if query.intent == "target_check" else query.intent)
        plan = vocabulary().plan_ending(period.year) if target.kind == "fyp_target" else ""
        label = _t(query, f"{period.year}年的{f'“{plan}”规划' if plan else '计划'}目标是：", f"the {period.year} target is: ")
        asked = any(w in query.text for w in vocabulary().period_words["outcome"])
        return Refusal(_t(query, f"报告只有{district}{period.year}年的计划目标，没有{period.year}年的实际完成情况",
                          f"the reports hold only {district}'s targets for {period.year}, not its actual results"), instead, label,
                       answer_instead=not asked)
    kinds = coverage.kinds_for(district, period.year)
    if not kinds and period.kind != "outcome" and any(period.year in coverage.plan_years(d)
                                                      for d in coverage.documents_of(district, PLAN_DOC_KINDS)):
        return None  # a year within a plan's period: its milestones ("到2030年底") are asked, evidence decides
    if not kinds:
        held = _join([str(y) for y in sorted({y for d, _, y in coverage.available if d == district and y})], query.english)
        if not held:  # a place whose report is not indexed yet (or gives no year): say so, not an empty list
            return Refusal(_t(query, f"报告没有{district}{period.year}年的内容（资料库中还没有{district}可用的年份）",
                              f"the reports hold nothing on {district} for {period.year} (no year of {district} in the library yet)"))
        return Refusal(_t(query, f"报告没有{district}{period.year}年的内容（{district}现有年份：{held}）",
                          f"the reports hold nothing on {district} for {period.year} (years covered: {held})"))
    return None


def refusal_text(query: Query, reason: str) -> str:
    if query.english:
        return f"The reports do not answer this: {reason}."
    return f"资料中未找到答案：{reason}。"


def not_found_reason(query: Query, measure_label: str = "") -> str:
    """"报告没有给出静安区2023年新引进外资项目的总投资额的金额" / "…的相关内容"."""
    years = [p for p in query.periods if p.year]
    topic = query.topic.replace(" ", "") or query.text
    if query.intent == "responsibility":
        return (f"the task responsibility table has no task “{topic}”, so it names no lead unit for it" if query.english
                else f"重点任务责任分解表中没有“{topic}”这项任务，因此没有它的牵头单位")
    if query.english:
        scope = ", ".join(list(query.districts) + [p.label(True) for p in years])
        what = f"the {measure_label} of " if measure_label else ""
        return f"the reports do not state {what}{topic}" + (f" ({scope})" if scope else "")
    kinds = {"target": "目标", "fyp_target": "规划目标"}
    scope = "".join(query.districts) + "".join(f"{p.year}年" for p in years)
    tail = measure_label or next((kinds[p.kind] for p in years if p.kind in kinds), "") or "相关内容"
    return f"报告没有给出{scope}{topic}的{tail}"
