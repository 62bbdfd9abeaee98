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
from assistant.query.clean import _BOOK_TITLE, QUOTED_NAME, TITLE_MATCH, _drop_courtesy, _title_names, fold_question
from assistant.query.items import group_kind, named_items
from assistant.query.parts import question_parts
from assistant.query.periods import _YEAR, PeriodReading, _has
from assistant.query.terms import chinese_terms, is_english
from assistant.vocab import Vocabulary, vocabulary

_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,5}\b|\b\d[A-Z]\b")  # TOD, GDP, 5G
_PUNCT = re.compile(r"(?:[^\w.%]|_|(?<!\d)\.|\.(?!\d))+", re.UNICODE)  # keeps decimals whole


ScopeFilters = Filters  # what the UI or API restricts to (a district drop-down, a document choice)


_CLAIMED = re.compile(r"(\d+(?:\.\d+)?)\s*((?:万亿|亿|万)?[\u4e00-\u9fff%‰]{0,2})")  # a figure and its unit
_PLACE_START = re.compile(r"^([\u4e00-\u9fff]{2,3}?)(?:新区|区|县|市|省)")  # "吴江区…", "泉州市…"


class QueryParser(PeriodReading):
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

    def _unlisted_place(self, lowered: str) -> tuple[str, ...]:
        """A place the question opens with that no list holds and no report mentions ("吴江区…"): a
        place outside the corpus, not a topic to search for."""
        match = _PLACE_START.match(lowered)
        if not match:
            return ()
        name, stem = match.group(0), match.group(1)
        if self.known_term(name) or self.known_term(stem) or stem in self.vocab.stopwords:
            return ()
        if any(len(word) > 1 and word != name and self.known_term(word) for word in tokenize(name)):
            return ()  # "强化城市…", "老旧小区…": words the reports use, not a place's name
        ends = {0}  # the name ends where a word does ("吴江区|农村", not "区绿化市|容局")
        for word in tokenize(lowered[:len(name) + 4]):
            ends |= {at + len(word) for at in list(ends) if lowered.startswith(word, at)}
        if len(name) not in ends:
            return ()
        held = self.coverage.districts if self.coverage else ()
        if any(len(place) == len(name) and place[0] == name[0] for place in held):
            return ()  # "闵航区" beside the library's 闵行区: a misspelling, searched unscoped rather than refused
        return (name,)

    def _town(self, text: str, districts: tuple[str, ...]) -> tuple[str, ...]:
        """A town or street right after the asked district ("奉贤区庄行镇的…"): only a passage naming it answers."""
        for district in districts:
            match = re.search(rf"{re.escape(district)}([\u4e00-\u9fff]{{2,3}}?(?:镇|街道|乡))", text)
            if match:
                return (match.group(1),)
        return ()

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
        others = others or (self._unlisted_place(lowered) if not districts else ())
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
            said = "|".join(map(re.escape, sorted(bound_words | set(self.vocab.threshold_words["claim"]), key=len, reverse=True)))
            topic = re.sub(rf"(?:{said})?\s*了?\s*{re.escape(threshold[1])}\s*{re.escape(threshold[2])}元?", " ", topic).strip()
            intent = "figure" if intent == "fact" else intent  # "有没有超过3000亿元": a figure decides it
        aliases = set(self.vocab.alias_spans())
        items = named_items(text, self.vocab.pronouns, lambda name: name.lower() in aliases) if intent == "comparison" else ()
        if any(_YEAR.search(i) or self.vocab.plan_named(i) for i in items):
            items = ()  # "“十五五”目标比“十四五”完成值多多少": periods are the sides, not named things
        if items:  # "静安数据智能、文化创意…": the district said before the first item is scope
            first = next((items[0][len(a):] for a in aliases if items[0].lower().startswith(a) and len(items[0]) - len(a) >= 2), items[0])
            items = (first,) + items[1:]
            # "三大优势产业（商贸、金融…）", "这四个园区": what the items are, not the quantity added up over them
            group = " ".join(m.group(2) for m in self.vocab.count_pattern(open_end=True).finditer(text))
            group = " ".join(group_kind(g) for g in group.split())
            terms = tuple(t for t in terms if t not in group or any(t in i for i in items)) or terms
        query = Query(text=text, standalone=text, search_text=text, districts=districts, periods=periods, intent=intent,
                      measure=measure, topic=topic, terms=terms, language="en" if english else "zh",
                      other_places=others, unknown_years=unknown_years, notes=notes, premise=premise, asked=question,
                      operation=operation, doc_kinds=doc_kinds, item_count=item_count, item_kind=item_kind, asks=asks,
                      threshold=threshold, named_years=topic_years, items=items, must_mention=self._town(text, districts),
                      metadata=tuple(name for name, words in self.vocab.metadata if _has(lowered, words)))
        query = replace(query, shown_topic=self._shown(topic))
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

    def parts(self, question: str) -> list[str]:
        """The parts of a question that asks several things ([question] when it asks one)."""
        parts = question_parts(_drop_courtesy(fold_question(question), self.vocab), self.vocab)
        return parts if len(parts) > 1 else [question]

    def parse_part(self, part: str, previous: Query, filters: ScopeFilters | None = None) -> Query:
        """A later part of a several-part question: a follow-up of the part before it, whose scope it
        keeps where it names none ("…开工目标完成了吗？完工了多少台？")."""
        return within_scope(self.parse(part, previous, filters), previous)

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

    # ------------------------------------------------------------------ what is asked

    def _intent(self, lowered: str, districts: tuple[str, ...], periods: tuple[Period, ...]) -> str:
        responsibility = dict(self.vocab.intents).get("responsibility", ())
        if len(districts) < 2 and _has(lowered, responsibility):
            return "responsibility"  # "牵头单位有几个，分别是哪些": lead units asked, not a comparison
        sides = len(districts) > 1 or len({p.year for p in periods}) > 1
        for name, words in self.vocab.intents:
            if _has(lowered, words):
                if name == "comparison" and not sides and not _has(lowered, tuple(w for w in words if w not in self.vocab.operations["each"])):
                    continue  # "六大行动分别是什么": 分别 with one side asks for the items, not a comparison
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
        claim = next((lowered.find(w) for w in words["claim"] if w in lowered), -1)
        for direction in ("above", "below"):
            for word in words[direction]:
                match = re.search(rf"{re.escape(word)}\s*了?\s*(\d+(?:\.\d+)?)\s*(万亿|亿|万|%|‰)?(?!\d*\s*年)", lowered)
                if match and _YEAR.fullmatch(match.group(1)) and not match.group(2):
                    continue  # "高于2025年的实际产量": a year, not a bound
                # "…超过550亿了吗", or the claim word before it: "是否达到了5000亿元"
                if match and (any(a in lowered[match.end():match.end() + 12] for a in words["asks"]) or 0 <= claim < match.start()):
                    return direction, match.group(1), match.group(2) or ""
        if claim >= 0:  # the last figure after the claim word that is not a year: "是不是…到2020年新增…50辆"
            figures = [m for m in _CLAIMED.finditer(lowered, claim) if not _YEAR.fullmatch(m.group(1))]
            if figures:
                return "equal", figures[-1].group(1), figures[-1].group(2)
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
        lowered = QUOTED_NAME.sub(" ", lowered)  # a quoted name's 数量/比例 names it, asks nothing
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
                # the reports' word beside the asker's: a new report may use the asker's word (老旧小区)
                topic = topic.replace(colloquial, f" {colloquial} {v.synonyms[colloquial].lower()} "
                                      if self.known_term(colloquial) else f" {v.synonyms[colloquial].lower()} ")
        cut = list(v.alias_spans()) + list(v.all_districts) + list(v.relative_years) + [w for ws in v.period_words.values() for w in ws]
        # figure and list words (总额, 率; 举措, 问题和挑战) are content; the other intents' words are form
        cut += [w for name, ws in v.intents if name not in ("figure", "list") for w in ws]
        cut += list(v.question_phrases) + list(v.follow_up_starts) + list(v.pronouns)
        # growth and count words are form ("增长率呢？", "多少个"); amount and share words name the subject (总额, 覆盖率)
        cut += [w for m in v.measures if m.name in ("growth", "count") for w in m.words]
        cut += [w for name, ws in v.premise.items() if name in ("asks_why", "missed") for w in ws]
        topic = v.shield(topic)  # "及其他总部" keeps 其他 when the pronoun 其 is cut
        for phrase in sorted(set(cut), key=len, reverse=True):
            topic = topic.replace(phrase, " ")
        topic = v.unshield(topic)
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

    def _shown(self, topic: str) -> str:
        """The topic for the reading line: each piece cut to the words the reports use ("主要指标没" ->
        主要指标, "tod" -> TOD), so the line shows what was understood, not the leftovers of the parse."""
        shown = []
        for piece in topic.split():
            words = [w for w in tokenize(piece) if len(w) > 1 and self.known_term(w)]
            if words:
                start = piece.find(words[0])
                start = 0 if start <= 2 and "的" not in piece[:start] else start  # "三乱治理指标": a short name before
                kept = piece[start:piece.rfind(words[-1]) + len(words[-1])]
                shown.append(kept.upper() if kept.isascii() and len(kept) <= 5 else kept)
        return " ".join(dict.fromkeys(shown))

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


def within_scope(query: Query, whole: Query) -> Query:
    """`query` (a part of a question) kept in the scope of `whole` (the part before it, or the whole
    follow-up question it is part of) where it names none of its own."""
    query = replace(query, districts=query.districts or whole.districts, doc_ids=query.doc_ids or whole.doc_ids,
                    other_places=query.other_places or (whole.other_places if not query.districts else ()))
    return query if query.follow_up else replace(query, periods=query.periods or whole.periods)
