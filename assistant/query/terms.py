"""English questions over Chinese reports: detect them and add the Chinese terms of their phrases.

The lexical side cannot match an English question against Chinese reports; the dense model can,
but exact indicators ("total retail sales of consumer goods") are where it is weakest. Adding the
Chinese term of each English phrase (vocab/english.toml) gives BM25 something to match, and lets
the extractive answerer label table columns in English.
"""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.vocab import vocabulary

_LATIN = re.compile(r"[A-Za-z]")


def column_en(name: str) -> str:
    return vocabulary().columns_en.get(name, name)


def is_english(text: str) -> bool:
    """Mostly Latin letters and no more than a few Chinese characters."""
    latin = len(_LATIN.findall(text))
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    return latin > 0 and latin >= 3 * cjk


@lru_cache(maxsize=4)
def _by_length(count: int) -> tuple[str, ...]:
    """The English phrases, longest first (sorted once per vocabulary, not per question)."""
    return tuple(sorted(vocabulary().english, key=len, reverse=True))


def chinese_terms(text: str) -> list[str]:
    """The Chinese terms of the English phrases found in the text, longest phrases first."""
    phrases = vocabulary().english
    lowered = text.lower()
    found: list[str] = []
    for phrase in _by_length(len(phrases)):
        # the substring test first: a regex per phrase and question would thrash re's cache (500+ phrases)
        if phrase in lowered and re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", lowered):
            term = phrases[phrase]
            if term not in found:
                found.append(term)
            lowered = lowered.replace(phrase, " ")
    return found


def expand_query(question: str) -> str:
    """The question plus the Chinese terms of its English phrases (for lexical search)."""
    terms = chinese_terms(question)
    return question + (" " + " ".join(terms) if terms else "")
