"""One answer for a question of several parts: the whole question's answer, plus what its parts'
own answers state that it does not ("开工目标完成了吗？完工了多少台？": the 完工 figure sits in another
sentence than the target row). Each added sentence keeps its citations, renumbered into the answer's.

When the whole question is refused but a part is answered, the answer is what the answered parts
say. A refused part adds nothing (a later part read on its own, "23年做到了多少", is often refused for
its own short wording while the other part's sentence answers it), except a part about a place or
year the library lacks: its refusal says so ("闵行…是多少？那浦东新区呢？")."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Iterator, Mapping

from assistant.answer.readable import repeats
from assistant.ingest.normalize import letters
from assistant.models import Answer, Citation
from assistant.query.parse import within_scope
from assistant.vocab import vocabulary

_MARKER = re.compile(r"\[(\d+)\]")


def answer_parts(pipeline, question: str, parts: list[str], history: list[tuple[str, str]], mode: str,
                 filters) -> Iterator[str | Answer]:
    """The whole question answered by `pipeline` (an AnswerPipeline), each part too (a later part as a
    follow-up of the one before it, in the same scope), and the combined answer streamed by sentence."""
    started = time.perf_counter()
    asked = pipeline.understand(question, history, filters)
    whole = final(pipeline._stream_query(asked, filters, mode, started))
    answers, previous = [], None
    for part in parts:
        if previous is None:  # the first part of a follow-up ("约束性指标举了哪几个例子？预期性指标呢？") keeps its scope
            query = pipeline.understand(part, history, filters)
            query = within_scope(query, asked) if asked.follow_up else query
        else:
            query = pipeline.parser.parse_part(part, previous, filters)
        answers.append(final(pipeline._stream_query(query, filters, mode, time.perf_counter())))
        previous = query
    answer = combine(whole, answers, pipeline.coverage.doc_districts)
    answer.timings["total"] = (time.perf_counter() - started) * 1e3
    for end in sentence_ends(answer.text):
        yield answer.text[:end]
    yield answer


def sentence_ends(text: str) -> list[int]:
    """Where a streamed answer's text grows to: the end of each line."""
    ends = [m.end() for m in re.finditer(r"\n", text)]
    return ends + [len(text)] if not ends or ends[-1] != len(text) else ends


def final(events: Iterator[str | Answer]) -> Answer:
    """The Answer a pipeline stream ends with."""
    return next(e for e in events if isinstance(e, Answer))


def combine(whole: Answer, parts: list[Answer], district_of: Mapping[str, str] | None = None) -> Answer:
    """`district_of`: document -> its district. A whole question naming no district is answered from
    the district its answer comes from ("表一里新增就业岗位数是第几项？年度目标和完成情况各是多少"): a part's
    sentence from another district is no part of that answer."""
    answered = [a for a in parts if not a.refused]
    if not answered:
        return whole
    base = [] if whole.refused else [whole]
    citations: list[Citation] = list(whole.citations) if base else []
    lines = _lines(whole) if base else []
    subject = _subject_words(whole)
    places: set[str] = set()
    if district_of is not None and whole.query is not None and not whole.query.districts:
        placed = whole if base and whole.citations else answered[0]  # else the first answered part's place
        places = {district_of.get(c.doc_id, "") for c in placed.citations}
    for answer in answered:
        for line in _lines(answer):
            content = _content(line)
            said = [i for i, old in enumerate(lines) if _content(old) and _content(old) in content]
            if not content or any(content in _content(old) or repeats(_MARKER.sub("", line), _MARKER.sub("", old)) for old in lines):
                continue  # the whole answer says it already
            if places and any(district_of.get(c.doc_id, "") not in places for c in answer.citations if f"[{c.n}]" in line):
                continue
            cited = {c.chunk_id for c in citations}
            own = {c.chunk_id for c in answer.citations if f"[{c.n}]" in line}
            if base and subject and not any(word in content for word in subject) and not own <= cited:
                continue  # about something else ("增幅大概多少" read alone found another growth rate)
            line = _renumber(line, answer.citations, citations)
            if said:  # the part's sentence says all an earlier line said, and more: it takes that line's place
                lines[said[0]] = line
                lines = [old for i, old in enumerate(lines) if i not in said[1:]]
            else:
                lines.append(line)
    # a part about a place or year the library lacks says so (its refusal names what the library holds)
    lines += [_lines(a)[0] for a in parts if a.refused and _out_of_scope(a) and _lines(a) and _lines(a)[0] not in lines]
    if not lines:
        return whole
    notes = _notes(base + answered)
    text = "\n".join(lines + notes)
    verification = dict(whole.verification)
    for answer in answered:
        for key, value in answer.verification.items():
            verification[key] = verification.get(key, 0) + value
    first = base[0] if base else answered[0]
    return replace(first, text=text, citations=citations, refused=False, question=whole.question,
                   verification=verification, closest=[] if base else whole.closest)


def _out_of_scope(answer: Answer) -> bool:
    return answer.query is not None and bool(answer.query.other_places or answer.query.unknown_years)


def _content(line: str) -> str:
    return letters(_MARKER.sub("", line))


def _subject_words(whole: Answer) -> list[str]:
    """The whole question's content words (Chinese terms included for an English one)."""
    query, vocab = whole.query, vocabulary()
    return [t for t in (query.terms if query else ()) if len(t) > 1 and not t.isascii()
            and t not in vocab.broad and t not in vocab.table_word_set]


def _lines(answer: Answer) -> list[str]:
    """The answer's sentences, without the reading notes that close it."""
    notes = set(_note_lines(answer))
    return [line for line in answer.text.split("\n") if line.strip() and line not in notes]


def _note_lines(answer: Answer) -> list[str]:
    query = answer.query
    if query is None:
        return []
    return [f"({note})" if query.english else f"（{note}）" for note in query.notes]


def _notes(answers: list[Answer]) -> list[str]:
    return list(dict.fromkeys(line for answer in answers for line in _note_lines(answer) if line in answer.text))


def _renumber(line: str, own: list[Citation], citations: list[Citation]) -> str:
    """The line's [n] markers as numbers of `citations`, adding the passages not cited yet."""
    by_number = {c.n: c for c in own}

    def number(match: re.Match[str]) -> str:
        cited = by_number.get(int(match.group(1)))
        if cited is None:
            return match.group(0)
        existing = next((c.n for c in citations if c.chunk_id == cited.chunk_id), None)
        if existing is None:
            existing = len(citations) + 1
            citations.append(replace(cited, n=existing))
        return f"[{existing}]"

    return _MARKER.sub(number, line)
