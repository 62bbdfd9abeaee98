"""The chat pipeline: condense a follow-up -> retrieve -> compose (extractive or LLM) ->
verify citations -> `Answer`. Exposed as a LangChain runnable and as a plain generator
that yields the growing answer text and finally the `Answer` (for streaming UIs).
"""

from __future__ import annotations

import re
import time
from typing import Iterator

from langchain_core.runnables import Runnable, RunnableLambda

from .config import Settings
from .extractive import answers_question, compose, select
from .models import Answer, Chunk, Citation, Hit
from .retrieve import DISTRICT_ALIASES, Filters, HybridRetriever, SearchResult, infer_filters, other_districts
from .terms import is_english
from .verify import Sentence, VerificationStats, verify

TOP_K = 8  # passages given to the answerer
_FOLLOW_UP = re.compile(r"^(那|那么|还有|另外|而|and|what about|how about)|呢[？?]?$", re.I)
_YEAR = re.compile(r"(?<!\d)(19|20)\d\d(?!\d)")



def condense(question: str, history: list[tuple[str, str]]) -> str:
    """Make a follow-up question standalone without an LLM: "那静安呢？" after
    "闵行区2023年社会消费品零售总额是多少？" becomes "静安区2023年社会消费品零售总额是多少？"."""
    if not history:
        return question
    previous = next((user for user, _ in reversed(history) if user and user.strip()), "")
    if not previous or not (_FOLLOW_UP.search(question.strip()) or len(question.strip()) <= 8):
        return question
    standalone = previous
    new_districts = infer_filters(question).districts
    if new_districts:
        for name, aliases in DISTRICT_ALIASES.items():
            for alias in sorted((name,) + aliases, key=len, reverse=True):
                standalone = re.sub(re.escape(alias), new_districts[0], standalone, flags=re.I)
    new_years = [m.group(0) for m in _YEAR.finditer(question)]
    if new_years:
        standalone = _YEAR.sub(new_years[0], standalone)
    if not new_districts and not new_years:
        standalone = f"{previous} {question}"
    return standalone


def refusal_text(question: str, reason: str) -> str:
    if is_english(question):
        return f"The reports do not contain this ({reason}). The closest passages are listed below."
    return f"资料中未找到相关内容（{reason}）。以下是最接近的段落，供参考。"


class AnswerPipeline:
    def __init__(self, retriever: HybridRetriever, settings: Settings, llm=None) -> None:
        self.retriever = retriever
        self.settings = settings
        self._llm = llm
        years: set[int] = set()
        for chunk in retriever.chunks:
            years.update(int(y) for y in re.findall(r"\d{4}", chunk.year))
            years.update(int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d\d)年", chunk.text))
        parts = [sorted(int(y) for y in re.findall(r"\d{4}", c.year)) for c in retriever.chunks if c.year]
        for span in parts:
            years.update(range(span[0], span[-1] + 1))
        self.years_covered = years

    # ------------------------------------------------------------------ stages

    def _not_covered(self, question: str) -> str | None:
        """A reason to refuse before retrieval: a district or year the corpus does not cover."""
        named = infer_filters(question)
        others = other_districts(question)
        if others and not named.districts:
            return f"报告只涉及闵行区和静安区，不含{'、'.join(others)}" if not is_english(question) else f"the reports cover Minhang and Jing'an only, not {', '.join(others)}"
        missing = [y for y in named.years if y not in self.years_covered]
        if named.years and len(missing) == len(named.years):
            years = "、".join(str(y) for y in missing)
            return f"报告不涉及{years}年" if not is_english(question) else f"the reports do not cover {years}"
        return None

    def llm(self):
        if self._llm is None:
            from .llm import make_chat_model

            self._llm = make_chat_model(self.settings)
        return self._llm

    # ------------------------------------------------------------------ main

    def stream(self, question: str, history: list[tuple[str, str]], mode: str, filters: Filters | None = None) -> Iterator[str | Answer]:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        standalone = condense(question, history)
        timings["condense"] = (time.perf_counter() - started) * 1e3
        result = self.retriever.search(standalone, k=TOP_K, filters=filters)
        timings.update(result.timings)
        reason = self._not_covered(standalone)
        if reason:
            yield self._refuse(question, standalone, result, mode, reason, timings)
            return
        t0 = time.perf_counter()
        if mode == "llm":
            sentences, refused_by_model = yield from self._compose_llm(standalone, result.hits)
        else:
            sentences, refused_by_model = self._compose_extractive(standalone, result)
        timings["compose"] = (time.perf_counter() - t0) * 1e3
        if refused_by_model or not sentences:
            why = "检索到的段落不能回答该问题" if not is_english(question) else "the retrieved passages do not answer it"
            yield self._refuse(question, standalone, result, mode, why, timings)
            return
        t1 = time.perf_counter()
        retrieved = {h.chunk.chunk_id: h.chunk for h in result.hits}
        sentences, stats = verify(sentences, retrieved)
        timings["verify"] = (time.perf_counter() - t1) * 1e3
        answer = self._assemble(question, standalone, sentences, retrieved, mode, stats, timings)
        if mode != "llm":  # the LLM already streamed its tokens; stream the extractive answer by sentence
            for end in _sentence_ends(answer.text):
                yield answer.text[:end]
        timings["total"] = (time.perf_counter() - started) * 1e3
        yield answer

    def _compose_extractive(self, question: str, result: SearchResult) -> tuple[list[Sentence], bool]:
        chosen, kind = select(question, result.hits, self.retriever.next_chunk)
        if not chosen or result.best_dense < self.settings.refusal_threshold:
            return [], True
        if not answers_question(question, chosen[0], kind):
            return [], True
        return [Sentence(text, [chunk.chunk_id], prefix=prefix) for prefix, text, chunk in compose(question, chosen, kind)], False

    def _compose_llm(self, question: str, hits: list[Hit]):
        from .llm import llm_answer_stream

        sentences: list[Sentence] = []
        refused = False
        for event in llm_answer_stream(self.llm(), question, hits):
            if isinstance(event, str):
                yield event
            else:
                sentences, refused = event
        return sentences, refused

    def _refuse(self, question: str, standalone: str, result: SearchResult, mode: str, reason: str, timings: dict[str, float]) -> Answer:
        return Answer(text=refusal_text(question, reason), citations=[], refused=True, mode=mode, timings=timings,
                      question=question, standalone_question=standalone, closest=result.hits[:3])

    def _assemble(self, question: str, standalone: str, sentences: list[Sentence], retrieved: dict[str, Chunk],
                  mode: str, stats: VerificationStats, timings: dict[str, float]) -> Answer:
        numbering: dict[str, int] = {}
        citations: list[Citation] = []
        parts: list[str] = []
        unsupported = "[unverified]" if is_english(question) else "[未核实]"
        for sentence in sentences:
            markers = []
            for chunk_id in sentence.chunk_ids:
                if chunk_id not in numbering:
                    chunk = retrieved[chunk_id]
                    numbering[chunk_id] = len(numbering) + 1
                    citations.append(Citation(numbering[chunk_id], chunk_id, chunk.doc_id, chunk.title, chunk.breadcrumb, chunk.text, chunk.url))
                markers.append(f"[{numbering[chunk_id]}]")
            text = sentence.prefix + sentence.text.rstrip()
            parts.append(text + ("".join(markers) if markers else unsupported))
        joiner = "\n" if is_english(question) else "\n"
        return Answer(text=joiner.join(parts), citations=citations, refused=False, mode=mode, timings=timings,
                      question=question, standalone_question=standalone, verification=stats.as_dict())

    # ------------------------------------------------------------------ LangChain

    def as_runnable(self, mode: str | None = None) -> Runnable:
        """`{"question": str, "history": [(user, bot), ...]}` -> Answer; `.stream()` yields
        the growing text, then the Answer."""

        def run(inputs: dict) -> Iterator[str | Answer]:
            yield from self.stream(inputs["question"], inputs.get("history", []), mode or self.settings.mode, inputs.get("filters"))

        return RunnableLambda(run, name="policy_qa")


def _sentence_ends(text: str) -> list[int]:
    ends = [m.end() for m in re.finditer(r"\n", text)]
    return ends + [len(text)] if not ends or ends[-1] != len(text) else ends
