"""The time a question asks about: its years and whether the outcome, the target, a five-year
plan's target or the previous plan's result is meant (a mixin of QueryParser, which supplies
`vocab`, `coverage` and `known_term`). Plan names and deadline phrasings come from the vocabulary;
no year is fixed here.
"""

from __future__ import annotations

import re

from assistant.ingest.coverage import PLAN_DOC_KINDS
from assistant.models import Period

# A year: four digits that are not part of a longer number or of a decimal ("1983.09" is a figure),
# nor a figure with its unit ("2000亿元", "2000以上").
_SPAN = re.compile(r"((?:19|20)\d\d)\s*年?\s*[-—–~～至到]\s*(?:19|20)\d\d")
_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d\d)(?!\.?\d)(?!\s*(?:亿|万|千|百|元|个|家|项|人|户|辆|座|套|张|条|吨|%|以上|左右|平方|公里|米))")


class PeriodReading:
    def _plan_only_discussed(self, districts: tuple[str, ...]) -> bool:
        """The asked places have work reports and no plan document: a plan named is what the reports
        say about it (their whole text), not a period to filter by."""
        if not districts or not self.coverage:
            return False
        return all(self.coverage.documents_of(d, ("work_report",)) and not self.coverage.documents_of(d, PLAN_DOC_KINDS)
                   for d in districts)

    def _periods(self, lowered: str, english: bool, districts: tuple[str, ...] = ()
                 ) -> tuple[tuple[Period, ...], tuple[int, ...], tuple[str, ...], tuple[int, ...]]:
        """(periods, years no report covers, reading notes, years that are part of a name)."""
        words = self.vocab.period_words
        notes: list[str] = []
        # a span ("（2023-2025年）", a plan's years in its title) is said by its last year
        spanned = {int(m.group(1)) for m in _SPAN.finditer(lowered)}
        years = [int(y) for y in _YEAR.findall(lowered) if int(y) not in spanned]
        # "到2025年" is a deadline, unless an outcome is asked of it ("到2023年实际累计建成多少")
        deadlines = {y for y in years if any(p.format(year=y) in lowered for p in self.vocab.milestones)
                     and (self._kind_after(lowered, y) != "outcome" or self._kind_before(lowered, y) == "target")}
        reporting = self.coverage.reporting_year_of(districts) if self.coverage else None
        for word, offset in self.vocab.relative_years.items():
            if word in lowered and reporting:
                year = reporting + offset
                years.append(year)
                notes.append(f"“{word}” read as {year}" if english else f"“{word}”按{year}年理解")
        covered = self.coverage.years if self.coverage else set(years)
        # a year no report covers is unknown, unless the reports name it (远期至2035年) and no outcome is
        # asked of it; then the answer's passage must state that year (named_years), else it is refused
        outcome_asked = _has(lowered, words["outcome"])
        unknown = tuple(y for y in dict.fromkeys(years) if y not in covered and (outcome_asked or not self.known_term(str(y))))
        topic_years = tuple(y for y in dict.fromkeys(years) if y not in covered and y not in unknown)
        years = [y for y in dict.fromkeys(years) if y in covered]
        kind = ""
        if _has(lowered, words["prior"]):
            kind = "prior"
        elif _has(lowered, words["fyp"]):
            kind = "outcome" if _has(lowered, words["strong_outcome"]) else "fyp_target"
            if kind == "outcome" and not years and self.coverage:  # "十四五末…实际达到": the plan's last year
                years = [max(y for _, k, y in self.coverage.available if k == "fyp_target" and y)]
            said = {k for d, k, y in self.coverage.available if y in years and (not districts or d in districts)} if self.coverage else set()
            if kind == "fyp_target" and years and said and "fyp_target" not in said and not deadlines and not _has(lowered, words["target"]):
                # "“十五五”规划纲要里说2025年…达到多少": the plan is where to look; the year is what its review reports
                kind = said.pop() if len(said) == 1 else ""
            if kind == "fyp_target" and not years and self._plan_only_discussed(districts):
                kind = ""  # "福建“十五五”…锚定哪四个方面": a work report's part on the coming plan, not a plan's targets
        elif _has(lowered, words["target"]) or (deadlines and not _has(lowered, words["strong_outcome"])):
            kind = "target"
        elif _has(lowered, words["outcome"]) or any(w in lowered for w, o in self.vocab.relative_years.items() if o < 0):
            kind = "outcome"
        ends = [y for d, k, y in self.coverage.available if k == "fyp_target" and y and (not districts or d in districts)] if self.coverage else []
        if kind in ("fyp_target", "outcome") and _has(lowered, words["fyp"]) and ends and years:
            # "十四五目标是多少？2023年完成了多少？": the plan's target and the outcome of the year named
            # (of the asked place's plan; a deadline year is a target, not an outcome)
            end = max(ends)
            done = [y for y in years if y != end and y not in deadlines and self.coverage.has(None, "outcome", y)]
            if done:
                periods = (Period(end, "fyp_target"),) + tuple(Period(y, "outcome") for y in done)
                return periods, unknown, tuple(notes), topic_years
        both = self._two_plans(lowered)
        if both and len(both) > 1:
            return both, unknown, tuple(notes), topic_years
        plan = self.vocab.plan_named(lowered)
        if plan and kind in ("fyp_target", "prior") and not years:
            years = [plan[1][1]]  # “十五五” -> its last year, the year its targets are set for
        if kind in ("fyp_target", "prior") and self.coverage:
            # "十四五…2025年" / "十三五" fix the year by the plan; other years stay as said
            years = [y for y in years if self.coverage.has(None, kind, y)] or years
        if not years:
            return ((Period(None, kind),) if kind else ()), unknown, tuple(notes), topic_years
        if len(years) > 1 and kind in ("target", "outcome") and _has(lowered, words["target"]) and _has(lowered, words["outcome"]):
            # "2024年…目标比2023年实际多出多少": each year takes the period word said after it
            return tuple(Period(y, self._kind_for(y, self._kind_after(lowered, y) or kind)) for y in years), unknown, tuple(notes), topic_years
        return tuple(Period(y, self._kind_for(y, kind)) for y in years), unknown, tuple(notes), topic_years

    def _kind_before(self, lowered: str, year: int) -> str:
        """target or outcome: the last period word said before the year ("要求到2025年完成…": target)."""
        at = lowered.find(str(year))
        before = re.split(r"[，。？！；,?!;]", lowered[:max(at, 0)])[-1]  # in the same clause
        found = [(before.rfind(w), kind) for kind in ("target", "outcome") for w in self.vocab.period_words[kind]
                 if w in before and not w.isascii()]
        return max(found)[1] if found else ""

    def _two_plans(self, lowered: str) -> tuple[Period, ...]:
        """"“十五五”目标比“十四五”完成值多多少" / "十四五完成了多少，十五五目标是多少": each plan named with the
        period word said after it: the earlier plan's result (its last year's outcome), the later one's target."""
        named = sorted((lowered.find(name), name) for name in self.vocab.plans if name in lowered)
        if len(named) < 2 or not self.coverage:
            return ()
        periods = []
        for i, (at, name) in enumerate(named):
            following = lowered[at + len(name):named[i + 1][0] if i + 1 < len(named) else len(lowered)]
            found = [(following.find(w), kind) for kind in ("target", "outcome") for w in self.vocab.period_words[kind]
                     if w in following and not w.isascii()]
            kind = min(found)[1] if found else ""
            last = self.vocab.plans[name][1]
            if kind == "outcome" and self.coverage.has(None, "outcome", last):
                periods.append(Period(last, "outcome"))
            elif kind == "target" and self.coverage.has(None, "fyp_target", last):
                periods.append(Period(last, "fyp_target"))
        return tuple(dict.fromkeys(periods)) if len(periods) == len(named) else ()

    def _kind_after(self, lowered: str, year: int) -> str:
        """target or outcome: the first period word between the year and the next year named."""
        at = lowered.find(str(year))
        if at < 0:
            return ""
        following = _YEAR.split(lowered[at + 4:], maxsplit=1)[0]
        found = [(following.find(w), kind) for kind in ("target", "outcome") for w in self.vocab.period_words[kind]
                 if w in following and not w.isascii()]
        return min(found)[1] if found else ""

    def _default_outcome(self, periods: tuple[Period, ...], intent: str) -> tuple[Period, ...]:
        """A figure asked for a year that has results, without saying "target", means the result:
        "闵行2023年研发经费支出比例是多少" is the 2023 outcome (10.6), not the 2023 target."""
        if intent not in ("figure", "fact", "comparison", "target_check") or self.coverage is None:
            return periods
        return tuple(Period(p.year, "outcome") if p.year and not p.kind and self.coverage.has(None, "outcome", p.year) else p
                     for p in periods)

    def _kind_for(self, year: int, kind: str) -> str:
        """A year the corpus covers with one kind only (2025: the five-year target; 2020: the
        previous plan's result) takes that kind when the question does not name another."""
        if self.coverage is None:
            return kind
        kinds = {k for _, k, y in self.coverage.available if y == year and k}
        if not kind and len(kinds) == 1 and kinds <= {"fyp_target", "prior"}:
            return kinds.pop()
        if kind == "target" and kinds == {"fyp_target"}:
            return "fyp_target"
        return kind



def _has(text: str, words: tuple[str, ...]) -> bool:
    """Whether any phrase occurs; English phrases only as whole words ("ratio" is not in "concentration")."""
    return any(w in text and (not w.isascii() or re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text)) for w in words)

