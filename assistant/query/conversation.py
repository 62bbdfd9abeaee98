"""Conversation state: a follow-up inherits the previous turn's Query slots and overrides the
ones it names. "那静安区呢？" keeps the year, period and topic and swaps the district; "2024年的
目标呢？" swaps the period; "同比增长多少？" the measure; "它的牵头单位是谁？" keeps the topic
(the task of the previous turn) and asks for its lead units.
"""

from __future__ import annotations

import re
from dataclasses import replace

from assistant.models import Period, Query
from assistant.query.clean import QUOTED_NAME
from assistant.vocab import Vocabulary, vocabulary

_KIND_WORDS = {"outcome": "完成情况", "target": "目标", "fyp_target": "规划目标", "prior": "上一规划期"}
_MEASURE_WORDS = {"growth": "增长率", "share": "比例", "count": "数量", "area": "面积", "length": "长度"}
_INTENT_WORDS = {"responsibility": "由哪些单位牵头", "definition": "是什么意思", "list": "有哪些举措",
                 "target_check": "是否完成目标", "comparison": "对比"}


def is_follow_up(query: Query, lowered: str, vocab: Vocabulary) -> bool:
    """A question that leans on the previous turn: it starts like a follow-up ("那…", "and what
    about…"), ends in 呢, points back ("它的…"), or names no topic of its own."""
    stripped = lowered.strip()
    if len(query.topic) <= 2:
        # "控制目标是多少？", "2024年两区各计划改建多少？" lean on the subject of the previous turn; a question
        # naming its own district about a broad subject ("闵行去年经济涨了多少？") is a new one
        return not (query.districts and set(query.topic.split()) <= vocab.broad and not _leans(stripped, vocab))
    return _leans(stripped, vocab) or not query.topic


def _leans(stripped: str, vocab: Vocabulary) -> bool:
    """Worded as a follow-up: "那…", "…呢", or a pronoun pointing back ("它的…", "这个指标")."""
    starts = tuple(s for s in vocab.follow_up_starts if not s.isascii()), tuple(s for s in vocab.follow_up_starts if s.isascii())
    english_start = any(re.match(rf"{re.escape(s.strip())}\b", stripped) for s in starts[1])  # "its …", not "item"
    return (vocab.shield(stripped).startswith(starts[0]) or english_start or stripped.endswith(vocab.follow_up_ends)
            or vocab.refers_back(stripped))


def merge(previous: Query, new: Query, vocab: Vocabulary) -> Query:
    districts = new.districts or previous.districts
    if new.intent == "comparison" and new.districts and set(new.districts) != set(previous.districts):
        districts = tuple(dict.fromkeys(previous.districts + new.districts))
    periods = _periods(previous, new)
    # a pronoun stands for the previous subject ("这个指标属于约束性还是预期性？"): both are the topic;
    # a quoted name is a subject of its own ("那“深化财政体制改革”这个呢？")
    named = bool(QUOTED_NAME.search(new.text))
    weak = not named and (len(new.topic) <= 2 or vocab.refers_back(new.text.lower()))
    topic = f"{previous.topic} {new.topic}".strip() if weak else new.topic or previous.topic
    swapped = _contrast_swap(previous.topic, new.topic, vocab) if weak else ""
    topic = swapped or topic  # "开工…完成了吗？完工了多少台？": 完工 takes 开工's place, not both
    measure = new.measure or ("" if new.topic and not weak else previous.measure)
    intent = new.intent
    # "那X呢？" asks of X what the previous turn asked (who leads it, its target): elliptical
    elliptical = new.text.strip().endswith(vocab.follow_up_ends) and new.intent == "fact" and not new.measure
    # a figure asked after a yes/no ("…完成了吗？完工了多少台？") is a figure, not the yes/no again
    # ...and after a lead-unit, definition or list question ("这项任务里，…要建成多少个？"): a figure of it
    asks_figure_now = intent == "figure" and previous.intent in ("target_check", "responsibility", "definition", "list") and bool(new.topic)
    if intent in ("fact", "figure") and (not new.topic or weak or elliptical) and not asks_figure_now:
        intent = previous.intent if previous.intent not in ("overview",) else intent
    if intent == "comparison" and len(districts) < 2 and len({p.year for p in periods}) < 2 and new.intent != "comparison":
        intent = "figure"
    items = new.items
    if items and items[0] in vocab.pronouns and previous.topic:  # "它比金融服务业多多少？": 它 is the previous subject
        items = (previous.topic.split()[0],) + items[1:]
    standalone = compose(districts, periods, topic, measure, intent)
    return replace(new, standalone=standalone, districts=districts, periods=periods, topic=topic, measure=measure,
                   intent=intent, items=items, shown_topic="", terms=tuple(dict.fromkeys(new.terms + (previous.terms if weak or not new.topic else ()))),
                   notes=tuple(dict.fromkeys(previous.notes + new.notes)) if not new.periods else new.notes,
                   follow_up=True)


def _contrast_swap(previous_topic: str, new_topic: str, vocab: Vocabulary) -> str:
    """The previous topic with the new turn's word in place of its alike counterpart ("既有多层住宅加装
    电梯开工" + "完工" -> "既有多层住宅加装电梯完工"), or "" when the new word has none there."""
    for pair in vocab.contrasts:
        for word, other in (pair, pair[::-1]):
            if word in new_topic and other in previous_topic and word not in previous_topic:
                return previous_topic.replace(other, word)
    return ""


def _periods(previous: Query, new: Query) -> tuple[Period, ...]:
    if any(p.year for p in new.periods):
        return new.periods
    kinds = [p.kind for p in new.periods if p.kind]
    if not kinds:
        return previous.periods
    kind = kinds[0]
    if kind in ("fyp_target", "prior") or not previous.periods:
        return new.periods
    return tuple(dict.fromkeys(Period(p.year, kind) for p in previous.periods))


def _kind_words(period: Period) -> str:
    """完成情况 / 目标 / “十四五”规划目标 (the plan named from its last year)."""
    plan = vocabulary().plan_ending(period.year) if period.kind in ("fyp_target", "prior") else ""
    if plan:
        return f"“{plan}”规划目标" if period.kind == "fyp_target" else f"“{plan}”时期"
    return _KIND_WORDS[period.kind]


def compose(districts: tuple[str, ...], periods: tuple[Period, ...], topic: str, measure: str, intent: str) -> str:
    """The follow-up written out as a standalone Chinese question (the reports' language)."""
    years = "和".join(f"{p.year}年" for p in periods if p.year)
    kinds = "".join(dict.fromkeys(_kind_words(p) for p in periods if p.kind))
    return "".join(["和".join(districts), years, topic.replace(" ", ""), kinds, _MEASURE_WORDS.get(measure, ""),
                    _INTENT_WORDS.get(intent, "")])
