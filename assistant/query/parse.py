"""Parse a question once into a typed `Query`: scope (districts, documents, periods), intent,
measure, topic and terms, language. Follow-ups are completed from the previous turn's Query
(see conversation.py); UI/API filters apply where the question is silent, and lose, visibly,
where it contradicts them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from difflib import SequenceMatcher
from typing import Callable

from assistant.ingest.coverage import Coverage
from assistant.indexing.lexical import tokenize
from assistant.models import Filters, Period, Query
from assistant.query.clean import _BOOK_TITLE, TITLE_MATCH, _drop_courtesy, _title_names, fold_question
from assistant.query.items import named_items
from assistant.query.terms import chinese_terms, is_english
from assistant.vocab import Vocabulary, vocabulary

# A year: four digits that are not part of a longer number or of a decimal ("1983.09" is a figure),
# nor a figure with its unit ("2000亿元", "2000以上").
_SPAN = re.compile(r"((?:19|20)\d\d)\s*年?\s*[-—–~～至到]\s*(?:19|20)\d\d")
_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d\d)(?!\.?\d)(?!\s*(?:亿|万|千|百|元|个|家|项|人|户|辆|座|套|张|条|吨|%|以上|左右|平方|公里|米))")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,5}\b|\b\d[A-Z]\b")  # TOD, GDP, 5G
_PUNCT = re.compile(r"(?:[^\w.%]|_|(?<!\d)\.|\.(?!\d))+", re.UNICODE)  # keeps decimals whole


ScopeFilters = Filters  # what the UI or API restricts to (a district drop-down, a document choice)


class QueryParser:
    def __init__(self, coverage: Coverage | None = None, known_term: Callable[[str], bool] | None = None,
                 vocab: Vocabulary | None = None) -> None:
        self.coverage = coverage
        self.known_term = known_term or (lambda term: True)
        self.vocab = vocab or vocabulary()
        self.districts, self.other_places = self._place_tables()

    def _place_tables(self) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
        """(districts the corpus covers, places it does not): places.toml's corpus districts plus any
        district a catalogued report names (an uploaded 浦东新区 report makes 浦东 a corpus district)."""
        covered = set(self.coverage.districts) if self.coverage else set()
        districts = dict(self.vocab.districts)
        others = {name: aliases for name, aliases in self.vocab.other_places.items() if name not in covered}
        for name in sorted(covered - set(districts)):
            short = re.sub(r"(新区|区|县|市|省|自治区)$", "", name)
            districts[name] = tuple(dict.fromkeys(self.vocab.other_places.get(name, ()) + (name.lower(), short)))
        return districts, others

    # ------------------------------------------------------------------ main

    def parse(self, question: str, previous: Query | None = None, filters: ScopeFilters | None = None) -> Query:
        from assistant.query.conversation import compose, is_follow_up, merge

        text, named_docs = self._scope_text(_drop_courtesy(fold_question(question), self.vocab))
        lowered = text.lower()
        english = is_english(text)
        districts = _innermost(tuple(self.vocab.find_places(lowered, self.districts)))
        if _has(lowered, self.vocab.all_districts):
            districts = tuple(self.vocab.districts)
        others = tuple(o for o in self.vocab.find_places(lowered, self.other_places) if o not in districts)
        periods, unknown_years, notes, topic_years = self._periods(lowered, english, districts)
        intent = self._intent(lowered, districts, periods)
        measure = self._measure(lowered)
        asks = self._asks(lowered)
        if asks > 1 and intent not in ("comparison", "target_check"):
            measure = ""  # "总额多少，增长多少": the sentence that states both answers, not one of them
        periods = self._default_outcome(periods, intent)
        report_terms = self._report_terms(lowered)
        topic = self._topic(text, report_terms, topic_years)
        premise = self._premise(lowered)
        terms = self._terms(text if english else topic, report_terms, english)

        doc_kinds = tuple(kind for kind, words in self.vocab.document_kinds.items() if _has(lowered, words))
        if doc_kinds:  # the report named ("在责任分解表里", "纲要中") is scope, not topic
            named = sorted((w for ws in self.vocab.document_kinds.values() for w in ws), key=len, reverse=True)
            pattern = "(?:" + "|".join(map(re.escape, named)) + ")[里上中内]?"
            topic = re.sub(r"\s+", " ", re.sub(pattern, " ", topic)).strip(" 和与及在里中的")
            terms = self._terms(text if english else topic, report_terms, english)
        if len(doc_kinds) > 1:  # "…在十四五纲要和责任分解表里一致吗": the documents are the sides
            intent = "comparison" if intent in ("figure", "fact", "list") else intent
        operation = next((name for name, words in self.vocab.operations.items() if _has(lowered, words)), "")
        item_count, item_kind = self._items(text) if intent in ("list", "fact", "definition") else (0, "")
        if intent != "list":  # "四大民俗节庆活动是什么": a count of a kind asks for the items
            item_count, item_kind = (item_count, item_kind) if item_count > 1 and item_kind else (0, "")
            intent = "list" if item_count else intent
        terms = tuple(t for t in terms if not self.vocab.is_count_word(t))
        threshold = self._threshold(lowered)
        if threshold:  # the bound and its words are the question's own, not what the answer must quote
            bound_words = {w for d in ("above", "below") for w in self.vocab.threshold_words[d]}
            terms = tuple(t for t in terms if t != threshold[1] and t not in bound_words and t not in (threshold[2], threshold[2] + "元"))
        aliases = set(self.vocab.alias_spans())
        items = named_items(text, self.vocab.pronouns, lambda name: name.lower() in aliases) if intent == "comparison" else ()
        if items:  # "静安数据智能、文化创意…": the district said before the first item is scope
            first = next((items[0][len(a):] for a in aliases if items[0].lower().startswith(a) and len(items[0]) - len(a) >= 2), items[0])
            items = (first,) + items[1:]
        query = Query(text=text, standalone=text, search_text=text, districts=districts, periods=periods, intent=intent,
                      measure=measure, topic=topic, terms=terms, language="en" if english else "zh",
                      other_places=others, unknown_years=unknown_years, notes=notes, premise=premise, asked=question,
                      operation=operation, doc_kinds=doc_kinds, item_count=item_count, item_kind=item_kind, asks=asks,
                      threshold=threshold, named_years=topic_years, items=items)
        if previous is not None and is_follow_up(query, lowered, self.vocab):
            query = merge(previous, query, self.vocab)
            query = replace(query, terms=tuple(dict.fromkeys(query.terms + self._terms(query.standalone, [], False))))
        if named_docs and not query.doc_ids:
            query = replace(query, doc_ids=named_docs)  # the report's own title: where to look, not what for
        query = self._apply_filters(query, filters)
        extra = " ".join(t for t in report_terms + (chinese_terms(text) if english else []) if t not in query.standalone)
        if english and not query.follow_up:
            # the reports are Chinese: search with the question written out in their words as well
            extra = compose(query.districts, query.periods, query.topic, query.measure, query.intent) + " " + extra
        return replace(query, search_text=(query.standalone + " " + extra).strip())

    def _scope_text(self, text: str) -> tuple[str, tuple[str, ...]]:
        """The question without the titles of the reports it names, and those reports: "在《闵行区“十四五”
        规划重点任务责任分解表》里，“…”的牵头单位是谁" asks about the quoted task within that table. A
        《…》 name that is close to a title (most of its characters in order) names that report too."""
        titles = self.coverage.doc_titles if self.coverage else {}
        named: list[str] = []
        for doc_id, title in sorted(titles.items(), key=lambda item: -len(item[1])):
            for name in _title_names(title):
                if len(name) >= 6 and name in text:
                    named.append(doc_id)
                    text = text.replace(f"《{name}》", " ").replace(name, " ")
        for match in _BOOK_TITLE.finditer(text):
            inner = match.group(1)
            close = [(SequenceMatcher(None, inner, name).ratio(), doc_id) for doc_id, title in titles.items()
                     for name in _title_names(title)]
            score, doc_id = max(close, default=(0.0, ""))
            if score >= TITLE_MATCH and len(inner) >= 6:
                named.append(doc_id)
                text = text.replace(match.group(0), " ")
        return text, tuple(dict.fromkeys(named))

    # ------------------------------------------------------------------ time

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
                     and self._kind_after(lowered, y) != "outcome"}
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
        elif _has(lowered, words["target"]) or (deadlines and not _has(lowered, words["strong_outcome"])):
            kind = "target"
        elif _has(lowered, words["outcome"]) or any(w in lowered for w, o in self.vocab.relative_years.items() if o < 0):
            kind = "outcome"
        ends = [y for d, k, y in self.coverage.available if k == "fyp_target" and y and (not districts or d in districts)] if self.coverage else []
        if _has(lowered, words["fyp"]) and ends and years:
            # "十四五目标是多少？2023年完成了多少？": the plan's target and the outcome of the year named
            # (of the asked place's plan; a deadline year is a target, not an outcome)
            end = max(ends)
            done = [y for y in years if y != end and y not in deadlines and self.coverage.has(None, "outcome", y)]
            if done:
                periods = (Period(end, "fyp_target"),) + tuple(Period(y, "outcome") for y in done)
                return periods, unknown, tuple(notes), topic_years
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

    # ------------------------------------------------------------------ what is asked

    def _intent(self, lowered: str, districts: tuple[str, ...], periods: tuple[Period, ...]) -> str:
        responsibility = dict(self.vocab.intents).get("responsibility", ())
        if len(districts) < 2 and _has(lowered, responsibility):
            return "responsibility"  # "牵头单位有几个，分别是哪些": lead units asked, not a comparison
        for name, words in self.vocab.intents:
            if _has(lowered, words):
                if name in ("list", "overview", "figure", "target_check") and len(districts) > 1:
                    return "comparison"  # "两区…相差多少": the districts are the sides, not a target
                if name in ("list", "overview", "figure") and len({p.year for p in periods}) > 1:
                    return "comparison"
                return name
        if len(districts) > 1 or len({p.year for p in periods}) > 1:
            return "comparison"
        if any(p.year for p in periods) and not _has(lowered, self.vocab.question_phrases):
            return "figure"  # "GDP 闵行区2023": a subject and a year, no question word, asks for the figure
        return "fact"

    def _items(self, text: str) -> tuple[int, str]:
        """(how many, what kind) of items a list question asks for: (4, "功能区") for "四大功能区是哪四个",
        (3, "度") for "提升哪三个“度”", (0, "镇和街道") for "包括哪些镇和街道"."""
        v = self.vocab
        found = [(v.count_of(m.group(1)), m.group(2)) for m in v.count_pattern().finditer(text)]
        if not any(kind for _, kind in found):  # "哪两所高校建…": no end word after the kind, its first word is it
            found += [(v.count_of(m.group(1)), (tokenize(m.group(2)) or [""])[0]) for m in v.count_pattern(open_end=True).finditer(text)]
        count = next((n for n, kind in found if kind), found[0][0] if found else 0)
        kind = next((kind for _, kind in found if kind), "")
        if not kind:
            which = next((w for w in v.item_which if w in text), "")
            if which:
                kind = re.split(r"[?？，,。]", text.split(which, 1)[1])[0][:8]
        return count, kind

    def _threshold(self, lowered: str) -> tuple[str, str, str]:
        """("above", "550", "亿") for "…超过550亿了吗", () when the question sets no bound to check."""
        words = self.vocab.threshold_words
        for direction in ("above", "below"):
            for word in words[direction]:
                match = re.search(rf"{re.escape(word)}\s*(\d+(?:\.\d+)?)\s*(万亿|亿|万|%|‰)?", lowered)
                if match and any(a in lowered[match.end():match.end() + 12] for a in words["asks"]):
                    return direction, match.group(1), match.group(2) or ""
        return ()

    def _asks(self, lowered: str) -> int:
        """How many things are asked: the figure-asking phrases (多少, 几, how many…) and the measures
        named, whichever says more ("…一共多少，比上年涨了多少" 2; "How many new…, and what is the running total?" 2)."""
        phrases = sorted(self.vocab.figure_asks + self.vocab.extra_asks, key=len, reverse=True)
        rest, found = lowered, 0
        for phrase in phrases:
            while phrase in rest:
                found += 1
                rest = rest.replace(phrase, " ", 1)
        rest, measures = lowered, set()
        for word, name in sorted(((w, m.name) for m in self.vocab.measures for w in m.words), key=lambda p: -len(p[0])):
            if _has(rest, (word,)):  # the longest phrase wins: "多少个亿" is one amount, not also a count
                measures.add(name)
                rest = rest.replace(word, " ")
        return max(1, found, len(measures))

    def _measure(self, lowered: str) -> str:
        for measure in self.vocab.measures:
            if _has(lowered, measure.words):
                return measure.name
        return ""

    def _premise(self, lowered: str) -> str:
        """"down" for "为什么…下降了", "up" for "为什么…增长了"; "" when nothing is taken for granted."""
        premise = self.vocab.premise
        if not _has(lowered, premise["asks_why"]):
            return ""
        if _has(lowered, premise["missed"]):
            return "missed"
        return "down" if _has(lowered, premise["down"]) else "up" if _has(lowered, premise["up"]) else ""

    def _is_scope(self, term: str) -> bool:
        """十四五规划 (for "five-year plan"): a period or a kind of report, i.e. where to look, not what for."""
        scope = [w for kind in ("fyp", "prior") for w in self.vocab.period_words[kind] if not w.isascii()]
        return any(w in term for w in scope + [w for ws in self.vocab.document_kinds.values() for w in ws if not w.isascii()])

    def _report_terms(self, lowered: str) -> list[str]:
        """The reports' terms for the colloquial words of the question, longest phrases first."""
        found: list[str] = []
        consumed = lowered
        for phrase in sorted(self.vocab.synonyms, key=len, reverse=True):
            if phrase in consumed:
                term = self.vocab.synonyms[phrase]
                if term.lower() not in lowered and term not in found:
                    found.append(term)
                consumed = consumed.replace(phrase, " ")
        return found

    def _topic(self, text: str, report_terms: list[str], topic_years: tuple[int, ...]) -> str:
        """What the question is about: the question without its scope, time and question words."""
        v = self.vocab
        topic = text.lower()
        for colloquial in sorted(v.synonyms, key=len, reverse=True):  # the reports' words for colloquial ones
            if v.synonyms[colloquial].lower() not in topic:
                topic = topic.replace(colloquial, f" {v.synonyms[colloquial].lower()} ")
        cut = list(v.alias_spans()) + list(v.all_districts) + list(v.relative_years) + [w for ws in v.period_words.values() for w in ws]
        # figure and list words (总额, 率; 举措, 问题和挑战) are content; the other intents' words are form
        cut += [w for name, ws in v.intents if name not in ("figure", "list") for w in ws]
        cut += list(v.question_phrases) + list(v.follow_up_starts) + list(v.pronouns)
        # growth and count words are form ("增长率呢？", "多少个"); amount and share words name the subject (总额, 覆盖率)
        cut += [w for m in v.measures if m.name in ("growth", "count") for w in m.words]
        cut += [w for name, ws in v.premise.items() if name in ("asks_why", "missed") for w in ws]
        for phrase in sorted(set(cut), key=len, reverse=True):
            topic = topic.replace(phrase, " ")
        for pattern in v.milestones:  # "到2025年" is time, not topic ("燃气老管子到…")
            topic = re.sub(re.escape(pattern).replace(r"\{year\}", r"(?:19|20)\d\d"), " ", topic)
        topic = _YEAR.sub(lambda m: m.group(0) if int(m.group(1)) in topic_years else " ", topic)
        pieces = [p.strip("的了是吗呢啊和与及年个为在有对由把将从里各") for p in _PUNCT.split(topic)]
        pieces = [p for p in pieces if p and p not in v.stopwords and not (len(p) == 1 and not p.isdigit())]
        if is_english(text):  # the Chinese terms, without table column names (主要任务, 牵头单位) and scope words
            chinese = [t for t in chinese_terms(" ".join(pieces)) if t not in v.columns_en and not self._is_scope(t)]
            acronyms = [a for a in _ACRONYM.findall(text) if self.known_term(a.lower())]  # TOD, 5G: the reports print them
            pieces = chinese + acronyms or [p for p in pieces if not p.isascii()]
        return " ".join(dict.fromkeys(pieces + [t for t in report_terms if not any(t in p for p in pieces)]))[:60]

    def _terms(self, text: str, report_terms: list[str], english: bool) -> tuple[str, ...]:
        v = self.vocab
        aliases = set(v.alias_spans())
        chinese = [t for t in chinese_terms(text) if not self._is_scope(t)] if english else chinese_terms(text)
        tokens = tokenize(text) + [t for term in report_terms + chinese for t in tokenize(term)]
        terms = []
        for token in tokens:
            if token in v.stopwords or token in aliases or _YEAR.fullmatch(token) or not any(c.isalnum() for c in token):
                continue
            if english and token.isascii() and not any(c.isdigit() for c in token) and not self.known_term(token):
                continue  # English words cannot match the Chinese reports (their Chinese terms were added), acronyms can
            terms.append(token)
        return tuple(dict.fromkeys(terms))

    # ------------------------------------------------------------------ filters

    def _apply_filters(self, query: Query, filters: ScopeFilters | None) -> Query:
        if filters is None:
            return query
        notes = list(query.notes)
        districts, doc_ids = query.districts, tuple(filters.doc_ids)
        if filters.districts and not districts:
            districts = tuple(filters.districts)
        elif filters.districts and set(districts) - set(filters.districts):
            asked, chosen = "、".join(districts), "、".join(filters.districts)
            notes.append(f"The question asks about {asked}; the filter {chosen} was not applied" if query.english
                         else f"问题问的是{asked}，未按筛选条件“{chosen}”限定")
        if doc_ids and self.coverage and districts:
            kept = tuple(d for d in doc_ids if self.coverage.doc_districts.get(d) in districts)
            if len(kept) < len(doc_ids):
                notes.append("The document filter does not match the district asked about and was not applied" if query.english
                             else "所选报告与问题中的区不一致，未按报告筛选")
            doc_ids = kept
        return replace(query, districts=districts, doc_ids=doc_ids, notes=tuple(notes))


_LOCAL = re.compile(r"(区|县)$")


def _innermost(places: tuple[str, ...]) -> tuple[str, ...]:
    """"上海市闵行区", "上海闵行": the district, not also its city (a question naming a district and a
    city or province is about the district)."""
    local = tuple(p for p in places if _LOCAL.search(p))
    return local if local else places


def _has(text: str, words: tuple[str, ...]) -> bool:
    """Whether any phrase occurs; English phrases only as whole words ("ratio" is not in "concentration")."""
    return any(w in text and (not w.isascii() or re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text)) for w in words)
