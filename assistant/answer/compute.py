"""Computed answers: comparisons (哪个更高、多多少), target checks (完成目标了吗、还差多少), sums
(合计) and discrepancies between documents (一致吗), from the facts of the cited passages.

Each input is stated in its own cited sentence; the arithmetic is exact (`decimal`) and shown
("561.02－520＝41.02亿元"); the result carries the numbers it derived so the verifier knows they
are computed from the cited inputs, not quoted. Units and relations must agree or the answer says
why it cannot compare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from assistant.ingest.facts import Fact, ends_in_verb
from assistant.models import Chunk, Query
from assistant.answer.phrasing import Place, column_label, lead, unit_en
from assistant.vocab import _load, vocabulary
from assistant.answer.verify import Sentence


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what it is called and the fact stated for it."""

    name: str  # 闵行区 / 2023年 / “十四五”规划纲要
    place: Place
    fact: Fact
    chunk: Chunk


@lru_cache(maxsize=1)
def _lower_better() -> tuple[str, ...]:
    return tuple(_load("facts.toml")["direction"]["lower_better"])


def _places(*facts: Fact) -> int:
    return max((len(f.value.partition(".")[2]) for f in facts), default=0)


def _fmt(value: Decimal, places: int) -> str:
    return f"{value:.{places}f}"


def _difference_unit(fact: Fact) -> str:
    return "个百分点" if fact.unit in ("%", "‰") else fact.unit


def comparable(a: Fact, b: Fact) -> str:
    """"" when the two figures can be compared, else why not."""
    if a.unit != b.unit:
        return f"两者单位不同（{a.unit or '无单位'}、{b.unit or '无单位'}），不能直接比较"
    if a.relation != b.relation and {a.relation, b.relation} != {"growth", "share"}:
        return "两者不是同一种数量，不能直接比较"
    return ""


def fact_clause(fact: Fact, english: bool) -> str:
    """全社会固定资产投资额增长20.9% / 社会消费品零售总额的年度目标为2000亿元以上 / “…” was 13.8 %."""
    if english:
        return f"“{fact.subject}” {'target ' if fact.period.kind != 'outcome' and fact.column else ''}{fact.value} {unit_en(fact.unit)}".rstrip() + (f" ({fact.qualifier})" if fact.qualifier else "")
    if fact.column and fact.period.kind in ("target", "fyp_target"):
        return f"{fact.subject}的{column_label(fact)}为{fact.display()}"
    if fact.relation == "growth" and not re.search(r"增长|增速|增幅|下降|提高|比重|比例|率", fact.subject):
        return f"{fact.subject}同比增长{fact.display()}"
    return f"{fact.subject}为{fact.display()}"


def side_sentence(side: Side, english: bool) -> Sentence:
    text = fact_clause(side.fact, english) + ("." if english else "。")
    return Sentence(text, [side.chunk.chunk_id], prefix=lead(side.place, text, english), chunks=[side.chunk])


def compare(query: Query, sides: list[Side], operation: str, stated: list[Sentence] | None = None) -> list[Sentence]:
    """Each side's figure, cited (`stated`: the sides' own sentences, else one clause per fact), then
    the verdict with the arithmetic (difference, sum or agreement)."""
    english = query.english
    stated = stated or [side_sentence(s, english) for s in sides]
    a, b = sides[0], sides[1]
    why = comparable(a.fact, b.fact)
    cited = list(dict.fromkeys(s.chunk.chunk_id for s in sides))  # one row may state both sides (十四五完成值, 十五五目标值)
    chunks = list({s.chunk.chunk_id: s.chunk for s in sides}.values())
    if why:
        text = ("The two figures cannot be compared directly: " + why + ".") if english else why + "。"
        return stated + [Sentence(text, cited, chunks=chunks, derived=(a.fact.value, b.fact.value))]
    places = _places(a.fact, b.fact)
    if operation == "sum":
        total = sum((s.fact.number for s in sides), Decimal(0))
        formula = "＋".join(s.fact.value for s in sides) + f"＝{_fmt(total, places)}{a.fact.unit}"
        text = (f"Together: {_fmt(total, places)} {unit_en(a.fact.unit)} ({formula})." if english
                else f"合计{_fmt(total, places)}{a.fact.unit}（{formula}）。")
        return stated + [Sentence(text, cited, chunks=chunks, derived=(_fmt(total, places),))]
    high, low = (a, b) if a.fact.number >= b.fact.number else (b, a)
    diff = high.fact.number - low.fact.number
    unit = _difference_unit(a.fact)
    formula = f"{high.fact.value}－{low.fact.value}＝{_fmt(diff, places)}{unit}"
    if operation == "consistency":
        if diff == 0:
            text = f"The two agree: {a.fact.value} {a.fact.unit}." if english else f"两者一致，均为{a.fact.display()}。"
        else:
            text = (f"They differ: {a.name} gives {a.fact.value}, {b.name} gives {b.fact.value} ({formula})." if english
                    else f"两者不一致：{a.name}为{a.fact.display()}，{b.name}为{b.fact.display()}，相差{_fmt(diff, places)}{unit}。")
        return stated + [Sentence(text, cited, chunks=chunks, derived=(_fmt(diff, places),))]
    if diff == 0:
        text = f"Both are {a.fact.value} {a.fact.unit}." if english else f"两者相同，均为{a.fact.display()}。"
        return stated + [Sentence(text, cited, chunks=chunks)]
    name = vocabulary().districts_en.get(high.name, high.name) if english else high.name
    other = vocabulary().districts_en.get(low.name, low.name) if english else low.name
    rate = a.fact.relation in ("growth", "share")  # rates are higher, amounts and counts are more
    word = "高" if rate else "多"
    text = (f"{name} is {'higher' if rate else 'larger'}, by {_fmt(diff, places)} {unit_en(unit)} ({formula})." if english
            else f"{name}更{word}，比{other}{word}{_fmt(diff, places)}{unit}（{formula}）。")
    return stated + [Sentence(text, cited, chunks=chunks, derived=(_fmt(diff, places),))]


def target_pair(facts: list[Fact]) -> tuple[Fact, Fact] | None:
    """(outcome, target) of one indicator row: the same subject in its 完成情况 and 目标 columns."""
    outcome = next((f for f in facts if f.period.kind == "outcome" and f.column), None)
    target = next((f for f in facts if outcome and f.period.kind == "target" and f.column and f.subject == outcome.subject), None)
    return (outcome, target) if outcome and target else None


def prose_target_pairs(facts: list[Fact]) -> list[tuple[Fact, Fact]]:
    """(outcome, target) pairs a sentence states together: "已供应4314套（目标2611套）"."""
    return [(a, b) for a, b in zip(facts, facts[1:]) if a.source == b.source == "text" and a.subject == b.subject
            and a.period.kind == "outcome" and b.period.kind == "target" and a.unit == b.unit]


def check_target(query: Query, outcome: Fact, target: Fact, place: Place, chunk: Chunk,
                 target_chunk: Chunk | None = None, plan_label: str = "") -> Sentence | None:
    """完成情况10.6%，年度目标10%左右，已完成目标（10.6－10＝0.6个百分点）。The target may be a later
    plan's (`plan_label`: "2025年“十四五”规划目标", `target_chunk`: the passage stating it, cited too):
    it is then reached early or still to go, never missed."""
    if outcome.unit != target.unit and target.unit and outcome.unit:
        return None
    lower_better = any(w in outcome.subject for w in _lower_better()) or re.search(r"以下|以内|控制", target.qualifier)
    places = _places(outcome, target)
    diff = outcome.number - target.number
    met = diff <= 0 if lower_better else diff >= 0
    unit = _difference_unit(outcome)
    gap = _fmt(abs(diff), places)
    high, low = (outcome, target) if diff >= 0 else (target, outcome)
    formula = f"{high.value}－{low.value}＝{gap}{unit}"
    english = query.english
    if english:
        if plan_label:
            verdict = ("already reached" if met else f"{gap} {unit_en(unit)} still to go ({formula})") if diff else "reached"
        else:
            verdict = ("met the target" if met else "missed the target") + (f" by {gap} {unit_en(unit)} ({formula})" if diff else "")
        text = f"“{outcome.subject}”: result {outcome.value} {unit_en(outcome.unit)}, {plan_label or 'target'} {target.value}{target.unit}{target.qualifier}; {verdict}."
    else:
        done = "" if ends_in_verb(outcome.subject) else "完成"
        head = f"{outcome.subject}{done}{outcome.display()}，{plan_label or column_label(target)}{target.display()}"
        ahead = bool(plan_label)
        if diff == 0:
            verdict = "已达到该目标" if ahead else "恰好完成目标"
        elif met:
            verdict = f"已{'提前达到' if ahead else '完成'}目标（{'低' if lower_better else '高'}出{gap}{unit}：{formula}）"
        else:
            verdict = f"距目标还差{gap}{unit}（{formula}）" if ahead else f"未完成目标，还差{gap}{unit}（{formula}）"
        text = f"{head}，{verdict}。"
    chunks = [chunk] + ([target_chunk] if target_chunk is not None and target_chunk.chunk_id != chunk.chunk_id else [])
    return Sentence(text, [c.chunk_id for c in chunks], prefix=lead(place, text, english), chunks=chunks,
                    derived=(gap,) if diff else ())


_SCALE = {"万亿": Decimal("1e12"), "亿": Decimal("1e8"), "万": Decimal("1e4")}


def _scale(unit: str) -> Decimal:
    return next((v for k, v in _SCALE.items() if unit.startswith(k)), Decimal(1))


def threshold_verdict(query: Query, fact: Fact, chunk: Chunk) -> Sentence | None:
    """"是，静安区外贸进出口总额561.02亿元，超过550亿。" for "…超过550亿了吗": yes or no, with the figure
    that decides it (cited) and the question's own bound (declared, not quoted)."""
    direction, bound, unit = query.threshold
    try:
        value, limit = fact.number * _scale(fact.unit), Decimal(bound) * _scale(unit)
    except ArithmeticError:
        return None
    if fact.unit in ("%", "‰") and unit not in ("", fact.unit) or unit in ("%", "‰") and fact.unit != unit:
        return None  # a share and an amount cannot be compared
    met = value > limit if direction == "above" else value < limit
    said = f"{bound}{unit}"
    if query.english:
        relation = ("above" if value > limit else "not above") if direction == "above" else ("below" if value < limit else "not below")
        text = f"{'Yes' if met else 'No'}: “{fact.subject}” is {fact.display()}, {relation} {said}."
    else:
        relation = ("超过" if value > limit else "未超过") if direction == "above" else ("低于" if value < limit else "不低于")
        text = f"{'是' if met else '否'}，{fact.subject}为{fact.display()}，{relation}{said}。"
    return Sentence(text, [chunk.chunk_id], chunks=[chunk], derived=(bound,))


def claim_verdict(query: Query, fact: Fact | None, text: str, chunk: Chunk) -> Sentence | None:
    """"不是，报告给出的是40辆。" for "是不是要新增50辆？": yes when the sentence about the subject states the
    asked figure, no with the figure it states instead (same unit); None when it states none in that unit.
    The sentence's fact of the asked period decides when it has one ("完成1707.89亿元，目标为1600亿元")."""
    _, claimed, unit = query.threshold
    if fact is not None and fact.unit and (fact.unit.startswith(unit) or unit.startswith(fact.unit)) and unit:
        try:
            same = fact.number * _scale(fact.unit) == Decimal(claimed) * _scale(unit)
        except ArithmeticError:
            same = False
        if query.english:
            text = f"{'Yes' if same else 'No'}: “{fact.subject}” is {fact.display()}."
        else:
            text = f"{'是' if same else '不是'}，{fact.subject}为{fact.display()}。"
        return Sentence(text, [chunk.chunk_id], chunks=[chunk], derived=(claimed,))
    if not unit:
        return None
    # the unit as the report writes it: "1000公里" asked, "1250公里以上" stated; "每3年调整" asked, "5年" stated
    stated = [m.group(1) + m.group(2) for m in re.finditer(rf"(\d+(?:\.\d+)?)\s*({re.escape(unit)}|{re.escape(unit[:1])})", text)]
    if not stated:
        return None
    same = next((s for s in stated if re.match(rf"{re.escape(claimed)}\D", s)), None)
    if same:
        said = "Yes: the report gives" if query.english else "是，报告写明"
        return Sentence(f"{said} {same}." if query.english else f"{said}{same}。", [chunk.chunk_id], chunks=[chunk], derived=(claimed,))
    instead = stated[0]  # the subject's own figure comes first ("40辆（其中…32辆…）")
    text = f"No: the report gives {instead}." if query.english else f"不是，报告给出的是{instead}。"
    return Sentence(text, [chunk.chunk_id], chunks=[chunk], derived=(claimed,))


_FROM_TO = re.compile(r"从\s*(?P<a>\d+(?:\.\d+)?)\s*(?P<ua>[万亿千百]*[^\d\s，。、；,;（）()]{0,3}?)\s*"
                      r"(?P<verb>增至|增加到|增长到|增加至|提高到|提高至|提升到|提升至|上升到|上升至|扩大到|降至|下降到|下降至|减少到|减少至|降到|降低到|降低至)\s*"
                      r"(?P<b>\d+(?:\.\d+)?)\s*(?P<ub>[万亿千百]*[^\d\s，。、；,;（）()]{0,3})")


def stated_change(query: Query, text: str, place: Place, chunk: Chunk) -> Sentence | None:
    """"经营主体从689万户增至951万户" asked "增加了多少": the change (951－689＝262万户) and the relative
    change (38.0%), from the two figures one sentence states; None when it states no such pair."""
    match = _FROM_TO.search(text)
    if match is None:
        return None
    unit_a, unit_b = match.group("ua"), match.group("ub")
    if unit_a and unit_a != unit_b:
        return None  # "从2.9万亿元增至3800亿元": not the same unit, not subtracted
    a, b = Decimal(match.group("a")), Decimal(match.group("b"))
    if a == 0:
        return None
    places = max(len(match.group("a").partition(".")[2]), len(match.group("b").partition(".")[2]))
    diff = abs(b - a)
    rate = _fmt(diff / a * 100, 1)
    up = b >= a
    said = text[max(0, match.start() - 30):match.end()].split("，")[-1].split("；")[-1].strip()
    formula = f"{match.group('b') if up else match.group('a')}－{match.group('a') if up else match.group('b')}＝{_fmt(diff, places)}{unit_b}"
    if query.english:
        body = f"{said}: {'an increase' if up else 'a decrease'} of {_fmt(diff, places)} {unit_en(unit_b)} ({formula}), {rate}%."
    else:
        body = f"{said}，{'增加' if up else '减少'}{_fmt(diff, places)}{unit_b}（{formula}），{'增长' if up else '下降'}{rate}%。"
    return Sentence(body, [chunk.chunk_id], prefix=lead(place, body, query.english, figure=False), chunks=[chunk],
                    derived=(_fmt(diff, places), rate))


_UNIT = r"[万亿千百]*(?:平方公里|平方米|公里|公顷|千瓦|兆瓦|亿元|万元|元|米|亩|个|家|套|台|座|所|户|人|吨|项|条|辆|张|处|栋|幢)"
_PART_OF = re.compile(rf"(?P<whole>\d+(?:\.\d+)?)\s*(?P<uw>{_UNIT})[^。；;]{{0,12}}?其中[^\d。；;]{{0,12}}?(?P<part>\d+(?:\.\d+)?)\s*(?P<up>{_UNIT})")


def stated_share(query: Query, text: str, place: Place, chunk: Chunk) -> Sentence | None:
    """"排水主管检测约123公里，对其中的约24公里修复或改造" asked "占…百分之几": the part over the whole
    (24÷123≈19.5%), from the two figures one sentence states with 其中; None when it states no such pair."""
    match = _PART_OF.search(text)
    if match is None or match.group("up") != match.group("uw"):
        return None
    whole, part = Decimal(match.group("whole")), Decimal(match.group("part"))
    if whole == 0 or part > whole:
        return None
    share = _fmt(part / whole * 100, 1)
    formula = f"{match.group('part')}÷{match.group('whole')}≈{share}%"
    end = re.search(r"[，。；,;]|$", text[match.end():]).start() + match.end()  # the clause of the part
    said = text[max(0, match.start() - 20):end].strip("，；。, ")
    body = (f"{said}: the part is {share}% of the whole ({formula})." if query.english
            else f"{said}，占{share}%（{formula}）。")
    return Sentence(body, [chunk.chunk_id], prefix=lead(place, body, query.english, figure=False), chunks=[chunk], derived=(share,))
