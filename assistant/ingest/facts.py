"""Facts: the figures of the reports as typed records, extracted once at build time.

Every indicator-table row gives one fact per figure column (its year's target and its outcome are
separate facts of the same subject); every figure in running text gives a fact whose subject is the
words before it in its clause ("固定资产投资实现758.83亿元，同比增长13.8%" -> 固定资产投资 758.83 亿元
amount; 固定资产投资 13.8 % growth). Values are kept exactly as printed; arithmetic uses `decimal`.
The answerers (`compute.py`, `phrasing.py`) read facts instead of re-reading sentences.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from assistant.models import Chunk, Period
from assistant.ingest.cell_table import header_kind
from assistant.ingest.normalize import sentences
from assistant.ingest.roles import is_role, task_text
from assistant.vocab import _load, vocabulary

FACTS_FILE = "facts.jsonl"
# bump when extraction changes: stored facts of another version are extracted again from the chunks
# at load (cheap, and the index's embeddings stay valid)
FACTS_VERSION = 4
_SHARED = ("district", "doc_id", "period", "relation", "unit", "qualifier", "source", "column", "span")


@dataclass(frozen=True, slots=True)  # slots: an index holds about one fact per chunk
class Fact:
    district: str
    doc_id: str
    chunk_id: str
    period: Period
    subject: str  # the indicator (table) or the words the figure belongs to (text)
    relation: str  # amount | growth | share | count | area | length | value (the measures of question.toml)
    value: str  # exactly as printed: "3002.04", "10"
    unit: str  # "亿元", "%", "" when none is printed
    qualifier: str = ""  # words printed with the value: "以上", "左右", "以上，力争两位数"
    span: tuple[int, int] = (0, 0)  # the sentence (or the whole row) in the chunk's text
    source: str = "text"  # text | table
    column: str = ""  # the target or outcome column of a table fact ("年度目标", "完成情况")
    unit_printed: bool = True  # the unit is printed next to the value (not only in a unit column or header)
    sign: str = ""  # the comparison sign printed before a table cell's figure ("≥80": "≥"; its words are in qualifier)

    @property
    def number(self) -> Decimal:
        return Decimal(self.value)

    def display(self) -> str:
        """The value as the report prints it, with its unit: 3002.04亿元, 5%左右; a table cell whose unit
        sits in its own column keeps its words together: 10左右（%）, 6以上，力争两位数（%）."""
        if self.sign:  # as the cell prints it: ≥80%, not 80以上（%）
            words = self.qualifier.removeprefix(_words().comparators.get(self.sign, ""))
            return f"{self.sign}{self.value}{self.unit}{words}"
        if not self.qualifier:
            return f"{self.value}{self.unit}"
        if self.unit_printed or not self.unit:
            return f"{self.value}{self.unit}{self.qualifier}"
        return f"{self.value}{self.qualifier}（{self.unit}）"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["period"] = {"year": self.period.year, "kind": self.period.kind}
        data["span"] = list(self.span)
        return data

    @classmethod
    def from_dict(cls, data: dict, shared: dict | None = None) -> "Fact":
        """`shared`: one object per distinct value of the fields that repeat (_SHARED), kept across calls."""
        fields = data | {"period": Period(**data["period"]), "span": tuple(data["span"])}
        if shared is not None:
            fields |= {name: shared.setdefault(fields[name], fields[name]) for name in _SHARED}
        return cls(**fields)


# ----------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class _FactWords:
    units: tuple[str, ...]  # longest first
    unit_relation: dict[str, str]
    lead: tuple[str, ...]
    verbs: tuple[str, ...]
    growth: tuple[str, ...]
    outcome_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    skip_columns: tuple[str, ...]
    label_columns: tuple[str, ...]  # the column naming a row's indicator (指标名称)
    unit_columns: tuple[str, ...]  # the column giving its unit (单位, 指标单位)
    figure: re.Pattern
    same_quantity: frozenset[str]  # words a subject may add without naming another quantity (lead-ins, 全区, 区级)
    naming_verbs: frozenset[str]  # verbs that name what they count (开工, 完工)
    target_words: frozenset[str]  # "已供应4314套(目标2611套)": alone before a figure, the previous figure's target
    comparators: dict[str, str]  # "≥5000" in a cell: the words its sign means (以上)


def same_quantity_words() -> frozenset[str]:
    return _words().same_quantity


@lru_cache(maxsize=1)
def _words() -> _FactWords:
    data = _load("facts.toml")
    relation: dict[str, str] = {}
    for measure in vocabulary().measures:
        for unit in measure.units:
            relation.setdefault(unit, measure.name)
    for unit in data["units"]["extra"]:
        base = unit[1:] if unit.startswith("万") and len(unit) > 1 else unit
        relation.setdefault(unit, relation.get(base, "count" if base in ("人次", "人", "户", "个", "家", "台", "辆", "套") else "value"))
    relation["个百分点"] = relation["百分点"] = "growth"
    relation["%"] = "share"  # a percentage is a share unless the words around it say growth (_relation)
    units = tuple(sorted(relation, key=len, reverse=True))
    alternatives = "|".join(re.escape(u) for u in units)
    figure = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(" + alternatives + r")?")
    by_length = lambda words: tuple(sorted(words, key=len, reverse=True))  # noqa: E731
    return _FactWords(units, relation, by_length(data["subject"]["lead"]), by_length(data["subject"]["verbs"]),
                      tuple(data["subject"]["growth"]), tuple(data["columns"]["outcome"]), tuple(data["columns"]["target"]),
                      tuple(data["columns"]["skip"]), tuple(data["columns"]["label"]), tuple(data["columns"]["unit"]), figure,
                      frozenset(data["subject"]["lead"] + data["subject"]["same_quantity"]), frozenset(data["subject"]["naming_verbs"]),
                      frozenset(data["subject"]["target_of_previous"]), dict(data["columns"]["comparators"]))


_CLAUSE = re.compile(r"[^，,；;：:。！？!?]+")
_YEAR = re.compile(r"(19|20)\d\d")
_DATE = re.compile(r"(?:到|至|截至|截止)?(?:19|20)\d\d年(?:底|末|前)?")
_PARENS_UNIT = re.compile(r"[（(]([^（）()]+)[)）]")


def _relation(unit: str, words: str) -> str:
    w = _words()
    relation = w.unit_relation.get(unit, "value")
    words = words.replace("增加值", "")  # 制造业增加值占…比重 is a share, not a growth rate
    if relation == "share" and any(g in words for g in w.growth):
        return "growth"
    if unit == "%" and re.search(r"增长率|增速|增幅", words):
        return "growth"
    return relation


# ----------------------------------------------------------------------------- tables


def _column_period(header: str, period: Period) -> Period | None:
    """The period of a table's figure column, from its header's words (facts.toml [columns]) and the period
    it names: a year ("现状值(2025年）"), a plan ("“十四五”完成值" -> 2025, its last year; the plans' names and
    years are question.toml [plans]); else the chunk's: a plan's status column without a year ("现状") is of
    the year before the plan. A column headed by a period alone ("2025年") is that year's outcome when the
    year is the chunk's or before it (before the plan's first year in a plan's targets), else its target."""
    w = _words()
    plan = vocabulary().plan_named(header)
    year = next((int(m.group(0)) for m in _YEAR.finditer(header)), plan[1][1] if plan else None)
    first = _plan_first(period)
    if any(c in header for c in w.outcome_columns):
        if year is None and period.kind == "fyp_target" and first is not None:
            year = first - 1
        return Period(period.year if year is None else year, "outcome")
    if any(c in header for c in w.target_columns):
        kind = "fyp_target" if period.kind == "fyp_target" or plan else "target"
        return Period(period.year if year is None else year, kind)
    if year is not None and header_kind(header) == "period":
        if period.kind in ("target", "fyp_target"):
            before = first if first is not None else period.year
            outcome = before is not None and year < before
        else:
            outcome = period.year is None or year <= period.year
        if outcome:
            return Period(year, "outcome")
        return Period(year, "fyp_target" if period.kind == "fyp_target" or plan else "target")
    return None


def _plan_first(period: Period) -> int | None:
    """The first year of the plan whose last year the period is (2030 -> 2026), or None."""
    name = vocabulary().plan_ending(period.year)
    return vocabulary().plans[name][0] if name else None


def row_label(fields: Sequence[tuple[str, str]]) -> str:
    """The name of a table row: its 指标名称 / 项目名称 column when the table has one, else its first
    column that is not a number, a unit or an attribute (a 类别 column may come before the name); a task
    row's (one with a unit-role column) its task (工作任务)."""
    w = _words()
    if any(is_role(k) for k, _ in fields) and task_text(fields):
        return task_text(fields)
    named = [(k, v) for k, v in fields if k not in w.skip_columns and k not in w.unit_columns and v]
    return next((v for k, v in named if k in w.label_columns), named[0][1] if named else "")


def row_cells(fields: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The row's columns worth reading out, without 序号 and the attribute columns."""
    skip = {"序号", "属性", "指标属性", "指标性质"}
    return [(k, v) for k, v in fields if v and k not in skip]


def table_facts(chunk: Chunk, period: Period) -> list[Fact]:
    """One fact per figure column of an indicator row: 年度目标 and 完成情况 are target and outcome of
    the same subject; another figure column (税收总收入(亿元)) makes its own subject with the row label."""
    w = _words()
    named = [(k, v) for k, v in chunk.fields if k not in w.skip_columns and k not in w.unit_columns]
    if chunk.kind != "table_row" or len(named) < 2:
        return []
    at = next((i for i, (k, _) in enumerate(named) if k in w.label_columns), 0)
    label = named[at][1].strip()
    if not label or re.fullmatch(r"[\d.]+", label):
        return []
    row_unit = next((v.strip() for k, v in chunk.fields if k in w.unit_columns), "")
    facts = []
    for header, cell in named[:at] + named[at + 1:]:
        match = re.match(r"\s*(?:约|近)?\s*([≥≤><＞＜])?\s*(\d+(?:\.\d+)?)\s*", cell)
        if not match or len(cell) > 40:  # a long cell is a description with figures in it, not one figure:
            at_cell = chunk.text.find(cell)  # its figures are read as running text ("…高新技术企业达到3612家")
            if at_cell >= 0 and re.search(r"[\u4e00-\u9fff]{2}", cell):
                stated = _column_period(header, period) if _YEAR.search(header) or vocabulary().plan_named(header) else None
                facts += text_facts(chunk, stated or period, cell, at_cell)  # the period its header names ("“十四五”完成值")
            continue
        rest = cell[match.end():]
        printed = next((u for u in w.units if rest.startswith(u)), "")
        qualifier = w.comparators.get(match.group(1) or "", "") + rest[len(printed):].strip()  # "≥5000": 5000 以上
        header_unit = (_PARENS_UNIT.search(header) or [None, ""])[1]
        header_unit = "" if _YEAR.search(header_unit) else header_unit  # 现状值(2025年）: a year, not a unit
        unit = printed or row_unit or header_unit
        column_period = _column_period(header, period)
        subject = label if column_period else label + _PARENS_UNIT.sub("", header).strip()
        facts.append(Fact(chunk.district, chunk.doc_id, chunk.chunk_id, column_period or period, subject,
                          _relation(unit, subject), match.group(2), unit, qualifier, (0, len(chunk.text)), "table",
                          header if column_period else "", bool(printed), match.group(1) or ""))
    return facts


# ----------------------------------------------------------------------------- text


def _subject(words: str) -> str:
    """The subject in the words before a figure: lead-ins and verbs stripped from both ends."""
    w = _words()
    text = _DATE.sub("", words)
    text = re.sub(r"^[\s“”\"'（()）、]+|[\s（(]+$", "", text)
    changed = True
    while changed and text:
        changed = False
        for lead in w.lead:
            if text.startswith(lead) and len(text) > len(lead):
                text, changed = text[len(lead):], True
        for verb in w.verbs:
            if text.endswith(verb):
                text, changed = text[: -len(verb)], True
    return text.strip(" 、")


def ends_in_verb(subject: str) -> bool:
    """"已供应", "全年开工": the subject already says what was done (no "完成" before its figure)."""
    return subject.startswith("已") or any(subject.endswith(v) for v in _words().naming_verbs)


def _naming_verb(words: str) -> str:
    """完工 for "、完工": a verb that names what it counts, when it is all the words before a figure."""
    stripped = re.sub(r"[^\u4e00-\u9fff]", "", words)
    for lead in _words().lead:
        stripped = stripped.removeprefix(lead)
    return stripped if stripped in _words().naming_verbs else ""


def text_facts(chunk: Chunk, period: Period, text: str | None = None, offset: int = 0) -> list[Fact]:
    """The figures of running text, each with the subject of its clause (or of the clause it continues)."""
    w = _words()
    body = chunk.text if text is None else text
    facts = []
    position = 0
    for sentence in sentences(body):
        start = body.find(sentence, position)
        position = start + len(sentence)
        span = (offset + start, offset + start + len(sentence))
        subject = ""
        for clause in _CLAUSE.findall(sentence):
            cursor = 0
            for match in w.figure.finditer(clause):
                number, unit = match.group(1), match.group(2) or ""
                before = clause[cursor:match.start()]
                if not unit:
                    continue  # a bare number (a year, an ordinal) is not a figure; its words stay with the next one
                own = _subject(before) or _naming_verb(before)
                target_of = _target_of(facts, span, own, unit)
                if target_of is not None:  # "(目标4179套)": the target of the figure just stated
                    facts.append(replace(target_of, period=Period(period.year, "target"), value=number))
                    cursor = match.end()
                    continue
                if len(re.sub(r"[^\u4e00-\u9fffA-Za-z]", "", own)) >= 2:
                    subject = own
                if subject:
                    facts.append(Fact(chunk.district, chunk.doc_id, chunk.chunk_id, period, subject,
                                      _relation(unit, before + clause), number, unit, "", span, "text"))
                cursor = match.end()
    return facts


def _target_of(facts: list[Fact], span: tuple[int, int], words: str, unit: str) -> Fact | None:
    """The figure of the same sentence and unit that `words` ("目标", "年度目标") give the target of."""
    if re.sub(r"[^\u4e00-\u9fff]", "", words) not in _words().target_words:
        return None
    last = facts[-1] if facts else None
    return last if last is not None and last.span == span and last.unit == unit and last.period.kind != "target" else None


def chunk_facts(chunk: Chunk, period: Period) -> list[Fact]:
    if chunk.kind == "table_row":
        return table_facts(chunk, period)
    if chunk.kind == "task":  # the task text, not the lead units
        task = task_text(chunk.fields)
        start = chunk.text.find(task) if task else -1
        return text_facts(chunk, period, task, max(start, 0)) if task else []
    if chunk.kind in ("paragraph", "bullet", "footnote"):
        return text_facts(chunk, period)
    return []


def extract_facts(chunks: Iterable[Chunk], periods: Iterable[Period]) -> list[Fact]:
    return [fact for chunk, period in zip(chunks, periods) for fact in chunk_facts(chunk, period)]


def write_facts(path: Path, facts: list[Fact]) -> None:
    with open(path / FACTS_FILE, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"facts_version": FACTS_VERSION}) + "\n")
        for fact in facts:
            handle.write(json.dumps(fact.to_dict(), ensure_ascii=False) + "\n")


def read_facts(path: Path) -> list[Fact] | None:
    """The stored facts, or None when the index predates them or holds another version's (the caller
    extracts them then)."""
    file = path / FACTS_FILE
    if not file.exists():
        return None
    shared: dict = {}  # the few distinct districts, documents, periods, units...: one object each
    with open(file, encoding="utf-8") as handle:
        header = json.loads(handle.readline() or "{}")
        if header.get("facts_version") != FACTS_VERSION:
            return None
        return [Fact.from_dict(json.loads(line), shared) for line in handle if line.strip()]


class FactBook:
    """The facts of an index, looked up by the chunk (and sentence) they come from."""

    def __init__(self, facts: list[Fact]) -> None:
        self.facts = facts
        self._by_chunk: dict[str, list[Fact]] = {}
        for fact in facts:
            self._by_chunk.setdefault(fact.chunk_id, []).append(fact)

    def in_chunk(self, chunk_id: str) -> list[Fact]:
        return self._by_chunk.get(chunk_id, [])

    def in_sentence(self, chunk: Chunk, sentence: str) -> list[Fact]:
        """The facts a picked sentence states (a table row states all of its row's facts)."""
        facts = self.in_chunk(chunk.chunk_id)
        if chunk.kind == "table_row":
            return facts
        stripped = sentence.strip()
        return [f for f in facts if stripped and stripped in chunk.text[f.span[0]:f.span[1]]]

    def select(self, doc_id: str = "", subject: str = "", district: str = "") -> list[Fact]:
        return [f for f in self.facts if (not doc_id or f.doc_id == doc_id) and (not district or f.district == district)
                and (not subject or subject in f.subject)]
