"""`Assistant`: the one object the CLI, the app and the eval scripts use.

It loads (or builds) the index once, loads the embedding model once, and exposes
search and ask. Heavy things are created lazily and cached for the process.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterator

from assistant.config import Settings, load_settings
from assistant.indexing.build import BuildReport, ensure_index
from assistant.indexing.load import LoadedIndex, load_index
from assistant.models import Filters

if TYPE_CHECKING:  # retrieve.py imports LangChain (~0.5 s): loaded with the retriever, not with this module
    from assistant.answer.retrieve import HybridRetriever, SearchResult


class QuestionError(ValueError):
    """A question that cannot be asked (empty, too long); the message says what to do. `reason`
    (not_text | empty | too_long | no_words) and `length` let a page say it in the user's language."""

    def __init__(self, message: str, reason: str = "", length: int = 0) -> None:
        super().__init__(message)
        self.reason, self.length = reason, length


@dataclass(frozen=True)
class Scope:
    """The filters retrieval gets for one question: report kinds resolved to their documents, and a
    year or kind filter the question contradicts dropped (the question wins, as for a district).
    `dropped`: ("year", the years asked) or ("kind", the districts asked, "" for all), for the page to say so."""

    filters: Filters | None
    dropped: tuple[tuple[str, str], ...] = ()


_MARKUP = re.compile(r"<(script|style)\b[^>]*>.*?(</\1\s*>|$)|<!--.*?(-->|$)|</?[A-Za-z][^<>]*>", re.I | re.S)
_t2s = None
_t2s_lock = threading.Lock()


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese (OpenCC t2s), so 閔行區 finds the reports' 闵行区.
    Identity on the reports' own Simplified text and on Latin text."""
    global _t2s
    if _t2s is None:
        with _t2s_lock:  # the converter loads its dictionaries on first use
            if _t2s is None:
                from opencc import OpenCC

                converter = OpenCC("t2s")
                converter.convert("閔行")
                _t2s = converter
    return _t2s.convert(text)


def check_question(question: object, settings: Settings) -> str:
    """The question as the pipeline gets it: control characters dropped (other whitespace
    becomes a space), Traditional characters converted to Simplified; QuestionError when
    nothing askable is left or it is too long."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text", "not_text")
    limit = settings.max_question_chars
    if len(question) > 4 * limit + 1000:  # do not scan megabytes of text only to refuse it
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {limit}. Ask a shorter question.",
                            "too_long", len(question))
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " if ch.isspace() else ""
                      for ch in question).strip()  # drops NUL, ESC, DEL, lone surrogates, zero-width marks
    if not cleaned:
        raise QuestionError("the question is empty; type a question about the reports, e.g. 闵行区2023年社会消费品零售总额是多少？", "empty")
    if len(cleaned) > limit:
        raise QuestionError(f"the question is {len(cleaned)} characters long; the limit is {limit}. Ask a shorter question.",
                            "too_long", len(cleaned))
    if not any(ch.isalnum() for ch in _MARKUP.sub(" ", cleaned)):
        raise QuestionError("the question has no words or numbers (only punctuation, symbols or markup); "
                            "ask about the reports in words, e.g. 闵行区2023年社会消费品零售总额是多少？", "no_words")
    return to_simplified(cleaned)


@dataclass
class Assistant:
    settings: Settings
    index: LoadedIndex
    embedder: object
    build_report: BuildReport | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # lazy parts are built once

    @classmethod
    def load(cls, settings: Settings | None = None, build_if_needed: bool = True, progress: bool = True,
             warm: bool = True, lazy: bool = False) -> "Assistant":
        """The index and the model. lazy=True (the app): the model is a LazyEmbedder, loaded by
        `warm_up()` (call it in a thread) or by the first question, and nothing is warmed here."""
        from assistant.indexing.embed import load_embedder
        from assistant.indexing.encoder import LazyEmbedder

        settings = settings or load_settings()
        engines = (settings.query_engine, settings.document_engine)  # the Settings given, not only assistant.toml's
        embedder = LazyEmbedder(settings.model, *engines) if lazy else load_embedder(settings.model, *engines)
        warm = warm and not lazy
        if build_if_needed:
            index, report = ensure_index(settings, embedder=embedder, progress=progress)
        else:
            index, report = load_index(settings), None
        assistant = cls(settings, index, embedder, report)
        if warm:
            assistant.warm_up()
        return assistant

    def warm_up(self) -> None:
        """Pay the one-time costs at start-up instead of in the first question's answer: jieba
        loads its dictionary on the first tokenization (the first search's lexical stage took
        1.2-1.7 s, after this 0-9 ms; see docs/scaling.md), the embedding engine starts its
        threads on its first call, the retriever and the answer pipeline index the chunks."""
        from assistant.indexing.encoder import LazyEmbedder

        started = self.embedder.start() if isinstance(self.embedder, LazyEmbedder) else None
        if self.index.chunks:
            self.pipeline  # noqa: B018 - builds the retriever and the pipeline
            self.search("预热 warm-up", k=1)
        elif started is not None:
            started.get()

    @property
    def warnings(self) -> list[str]:
        """Reports the index serves from an older build (or lacks) because they failed to load;
        the app shows these as a banner and `/ask` returns them."""
        from assistant.indexing.manifest import index_warnings

        return index_warnings(self.index.manifest)

    @property
    def ready(self) -> bool:
        """False while the model is still loading (a question then waits for it)."""
        return getattr(self.embedder, "ready", True) and hasattr(self, "_pipeline")

    @property
    def retriever(self) -> HybridRetriever:
        with self._lock:
            if not hasattr(self, "_retriever"):
                from assistant.indexing.encoder import QueryEncoder
                from assistant.answer.retrieve import HybridRetriever

                # queries go through the cache and the batching worker; documents (build) do not
                self._retriever = HybridRetriever(self.index, QueryEncoder(self.embedder), self.settings)
        return self._retriever

    def search(self, question: str, k: int = 10, filters: Filters | None = None) -> SearchResult:
        """The passages for a question, within the scope the question names (see query/)."""
        question = check_question(question, self.settings)
        filters = self.scope(question, None, filters).filters
        query = self.pipeline.parser.parse(question, filters=filters)
        return self.retriever.search(query, k=k, filters=filters)

    def switch_index(self, index: LoadedIndex) -> None:
        """Serve `index` from now on, without a restart (the knowledge-base page calls this after a
        rebuild). Its retriever, answer pipeline and structure are built and warmed *before* the
        swap, so a question asked meanwhile is answered from the previous index, and one asked
        after it from the new one; a question in flight keeps the pipeline it started with."""
        from assistant.indexing.load import load_structure
        from assistant.answer.pipeline import AnswerPipeline
        from assistant.answer.retrieve import HybridRetriever

        structure = load_structure(index)  # damaged: raises here, and the previous index keeps serving
        encoder = self.retriever.embedder  # the query encoder (its cache and workers) outlives the index
        retriever = HybridRetriever(index, encoder, self.settings)
        pipeline = AnswerPipeline(retriever, self.settings)
        if index.chunks:  # one answer builds the lazy parts (the analyst's facts, the lexical stage)
            for _ in pipeline.stream("预热 warm-up", [], "extractive", None):
                pass
        with self._lock:
            self.index, self._retriever, self._pipeline, self._structure = index, retriever, pipeline, structure

    # ----------------------------------------------------------------- documents

    def documents(self) -> dict:
        """doc_id -> ParsedDocument (headings and blocks) as stored in the index, for the source viewer."""
        if not hasattr(self, "_structure"):
            from assistant.indexing.load import load_structure

            self._structure = load_structure(self.index)
        return self._structure

    def chunk_text(self, chunk_id: str) -> str:
        index = self.index
        i = index.positions.get(chunk_id)
        return "" if i is None else index.chunks[i].text + "\n" + index.chunks[i].context

    # ----------------------------------------------------------------- answers

    @property
    def pipeline(self):
        with self._lock:
            if not hasattr(self, "_pipeline"):
                from assistant.answer.pipeline import AnswerPipeline

                self._pipeline = AnswerPipeline(self.retriever, self.settings)
        return self._pipeline

    def scope(self, question: str, history: list[tuple[str, str]] | None = None, filters: Filters | None = None) -> Scope:
        """Resolve the filters a question is answered within: `kinds` become the documents of those
        kinds (of the districts the question, or the district filter, names); a year filter none of
        the question's years is in, or a kind no document of the asked districts has, is dropped.
        Without year or kind filters this is the filters as given (no parsing)."""
        if filters is None or not (filters.kinds or filters.years):
            return Scope(filters)
        question = check_question(question, self.settings)
        query = self.pipeline.understand(question, history or [], replace(filters, years=(), kinds=()))
        dropped: list[tuple[str, str]] = []
        years = filters.years
        if years and query.years and not set(query.years) & set(years):
            dropped.append(("year", "、".join(str(y) for y in query.years)))
            years = ()
        doc_ids = filters.doc_ids
        if filters.kinds:
            documents = self.index.manifest["documents"]
            of_kind = tuple(d for d, meta in documents.items() if meta.get("kind") in filters.kinds
                            and (not query.districts or meta.get("district") in query.districts)
                            and (not doc_ids or d in doc_ids))
            if of_kind:
                doc_ids = of_kind
            else:
                dropped.append(("kind", "、".join(query.districts)))
        resolved = replace(filters, doc_ids=doc_ids, years=years, kinds=())
        return Scope(None if resolved.is_empty() else resolved, tuple(dropped))

    def stream(self, question: str, history: list[tuple[str, str]] | None = None, mode: str | None = None,
               filters: Filters | None = None) -> Iterator[object]:
        """Yield the answer text as it grows (str), then the final `Answer`."""
        question = check_question(question, self.settings)
        filters = self.scope(question, history, filters).filters
        yield from self.pipeline.stream(question, history or [], mode or self.settings.mode, filters)

    def ask(self, question: str, history: list[tuple[str, str]] | None = None, mode: str | None = None,
            filters: Filters | None = None):
        final = None
        for event in self.stream(question, history, mode, filters):
            final = event
        return final
