"""What the corpus covers: the period of every chunk and the district × kind × year map.

A yearly report holds two periods: its first part reports the outcome of year Y (with the year's
targets beside the results in its tables), its later parts set targets and tasks for Y+1. A
five-year plan looks back on the previous plan period (its 发展基础 section) and sets targets for
its last year. The period of a chunk comes from its document's kind and its section headings, so
a question about "2023 outcomes" can be kept away from the 2024 plan of the same report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.models import Chunk, Period
from assistant.vocab import vocabulary

_YEAR = re.compile(r"(20\d\d)年")
# Headings of a report's outcome part ("2023年…执行情况", "2025年工作回顾") and of its plan part
# ("2024年…主要目标", "…主要任务和措施", "2026年工作安排"). Outcome words are tried first.
_OUTCOME_HEADING = re.compile(r"执行情况|完成情况|回顾|过去一年|过去五年|工作总结|成就|成效")
_PLAN_HEADING = re.compile(r"目标|任务|措施|计划|安排|部署")
# The part of a plan that reviews the plan period before it (besides a heading naming that period).
_REVIEW_HEADING = re.compile(r"发展基础|回顾|成效|现状|进展|取得的成绩")
# Documents that set targets for a plan period (a five-year outline, a special plan, an action plan,
# the outline's task table) and reports of one year (its results and the next year's plan).
PLAN_DOC_KINDS = ("five_year_plan", "special_plan", "action_plan", "task_table")
DUTY_DOC_KINDS = ("action_plan", "task_table")  # documents that assign duties to units, in a table or in their text
REPORT_DOC_KINDS = ("yearly_report", "work_report")
_FOUR_DIGITS = re.compile(r"\d{4}")
# How a refusal or a comparison names a kind of document; {plan} is the plan's name from its years.
_KIND_WORDS = {"yearly_report": "年度计划执行情况报告", "work_report": "政府工作报告", "five_year_plan": "{plan}规划纲要",
               "special_plan": "{plan}专项规划", "action_plan": "{plan}行动计划", "task_table": "{plan}规划重点任务责任分解表",
               "article": "年度重点工作文章"}
KIND_NAMES = {kind: words.replace("{plan}", "") for kind, words in _KIND_WORDS.items()}


def document_kind_name(kind: str, years: tuple[int, int] | list[int] = ()) -> str:
    """"“十五五”专项规划" for a special plan of 2026-2030, "2025年行动计划" for one of a single year,
    "2024-2030年行动计划" for other spans: a plan's name only when the years are that plan's."""
    words = _KIND_WORDS.get(kind, "")
    if not years or "{plan}" not in words:
        return words.replace("{plan}", "")
    first, last = years[0], years[-1]
    plan = vocabulary().plan_ending(last)
    if plan and vocabulary().plans[plan][0] == first:
        return words.replace("{plan}", f"“{plan}”")
    span = f"{first}年" if first == last else f"{first}-{last}年"
    return words.replace("{plan}", span)


def year_range(year: str) -> tuple[int, int]:
    """First and last year of a chunk's `year` ("2023-2024" -> (2023, 2024)); (-1, -1) when it names none."""
    parts = [int(p) for p in _FOUR_DIGITS.findall(year)]
    return (parts[0], parts[-1]) if parts else (-1, -1)


def chunk_period(chunk: Chunk, doc_kind: str, doc_years: list[int]) -> Period:
    """The period a chunk speaks about (see the module docstring)."""
    first = doc_years[0] if doc_years else None
    last = doc_years[-1] if doc_years else None
    if doc_kind in PLAN_DOC_KINDS and first is not None and first == last:
        return Period(first, "target")  # a plan of one year ("2025年度实施计划") sets that year's targets
    if doc_kind in PLAN_DOC_KINDS:
        if doc_kind != "task_table" and any(_reviews(h, first) for h in chunk.breadcrumb):
            return Period(first - 1 if first else None, "prior")
        return Period(last, "fyp_target")
    if doc_kind in REPORT_DOC_KINDS:
        headings = list(chunk.breadcrumb) + [value for name, value in chunk.fields if name == "表"]
        caption = chunk.caption
        for text in ([caption] if caption else []) + headings[:1]:
            years = [int(y) for y in _YEAR.findall(text)]
            if _OUTCOME_HEADING.search(text):
                return Period(years[0] if years else first, "outcome")
            plan = vocabulary().plan_named(text)
            if plan and last and plan[1][1] > last:  # a work report's "“十五五”时期的主要目标"
                if plan[1][0] == last and any(w in text for w in vocabulary().plan_start):
                    return Period(last, "target")  # "全力推动“十五五”开好局": the plan's first year, this year's tasks
                return Period(plan[1][1], "fyp_target")
            if _PLAN_HEADING.search(text) and years:
                return Period(years[0], "target")
            if years and years[0] == first and first != last:  # "2025年主要工作": the year the report looks back on
                return Period(first, "outcome")
        if doc_kind == "work_report" and headings:
            return Period(last, "target")  # after its review, a work report sets this year's tasks
        return Period(first, "outcome")  # the front matter summarizes the year just ended
    if doc_kind == "article":
        return Period(first, "target")  # a year's priorities, written at its start
    return Period(first, "")


def _reviews(heading: str, first: int | None) -> bool:
    """A plan's heading about the period before it: review words, or the name of a plan that ended before it began."""
    plan = vocabulary().plan_named(heading)
    if plan and first and plan[1][1] < first:
        return True
    return bool(_REVIEW_HEADING.search(heading)) and not (plan and first and plan[1][0] >= first)


@dataclass
class Coverage:
    """The corpus map the query parser, the retriever and the refusals share."""

    periods: list[Period]  # per chunk, in index order
    doc_kinds: dict[str, str]  # doc_id -> kind
    doc_titles: dict[str, str]
    doc_districts: dict[str, str]
    available: set[tuple[str, str, int | None]] = field(default_factory=set)  # (district, period kind, year)
    reporting_year: int | None = None  # the latest year the yearly reports and work reports plan ("今年")
    reporting_years: dict[str, int] = field(default_factory=dict)  # per district: its own reports' "今年"
    doc_years: dict[str, tuple[int, int]] = field(default_factory=dict)  # doc_id -> (first, last) year
    # the same periods as arrays, so that a query's period filter is one vectorized pass (hot path)
    period_years: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # -1 = none
    period_kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    in_plan_document: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    plan_first: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # a plan chunk's first year (-1: none)
    task_districts: frozenset[str] = frozenset()  # places with task rows (a table's or a plan's "（牵头单位：…）")

    @classmethod
    def from_index(cls, chunks: Sequence[Chunk], documents: dict[str, dict]) -> "Coverage":
        kinds = {d: meta.get("kind", "") for d, meta in documents.items()}
        years = {d: [int(y) for y in _FOUR_DIGITS.findall(meta.get("year", ""))] for d, meta in documents.items()}
        shared: dict[Period, Period] = {}  # a few distinct periods; one object each, not one per chunk
        periods, in_plan, available, planned, plan_first, tasks = [], [], set(), {}, [], set()
        for chunk in chunks:  # one pass: a served index decodes its chunks from the file (chunk_table.py)
            kind = kinds.get(chunk.doc_id, "")
            period = chunk_period(chunk, kind, years.get(chunk.doc_id, []))
            periods.append(shared.setdefault(period, period))
            in_plan.append(kind in PLAN_DOC_KINDS or period.kind == "fyp_target")
            doc_years = years.get(chunk.doc_id) or [-1]
            plan_first.append(doc_years[0] if kind in PLAN_DOC_KINDS and period.kind == "fyp_target" else -1)
            available.add((chunk.district, period.kind, period.year))
            if chunk.kind == "task":
                tasks.add(chunk.district)
            if period.kind == "target" and kind in REPORT_DOC_KINDS and period.year:
                planned[chunk.district] = max(planned.get(chunk.district, period.year), period.year)
        spans = {d: (y[0], y[-1]) for d, y in years.items() if y}
        latest = max(planned.values(), default=None)  # the corpus' "今年": its reports', not a yearly plan's
        # a one-year plan of a place ("2025年度实施计划", "2026年…重点工作安排") is for its "今年", when no report plans a later year
        for doc_id, doc_years in years.items():
            district = documents[doc_id].get("district", "")
            if len(doc_years) == 1 and district:
                planned[district] = max(planned.get(district, doc_years[0]), doc_years[0])
        return cls(periods, kinds, {d: m.get("title", d) for d, m in documents.items()},
                   {d: m.get("district", "") for d, m in documents.items()}, available, latest,
                   planned, spans,
                   np.array([p.year if p.year else -1 for p in periods], dtype=np.int32),
                   np.array([p.kind for p in periods], dtype=object), np.array(in_plan, dtype=bool),
                   np.array(plan_first, dtype=np.int32), frozenset(tasks))

    @property
    def districts(self) -> list[str]:
        return sorted({d for d in self.doc_districts.values() if d})

    @property
    def years(self) -> set[int]:
        return {year for _, _, year in self.available if year}

    def reporting_year_of(self, districts: Sequence[str]) -> int | None:
        """"今年" for a question about these districts: their own reports' year (a 2026 work report of
        上海市 does not move 闵行's "去年" to 2025); the corpus' latest year when none is named."""
        own = [self.reporting_years[d] for d in districts if d in self.reporting_years]
        return max(own) if own else self.reporting_year

    def document_name(self, doc_id: str) -> str:
        """"普陀区“十五五”专项规划": the document's place and kind, its plan named from its years."""
        return self.doc_districts.get(doc_id, "") + document_kind_name(self.doc_kinds.get(doc_id, ""), self.doc_years.get(doc_id, ()))

    def plan_years(self, doc_id: str) -> tuple[int, ...]:
        """The years a plan document's targets and review are for: every year of its period (an action plan
        sets milestones "到2025年底…到2030年底") and the year before its first."""
        first, last = self.doc_years.get(doc_id, (0, 0))
        return tuple(range(first - 1, last + 1)) if first else ()

    def has(self, district: str | None, kind: str, year: int | None) -> bool:
        return any((district is None or d == district) and (not kind or k == kind) and (year is None or y == year)
                   for d, k, y in self.available)

    def documents_of(self, district: str | None = None, kinds: tuple[str, ...] = ()) -> list[str]:
        return [d for d, k in self.doc_kinds.items()
                if (district is None or self.doc_districts.get(d) == district) and (not kinds or k in kinds)]

    def kinds_for(self, district: str, year: int) -> list[str]:
        return sorted({k for d, k, y in self.available if d == district and y == year and k})

    def add_fact_periods(self, facts: Sequence, positions: dict[str, int]) -> None:
        """A chunk that states a figure of another period than its own (a 十五五 plan's “十四五”完成值
        column: the 2025 outcome) answers for that period too, and the place has that period."""
        extra: dict[tuple[str, int | None], list[int]] = {}
        for fact in facts:
            i = positions.get(fact.chunk_id)
            if i is None or fact.period == self.periods[i] or not fact.period.kind:
                continue
            extra.setdefault((fact.period.kind, fact.period.year), []).append(i)
            self.available.add((fact.district, fact.period.kind, fact.period.year))
        self.fact_chunks = {key: np.unique(np.array(rows, dtype=np.int64)) for key, rows in extra.items()}

    def period_mask(self, asked: Period) -> np.ndarray:
        mask = self._period_mask(asked)
        stated = getattr(self, "fact_chunks", {}).get((asked.kind, asked.year))
        if stated is not None and len(stated):
            mask = mask.copy()
            mask[stated[stated < len(mask)]] = True
        return mask

    def _period_mask(self, asked: Period) -> np.ndarray:
        """The chunks that may answer a question about the asked period.

        An outcome question needs the outcome of that year (not its plan); a target question may be
        answered by anything about that year (a report's outcome tables list the year's targets beside
        the results); a five-year target only by the plan documents; "十三五" only by their review.
        A plan named by the question (its last year set: “十四五” -> 2025) is answered by the plans for
        that period and by a later plan's review of it (a 十五五 plan's 十四五 results)."""
        if asked.kind == "fyp_target":
            mask = self.in_plan_document & (self.period_kinds == "fyp_target")
            if asked.year is not None:
                # ...and a report's results for the plan's last year ("2025年和“十四五”时期工作回顾")
                same_year = (self.period_kinds == "prior") | ((self.period_kinds == "outcome") & ~self.in_plan_document)
                # a plan's targets are for any year of its period (its milestones), not only its last
                within = (self.plan_first >= 0) & (self.plan_first <= asked.year) & (self.period_years >= asked.year)
                mask = (mask & ((self.period_years == asked.year) | within)) | (same_year & (self.period_years == asked.year))
            return mask
        if asked.kind == "prior":
            mask = self.period_kinds == "prior"
            return mask & (self.period_years == asked.year) if asked.year is not None else mask
        mask = np.ones(len(self.periods), dtype=bool)
        if asked.year is not None:
            mask &= self.period_years == asked.year
        if asked.kind == "outcome":
            mask &= self.period_kinds == "outcome"
        return mask


