"""The chat pipeline: understand the question (one `Query`) -> refuse what the corpus cannot
hold -> retrieve within the Query's scope -> compose (extractive or LLM) -> check the answer is
the one asked -> verify citations -> `Answer`. Exposed as a LangChain runnable and as a plain
generator that yields the growing answer text and finally the `Answer` (for streaming UIs).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Iterator

import numpy as np
from langchain_core.runnables import Runnable, RunnableLambda

from assistant.answer.answer_check import subject_clauses
from assistant.ingest.normalize import letters
from assistant.config import Settings
from assistant.answer.analyst import Analyst, side_queries
from assistant.answer.compound import answer_parts, sentence_ends
from assistant.answer.compute import claim_verdict, threshold_verdict
from assistant.answer.front_matter import FrontMatter, document_asked
from assistant.answer.phrasing import pick_fact
from assistant.answer.extractive import Pick, answer_kind, form_word, mismatch, render_row, premise_correction, score_picks, select
from assistant.indexing.load import load_facts, load_structure
from assistant.models import Answer, Chunk, Citation, Filters, Query
from assistant.answer.overview import overview_sentences
from assistant.query import QueryParser
from assistant.vocab import vocabulary
from assistant.answer.refusal import Refusal, not_found_reason, precheck, refusal_text
from assistant.answer.retrieve import HybridRetriever, SearchResult
from assistant.answer.tables import TableBook
from assistant.answer.readable import tidy, tidy_text
from assistant.answer.verify import Sentence, VerificationStats, verify

TOP_K = 8  # passages given to the answerer (8 vs 12 measured: eval/reports/answer-thresholds.md)
SECOND_CHANCE = 8  # picks searched for one that states the asked quantity when the best states an alike one
SECOND_CHANCE_OVERLAP = 0.5  # ...and still names half of what the question is about
# A word the asked district never uses refuses only when another district's best passage covers this
# much more of the question (a low cover of its own is left to the answer's own checks).
ELSEWHERE_MARGIN = 0.15
History = list[tuple[str, str]]
_REGION = re.compile(r"(省|市|自治区)$")  # a city or province: its report speaks of the places within it


class AnswerPipeline:
    def __init__(self, retriever: HybridRetriever, settings: Settings, llm=None) -> None:
        self.retriever = retriever
        self.settings = settings
        self._llm = llm
        self.coverage = retriever.coverage
        self.known_term = retriever.index.words.known
        self.parser = QueryParser(self.coverage, self.known_term)
        # words of the task table: a lead-unit question naming a word no task uses (海绵城市, 中欧班列)
        # asks about a task the table does not have
        self.task_text = "\n".join(letters(retriever.chunks[int(i)].text) for i in np.flatnonzero(retriever.is_task))
        # words of each district's documents: a word the corpus uses but the asked district's reports
        # never do (静安 has no 研发经费 indicator) marks the other district's equivalent
        self.district_words = retriever.index.words.by_district
        self._analyst: Analyst | None = None
        self._tables: TableBook | None = None
        self._front_matter: FrontMatter | None = None

    def understand(self, question: str, history: History, filters: Filters | None = None) -> Query:
        """The question's Query, its follow-up slots filled from the earlier user turns."""
        previous: Query | None = None
        for user, _ in history:
            if user and user.strip():
                previous = self.parser.parse(user, previous, filters)
        return self.parser.parse(question, previous, filters)

    @property
    def analyst(self) -> Analyst:
        """Direct sentences, computed answers and heading lists (built on first use: facts and structure)."""
        if self._analyst is None:
            index = self.retriever.index
            facts = load_facts(index)
            self._analyst = Analyst(self.retriever.chunks, index.positions, self.coverage, facts, load_structure(index))
            self.coverage.add_fact_periods(facts.facts, index.positions)
        return self._analyst

    @property
    def front_matter(self) -> FrontMatter:
        if self._front_matter is None:
            self._front_matter = FrontMatter(self.retriever.chunks)
        return self._front_matter

    @property
    def tables(self) -> TableBook:
        """The corpus' tables (read from the index on the first question that needs them)."""
        if self._tables is None:
            self._tables = TableBook(self.retriever.chunks, self.known_term)
        return self._tables

    def llm(self):
        if self._llm is None:
            from assistant.answer.llm import make_chat_model

            self._llm = make_chat_model(self.settings)
        return self._llm

    # ------------------------------------------------------------------ main

    def stream(self, question: str, history: History, mode: str, filters: Filters | None = None,
               rewrite: bool = True) -> Iterator[str | Answer]:
        if rewrite and self.settings.llm_rewrite and mode != "llm":  # a refusal retried on the model's rewording
            from assistant.answer.rewrite import retry_refusal
            return (yield from retry_refusal(self, question, history, mode, filters))
        started = time.perf_counter()
        self.analyst  # noqa: B018 - its facts' periods join the corpus map before the question is read
        parts = self.parser.parts(question) if mode != "llm" else [question]
        if len(parts) > 1:  # "…完成了吗？完工了多少台？": each part is answered too, what the whole lacks added
            return (yield from answer_parts(self, question, parts, history, mode, filters))
        yield from self._stream_query(self.understand(question, history, filters), filters, mode, started)

    def _stream_query(self, query: Query, filters: Filters | None, mode: str, started: float) -> Iterator[str | Answer]:
        timings: dict[str, float] = {}
        query = self._within_region(query)
        timings["query"] = (time.perf_counter() - started) * 1e3
        refusal = precheck(query, self.coverage, self.known_term)
        if refusal and refusal.answer_instead:  # "松江2025年要整治多少…": the year's plan answers it, said so
            note = "The reports give targets for that year" if query.english else "报告给出的是该年的计划目标"
            query, refusal = replace(refusal.instead, notes=refusal.instead.notes + (note,)), None
        if refusal:  # the closest passages are still shown, for orientation
            yield self._refuse(query, refusal.reason, self._search(query, filters), mode, timings, refusal)
            return
        absent = self._absent_in_scope(query)
        result = self._search(query, filters)
        timings.update(result.timings)
        if absent and self._better_elsewhere(query, result):
            yield self._refuse(query, absent, result, mode, timings, holds_instead=True)
            return
        t0 = time.perf_counter()
        if query.intent == "overview" and self._vague(query):
            sentences, why = overview_sentences(query, self.retriever), None
            if not sentences:
                why = self._clarify(query)
        elif mode == "llm":
            sentences, refused_by_model = yield from self._compose_llm(query, result)
            why = not_found_reason(query) if refused_by_model or not sentences else None
        else:
            sentences, why = self._compose_extractive(query, result)
        timings["compose"] = (time.perf_counter() - t0) * 1e3
        if why is not None:
            yield self._refuse(query, why, result, mode, timings, holds_instead=not sentences, sentences=sentences)
            return
        t1 = time.perf_counter()
        retrieved = {h.chunk.chunk_id: h.chunk for h in result.hits} | {c.chunk_id: c for s in sentences for c in s.chunks}
        sentences, stats = verify(sentences, retrieved)
        timings["verify"] = (time.perf_counter() - t1) * 1e3
        answer = self._assemble(query, sentences, retrieved, mode, stats, timings)
        answer.text += self._readings(query)
        if mode != "llm":  # the LLM already streamed its tokens; stream the extractive answer by sentence
            for end in sentence_ends(answer.text):
                yield answer.text[:end]
        timings["total"] = (time.perf_counter() - started) * 1e3
        yield answer

    # ------------------------------------------------------------------ composing

    def _compose_extractive(self, query: Query, result: SearchResult) -> tuple[list[Sentence], str | None]:
        """(sentences, None), or ([…correction…], reason) for a false premise, or ([], reason)."""
        document = document_asked(query, [h.chunk for h in result.hits])
        if document:  # "…的文号是什么？由哪两个部门印发？": the document's front matter, not its body
            answered = self.front_matter.answer(query, document)
            if answered:
                return answered, None
        kind = answer_kind(query)
        picks = score_picks(query, result.hits, kind)  # scored once: the choice, the premise check and a second chance
        chosen = select(query, picks, self.retriever.next_chunk)
        if not chosen or result.best_dense < self.settings.refusal_threshold:
            return [], not_found_reason(query)
        best = chosen[0]
        # a premise the question takes for granted is checked first: the figure that refutes it may sit
        # in a table row that is not the best pick ("为什么没完成4.3万个的目标" -> 完成情况 5.2万)
        correction = premise_correction(query, picks[:6]) if query.premise else None
        if correction:
            _, pick = correction
            # the figure is said once, by the cited row under the refusal
            reason = "the premise does not hold; the report gives" if query.english else "问题的前提与报告不符，报告的数据如下"
            text = render_row(pick.chunk, query.english) if pick.chunk.fields and pick.chunk.kind != "task" else pick.text
            return [Sentence(text, [pick.chunk.chunk_id], chunks=[pick.chunk])], reason
        # the asked places have task rows (an action plan's duties are in its prose)
        tabled_places = (set(query.districts) or {h.chunk.district for h in result.hits[:1]}) <= self.coverage.task_districts
        idle = self.tables.idle_unit(query)  # "区商务委牵头了哪几项？": a unit no task row names leads none
        if idle and tabled_places:
            return [], f"the task table lists no task of {idle}" if query.english else f"责任分解表中没有由{idle}牵头或负责的任务"
        tabled = self.tables.answer(query, result.hits)  # rows in order, counts, footnotes, a unit's tasks
        if tabled:
            return tabled, None
        computed = self.analyst.computed(query, result)  # comparisons, target checks, sums from facts
        if computed:
            return computed, None
        asked = letters(query.text)  # the question's own words (not synonym expansions)
        # a task the tables do not hold: a subject word the reports use (海绵城市) is in no task. A word no
        # report uses is a staff member's own wording ("这件事", "责任表里归"), not evidence of a missing task
        # (only where the asked places have task rows)
        unknown_task = kind == "responsibility" and bool(self.task_text) and tabled_places and any(
            len(t) > 1 and not t.isascii() and t in asked and self.known_term(t) and t not in self.task_text for t in query.terms)
        def fails(pick: Pick) -> str:
            failed = mismatch(query, pick, kind)
            # the asked measure may sit in a clause the subject words did not reach ("…救助金额1.59亿元")
            if failed == "measure" and self.analyst.states_measure(query, pick):
                failed = ""
            return failed or self.tables.indicator_missing(query, pick.text + " " + pick.chunk.readable_fields())

        failed = "task" if unknown_task else fails(best)
        if failed in ("measure", "contrast", "indicator", "code"):
            # the best sentence is about the alike quantity (开工 for 完工): a lower one that states the asked one
            other = next((p for p in picks[:SECOND_CHANCE]
                          if p.overlap >= SECOND_CHANCE_OVERLAP and not fails(p)), None)
            if other is not None:
                best, chosen, failed = other, [other], ""
        if failed:
            measure = next((m.label for m in vocabulary().measures if m.name == query.measure), "")
            if failed in ("measure", "contrast") and best.overlap >= 0.6:  # the subject is there, the asked quantity is not
                said = subject_clauses(query, best.text).text
                reason = not_found_reason(query, measure)
                prefix = "The report only says: " if query.english else "报告相关内容为："
                return [Sentence(said, [best.chunk.chunk_id], prefix=prefix, chunks=[best.chunk])], reason
            reason = not_found_reason(query)
            if failed == "place":  # "深圳市2025年GDP" against the 广东省 report: it has no figure of 深圳's own
                region, place = "、".join(query.districts), query.must_mention[0]
                reason = (f"{region}'s report gives no figure of {place} itself" if query.english
                          else f"{region}的报告中没有{place}本身的相关数据")
            if failed == "year":  # say which years the reports do give figures for
                held = "、".join(str(y) for y in sorted(self.coverage.years))
                reason += f" (years with figures: {held})" if query.english else f"（有数据的年份：{held}）"
            return [], reason
        if kind == "definition":
            note = self.tables.note_for(query, best.text, best.chunk.doc_id)
            if note is not None:
                return [note], None
        if kind == "figure":
            chosen = self.analyst.direct_first(query, chosen)
        sentences = [self.analyst.phrase(query, pick, kind, item=kind == "list" and i > 0) for i, pick in enumerate(chosen)]
        if query.threshold:  # a yes/no about a bound or a figure: the verdict first, then the sentence it rests on
            fact = pick_fact(query, self.analyst.facts.in_sentence(chosen[0].chunk, chosen[0].text))
            if query.threshold[0] == "equal":  # "是不是要新增50辆？": whether the report says 50
                verdict = claim_verdict(query, fact, chosen[0].text + " " + chosen[0].chunk.readable_fields(), chosen[0].chunk)
            else:
                verdict = threshold_verdict(query, fact, chosen[0].chunk) if fact is not None else None
            sentences = ([verdict] if verdict else []) + sentences
        column = self.tables.column_asked(query, chosen[0].chunk, " ".join(s.text for s in sentences))
        return sentences + ([column] if column else []), None

    def _compose_llm(self, query: Query, result: SearchResult):
        from assistant.answer.llm import Grounding, llm_answer_stream

        hits = result.hits
        # the model answers from the same facts and computed answer as the extractive mode
        grounding = Grounding(self.analyst.passage_facts(hits), self.analyst.computed(query, result) or [])
        sentences: list[Sentence] = []
        refused = False
        for event in llm_answer_stream(self.llm(), query, hits, grounding):
            if isinstance(event, str):
                yield event
            else:
                sentences, refused = event
        return sentences, refused

    def _search(self, query: Query, filters: Filters | None) -> SearchResult:
        """The passages for the query; a comparison of districts or periods searches each side on its
        own (a shared top 8 is easily filled by one side) and interleaves their hits."""
        if query.intent != "comparison" or (len(query.districts) < 2 and len(query.periods) < 2 and len(query.doc_kinds) < 2):
            return self.retriever.search(query, k=TOP_K, filters=filters)
        sides = side_queries(query, self.coverage)
        results = [self.retriever.search(side, k=TOP_K, filters=filters) for side in sides]
        hits = [h for rank in zip(*(r.hits for r in results)) for h in rank]
        seen: set[str] = set()
        merged = [h for h in hits if not (h.chunk.chunk_id in seen or seen.add(h.chunk.chunk_id))]
        timings = {k: sum(r.timings.get(k, 0.0) for r in results) for k in results[0].timings}
        return SearchResult(merged[:TOP_K * 2], timings, query, sum(r.in_scope for r in results),
                            min(r.best_dense for r in results), list(zip(sides, results)))

    def _absent_in_scope(self, query: Query) -> str | None:
        """A reason when the question names something the corpus has but not in the asked district."""
        if query.intent in ("overview", "list") or not query.districts:
            return None
        for district in query.districts:
            words = self.district_words.get(district, set())
            missing = [t for t in query.terms if len(t) > 1 and not t.isascii() and self.known_term(t) and t not in words
                       and not form_word(t, "*")]  # the subject is missing, not just a measure word (总投资额)
            if missing:
                return (f"{district}'s reports never mention {'、'.join(missing)}" if query.english
                        else f"{district}的报告中没有“{'、'.join(missing)}”的相关内容")
        return None

    def _within_region(self, query: Query) -> Query:
        """A place outside the corpus that a city's or province's report speaks of ("宁波舟山港" in the 浙江省
        report): the question is about that report's region, not refused as another place."""
        if not query.other_places or query.districts or any(re.search(r"(区|县)$", p) for p in query.other_places):
            return query  # a district outside the corpus is not answered from its city's report
        vocab = vocabulary()
        regions = [d for d in self.coverage.districts if _REGION.search(d)]
        aliases = {name: (name, *vocab.other_places.get(name, ())) for name in query.other_places}
        holding = [r for r in regions if all(any(a in self.district_words.get(r, set()) for a in names)
                                             for names in aliases.values())]
        if len(holding) != 1:
            return query
        note = f"read as {holding[0]}'s report" if query.english else f"按{holding[0]}的报告理解"
        # ...but only a passage that names the place answers for it (the province's GDP is not 深圳's)
        mentions = tuple(a for names in aliases.values() for a in names if a in self.district_words.get(holding[0], set()))
        return replace(query, districts=(holding[0],), other_places=(), notes=query.notes + (note,), must_mention=mentions)

    def _better_elsewhere(self, query: Query, result: SearchResult) -> bool:
        """A word of the question that the asked district's reports never use refuses only on evidence:
        the other districts' passages answer the question clearly better than the asked district's own
        ("静安区研发经费支出比例": only 闵行 states it). A word of the staff member's own ("年初", "最后",
        "表示") that the asked district's passage does not need is not a reason to refuse."""
        others = tuple(d for d in self.coverage.districts if d not in query.districts)
        if not others:
            return True
        elsewhere = self.retriever.search(replace(query, districts=others), k=TOP_K)
        kind = answer_kind(query)
        own = max((p.overlap for p in score_picks(query, result.hits, kind)[:SECOND_CHANCE]), default=0.0)
        other = max((p.overlap for p in score_picks(query, elsewhere.hits, kind)[:SECOND_CHANCE]), default=0.0)
        return other >= own + ELSEWHERE_MARGIN

    def _vague(self, query: Query) -> bool:
        return not query.terms or set(query.terms) <= vocabulary().broad

    def _clarify(self, query: Query) -> str:
        examples = ["闵行区2023年全区生产总值是多少？", "静安区2024年社会消费品零售总额的目标是多少？", "“十四五”规划中智慧教育示范区建设由哪些单位牵头？"]
        if query.english:
            return "the question is too general; please name a district and a topic, e.g. " + " / ".join(examples)
        return "问题比较宽泛，请指明区和具体方面，例如：" + "；".join(f"{i}. {q}" for i, q in enumerate(examples, 1))

    # ------------------------------------------------------------------ answers

    def _refuse(self, query: Query, reason: str, result: SearchResult | None, mode: str, timings: dict[str, float],
                refusal: Refusal | None = None, holds_instead: bool = False, sentences: list[Sentence] | None = None) -> Answer:
        """A refusal that says what is missing and, cited, what the reports hold instead."""
        cited: list[Sentence] = []
        if refusal is not None and refusal.instead is not None:
            instead = self.retriever.search(refusal.instead, k=TOP_K)
            picked, why = self._compose_extractive(refusal.instead, instead)
            if picked and why is None:
                first = picked[0]
                cited = [Sentence(first.text, first.chunk_ids, prefix=refusal.instead_label, chunks=first.chunks)]
            result = instead
        elif holds_instead and result is not None and query.districts:
            # the same question about the other district(s): "闵行区的报告中有：…"
            others = tuple(d for d in self.coverage.districts if d not in query.districts)
            elsewhere_query = replace(query, districts=others)
            elsewhere = self.retriever.search(elsewhere_query, k=TOP_K)
            picked, why = self._compose_extractive(elsewhere_query, elsewhere)
            if picked and why is None and picked[0].chunks[0].district not in query.districts:
                chunk = picked[0].chunks[0]
                label = (f"The {chunk.district} report has: " if query.english else f"{chunk.district}的报告中有：")
                cited = [Sentence(picked[0].text, picked[0].chunk_ids, prefix=label, chunks=picked[0].chunks)]
        pending = sentences or []
        head = tidy_text(refusal_text(query, reason), query.english)
        retrieved = {c.chunk_id: c for s in pending + cited for c in s.chunks}
        verified, stats = verify(pending + cited, retrieved)
        body = self._assemble(query, verified, retrieved, mode, stats, timings)
        text = head + ("\n" + body.text if body.text else "") + self._readings(query)
        closest = result.hits[:3] if result is not None else []
        return Answer(text=text, citations=body.citations, refused=True, mode=mode, timings=timings, question=query.asked,
                      standalone_question=query.standalone, closest=closest, verification=stats.as_dict(), query=query)

    def _assemble(self, query: Query, sentences: list[Sentence], retrieved: dict[str, Chunk], mode: str,
                  stats: VerificationStats, timings: dict[str, float]) -> Answer:
        sentences = tidy(sentences, query.english)  # verified already: only how it reads changes
        numbering: dict[str, int] = {}
        citations: list[Citation] = []
        parts: list[str] = []
        unsupported = "[unverified]" if query.english else "[未核实]"
        for sentence in sentences:
            markers = []
            for chunk_id in sentence.chunk_ids:
                if chunk_id not in numbering:
                    chunk = retrieved[chunk_id]
                    numbering[chunk_id] = len(numbering) + 1
                    citations.append(Citation(numbering[chunk_id], chunk_id, chunk.doc_id, chunk.title, chunk.breadcrumb, chunk.text,
                                              chunk.url, chunk.page))
                markers.append(f"[{numbering[chunk_id]}]")
            text = sentence.prefix + sentence.text.rstrip()
            parts.append(text + ("".join(markers) if markers else unsupported))
        return Answer(text="\n".join(parts), citations=citations, refused=False, mode=mode, timings=timings,
                      question=query.asked, standalone_question=query.standalone, verification=stats.as_dict(), query=query)

    def _readings(self, query: Query) -> str:
        return "".join(f"\n（{note}）" if not query.english else f"\n({note})" for note in query.notes)

    # ------------------------------------------------------------------ LangChain

    def as_runnable(self, mode: str | None = None) -> Runnable:
        """`{"question": str, "history": [(user, bot), ...]}` -> Answer; `.stream()` yields
        the growing text, then the Answer."""

        def run(inputs: dict) -> Iterator[str | Answer]:
            yield from self.stream(inputs["question"], inputs.get("history", []), mode or self.settings.mode, inputs.get("filters"))

        return RunnableLambda(run, name="policy_qa")
