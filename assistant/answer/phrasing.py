"""Answer sentences that read as sentences: a figure answer names district, period and subject,
then the value with its unit ("闵行区2023年全区生产总值完成3002.04亿元，突破3000亿元大关。"); a table
row becomes a sentence, not a field dump; an English question gets English sentences with the
Chinese names quoted where they matter.

Where the answer is (district, year, report) goes into the sentence's prefix: it comes from the
Query and the corpus map, not from the cited passage, so the verifier does not look for it there.
Every figure of the text itself comes from the cited chunk (a `Fact` of it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from assistant.answer.answer_check import subject_clauses
from assistant.answer.task_rows import task_sentence
from assistant.ingest.facts import Fact, row_cells, row_label
from assistant.models import Chunk, Period, Query
from assistant.query.terms import column_en
from assistant.vocab import _load, vocabulary

_YEAR_IN_HEADER = re.compile(r"(19|20)\d\d年")
_PLAN_WORDS = {"task_table": "重点任务", "special_plan": "专项规划", "action_plan": "行动计划", "five_year_plan": "规划"}
LONG_SENTENCE = 90  # a longer sentence is cut to the clauses about the subject; a shorter one is quoted whole


@dataclass(frozen=True)
class Place:
    """Where a passage is: its district, period and the kind of report."""

    district: str
    period: Period
    doc_kind: str
    span: tuple[int, int] | tuple[()] = ()  # the document's first and last year

    def _plan(self) -> str:
        """The five-year plan the period belongs to, when the document is that plan's ("十四五" for a
        2021-2025 plan, not for a 2023-2025 action plan, whose targets are also for 2025)."""
        plan = vocabulary().plan_ending(self.period.year)
        if plan and self.period.kind == "fyp_target" and self.span and tuple(vocabulary().plans[plan]) != tuple(self.span):
            return ""
        return plan

    def zh(self) -> str:
        """闵行区2023年 / 静安区2024年 / 闵行区“十四五”规划 / 闵行区“十三五”时期 / 静安区2023-2025年行动计划"""
        kind = self.period.kind
        plan = self._plan() if kind in ("fyp_target", "prior") else ""
        if kind == "fyp_target" and not plan and self.span and self.span[0] != self.span[1]:
            return f"{self.district}{self.span[0]}-{self.span[1]}年" + _PLAN_WORDS.get(self.doc_kind, "规划")
        period = f"“{plan}”" if plan else (f"{self.period.year}年" if self.period.year else "")
        if kind == "fyp_target":
            return self.district + period + _PLAN_WORDS.get(self.doc_kind, "规划")
        if kind == "prior":
            return self.district + period + ("时期" if plan else "以前")
        return f"{self.district}{self.period.year}年" if self.period.year else self.district

    def en(self) -> str:
        """Minhang, 2023 / Jing'an, 2024 targets / Minhang, 14th Five-Year Plan"""
        vocab = vocabulary()
        name = vocab.districts_en.get(self.district, self.district)
        kind = self.period.kind
        if kind in ("fyp_target", "prior"):
            plan = vocab.plans_en.get(self._plan(), "")
            if kind == "fyp_target" and not plan and self.span and self.span[0] != self.span[1]:
                return f"{name}, {vocab.kinds_en.get(self.doc_kind, 'plan')} {self.span[0]}-{self.span[1]}"
            what = vocab.kinds_en.get(self.doc_kind, "plan")
            if kind == "prior":
                return f"{name}, " + (f"{plan} period" if plan else f"the period to {self.period.year}")
            if not plan:
                return f"{name}, {what}"
            return f"{name}, {plan}" + ("" if self.doc_kind == "five_year_plan" else f" {what}")
        if not self.period.year:
            return name
        return f"{name}, {self.period.year}" + (" targets" if kind == "target" else "")


def unit_en(unit: str) -> str:
    name = vocabulary().units_en.get(unit)
    return f"{unit} ({name})" if name else unit


def column_label(fact: Fact) -> str:
    """年度目标 / 计划目标 (the year is said by the place) / 完成情况; 目标值（2030年） -> 目标值."""
    return _YEAR_IN_HEADER.sub("", re.sub(r"[（(]\s*(19|20)\d\d年?\s*[)）]", "", fact.column)).strip(" （()）") or "目标"


def pick_fact(query: Query, facts: list[Fact]) -> Fact | None:
    """The fact of a sentence or row that answers the query: of the asked period kind and measure,
    about the subject named by most of the query's terms; the first one stated on a tie."""
    if not facts:
        return None
    kinds = query.period_kinds
    candidates = [f for f in facts if not kinds or f.period.kind in kinds] or facts
    if query.measure:
        candidates = [f for f in candidates if f.relation == query.measure] or candidates
    terms = [t for t in query.terms if len(t) > 1]

    def overlap(fact: Fact) -> int:
        # a subject that lists several indicators ("A、B、C等4项指标") is about them together, not one
        return sum(len(t) for t in terms if t in fact.subject) - (100 if "、" in fact.subject else 0)

    best = max(overlap(f) for f in candidates)
    return next(f for f in candidates if overlap(f) == best)


@lru_cache(maxsize=1)
def _achieved() -> tuple[str, ...]:
    """The words an outcome column saying a result achieved starts with (vocab facts.toml [columns] achieved)."""
    return tuple(_load("facts.toml")["columns"]["achieved"])


def row_sentence(query: Query, facts: list[Fact], label: str) -> str:
    """社会消费品零售总额完成1983.09亿元，年度目标为2000亿元以上 (a target question: target first)."""
    outcome = [f for f in facts if f.period.kind == "outcome" and f.column]
    targets = [f for f in facts if f.period.kind in ("target", "fyp_target") and f.column]
    other = [f for f in facts if not f.column or f.period.kind not in ("outcome", "target", "fyp_target")]
    english = query.english
    parts: list[str] = []
    for fact in outcome:
        done = fact.column.startswith(_achieved())  # 现状（2025年） is a baseline, not a result achieved
        parts.append(f"result {fact.display()}" if english else f"完成{fact.display()}" if done else f"{fact.column}为{fact.display()}")
    for fact in targets:
        parts.append(f"target {fact.display()}" if english else f"{column_label(fact)}为{fact.display()}")
    if "target" in query.period_kinds or "fyp_target" in query.period_kinds:
        parts = parts[len(outcome):] + parts[:len(outcome)]
    for fact in other:
        subject = fact.subject[len(label):] if fact.subject.startswith(label) and fact.subject != label else fact.subject
        parts.append(f"{subject}: {fact.display()}" if english else f"{subject}为{fact.display()}")
    if english:
        return f"For “{label}”, the table gives " + ", ".join(parts)
    return label + "，".join(parts)


def figure_text(query: Query, sentence: str, facts: list[Fact]) -> str:
    """The clauses of a picked sentence that state the asked figure ("全区生产总值完成3002.04亿元，
    突破3000亿元大关"), or the whole sentence when they carry no figure."""
    said = subject_clauses(query, sentence).text
    if len(sentence) > LONG_SENTENCE and facts and any(f.value in said for f in facts) and len(said) >= 6:
        return said.rstrip("，；;。") + "。"
    return sentence


def lead(place: Place, text: str, english: bool, figure: bool = True) -> str:
    """The prefix naming where the sentence is from, unless the text already says it: run into a
    figure sentence ("闵行区2023年全区生产总值…"), set off by a colon before a quoted sentence; in an
    English answer a quoted Chinese sentence is introduced as what the report says."""
    if english:
        return place.en() + (": " if figure else ", the report says: ")
    if not figure:
        return place.zh() + "："
    where = place.zh()
    if place.district and place.district[:2] in text[:12]:
        where = where.replace(place.district, "", 1)
    if place.period.year and str(place.period.year) in text[:8]:
        where = where.replace(f"{place.period.year}年", "", 1)
    return where + ("，" if where and not re.match(r"[\u4e00-\u9fff]", text[:1] or " ") else "")


def english_fact(place: Place, fact: Fact) -> tuple[str, str]:
    """("In 2023, Minhang's ", "“全区生产总值” was 3002.04 亿元 (hundred million yuan).")"""
    name = vocabulary().districts_en.get(place.district, place.district)
    value = fact.display() + (f" ({vocabulary().units_en[fact.unit]})" if fact.unit in vocabulary().units_en else "")
    if fact.period.kind == "outcome" and place.period.year:
        verb = "grew" if fact.relation == "growth" and not fact.value.startswith("-") else "was"
        return f"In {place.period.year}, {name}'s ", f"“{fact.subject}” {verb} {value}."
    if fact.period.kind == "target" and place.period.year:
        return f"{name}'s {place.period.year} target for ", f"“{fact.subject}” is {value}."
    return place.en() + ": ", f"“{fact.subject}”: {value}."


def row_text(chunk: Chunk, english: bool) -> str:
    """A table row as one sentence, each cell under its column's name: "社会消费品零售总额：单位为亿元，年度目标为2000以上"."""
    label = row_label(chunk.fields)
    cells = [(k, v) for k, v in row_cells(chunk.fields) if v != label]
    if english:
        return f"{label}: " + ", ".join(f"{column_en(k)} {v}" for k, v in cells)
    return f"{label}：" + "，".join(f"{k}为{v}" for k, v in cells)


def sentence_for(query: Query, chunk: Chunk, text: str, facts: list[Fact], place: Place, kind: str) -> tuple[str, str]:
    """(prefix, text) of one answer sentence about a pick: a direct figure sentence when the pick
    states the asked figure, the row as a sentence, or the report's sentence with where it is from."""
    if chunk.kind == "task" and kind == "responsibility":
        said = task_sentence(chunk, query.english)
        return "", said.text
    is_row = bool(chunk.fields) and chunk.kind != "task"
    fact = pick_fact(query, facts) if kind in ("figure", "comparison", "fact") else None
    if query.english and fact is not None and not is_row and query.asks < 2 and (kind == "figure" or (kind == "fact" and query.measure)):
        return english_fact(place, fact)
    if is_row:
        label = row_label(chunk.fields)
        columns = [f for f in facts if f.source == "table"]  # the figures of a prose cell stay in its words
        if columns:
            body = row_sentence(query, columns, label)
        else:  # a row of words (稳定保持在70左右): each cell under its column's name
            body = row_text(chunk, query.english) if len(row_cells(chunk.fields)) > 1 else chunk.text
        return lead(place, body, query.english), body.rstrip("。") + ("." if query.english else "。")
    direct = fact is not None and kind in ("figure", "comparison") and query.asks < 2
    body = figure_text(query, text, facts) if direct else text
    runs_on = direct and body.lstrip("“\"").startswith(fact.subject[:2])  # "闵行区2023年" + "全区生产总值完成…"
    return lead(place, body, query.english, figure=runs_on and not query.english), body
