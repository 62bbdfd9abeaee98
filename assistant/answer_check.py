"""Checks that a picked sentence answers the question that was asked, not a neighbouring one.

The asked measure must be what the sentence states about the asked subject: a question about the
investment amount of new foreign projects is not answered by "新引进外资项目236个" (a count); a
growth-rate question needs a percentage next to its subject. A premise the question takes for
granted ("为什么下降了") is checked against the figure the sentence gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .lexical import tokenize
from .models import Chunk, Query
from .query.vocab import vocabulary

_CLAUSE = re.compile(r"[^，,；;。：:！？!?]+")
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(%|‰|[\u4e00-\u9fff]{1,4})?")
# A clause that continues the previous one's subject: "…实现758.83亿元，同比增长13.8%".
_CONTINUES = re.compile(r"^\s*(同比|比上年|较上年|增长|下降|增幅|增速|占|其中|完成|达到|实现|位列|超额|与上年)")
_GROWTH = re.compile(r"(同比|比上年|较上年)?\s*(增长|上升|提高|增加|下降|减少|下滑|回落)\s*(\d+(?:\.\d+)?)\s*(%|个百分点)")
_DOWN = ("下降", "减少", "下滑", "回落")


@dataclass
class Evidence:
    """The part of a picked sentence that speaks about the question's subject."""

    clauses: list[str]

    @property
    def text(self) -> str:
        return "，".join(self.clauses)


def subject_clauses(query: Query, text: str) -> Evidence:
    """The clauses of the text that name the subject (most topic terms), with their continuations."""
    clauses = _CLAUSE.findall(text)
    terms = [t for t in query.terms if len(t) > 1]
    if not clauses or not terms:
        return Evidence(clauses)
    overlap = [sum(1 for t in terms if t in set(tokenize(c))) for c in clauses]
    best = max(overlap)
    if best == 0:
        return Evidence(clauses)
    picked: list[str] = []
    for i, clause in enumerate(clauses):
        if overlap[i] == best:
            picked.append(clause)
            j = i + 1
            while j < len(clauses) and _CONTINUES.match(clauses[j]):
                picked.append(clauses[j])
                j += 1
    return Evidence(list(dict.fromkeys(picked)))


def states_measure(query: Query, text: str, chunk: Chunk) -> bool:
    """Whether the sentence (a table row: the whole row) states the asked measure of the subject."""
    if not query.measure or query.intent in ("list", "responsibility", "definition", "overview"):
        return True
    measure = next((m for m in vocabulary().measures if m.name == query.measure), None)
    if measure is None:
        return True
    if chunk.fields and chunk.kind != "task":
        # a table row is about one indicator; its unit may sit in its own column or a header
        evidence = text + " " + chunk.readable_fields() + " " + chunk.context.split("\n")[-1]
        return _has_unit(evidence, measure.units, any_number=True) or not re.search(r"\d", evidence)
    return _has_unit(subject_clauses(query, text).text, measure.units)


def _has_unit(text: str, units: tuple[str, ...], any_number: bool = False) -> bool:
    for match in _NUMBER_UNIT.finditer(text):
        unit = match.group(2) or ""
        if any(unit.startswith(u) for u in units):
            return True
    return any_number and any(u in text for u in units if not u.isascii() or u == "%")


def premise_conflict(query: Query, text: str) -> str | None:
    """The figure that contradicts the question's premise ("为什么下降了" when it grew), or None."""
    if not query.premise:
        return None
    for match in _GROWTH.finditer(subject_clauses(query, text).text):
        down = match.group(2) in _DOWN or float(match.group(3)) < 0
        if (query.premise == "down") != down:
            return match.group(0)
    return None
