"""Lexical search: jieba-segmented, folded text scored with BM25 (bm25s, sparse matrices)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import bm25s
import jieba
import numpy as np

from assistant.ingest.normalize import fold

jieba.setLogLevel(logging.WARNING)

# Single characters that carry no meaning for search; multi-character words are kept.
_STOP = set("的了和与及或在是为对将等年个把被这那其之以于中并也而且各有")
_TOKEN = re.compile(r"[\w.%+\-/]+", re.UNICODE)


# Sized for every sentence the answerer scores over a long-running server (the eval's 270 questions
# touch ~6,800 texts; a miss costs a jieba pass under the GIL: issue 12's throughput notes).
@lru_cache(maxsize=32768)
def _segment(text: str) -> tuple[str, ...]:
    # cut_for_search also yields the short words inside long compounds
    # ("社会消费品零售总额" -> 社会, 消费, 消费品, 零售, 总额, ...), so a paraphrase still matches.
    tokens = []
    for token in jieba.cut_for_search(text):
        token = token.strip()
        if not token or not _TOKEN.fullmatch(token) or token in _STOP:
            continue
        tokens.append(token)
    return tuple(tokens)


def tokenize(text: str) -> list[str]:
    return list(_segment(fold(text)))


class LexicalIndex:
    def __init__(self, bm25: bm25s.BM25) -> None:
        self.bm25 = bm25
        self.vocab: dict[str, int] = bm25.vocab_dict

    @classmethod
    def build(cls, texts: list[str]) -> "LexicalIndex":
        bm25 = bm25s.BM25()
        bm25.index([tokenize(t) or ["\u2205"] for t in texts], show_progress=False)
        return cls(bm25)

    def save(self, directory: Path) -> None:
        self.bm25.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex":
        return cls(bm25s.BM25.load(str(directory), show_progress=False))

    def words_by_group(self, groups: list[str]) -> dict[str, set[str]]:
        """The words the documents of each group use (groups[i]: document i's group, e.g. its
        district), read from the index's postings instead of segmenting every text again."""
        indptr, indices = self.bm25.scores["indptr"], self.bm25.scores["indices"]
        token_of_posting = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        group_of_posting = np.asarray(groups, dtype=object)[indices]
        word = {i: w for w, i in self.vocab.items()}
        return {g: {word[int(t)] for t in np.unique(token_of_posting[group_of_posting == g])} for g in set(groups)}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for the query (zeros when no query word is known)."""
        tokens = [t for t in tokenize(query) if t in self.vocab]
        if not tokens:
            return np.zeros(self.bm25.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)


@dataclass(frozen=True)
class IndexWords:
    """The words an index's chunks use: all of them, and those of each district's documents.

    The query parser and the refusal checks need only these, not the BM25 postings, so a build
    writes them to a small file (`words.json`) that a replica loads instead of the bm25s index
    when Milvus serves the lexical search (issue 13: per-replica memory)."""

    vocabulary: frozenset[str]
    by_district: dict[str, frozenset[str]]

    FILE = "words.json"

    def known(self, term: str) -> bool:
        return term in self.vocabulary

    @classmethod
    def of(cls, lexical: LexicalIndex, districts: list[str]) -> "IndexWords":
        """districts[i]: chunk i's district (the chunks in index order)."""
        groups = lexical.words_by_group(districts)
        return cls(frozenset(lexical.vocab), {d: frozenset(w) for d, w in groups.items()})

    def save(self, directory: Path) -> None:
        words = sorted(self.vocabulary)
        number = {w: i for i, w in enumerate(words)}
        data = {"words": words, "districts": {d: sorted(number[w] for w in ws) for d, ws in sorted(self.by_district.items())}}
        (directory / self.FILE).write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "IndexWords":
        data = json.loads((directory / cls.FILE).read_text(encoding="utf-8"))
        words = data["words"]
        return cls(frozenset(words), {d: frozenset(words[i] for i in ids) for d, ids in data["districts"].items()})
