"""The parts of a question that asks several things ("静安2023年加装电梯开工目标完成了吗？完工了多少台？",
"How many first stores did Jing'an add in 2023, and how many were in the Nanjing West Road district?").

The whole question is still answered as one; each part is answered on its own as well, a later part
as a follow-up of the one before it, so that a fact the whole question's best passage lacks is found
in the passage that states it."""

from __future__ import annotations

import re

from assistant.query.terms import is_english
from assistant.vocab import Vocabulary

MAX_PARTS = 3  # more parts than this is a list of questions, answered as one
_MIN_CHARS = 3  # a part shorter than this ("多少？") belongs to its neighbour


def question_parts(text: str, vocab: Vocabulary) -> list[str]:
    """The question's parts, each asking something; [text] when it asks one thing."""
    english = is_english(text)
    starts = "|".join(map(re.escape, vocab.part_starts_en))
    if english:
        pieces = re.split(rf"(?<=\?)\s+|,?\s+and\s+(?=(?:{starts})\b)|,\s+(?=(?:{starts})\b)", text, flags=re.I)
    else:
        pieces = re.split(r"(?<=[？?；;])", text)
    parts: list[str] = []
    for piece in (p.strip(" ，,") for p in pieces if p and p.strip(" ，,？?；;")):
        asks = _asks(piece, english, vocab, starts)
        if parts and (not asks or len(re.sub(r"\W", "", piece)) < _MIN_CHARS):
            parts[-1] = parts[-1] + piece  # "按2023年底的累计数算" is the next part's premise, not a question
        else:
            parts.append(piece)
    if len(parts) < 2 or len(parts) > MAX_PARTS or not _asks(parts[0], english, vocab, starts):
        return [text]
    return parts


def _asks(piece: str, english: bool, vocab: Vocabulary, starts: str) -> bool:
    """Whether a piece asks something: a question word (English: one of `starts`, or a question mark)."""
    lowered = piece.lower()
    if english:
        return bool(re.search(rf"\b(?:{starts})\b", lowered)) or lowered.endswith("?")
    return any(word in lowered for word in vocab.part_asks)
