"""The analyst's part of the extractive answer: picks become direct sentences (phrasing.py), and
comparisons, target checks, sums and document discrepancies are computed from facts (compute.py).

`Analyst` holds what these need from the index: the facts and where every chunk is (district,
period, report kind). The pipeline asks it first; when it cannot compute (a side without a
comparable figure), the answer falls back to the report's sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from assistant.answer import enumerations
from assistant.answer.compute import Side, check_target, compare, prose_target_pairs, stated_change, stated_share, target_pair
from assistant.ingest.coverage import Coverage, document_kind_name, year_range
from assistant.answer.enumerations import Enumeration
from assistant.answer.extractive import MIN_OVERLAP, Pick, form_word, mismatch, score_picks
from assistant.ingest.facts import Fact, FactBook, same_quantity_words
from assistant.ingest.normalize import abbreviates
from assistant.indexing.lexical import tokenize
from assistant.answer.lists import HeadingList, ListFinder
from assistant.models import Chunk, Hit, ParsedDocument, Period, Query
from assistant.answer.phrasing import Place, lead, pick_fact, sentence_for
from assistant.answer.retrieve import SearchResult
from assistant.answer.verify import Sentence
from assistant.vocab import vocabulary

# Without an asked measure, the figures compared are preferably totals ("哪个多" asks for amounts),
# then counts, areas and lengths, then rates.
_RELATION_ORDER = ("amount", "count", "area", "length", "value", "share", "growth")
SIDE_PICKS = 5  # picks per side searched for a comparable figure
GROUNDING_FACTS = 40  # facts listed in an LLM prompt: the passages' figures, not a wall of numbers


class Analyst:
    def __init__(self, chunks: Sequence[Chunk], positions: dict[str, int], coverage: Coverage, facts: FactBook,
                 structure: Mapping[str, ParsedDocument]) -> None:
        # the index's chunk table and chunk-id map, not copies: a replica may hold millions (issue 13)
        self.facts = facts
        self.chunks, self.positions = chunks, positions
        self.coverage = coverage
        self.lists = ListFinder(structure, chunks, positions)

    def place(self, chunk: Chunk) -> Place:
        i = self.positions.get(chunk.chunk_id)
        if i is None:
            return Place(chunk.district, Period(), "")
        first, last = year_range(chunk.year)
        span = (first, last) if first > 0 else ()
        return Place(chunk.district, self.coverage.periods[i], self.coverage.doc_kinds.get(chunk.doc_id, ""), span)

    def phrase(self, query: Query, pick: Pick, kind: str, item: bool = False) -> Sentence:
        """One answer sentence for a pick, naming where it is from (phrasing.sentence_for); an item
        of a list after its lead sentence is shown as it is."""
        facts = self.facts.in_sentence(pick.chunk, pick.text)
        prefix, text = sentence_for(query, pick.chunk, pick.text, facts, self.place(pick.chunk), kind)
        return Sentence(text, [pick.chunk.chunk_id], prefix="" if item else prefix, chunks=[pick.chunk])

    def direct_first(self, query: Query, chosen: list[Pick]) -> list[Pick]:
        """For a figure question, the picks that state the asked figure of the subject itself (not
        of a list of indicators), when there are any: the answer starts with them."""
        def direct(fact: Fact | None) -> bool:
            return (fact is not None and "、" not in fact.subject and (not query.measure or fact.relation == query.measure)
                    and about_subject(query, fact))

        stated = [(p, pick_fact(query, self.facts.in_sentence(p.chunk, p.text))) for p in chosen]
        stating = [(p, fact) for p, fact in stated if direct(fact)]
        if query.periods and not any(self._tight(query, fact) for _, fact in stating):
            # the picks state the figure of a part ("合计" of a breakdown, 商贸服务业税收总收入) while the
            # report states the subject's own figure elsewhere ("全年实现税收总收入847.50亿元")
            exact = [(f, pick) for f, pick in self._looked_up(query) if self._tight(query, f)]
            if exact:
                return [exact[0][1]]
        return [p for p, _ in stating] or chosen

    def states_measure(self, query: Query, pick: Pick) -> bool:
        """The sentence states a figure of the asked measure about the subject, in a clause the subject
        words did not reach ("…低保救助和临时救助12.25万人次,救助金额1.59亿元" for 花了多少钱)."""
        terms = subject_terms(query)
        return bool(query.measure) and any(f.relation == query.measure and any(t in f.subject for t in terms)
                                           for f in self.facts.in_sentence(pick.chunk, pick.text))

    def _tight(self, query: Query, fact: Fact | None) -> bool:
        """The fact's subject is what the question names, without words of its own (合计, 商贸服务业)."""
        if fact is None:
            return False
        terms = subject_terms(query)
        own = [w for w in tokenize(fact.subject) if len(w) > 1 and not any(w in t or t in w for t in terms)
               and w not in same_quantity_words()]
        lost = [t for t in terms if t not in fact.subject]  # 莘庄工业区's figure is not the district's
        return bool(terms) and not own and not lost

    def passage_facts(self, hits: list[Hit]) -> list[tuple[int, Fact]]:
        """The facts of the passages an LLM reads, numbered as in its prompt."""
        facts = [(n, f) for n, hit in enumerate(hits, 1) for f in self.facts.in_chunk(hit.chunk.chunk_id)]
        return facts[:GROUNDING_FACTS]

    # ------------------------------------------------------------------ computed answers

    def computed(self, query: Query, result: SearchResult) -> list[Sentence] | None:
        if query.intent == "list":
            return self._list(query, result)
        if query.intent == "target_check":
            return self._target_check(query, result)
        sides = getattr(result, "sides", None)
        if query.intent == "comparison" and sides and len(sides) >= 2:
            return self._compare(query, sides)
        if query.intent == "comparison" and len(query.items) >= 2:
            return self._over_items(query)
        # "增加了多少" of a sentence that says "从A增至B"; "占…百分之几" of one that says "N…其中M"
        share_words = next(m.words for m in vocabulary().measures if m.name == "share")
        share = query.measure == "share" or any(w in query.text for w in share_words)  # also when it asks two things
        derive = stated_change if query.operation == "change" else stated_share if share else None
        if derive is not None:
            picks = [p for p in score_picks(query, result.hits, "figure")[:SIDE_PICKS]
                     if p.overlap >= MIN_OVERLAP and (not query.districts or p.chunk.district in query.districts)]
            if derive is stated_share and any(f.relation == "share" and about_subject(query, f)
                                               for p in picks for f in self.facts.in_sentence(p.chunk, p.text)):
                return None  # the share is stated: quoted, not computed
            for pick in picks:
                derived = derive(query, pick.text, self.place(pick.chunk), pick.chunk)
                if derived is not None:
                    return [derived]
        return None

    def _over_items(self, query: Query) -> list[Sentence] | None:
        """The sum or difference over the things the question names ("莘庄工业区、闵行经济技术开发区、紫竹
        高新技术产业开发区…规上工业总产值加起来"): each item's own figure of the asked quantity (the question's
        words other than the items), stated and cited, then the arithmetic. None unless every item has one."""
        # the asked quantity: the question's words other than the items that some figure's subject uses
        quantity = [t for t in subject_terms(query) if not any(t in item for item in query.items)
                    and any(t in f.subject for f in self.facts.facts)]
        relations = (query.measure,) if query.measure else ("amount", "count", "area", "length", "value")
        years = {p.year for p in query.periods if p.year}
        kinds = query.period_kinds

        def weight(fact: Fact) -> int:
            return sum(len(t) for t in quantity if t in fact.subject)

        aliases = vocabulary().alias_spans()

        def naming(item: str, fact: Fact) -> int:
            """How the fact is the item's: 2 its subject names it, 1 its row's label or its passage's heading
            does (莘庄工业区 | 全年实现规上工业总产值1019.40亿元), 0 not. A district said before the name may
            be said differently by the report ("闵行区经济技术开发区" for 闵行经济技术开发区)."""
            core = next((item[len(a):] for a in aliases if item.startswith(a) and len(item) - len(a) >= 4), item)
            if item in fact.subject or core in fact.subject:
                return 2
            chunk = self.chunks[self.positions[fact.chunk_id]]
            labels = [v for _, v in chunk.fields[:2]] + list(chunk.breadcrumb[-1:])
            return int(any(item in v or core in v or abbreviates(core, v) for v in labels))

        sides: list[Side] = []
        for item in query.items:
            others = [o for o in query.items if o != item]
            facts = [f for f in self.facts.facts if "、" not in f.subject and f.relation in relations
                     and (not query.districts or f.district in query.districts)
                     and (not years or f.period.year in years) and (not kinds or f.period.kind in kinds)
                     and f.chunk_id in self.positions and 2 * weight(f) >= sum(len(t) for t in quantity)
                     and naming(item, f) and not any(naming(o, f) for o in others)]  # about them together is no one's
            if not facts:
                return None
            fact = min(facts, key=lambda f: (-naming(item, f), -weight(f), len(f.subject)))
            if item not in fact.subject:  # the row's label says whose it is: the sentence says it too
                fact = replace(fact, subject=item + fact.subject)
            chunk = self.chunks[self.positions[fact.chunk_id]]
            sides.append(Side(item, self.place(chunk), fact, chunk))
        if len({s.fact.unit for s in sides}) != 1 or len({s.fact.relation for s in sides}) != 1:
            return None
        return compare(query, sides, query.operation if query.operation == "sum" else "")

    def _list(self, query: Query, result: SearchResult) -> list[Sentence] | None:
        """The items under the heading the question names, or the items one sentence enumerates when
        the question's count matches them and not the heading's (四大功能区 listed in one sentence)."""
        found = self.lists.find(query, result.hits)
        enumeration = enumerations.find(query, result.hits)
        if found is not None and query.item_kind and query.item_count and found.total != query.item_count:
            # "四大功能区是哪四个" under a heading whose first paragraph introduces the four: the items of that kind
            of_kind = [item for item in found.items if query.item_kind in item.text]
            if len(of_kind) == query.item_count:
                found = replace(found, items=of_kind, total=len(of_kind), first=of_kind[0].chunk)
        if found is not None and enumeration is not None and enumeration.counted and found.total == query.item_count:
            # both say "两大城市副中心": the sentence that names them, then each one's own passage
            return self._enumeration(query, enumeration) + self._heading_list(query, found)[1:]
        if found is not None and (enumeration is None or found.total == query.item_count):
            return self._heading_list(query, found)
        if enumeration is not None:
            return self._enumeration(query, enumeration)
        return None

    def _enumeration(self, query: Query, found: Enumeration) -> list[Sentence]:
        """七大场景共7项：智能分诊导诊、院内导航、…。 / one line per clause for parallel clauses."""
        english = query.english
        place = self.place(found.chunk)
        count = str(len(found.items))
        cite = dict(chunk_ids=[found.chunk.chunk_id], chunks=[found.chunk])
        if found.clauses:
            head = (f"the report names {count}:" if english else f"报告列出{count}项：")
            lines = [Sentence(head, prefix=lead(place, head, english), derived=(count,), **cite)]
            return lines + [Sentence(item + ("" if english else "。"), prefix=f"{i}. ", **cite) for i, item in enumerate(found.items, 1)]
        text = (f"“{found.label}” ({count}): " + "; ".join(found.items) + "." if english
                else f"{found.label}共{count}项：" + "、".join(found.items) + "。")
        return [Sentence(text, prefix=lead(place, text, english, figure=False), derived=(count,), **cite)]

    def _heading_list(self, query: Query, found: HeadingList) -> list[Sentence]:
        """The items under the heading the question names, one line each, "等N项" when shortened."""
        english = query.english
        heading = found.section.heading
        count = str(found.total)
        head = (f"under “{heading}” the report lists {count} items:" if english
                else f"“{heading}”部分共{count}项：")
        place = self.place(found.first)
        lines = [Sentence(head, [found.first.chunk_id], prefix=lead(place, head, english), chunks=[found.first], derived=(count,))]
        for i, item in enumerate(found.items, 1):
            lines.append(Sentence(item.text + ("" if english else "。"), [item.chunk.chunk_id], prefix=f"{i}. ", chunks=[item.chunk]))
        if found.total > len(found.items):
            rest = (f"… {count} items in all; the rest are in the report." if english else f"……等{count}项，其余见原文。")
            lines.append(Sentence(rest, [found.first.chunk_id], chunks=[found.first], derived=(count,)))
        return lines

    def _target_check(self, query: Query, result: SearchResult) -> list[Sentence] | None:
        """The indicator row that gives both the year's target and its outcome; or, for "2023年完成多少，
        离十四五2025年目标还差多少", the year's outcome against the plan's target (two reports)."""
        plan = next((p for p in query.periods if p.kind == "fyp_target"), None)
        done = next((p for p in query.periods if p.kind == "outcome"), None)
        if plan and done:
            outcome = self._looked_up(replace(query, periods=(done,)), any_relation=True)
            if outcome:
                fact, pick = outcome[0]
                target = [(f, t) for f, t in self._looked_up(replace(query, periods=(plan,), measure=fact.relation))
                          if f.unit == fact.unit]
                if target:
                    label = plan.label(query.english) if query.english else plan.label().replace(" ", "")
                    sentence = check_target(query, fact, target[0][0], self.place(pick.chunk), pick.chunk,
                                            target_chunk=target[0][1].chunk, plan_label=label)
                    if sentence is not None:
                        return [sentence]
        for pick in score_picks(query, result.hits, "figure")[:SIDE_PICKS]:
            if pick.chunk.kind != "table_row" or pick.overlap < MIN_OVERLAP:
                continue
            pair = target_pair(self.facts.in_chunk(pick.chunk.chunk_id))
            if pair and about_subject(query, pair[0]):
                sentence = check_target(query, *pair, self.place(pick.chunk), pick.chunk)
                if sentence is not None:
                    return [sentence]
        for pick in score_picks(query, result.hits, "figure")[:SIDE_PICKS]:
            # a sentence that states the outcome with its target: "已供应4314套（目标2611套）"
            # the sentence is about the subject; of its pairs, the one whose own words the question names
            pairs = prose_target_pairs(self.facts.in_sentence(pick.chunk, pick.text))
            named = sorted(((sum(len(t) for t in subject_terms(query) if t in outcome.subject), (outcome, target))
                            for outcome, target in pairs), key=lambda scored: -scored[0])
            if pick.overlap >= MIN_OVERLAP and named and (named[0][0] or len(named) == 1):
                sentence = check_target(query, *named[0][1], self.place(pick.chunk), pick.chunk)
                if sentence is not None:
                    return [self.phrase(query, pick, "figure"), sentence]
        return None

    def _compare(self, query: Query, sides: list[tuple[Query, SearchResult]]) -> list[Sentence] | None:
        candidates = [self._candidates(side_query, side_result) for side_query, side_result in sides]
        if not all(candidates):
            return None
        if query.operation == "each":  # "分别是多少": each side's own sentence, nothing computed
            # the pick that states the most kinds of figure ("分别是多少、各增长多少": amount and growth)
            richest = [max(found, key=lambda fp: len({f.relation for f, p in found if p is fp[1]}))[1] for found in candidates]
            return [self.phrase(side_query, pick, "figure") for (side_query, _), pick in zip(sides, richest)]
        order = ((query.measure,) if query.measure else ()) + tuple(r for r in _RELATION_ORDER if r != query.measure)
        for relation in order:
            chosen = [next(((f, p) for f, p in found if f.relation == relation), None) for found in candidates]
            if all(chosen):
                named = [Side(self._side_name(query, side_query, pick.chunk), self.place(pick.chunk), fact, pick.chunk)
                         for (side_query, _), (fact, pick) in zip(sides, chosen)]
                stated = [self.phrase(side_query, pick, "comparison") for (side_query, _), (fact, pick) in zip(sides, chosen)]
                return compare(query, named, query.operation, stated)
        return None

    def _candidates(self, side_query: Query, side_result: SearchResult) -> list[tuple[Fact, Pick]]:
        """The figures about the subject in a side's best picks, best pick first."""
        question = replace(side_query, intent="figure")
        found: list[tuple[Fact, Pick]] = []
        for pick in score_picks(question, side_result.hits, "figure")[:SIDE_PICKS]:
            if mismatch(question, pick, "figure") or (question.districts and pick.chunk.district not in question.districts):
                continue  # never one district's figure for another's side
            facts = [f for f in self.facts.in_sentence(pick.chunk, pick.text) if about_subject(question, f)]
            if question.period_kinds:
                facts = [f for f in facts if f.period.kind in question.period_kinds] or facts
            best = pick_fact(question, facts)
            if best is not None:
                found.append((best, pick))
                found += [(f, pick) for f in facts if f is not best]
        if question.measure and not any(f.relation == question.measure for f, _ in found):
            found += self._looked_up(question)
        return found

    def _looked_up(self, question: Query, any_relation: bool = False) -> list[tuple[Fact, Pick]]:
        """The figure of the asked measure from the facts of the whole corpus, for when the search
        found the subject only in other passages (闵行's 社零 amount is in the indicator table, its
        growth in a paragraph the search ranked lower): same district, report, period and measure,
        about the subject; the closest subject first."""
        years = {p.year for p in question.periods if p.year}
        kinds = question.period_kinds
        # without a measure word the question asks for the quantity itself, not its growth or share
        relations = (question.measure,) if question.measure else ("amount", "count", "area", "length", "value")
        found = [f for f in self.facts.facts
                 if (any_relation or f.relation in relations) and "、" not in f.subject
                 and (not question.districts or f.district in question.districts)
                 and (not question.doc_ids or f.doc_id in question.doc_ids)
                 and (not years or f.period.year in years) and (not kinds or f.period.kind in kinds)
                 and f.chunk_id in self.positions and about_subject(question, f)]
        terms = [t for t in question.terms if len(t) > 1]
        found.sort(key=lambda f: (-sum(len(t) for t in terms if t in f.subject), len(f.subject)))
        return [(f, self._fact_pick(f)) for f in found]

    def _fact_pick(self, fact: Fact) -> Pick:
        chunk = self.chunks[self.positions[fact.chunk_id]]
        text = chunk.text if chunk.kind == "table_row" else chunk.text[fact.span[0]:fact.span[1]].strip()
        return Pick(text, chunk, 0.0, overlap=1.0)

    def _side_name(self, query: Query, side_query: Query, chunk: Chunk) -> str:
        if len(query.doc_kinds) > 1:
            return document_kind_name(self.place(chunk).doc_kind, self.coverage.doc_years.get(chunk.doc_id, ())) or chunk.title
        if len(query.districts) > 1:
            return chunk.district
        period = side_query.periods[0] if side_query.periods else None
        if period is None:
            return chunk.title
        return period.label(True) if query.english else period.label().replace(" ", "")


def subject_terms(query: Query) -> list[str]:
    """What the question is about, without its measure and form words (总量, 多少)."""
    return [t for t in query.terms if len(t) > 1 and not form_word(t, "*")]


def about_subject(query: Query, fact: Fact) -> bool:
    """The fact's subject names at least half of what the question is about (by term length)."""
    terms = [t for t in query.terms if len(t) > 1 and not t.isascii()]
    return not terms or sum(len(t) for t in terms if t in fact.subject) >= sum(len(t) for t in terms) / 2


def side_queries(query: Query, coverage: Coverage) -> list[Query]:
    """The sides of a comparison: each district, each period, or each kind of report named."""
    if len(query.doc_kinds) > 1:
        return [replace(query, doc_ids=tuple(coverage.documents_of(None, (kind,)))) for kind in query.doc_kinds]
    return [replace(query, districts=(d,) if d else (), periods=(p,) if p else ())
            for d in (query.districts or ("",)) for p in (query.periods or (None,))]
