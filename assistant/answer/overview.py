"""Answers to vague questions ("经济怎么样", "介绍一下静安"): the report's own summary.

The summary of a yearly report is the first paragraph of its outcome part that carries headline
figures; its figure-bearing sentences are quoted, each cited. Without a district (or with both)
there is no single report to summarize, and the pipeline asks a clarifying question instead.
"""

from __future__ import annotations

import re

import numpy as np

from assistant.models import Query
from assistant.ingest.normalize import numbers, sentences
from assistant.answer.verify import Sentence

MIN_FIGURES = 3  # a paragraph with fewer figures is an introduction, not a summary
MAX_SENTENCES = 3


def _figures(text: str) -> int:
    return sum(1 for n in numbers(text) if not re.fullmatch(r"(19|20)\d\d", n))


def overview_sentences(query: Query, retriever) -> list[Sentence]:
    if len(query.districts) != 1:
        return []
    coverage = retriever.coverage
    reports = set(coverage.documents_of(query.districts[0], ("yearly_report",)))
    years = set(query.years)
    columns = retriever.columns  # the candidates from the code columns: only they are read from the table
    candidates = columns.doc_id.isin(reports) & columns.kind.isin(["paragraph"]) & (coverage.period_kinds == "outcome")
    for row in np.flatnonzero(candidates):
        chunk, period = retriever.chunks[int(row)], coverage.periods[row]
        if (years and period.year not in years) or _figures(chunk.text) < MIN_FIGURES:
            continue
        picked = [s.strip() for s in sentences(chunk.text) if _figures(s) >= 1][:MAX_SENTENCES]
        prefix = f"{chunk.district} ({period.year}): " if query.english else f"{chunk.district}{period.year}年总体情况："
        return [Sentence(text, [chunk.chunk_id], prefix=prefix if i == 0 else "", chunks=[chunk]) for i, text in enumerate(picked)]
    return []
