"""The extractive answerer (default, no LLM): pick the sentences and table rows of the
retrieved chunks that answer the question and write them out, each with its citation.

It only ever copies what a report says, so it cannot state what the reports do not say;
when nothing retrieved matches the question well enough it reports that instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from assistant.answer.phrasing import row_text
from assistant.answer.task_rows import task_sentence
from assistant.answer.answer_check import contradicts, premise_conflict, states_measure, subject_clauses
from assistant.indexing.lexical import tokenize
from assistant.models import Chunk, Hit, Query
from assistant.ingest import roles
from assistant.ingest.facts import row_cells, row_label
from assistant.ingest.normalize import numbers, sentences
from assistant.vocab import vocabulary

@dataclass
class Pick:
    text: str  # a sentence of the chunk, or a table row
    chunk: Chunk
    score: float
    overlap: float = 0.0  # share of the question's content words the sentence itself contains
    index: int = 0  # position of the sentence in its chunk


def answer_kind(query: Query) -> str:
    """The answer shape the extractive answerer knows for the query's intent."""
    return {"target_check": "figure", "overview": "fact"}.get(query.intent, query.intent)


def render_row(chunk: Chunk, english: bool) -> str:
    """社会消费品零售总额：年度目标为2000以上，完成情况为1983.09，单位为亿元"""
    if chunk.kind == "task":
        return task_sentence(chunk, english).text
    return row_text(chunk, english) if row_cells(chunk.fields) else chunk.text


def _sentences(chunk: Chunk, kind: str) -> list[str]:
    if chunk.kind == "task" and kind != "responsibility":
        # a task's text answers figure and list questions sentence by sentence
        task = roles.task_text(chunk.fields) or chunk.text
        return [s.strip() for s in sentences(task) if len(s.strip()) >= 4]
    if chunk.fields:
        return [chunk.text]
    return [s.strip() for s in sentences(chunk.text) if len(s.strip()) >= 4]


def _overlap(terms: list[str], text: str) -> float:
    if not terms:
        return 0.0
    words = set(tokenize(text))
    weight = sum(min(len(t), 4) for t in terms)
    return sum(min(len(t), 4) for t in terms if t in words) / weight


def score_picks(query: Query, hits: list[Hit], kind: str) -> list[Pick]:
    terms = list(query.terms)
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
            if contradicts(query, searchable):
                score -= 0.3  # about the alike quantity (开工 for 完工)
            if query.measure:
                # the asked quantity (amount, growth, share, count) must be what the sentence states
                score += 0.1 if states_measure(query, sentence, hit.chunk) else -0.2
            if as_row and hit.chunk.kind != "task" and terms:
                # a row about "工业固定资产投资" is a near miss for "固定资产投资": penalize qualifiers not asked
                label = row_label(hit.chunk.fields)
                name = tokenize(label)
                extra = [t for t in name if len(t) > 1 and not any(term in t for term in terms) and not form_word(t, query.measure)]
                score -= min(0.25 * len(extra), 0.5)
            elif kind in ("figure", "comparison", "fact") and subject_clauses(query, sentence).text.count("、") >= 2:
                score -= 0.15  # a list of indicators ("A、B、C等4项指标…") is about them together, not one figure
            if kind == "responsibility" and hit.chunk.kind == "task":
                score += 0.25
            if kind == "definition" and hit.chunk.kind == "glossary":
                score += 0.2
            picks.append(Pick(sentence, hit.chunk, score, overlap, position))
    picks.sort(key=lambda p: p.score, reverse=True)
    return picks


def form_word(token: str, measure: str = "") -> bool:
    """A word that says what is asked (多少) or, for the asked measure, what is measured (增长率 when a
    growth rate is asked; any measure word when measure is "*"), not what about."""
    vocab = vocabulary()
    return token in vocab.stopwords or any(token in w or w in token for m in vocab.measures
                                           if measure == "*" or m.name == measure for w in m.words)


def select(query: Query, picks: list[Pick], next_chunk: Callable[[Chunk], Chunk | None] | None = None) -> list[Pick]:
    """The picks that make the answer, best first, from the scored sentences (score_picks with the
    query's answer_kind): one for a fact, one per district (or per period) for a comparison, a lead
    sentence and the items after it for a list."""
    kind = answer_kind(query)
    if not picks:
        return []
    best = picks[0]
    chosen = [best]
    # "③功能性外资机构数:指…", "“物码”是以…": the sentence that defines the term is the answer, alone
    defining = next((p for p in picks[:DEFINITION_PICKS] if p.overlap >= best.overlap and _defines(query, p.text)), None
                    ) if kind in ("definition", "fact") else None
    if kind == "comparison":
        # each side states the asked measure where one does (growth with growth)
        stated = [p for p in picks if states_measure(query, p.text, p.chunk)] if query.measure else picks
        best = stated[0] if stated and stated[0].score >= 0.7 * best.score else best
        chosen = [best]
        for district in query.districts:
            if district != best.chunk.district:
                other = next((p for p in stated + picks if p.chunk.district == district and p.score >= 0.5 * best.score), None)
                if other:
                    chosen.append(other)
        # a plan compared with a yearly report: the best pick of a document covering other years
        if len(chosen) == 1:
            other = next((p for p in picks if p.chunk.year != best.chunk.year and p.score >= 0.6 * best.score), None)
            other = other or next((p for p in picks if p.chunk.doc_id != best.chunk.doc_id and p.score >= 0.7 * best.score), None)
            if other:
                chosen.append(other)
    elif defining is not None:
        return [defining]
    else:
        if best.overlap < MIN_OVERLAP:
            # ranked first by its passage's score, but without the question's words: a close second with them wins
            best = next((p for p in picks if p.overlap >= MIN_OVERLAP and p.score >= 0.8 * best.score), best)
            chosen = [best]
        if query.measure and not states_measure(query, best.text, best.chunk):
            # a close second that states the asked quantity beats a best pick that does not
            best = next((p for p in picks if p.score >= 0.8 * best.score and p.overlap >= best.overlap
                         and states_measure(query, p.text, p.chunk)), best)  # …about the same subject
            chosen = [best]
        limit = 4 if kind == "list" else 2
        if kind == "list" and not best.chunk.fields:
            items = _list_items(best, next_chunk)
            if items:
                return [best] + items
        for pick in picks[1:]:
            if len(chosen) >= limit:
                break
            # a question naming no place is about the best pick's: a close pick of another place is not more of it
            if (pick.score >= 0.85 * best.score and pick.text not in {c.text for c in chosen}
                    and pick.chunk.district == best.chunk.district and states_measure(query, pick.text, pick.chunk)):
                chosen.append(pick)
    return chosen


DEFINITION_PICKS = 6  # sentences searched for the one that defines the asked term
_DEFINES = re.compile(r"^[”\"’》]?[¹²³⁴⁵⁶⁷⁸⁹\d①-⑩]*\s*[:：]?\s*(?:是指|指|即|是以|是)")


def _defines(query: Query, text: str) -> bool:
    """The sentence defines one of the question's terms: the term, then (a note mark, a colon) 指/是指/是."""
    lowered = text.lower()
    for term in (t for t in query.terms if len(t) > 1):
        at = lowered.find(term)
        if at >= 0 and _DEFINES.match(lowered[at + len(term):at + len(term) + 8]):
            return True
    return False


_ENUMERATED = re.compile(r"^(?:[一二三四五六七八九]是|[（(][一二三四五六七八九][）)]|第[一二三四五六七八九]，|首先|其次)")


def _after_colon(sentence: str) -> str:
    """"主要表现在四方面：一是…" -> "一是…"; a sentence without an enumerated part after a colon as it is."""
    head, colon, tail = sentence.partition("：")
    return tail.strip() if colon and _ENUMERATED.match(tail.strip()) else sentence


SEMICOLON_ITEMS = 15  # items of a "…目标是：A；B；…。" list followed across its paragraphs


def _semicolon_run(lead: Pick, sentences: list, next_chunk: Callable[[Chunk], Chunk | None] | None) -> list:
    """The items of a list its lead opens with a colon and whose items end in "；" ("主要预期目标是：地区生产
    总值按增长5%安排；" / "一般公共预算收入增长2%；" / … / "…完成国家下达任务。"), followed into the next
    paragraphs up to the item ending the list; [] for any other lead."""
    if "：" not in lead.text or not lead.text.rstrip().endswith(("；", ";")):
        return []

    def following():  # the lead's own sentences, then those of the paragraphs after them under the same heading
        yield from sentences
        chunk = next_chunk(sentences[-1][0] if sentences else lead.chunk) if next_chunk else None
        while chunk is not None and chunk.breadcrumb == lead.chunk.breadcrumb and not chunk.fields:
            yield from ((chunk, i, sentence) for i, sentence in enumerate(_sentences(chunk, "list")))
            chunk = next_chunk(chunk)
    items = []
    for item in following():
        items.append(item)
        if not item[2].rstrip().endswith(("；", ";")) or len(items) >= SEMICOLON_ITEMS:
            break
    return items


def _list_items(lead: Pick, next_chunk: Callable[[Chunk], Chunk | None] | None) -> list[Pick]:
    """The items that follow a list's lead sentence ("面临不少问题和挑战。一是…二是…"), in its
    chunk and, when the paragraph was split, in the next piece: the enumerated sentences
    if there are any, else the next three sentences."""
    sentences = [(lead.chunk, i, s) for i, s in enumerate(_sentences(lead.chunk, "list")) if i >= lead.index]
    neighbour = next_chunk(lead.chunk) if next_chunk else None
    if neighbour is not None and neighbour.breadcrumb == lead.chunk.breadcrumb and neighbour.anchor.split("-p")[0] == lead.chunk.anchor.split("-p")[0]:
        sentences += [(neighbour, i, s) for i, s in enumerate(_sentences(neighbour, "list"))]
    # the first item may follow the lead's colon in one sentence ("主要表现在四方面：一是核心引擎能级不足。")
    sentences = [(c, i, _after_colon(s)) for c, i, s in sentences]
    sentences = [item for item in sentences if item[1] > lead.index or item[0] is not lead.chunk or _ENUMERATED.match(item[2])]
    enumerated = [item for item in sentences if _ENUMERATED.match(item[2].lstrip("*"))]
    selected = enumerated[:5] if len(enumerated) >= 2 else _semicolon_run(lead, sentences, next_chunk) or sentences[:3]
    seen: set[str] = set()
    picks = []
    for chunk, index, sentence in selected:
        if sentence not in seen:
            seen.add(sentence)
            picks.append(Pick(sentence, chunk, lead.score * 0.9, lead.overlap, index))
    return picks


MIN_TASK_OVERLAP = 0.5  # a responsibility answer names most of the task asked about: measured on the eval set
MIN_OVERLAP = 0.3  # share of the question's content words the best sentence must contain: measured on the eval set (eval/reports)


def mismatch(query: Query, best: Pick, kind: str) -> str:
    """Why the best sentence does not answer the question ("" when it does): it must contain most
    of what the question is about (overlap), be the asked task (task), carry the figures the question
    quotes (figure), not be about the alike quantity (contrast), and state the asked measure (measure)."""
    if best.overlap < MIN_OVERLAP and query.terms:
        return "overlap"
    if kind == "responsibility" and (best.chunk.kind != "task" and not roles.names_unit(best.text) or best.overlap < MIN_TASK_OVERLAP):
        return "task"  # a task that is not in the table (nor a duty given in the text) has no lead units; a near task is not it
    evidence = best.text + " " + best.chunk.readable_fields()
    figures = [t for t in query.terms if re.fullmatch(r"\d+(\.\d+)?", t) and not re.fullmatch(r"(19|20)\d\d", t)]
    if kind in ("figure", "fact", "comparison") and any(f not in evidence for f in figures):
        return "figure"  # "开工的31个项目" is answered by the sentence about those 31, not another project
    # a code of letters and digits (PM10, PM2.5, 5G; not an ordinal like 14th) names its own quantity
    codes = [t for t in query.terms if re.fullmatch(r"[a-z]+\d+(\.\d+)?|\d+[a-z]+", t.lower())
             and not re.fullmatch(r"\d+(st|nd|rd|th)", t.lower())]
    if kind in ("figure", "fact", "comparison") and codes and not all(
            c.lower() in re.sub(r"[_{}\s]", "", evidence.lower()) for c in codes):
        return "code"  # "PM10浓度" is not answered by the sentence about PM2.5
    if query.must_mention and not any(name in (evidence + best.chunk.title).lower() for name in query.must_mention):
        return "place"  # "深圳市2025年GDP": the province's figure is not the city's
    if any(str(year) not in evidence + " ".join(best.chunk.breadcrumb) for year in query.named_years):
        return "year"  # "2030年森林覆盖率要达到多少": a 2024 target is not the 2030 one no report sets
    if contradicts(query, evidence):
        return "contrast"  # "预算支出" is not answered by a sentence about 预算收入
    return "" if states_measure(query, best.text, best.chunk) else "measure"


def premise_correction(query: Query, picks: list[Pick]) -> tuple[str, Pick] | None:
    """The figure (and its pick) that contradicts the question's premise, from the picks about
    the same subject (the best one may be a table row without the growth rate)."""
    for pick in picks:
        if pick.overlap >= 0.6 or pick is picks[0]:
            conflict = premise_conflict(query, pick.text + " " + pick.chunk.readable_fields(), pick.chunk.fields)
            if conflict:
                return conflict, pick
    return None
