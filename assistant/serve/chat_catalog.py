"""What the chat says about the library: its title, intro, example questions and the choices of its
filters (district, year, report kind, report), all from the reports the serving index holds.

Nothing here names a district: after a 长宁 report is uploaded on the 资料库 page the title says 长宁,
the district drop-down offers it and an example asks about it. `catalog_of(assistant)` is computed
once per index build (its `version`); the chat compares versions and redraws when they differ.

Examples come from the reports' own contents, so that each is answerable: per district (up to
three) a figure its report states (a table's outcome or target amount, the subject most districts
share first), a task of a responsibility table, a glossary term, and one English question on a
figure whose subject has an English phrase (`vocab/english.toml`).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

from assistant.models import Document, ParsedDocument
from assistant.serve.labels import kind_label

ALL = "全部"
MAX_DISTRICT_EXAMPLES = 3
_MARKS = re.compile(r"^[\s①-⑳⑴-⒇0-9０-９.、．()（）*＊]+")
_CLAUSE = re.compile(r"[。；;，,:：（(]")


@dataclass(frozen=True)
class Catalog:
    version: str  # the index build answering
    documents: tuple[Document, ...] = ()
    examples: tuple[str, ...] = ()

    @property
    def build(self) -> str:
        """The build's name (index/builds/<name>), what the page is told."""
        return self.version.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def districts(self) -> list[str]:
        return list(dict.fromkeys(d.district for d in self.documents if d.district))

    @property
    def years(self) -> list[int]:
        return sorted({y for d in self.documents for y in d.years()})

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(d.kind for d in self.documents if d.kind))

    @property
    def title(self) -> str:
        names = self.districts
        shown = "、".join(names[:3]) + (f"等{len(names)}个地区" if len(names) > 3 else "")
        return f"{shown}规划报告问答 · Policy Q&A" if shown else "规划报告问答 · Policy Q&A"

    def intro(self) -> str:
        names = self.districts
        held = (f"{'、'.join(names)}的 {len(self.documents)} 份报告（{'、'.join(kind_label(k) for k in self.kinds)}）"
                if self.documents else "资料库中的报告（目前为空，请先在资料库上传）")
        return (f"## {self.title}\n{held}的问答助手：每句回答都带引用 [n]，点击可查看原文段落。"
                " Answers cite the reports; click [n] to open the passage. [报告原文 Sources](/source)"
                " · [资料库 Library](/library)")

    # ----------------------------------------------------------------- filter choices

    def district_choices(self) -> list[str]:
        return [ALL] + self.districts

    def year_choices(self) -> list[tuple[str, str]]:
        return [("全部", ALL)] + [(f"{y}年", str(y)) for y in self.years]

    def kind_choices(self) -> list[tuple[str, str]]:
        return [("全部", ALL)] + [(kind_label(k), k) for k in self.kinds]

    def doc_choices(self, district: str = ALL, kind: str = ALL, year: str = ALL) -> list[tuple[str, str]]:
        """The reports within the other filters (the report drop-down narrows with them)."""
        docs = sorted(self.documents, key=lambda d: (d.district, d.year, d.title))
        return [("全部 All", ALL)] + [(d.title, d.doc_id) for d in docs if district in (ALL, d.district)
                                      and kind in (ALL, d.kind) and (year == ALL or int(year) in d.years())]


def make_filters(district: str | None, doc_id: str | None, year: str | None = ALL, kind: str | None = ALL):
    """The chat's drop-downs as retrieval filters (None when none is chosen); the year and the kind
    are resolved against the question by Assistant.scope."""
    from assistant.models import Filters

    def chosen(value: str | None) -> bool:
        return bool(value) and value != ALL

    filters = Filters(districts=(district,) if chosen(district) else (), doc_ids=(doc_id,) if chosen(doc_id) else (),
                      years=(int(year),) if chosen(year) and str(year).isdigit() else (), kinds=(kind,) if chosen(kind) else ())
    return None if filters.is_empty() else filters


def choice(value: Any, choices: list) -> str:
    """`value` when it is one of `choices` (values or (label, value) pairs), else 全部."""
    values = [c[1] if isinstance(c, tuple) else c for c in choices]
    return value if isinstance(value, str) and value in values else ALL


# ----------------------------------------------------------------------------- examples


def _english_names() -> tuple[dict[str, str], dict[str, str]]:
    from assistant.vocab import vocabulary

    vocab = vocabulary()
    places = dict(vocab.districts_en)
    for name, aliases in {**vocab.other_places, **vocab.districts}.items():
        latin = next((a for a in aliases if a.isascii() and a.strip()), "")
        places.setdefault(name, latin.title().replace("'A", "'a"))
    phrases: dict[str, str] = {}
    for phrase, term in vocab.english.items():
        phrases.setdefault(term, phrase)
    return places, phrases


def _figure_question(fact: Any) -> str:
    asked = "完成了多少" if fact.period.kind == "outcome" else "的目标是多少"
    return f"{fact.district}{fact.period.year}年{fact.subject}{asked}？"


def _figures(facts: list, documents: list[Document]) -> dict[str, list]:
    """district -> its reports' figures worth asking about, best first."""
    shared = Counter()
    for subject, district in {(f.subject, f.district) for f in facts}:
        shared[subject] += 1
    order = {d.doc_id: i for i, d in enumerate(documents)}
    good = [f for f in facts if f.doc_id in order and f.district and f.period.year and f.relation == "amount"
            and f.period.kind in ("outcome", "target") and 2 <= len(f.subject) <= 16 and not _CLAUSE.search(f.subject)]
    good.sort(key=lambda f: (f.source != "table", f.period.kind != "outcome", -shared[f.subject], order[f.doc_id]))
    by_district: dict[str, list] = {}
    for fact in good:
        by_district.setdefault(fact.district, []).append(fact)
    return by_district


def _task(parsed: Mapping[str, ParsedDocument]) -> str:
    for doc in parsed.values():
        for block in doc.blocks:
            if block.kind == "task":
                text = next((v for k, v in block.fields if "任务" in k), "") or block.text
                clause = _CLAUSE.split(_MARKS.sub("", text.replace("*", "").replace("＊", "")), 1)[0].strip()
                if 4 <= len(clause) <= 24:
                    return f"“{clause}”由哪些单位牵头？"
    return ""


def _glossary(parsed: Mapping[str, ParsedDocument]) -> str:
    for doc in parsed.values():
        for block in doc.blocks:
            if block.kind == "glossary":
                term = re.split(r"[:：]", _MARKS.sub("", block.text), 1)[0].strip()
                if 2 <= len(term) <= 16 and not _CLAUSE.search(term):
                    return f"“{term}”是什么意思？"
    return ""


def examples_for(parsed: Mapping[str, ParsedDocument], facts: list) -> tuple[str, ...]:
    documents = [p.document for p in parsed.values()]
    by_district = _figures(facts, documents)
    used: set[str] = set()
    figures: list[str] = []
    for district in list(dict.fromkeys(d.district for d in documents if d.district))[:MAX_DISTRICT_EXAMPLES]:
        fact = next((f for f in by_district.get(district, []) if f.subject not in used), None)
        if fact is None:
            doc = next(d for d in documents if d.district == district)
            figures.append(f"{doc.title[:40]}的主要内容是什么？")
            continue
        used.add(fact.subject)
        figures.append(_figure_question(fact))
    places, phrases = _english_names()
    english = ""
    for district in reversed(list(by_district)[:MAX_DISTRICT_EXAMPLES]):
        worded = [f for f in by_district[district] if f.subject in phrases and f.period.kind == "outcome"]
        fact = next((f for f in worded if f.subject not in used), worded[0] if worded else None)  # another subject first
        if fact is not None and places.get(district):
            english = f"What was {places[district]}'s {phrases[fact.subject]} in {fact.period.year}?"
            break
    found = figures[:1] + [_task(parsed)] + figures[1:] + [english, _glossary(parsed)]
    return tuple(q for q in found if q)


_cache: dict[str, Catalog] = {}
_lock = threading.Lock()


def catalog_of(assistant: Any) -> Catalog:
    """The serving index's catalog, computed once per build."""
    from assistant.indexing.load import load_facts

    index = getattr(assistant, "index", None)
    version = str(getattr(index, "path", ""))
    with _lock:
        if version not in _cache:
            parsed = assistant.documents()
            try:
                facts = load_facts(index).facts if index is not None and getattr(index, "chunks", None) else []
            except Exception:  # noqa: BLE001 - no examples rather than no chat
                facts = []
            if len(_cache) >= 4:  # builds replaced by newer ones (tests serve several apps in one process)
                _cache.pop(next(iter(_cache)))
            _cache[version] = Catalog(version, tuple(p.document for p in parsed.values()), examples_for(parsed, facts))
        return _cache[version]
