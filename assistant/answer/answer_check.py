"""Checks that a picked sentence answers the question that was asked, not a neighbouring one.

The asked measure must be what the sentence states about the asked subject: a question about the
investment amount of new foreign projects is not answered by "新引进外资项目236个" (a count); a
growth-rate question needs a percentage next to its subject. A premise the question takes for
granted ("为什么下降了") is checked against the figure the sentence gives.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from assistant.indexing.lexical import tokenize
from assistant.models import Chunk, Query
from assistant.vocab import vocabulary

_CLAUSE = re.compile(r"[^，,；;。：:！？!?]+")
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(%|‰|[\u4e00-\u9fff]{1,4})?")
# A clause that continues the previous one's subject: "…实现758.83亿元，同比增长13.8%".
_CONTINUES = re.compile(r"^\s*(同比|比上年|较上年|增长|下降|增幅|增速|占|其中|完成|达到|实现|位列|超额|与上年)")
_GROWTH = re.compile(r"(同比|比上年|较上年|年均)?\s*(增长|增幅|增速|上升|提高|增加|下降|减少|下滑|回落)(?:达到|达|为|了)?\s*(\d+(?:\.\d+)?)\s*(%|个百分点)")
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
    if measure.name == "growth":
        # a percentage is not yet a growth rate (a share is one too): it must be said to be growth
        if not chunk.fields:
            return bool(_GROWTH.search(subject_clauses(query, text).text))
        where = text + " " + chunk.readable_fields()
        return bool(_GROWTH.search(where) or re.search(r"增长率|增速|增幅", where) and re.search(r"\d", where))
    if chunk.fields and chunk.kind != "task":
        # a table row is about one indicator; its unit may sit in its own column or a header
        evidence = text + " " + chunk.readable_fields() + " " + chunk.context.split("\n")[-1]
        return _has_unit(evidence, measure.units, any_number=True) or not re.search(r"\d", evidence)
    if measure.name == "share" and _share_clause(query, text):
        return True  # "…抽检，合格率99.2%": the rate sits in its own clause
    return _has_unit(subject_clauses(query, text).text, measure.units)


def _share_clause(query: Query, text: str) -> bool:
    terms = [t for t in query.terms if len(t) > 1]
    return any(re.search(r"率|比例|比重|占", clause) and re.search(r"\d\s*%", clause) and any(t in clause for t in terms)
               for clause in _CLAUSE.findall(text))


def _has_unit(text: str, units: tuple[str, ...], any_number: bool = False) -> bool:
    text = unicodedata.normalize("NFKC", text)  # a table's full-width ％ is a percentage too
    for match in _NUMBER_UNIT.finditer(text):
        unit = match.group(2) or ""
        if any(unit.startswith(u) for u in units):
            return True
    return any_number and any(u in text for u in units if not u.isascii() or u == "%")


def contradicts(query: Query, text: str) -> bool:
    """The question asks about one of two alike quantities (支出) and the text states only the other (收入)."""
    for pair in vocabulary().contrasts:
        for asked, other in (pair, pair[::-1]):
            if asked in query.topic and other not in query.topic and other in text and asked not in text:
                return True
    return False


def premise_conflict(query: Query, text: str, fields: tuple[tuple[str, str], ...] = ()) -> str | None:
    """The figure that contradicts the question's premise ("为什么下降了" when it grew; "为什么没
    完成目标" when the row shows it met), or None."""
    if not query.premise:
        return None
    if query.premise == "missed":
        return _met_target(fields)
    for match in _GROWTH.finditer(subject_clauses(query, text).text):
        down = match.group(2) in _DOWN or float(match.group(3)) < 0
        if (query.premise == "down") != down:
            return match.group(0)
    return None


_FIRST_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _met_target(fields: tuple[tuple[str, str], ...]) -> str | None:
    """"完成情况 7%，年度目标 5%左右" when a table row shows the target met (more is better unless the
    indicator is a decline: 下降率, 降低率, 失业)."""
    values = dict(fields)
    name = next((v for k, v in fields if "指标" in k), "")
    target = next((v for k, v in fields if "目标" in k), "")
    outcome = values.get("完成情况", "")
    t, o = _FIRST_NUMBER.search(target.replace("万", "")), _FIRST_NUMBER.search(outcome.replace("万", ""))
    if not (t and o) or re.search(r"下降|降低|失业|能耗", name + target):
        return None
    if float(o.group(0)) >= float(t.group(0)):
        return f"{name}完成情况{outcome}，年度目标{target}"
    return None
