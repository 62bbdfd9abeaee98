"""Citation verification, the same for every answer mode.

A sentence keeps its citation only if the cited chunk supports it: every number in the
sentence appears in the chunk (full-width digits, thousands separators and `_{}` normalized)
and the sentence shares enough content words with it. An unsupported citation moves to a
retrieved chunk that does support the sentence, or is dropped and the sentence is marked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.indexing.lexical import tokenize
from assistant.models import Chunk
from assistant.ingest.normalize import numbers

MIN_OVERLAP = 0.35  # share of the sentence's content words found in the cited chunk
_YEAR_LIKE = re.compile(r"^(19|20)\d\d$")
_MARKER = re.compile(r"\s*\[(\d+)\]")


@dataclass
class Sentence:
    text: str  # without citation markers; what verification checks
    chunk_ids: list[str]
    supported: bool = True
    prefix: str = ""  # shown before the text, not a claim (e.g. "Minhang (…):" in English answers)
    chunks: list[Chunk] = field(default_factory=list)  # the cited chunks, when the composer has them at hand
    derived: tuple[str, ...] = ()  # numbers computed from the cited figures (a difference, a sum), not quoted


@dataclass
class VerificationStats:
    checked: int = 0
    kept: int = 0
    moved: int = 0
    dropped: int = 0
    unsupported_sentences: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def chunk_evidence_text(chunk: Chunk) -> str:
    """What a chunk can vouch for: its text, its headings (a list item may be a sub-heading), a row's table caption and,
    for rows and tasks, the column headers."""
    text = chunk.text + "\n" + " ".join(chunk.breadcrumb) + ("\n" + chunk.caption if chunk.caption else "")
    return text + "\n" + chunk.readable_fields() if chunk.fields else text


def _content_tokens(text: str) -> set[str]:
    return {t for t in tokenize(text) if len(t) > 1 or t.isdigit()}


def support(sentence: str, chunk: Chunk) -> float:
    """0 when a number of the sentence is missing from the chunk, else the share of the
    sentence's content words that the chunk contains."""
    evidence = chunk_evidence_text(chunk)
    chunk_numbers = set(numbers(evidence))
    for number in numbers(sentence):
        if number not in chunk_numbers:
            return 0.0
    words = _content_tokens(sentence)
    if not words:
        return 1.0
    chunk_words = _content_tokens(evidence)
    return len(words & chunk_words) / len(words)


def verify(sentences: list[Sentence], retrieved: dict[str, Chunk], min_overlap: float = MIN_OVERLAP) -> tuple[list[Sentence], VerificationStats]:
    stats = VerificationStats()
    for sentence in sentences:
        if not sentence.chunk_ids:
            continue
        if sentence.derived:
            _verify_computed(sentence, retrieved, stats)
            continue
        kept = []
        for chunk_id in sentence.chunk_ids:
            stats.checked += 1
            chunk = retrieved.get(chunk_id)
            if chunk is not None and support(sentence.text, chunk) >= min_overlap:
                if chunk_id not in kept:  # it may already be there (cited twice, or moved to)
                    kept.append(chunk_id)
                stats.kept += 1
                continue
            best_id, best = None, 0.0
            for other_id, other in retrieved.items():
                score = support(sentence.text, other)
                if score > best:
                    best_id, best = other_id, score
            if best_id is not None and best >= min_overlap and best_id not in kept:
                kept.append(best_id)
                stats.moved += 1
            else:
                stats.dropped += 1
        sentence.chunk_ids = kept
        if not kept:
            sentence.supported = False
            stats.unsupported_sentences += 1
    return sentences, stats


def _verify_computed(sentence: Sentence, retrieved: dict[str, Chunk], stats: VerificationStats) -> None:
    """A computed sentence cites all of its inputs: every number it quotes must be in one of them;
    the numbers it derived (the difference, the sum) are the only ones allowed to be new."""
    cited = [retrieved[c] for c in sentence.chunk_ids if c in retrieved]
    stats.checked += len(sentence.chunk_ids)
    quoted = set()
    for chunk in cited:
        quoted |= set(numbers(chunk_evidence_text(chunk)))
    # a year in the sentence names a side ("比2025年实际完成多66公里"), it is not a figure to find
    if cited and all(n in quoted or n in sentence.derived or _YEAR_LIKE.match(n) for n in numbers(sentence.text)):
        stats.kept += len(cited)
        sentence.chunk_ids = [c.chunk_id for c in cited]
    else:
        stats.dropped += len(sentence.chunk_ids)
        sentence.chunk_ids = []
        sentence.supported = False
        stats.unsupported_sentences += 1


def split_cited(text: str) -> list[tuple[str, list[int]]]:
    """'A [1]。B [2][3]。' -> [('A。', [1]), ('B。', [2, 3])]: sentences with the markers that follow them."""
    parts: list[tuple[str, list[int]]] = []
    for raw in re.split(r"(?<=[。！？!?\n])|(?<=\.)\s+(?=[A-Z])", text):
        if not raw.strip():
            continue
        markers = [int(m) for m in _MARKER.findall(raw)]
        clean = _MARKER.sub("", raw).strip()
        if clean:
            parts.append((clean, markers))
        elif markers and parts:
            parts[-1][1].extend(markers)
    return parts
