"""Typed records passed between pipeline stages (parse -> chunk -> index -> retrieve -> answer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    district: str
    year: str  # years covered, e.g. "2023-2024" or "2021-2025"
    kind: str  # yearly_report | five_year_plan | task_table | article
    path: str
    sha256: str

    def years(self) -> list[int]:
        """All years the document covers, from its `year` label ("2023-2024" -> [2023, 2024])."""
        parts = [int(p) for p in self.year.replace("–", "-").split("-") if p.strip().isdigit()]
        if len(parts) == 2:
            return list(range(parts[0], parts[1] + 1))
        return parts


@dataclass(frozen=True)
class Section:
    section_id: str  # ordinal path like "s2_1"; "s0" is the front matter
    doc_id: str
    heading: str
    level: int
    path: tuple[str, ...]  # breadcrumb of headings, outermost first


@dataclass(frozen=True)
class Block:
    """One unit of structure: a paragraph, a table row, a task, a glossary entry, a bullet."""

    anchor: str
    kind: str  # paragraph | table_row | task | glossary | bullet | footnote | figure
    text: str  # normalized display text
    section_id: str
    lines: tuple[int, int]  # 1-based line range in the source file: the way back to the original
    caption: str = ""  # table caption, e.g. "表一 2023年闵行区…主要目标完成情况"
    fields: tuple[tuple[str, str], ...] = ()  # (column header, cell) for table rows and tasks
    page: int = 0  # 1-based page of the source file the block starts on (PDF); 0 when the format has no pages

    def readable(self) -> str:
        """`header: cell; ...` for rows (reads on its own), the text for everything else."""
        if not self.fields:
            return self.text
        return "; ".join(f"{name}: {value}" for name, value in self.fields if value)


@dataclass
class ParsedDocument:
    document: Document
    sections: list[Section]
    blocks: list[Block]

    def section(self, section_id: str) -> Section:
        return self._by_id[section_id]

    def __post_init__(self) -> None:
        self._by_id = {s.section_id: s for s in self.sections}


@dataclass(frozen=True, slots=True)  # slots: a replica holds millions
class Chunk:
    chunk_id: str  # "{doc_id}#{anchor}"
    doc_id: str
    anchor: str
    kind: str
    text: str  # shown and quoted
    context: str  # embedded and searched: breadcrumb + caption + headers + text
    breadcrumb: tuple[str, ...]
    district: str
    year: str
    title: str
    fields: tuple[tuple[str, str], ...] = ()
    page: int = 0  # the block's page in the source file (0: no pages)

    @property
    def url(self) -> str:
        return f"/source/{self.doc_id}#{self.anchor}"

    def readable_fields(self) -> str:
        return "; ".join(f"{name}: {value}" for name, value in self.fields if value)

    @property
    def caption(self) -> str:
        """A table row's caption ("表4三大集聚带税收完成情况"), which its context carries on the line after
        the breadcrumb; "" for other chunks."""
        lines = self.context.split("\n")
        return lines[2] if self.kind == "table_row" and len(lines) > 2 and lines[2].startswith("表") else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "anchor": self.anchor,
            "kind": self.kind,
            "breadcrumb": list(self.breadcrumb),
            "text": self.text,
            "context": self.context,
            "url": self.url,
            "district": self.district,
            "year": self.year,
            "title": self.title,
            "fields": [list(f) for f in self.fields],
            "page": self.page,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Chunk":
        return cls(
            chunk_id=data["chunk_id"],
            doc_id=data["doc_id"],
            anchor=data["anchor"],
            kind=data["kind"],
            text=data["text"],
            context=data["context"],
            breadcrumb=tuple(data["breadcrumb"]),
            district=data["district"],
            year=data["year"],
            title=data["title"],
            fields=tuple(tuple(f) for f in data.get("fields", [])),
            page=int(data.get("page", 0) or 0),
        )


@dataclass
class Hit:
    chunk: Chunk
    score: float
    scores_by_retriever: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    doc_id: str
    title: str
    breadcrumb: tuple[str, ...]
    quote: str
    url: str
    page: int = 0  # the cited block's page in the source file (0: no pages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "breadcrumb": list(self.breadcrumb),
            "text": self.quote,
            "url": self.url,
            "page": self.page,
        }


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    refused: bool
    mode: str
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage
    question: str = ""
    standalone_question: str = ""
    closest: list[Hit] = field(default_factory=list)  # shown with a refusal
    verification: dict[str, int] = field(default_factory=dict)  # how often verification fired
    query: "Query | None" = None  # how the question was understood

    @property
    def reading(self) -> str:
        return self.query.reading if self.query is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "reading": self.reading,
            "query": self.query.to_dict() if self.query is not None else None,
            "refused": self.refused,
            "mode": self.mode,
            "question": self.question,
            "standalone_question": self.standalone_question,
            "citations": [c.to_dict() for c in self.citations],
            "closest": [h.chunk.to_dict() | {"score": h.score} for h in self.closest],
            "timings_ms": {k: round(v, 2) for k, v in self.timings.items()},
            "verification": self.verification,
        }


# ----------------------------------------------------------------------------- questions

PERIOD_KINDS = ("outcome", "target", "fyp_target", "prior")  # "" = not said


@dataclass(frozen=True)
class Filters:
    """Restrictions given by the UI, the API or the CLI (not read from the question)."""

    districts: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    years: tuple[int, ...] = ()  # reports covering one of these years
    kinds: tuple[str, ...] = ()  # report kinds (the catalog's ids): resolved to their documents by Assistant.scope

    def is_empty(self) -> bool:
        return not (self.districts or self.doc_ids or self.years or self.kinds)


@dataclass(frozen=True)
class Period:
    """The time a question (or a passage) is about: a year and what kind of figure for it.

    outcome: what happened in the year (2023年…完成/实现); target: the plan or target set for
    the year (2024年…目标/计划); fyp_target: a five-year-plan target (十四五, 到2025年);
    prior: the previous plan period's results (十三五, 2020). kind "" = not said."""

    year: int | None = None
    kind: str = ""

    def label(self, english: bool = False) -> str:
        from assistant.vocab import vocabulary  # the plan's name comes from its years (十四五 = 2021-2025)

        plan = vocabulary().plan_ending(self.year) if self.kind in ("fyp_target", "prior") else ""
        names = {"outcome": ("实际完成", "outcome"), "target": ("目标", "target"),
                 "fyp_target": (f"“{plan}”规划目标" if plan else "规划目标", "five-year-plan target"),
                 "prior": (f"“{plan}”时期" if plan else "上一规划期", "previous plan period")}
        if plan:
            return names[self.kind][1 if english else 0] + (f" ({self.year})" if english else "")
        year = f"{self.year}" + ("" if english else "年") if self.year else ""
        kind = names.get(self.kind, ("", ""))[1 if english else 0]
        return " ".join(p for p in (year, kind) if p)


@dataclass(frozen=True)
class Query:
    """One question understood once (from its text, the conversation and the UI/API filters) and
    passed to every later stage: retrieval filters on its scope, the answerer picks by its intent
    and measure, the refusal explains what the corpus lacks for it."""

    text: str  # the question NFKC-folded (what every stage reads)
    standalone: str  # the question made self-contained (follow-ups filled in), for search
    search_text: str  # standalone plus the reports' terms for its colloquial/English words
    districts: tuple[str, ...] = ()  # binding: answers come from these districts only
    doc_ids: tuple[str, ...] = ()  # binding when set (a document filter)
    periods: tuple[Period, ...] = ()  # binding when set
    intent: str = "fact"  # figure|comparison|target_check|list|responsibility|definition|overview|fact
    measure: str = ""  # growth|share|amount|count|area|length ("" = not said)
    topic: str = ""  # what the question is about, in the reports' words
    terms: tuple[str, ...] = ()  # content words (report vocabulary included)
    language: str = "zh"  # zh | en
    other_places: tuple[str, ...] = ()  # places outside the corpus named by the question
    unknown_years: tuple[int, ...] = ()  # years named that no report covers
    notes: tuple[str, ...] = ()  # readings to tell the user ("“去年”按2023年理解")
    premise: str = ""  # "down"/"up": the question takes a direction for granted ("为什么下降了")
    follow_up: bool = False  # slots were inherited from the previous turn
    asked: str = ""  # the question exactly as asked (echoed back in the Answer)
    operation: str = ""  # what a comparison computes: each | sum | consistency ("" = the difference)
    doc_kinds: tuple[str, ...] = ()  # kinds of report the question names (纲要, 责任分解表): sides of a comparison
    item_count: int = 0  # how many items a list question asks for ("四大功能区是哪四个": 4; 0 = not said)
    item_kind: str = ""  # what the items are ("功能区", "度", "镇和街道"; "" = not said)
    must_mention: tuple[str, ...] = ()  # a place within the asked region (宁波 in 浙江省): the passage must name it
    named_years: tuple[int, ...] = ()  # years no period covers that the reports name (远期至2035年): the answer must state them
    threshold: tuple[str, str, str] = ()  # a yes/no bound: ("above"|"below", "550", "亿") for "超过550亿了吗"
    asks: int = 1  # how many things the question asks ("一共多少，比上年涨了多少": 2): the answer keeps them all
    items: tuple[str, ...] = ()  # the named things a sum or difference is over ("A、B、C三个园区的产值加起来")
    shown_topic: str = ""  # the topic as the reading line shows it: only words the reports use ("主要指标", not "主要指标没")
    metadata: tuple[str, ...] = ()  # what is asked of the document itself: number | issuer | date | speaker | meeting

    @property
    def english(self) -> bool:
        return self.language == "en"

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(sorted({p.year for p in self.periods if p.year}))

    @property
    def period_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.kind for p in self.periods if p.kind))

    @property
    def reading(self) -> str:
        """理解为：静安区 2024年 目标 · 社会消费品零售总额"""
        scope = " ".join(["、".join(self.districts)] + [p.label(self.english) for p in self.periods])
        parts = [s for s in (scope.strip(), self.shown_topic or self.topic) if s]
        if not parts:
            return ""
        prefix = "Read as: " if self.english else "理解为："
        return prefix + " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "standalone": self.standalone, "districts": list(self.districts), "doc_ids": list(self.doc_ids),
            "periods": [{"year": p.year, "kind": p.kind} for p in self.periods], "intent": self.intent,
            "measure": self.measure, "topic": self.topic, "terms": list(self.terms), "language": self.language,
            "notes": list(self.notes), "reading": self.reading, "follow_up": self.follow_up,
            "operation": self.operation, "doc_kinds": list(self.doc_kinds),
        }
