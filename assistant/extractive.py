"""The extractive answerer (default, no LLM): pick the sentences and table rows of the
retrieved chunks that answer the question and write them out, each with its citation.

It only ever copies what a report says, so it cannot state what the reports do not say;
when nothing retrieved matches the question well enough it reports that instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .lexical import tokenize
from .models import Chunk, Hit
from .normalize import numbers
from .retrieve import DISTRICT_ALIASES, infer_filters
from .terms import COLUMN_EN, chinese_terms, is_english

_SENTENCE = re.compile(r"[^。；！？!?]*[。；！？!?]+[”’\"」』）)]*|[^。；！？!?]+$")
# Words of the question that say what is asked, not what it is about.
_QUESTION_WORDS = {
    "多少", "什么", "哪些", "哪个", "哪里", "如何", "怎么", "怎样", "是否", "情况", "完成", "完成情况", "一下", "请问",
    "介绍", "主要", "具体", "有没有", "是不是", "目标", "实现", "达到", "里面", "提到", "报告", "规划", "计划", "年度",
    "which", "what", "how", "many", "much", "was", "were", "the", "did", "does", "for", "and", "are", "is", "of", "in",
    "to", "a", "an", "on", "by", "with", "its", "their", "has", "have", "that", "this", "2023", "2024", "2025",
}
_UNITS = ("亿元", "万元", "万人", "万平方米", "平方米", "公里", "家", "个", "件", "座", "人", "户", "台", "张", "所", "项", "%")
_KIND_PATTERNS = {
    "responsibility": re.compile(r"牵头|负责|责任单位|哪个部门|哪些部门|哪些单位|哪个单位|lead|responsible|in charge", re.I),
    "definition": re.compile(r"是什么意思|什么是|是指|含义|定义|指的是|what (is|does) .*(mean|refer)|definition|meaning", re.I),
    "list": re.compile(r"哪些|哪几|有什么|举措|措施|方面|列出|包括|问题和挑战|困难和挑战|what measures|which measures|list|what are", re.I),
    "figure": re.compile(r"多少|几[个家项座件所]|比例|比重|增长|增速|率|总额|总量|金额|规模|how many|how much|what was|what were|rate|percent|total|amount", re.I),
}


@dataclass
class Pick:
    text: str  # a sentence of the chunk, or a table row
    chunk: Chunk
    score: float
    overlap: float = 0.0  # share of the question's content words the sentence itself contains
    index: int = 0  # position of the sentence in its chunk


def question_kind(question: str) -> str:
    filters = infer_filters(question)
    plan_and_year = filters.five_year_plan and re.search(r"20\d\d年|去年|实际", question)
    if (len(filters.districts) > 1 or len(filters.years) > 1 or plan_and_year
            or re.search(r"对比|比较|相比|分别|一致|差距|还差|compare|versus|vs\.?|difference|both", question, re.I)):
        return "comparison"
    for kind, pattern in _KIND_PATTERNS.items():
        if pattern.search(question):
            return kind
    return "fact"


def question_terms(question: str) -> list[str]:
    """Content words of the question (plus the Chinese terms of its English phrases)."""
    english = is_english(question)
    acronyms = {a.lower() for a in re.findall(r"\b[A-Z0-9]{2,}\b", question)}
    aliases = {a for names in DISTRICT_ALIASES.values() for a in names} | set(DISTRICT_ALIASES)
    terms = []
    for token in tokenize(question) + [t for zh in chinese_terms(question) for t in tokenize(zh)]:
        if token in _QUESTION_WORDS or token in aliases or token == "区":
            continue
        if token.isdigit() and len(token) == 4:
            continue  # a year: handled by the filters, and every chunk of a yearly report has it
        if english and token.isascii() and token not in acronyms and not any(c.isdigit() for c in token):
            continue  # English words cannot match the Chinese text; their Chinese terms were added
        terms.append(token)
    return list(dict.fromkeys(terms))


def requested_unit(question: str) -> str | None:
    """The unit a figure question asks for ("多少亿元" -> 亿元), when it names one."""
    match = re.search(r"(?:多少|几)(亿元|万元|万人|平方米|公里|家|个|件|座|人|户|台|张|所|项)", question)
    return match.group(1) if match else None


def render_row(chunk: Chunk, english: bool) -> str:
    """社会消费品零售总额：年度目标 2000以上，完成情况 1983.09，单位 亿元"""
    fields = [(k, v) for k, v in chunk.fields if v and k not in ("序号", "属性")]
    if chunk.kind == "task":
        values = dict(chunk.fields)
        task = values.get("主要任务", "")
        title = task.split("。")[0]
        label = "lead units" if english else "牵头单位"
        return f"任务{values.get('序号', '')}「{title}」：{label} {values.get('牵头单位', '')}"
    if not fields:
        return chunk.text
    label, rest = fields[0][1], fields[1:]
    parts = [f"{COLUMN_EN.get(k, k) if english else k} {v}" for k, v in rest]
    return f"{label}：" + "，".join(parts)


def _sentences(chunk: Chunk, kind: str) -> list[str]:
    if chunk.kind == "task" and kind != "responsibility":
        # a task's text answers figure and list questions sentence by sentence
        task = dict(chunk.fields).get("主要任务", chunk.text)
        return [s.strip() for s in _SENTENCE.findall(task) if len(s.strip()) >= 4]
    if chunk.fields:
        return [chunk.text]
    return [s.strip() for s in _SENTENCE.findall(chunk.text) if len(s.strip()) >= 4]


def _overlap(terms: list[str], text: str) -> float:
    if not terms:
        return 0.0
    words = set(tokenize(text))
    weight = sum(min(len(t), 4) for t in terms)
    return sum(min(len(t), 4) for t in terms if t in words) / weight


def score_picks(question: str, hits: list[Hit], kind: str) -> list[Pick]:
    terms = question_terms(question)
    unit = requested_unit(question)
    asked_years = set(re.findall(r"(20\d\d)年?", question))
    top = hits[0].score if hits else 1.0
    picks: list[Pick] = []
    for rank, hit in enumerate(hits):
        prior = 0.35 * (hit.score / top) + 0.15 / (rank + 1)
        context_overlap = _overlap(terms, hit.chunk.context)
        for position, sentence in enumerate(_sentences(hit.chunk, kind)):
            as_row = hit.chunk.fields and hit.chunk.kind != "task" or kind == "responsibility"
            searchable = sentence + (" " + hit.chunk.readable_fields() if as_row else "")
            overlap = _overlap(terms, searchable)
            score = 0.55 * overlap + 0.2 * context_overlap + prior
            figures = [n for n in numbers(sentence) if not re.fullmatch(r"(19|20)\d\d", n)]
            if kind in ("figure", "comparison"):
                score += 0.1 if figures else -0.15
                if unit and unit not in searchable:
                    score -= 0.2
            if asked_years:
                # "2023年…" should not be answered from the 2024 plan table of the same report
                where = " ".join(hit.chunk.breadcrumb) + " " + " ".join(k for k, _ in hit.chunk.fields) + " " + sentence
                mentioned = set(re.findall(r"(20\d\d)年", where))
                if mentioned and not mentioned & asked_years:
                    score -= 0.2
            if kind == "responsibility" and hit.chunk.kind == "task":
                score += 0.25
            if kind == "definition" and hit.chunk.kind == "glossary":
                score += 0.2
            picks.append(Pick(sentence, hit.chunk, score, overlap, position))
    picks.sort(key=lambda p: p.score, reverse=True)
    return picks


def select(question: str, hits: list[Hit], next_chunk: Callable[[Chunk], Chunk | None] | None = None) -> tuple[list[Pick], str]:
    """The picks that make the answer, best first: one for a fact, one per district (or per
    document) for a comparison, a lead sentence and the items after it for a list."""
    kind = question_kind(question)
    picks = score_picks(question, hits, kind)
    if not picks:
        return [], kind
    best = picks[0]
    chosen = [best]
    if kind == "comparison":
        for district in infer_filters(question).districts or tuple(DISTRICT_ALIASES):
            if district != best.chunk.district:
                other = next((p for p in picks if p.chunk.district == district and p.score >= 0.5 * best.score), None)
                if other:
                    chosen.append(other)
        # a plan compared with a yearly report: the best pick of a document covering other years
        if len(chosen) == 1:
            other = next((p for p in picks if p.chunk.year != best.chunk.year and p.score >= 0.6 * best.score), None)
            other = other or next((p for p in picks if p.chunk.doc_id != best.chunk.doc_id and p.score >= 0.7 * best.score), None)
            if other:
                chosen.append(other)
    else:
        limit = 4 if kind == "list" else 2
        if kind == "list" and not best.chunk.fields:
            items = _list_items(best, next_chunk)
            if items:
                return [best] + items, kind
        for pick in picks[1:]:
            if len(chosen) >= limit:
                break
            if pick.score >= 0.85 * best.score and pick.text not in {c.text for c in chosen}:
                chosen.append(pick)
    return chosen, kind


_ENUMERATED = re.compile(r"^(?:[一二三四五六七八九]是|[（(][一二三四五六七八九][）)]|第[一二三四五六七八九]，|首先|其次)")


def _list_items(lead: Pick, next_chunk: Callable[[Chunk], Chunk | None] | None) -> list[Pick]:
    """The items that follow a list's lead sentence ("面临不少问题和挑战。一是…二是…"), in its
    chunk and, when the paragraph was split, in the next piece: the enumerated sentences
    if there are any, else the next three sentences."""
    sentences = [(lead.chunk, i, s) for i, s in enumerate(_sentences(lead.chunk, "list")) if i > lead.index]
    neighbour = next_chunk(lead.chunk) if next_chunk else None
    if neighbour is not None and neighbour.breadcrumb == lead.chunk.breadcrumb and neighbour.anchor.split("-p")[0] == lead.chunk.anchor.split("-p")[0]:
        sentences += [(neighbour, i, s) for i, s in enumerate(_sentences(neighbour, "list"))]
    enumerated = [item for item in sentences if _ENUMERATED.match(item[2].lstrip("*"))]
    selected = enumerated[:5] if len(enumerated) >= 2 else sentences[:3]
    seen: set[str] = set()
    picks = []
    for chunk, index, sentence in selected:
        if sentence not in seen:
            seen.add(sentence)
            picks.append(Pick(sentence, chunk, lead.score * 0.9, lead.overlap, index))
    return picks


def compose(question: str, chosen: list[Pick], kind: str) -> list[tuple[str, str, Chunk]]:
    """Answer sentences (prefix, text without markers) with the chunk each one cites."""
    english = is_english(question)
    lines = []
    for pick in chosen:
        as_row = pick.chunk.fields and (pick.chunk.kind != "task" or kind == "responsibility")
        text = render_row(pick.chunk, english) if as_row else pick.text
        prefix = ""
        if english:  # the reports are Chinese: say in English where the quoted passage is from
            place = "Minhang" if pick.chunk.district == "闵行区" else "Jing'an" if pick.chunk.district == "静安区" else pick.chunk.district
            prefix = f"{place}, {pick.chunk.title[:24]}…: "
        lines.append((prefix, text, pick.chunk))
    return lines


MIN_OVERLAP = 0.3  # share of the question's content words the best sentence must contain: measured on the eval set (eval/reports)


def answers_question(question: str, best: Pick, kind: str) -> bool:
    """Whether the best sentence can answer at all: it must contain most of what the question
    is about, and a figure question naming a unit ("多少亿元") needs that unit in it."""
    if best.overlap < MIN_OVERLAP and question_terms(question):
        return False
    unit = requested_unit(question)
    searchable = best.text + " " + best.chunk.readable_fields()
    if kind in ("figure", "fact") and unit and unit not in searchable:
        return False
    return True
