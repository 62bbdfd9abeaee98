from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.chunk import ChunkSettings, chunk_corpus

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
CJK_SPACE = re.compile(r"[\u4e00-\u9fff][ \u3000]+[\u4e00-\u9fff]")  # tabs separate table cells


@pytest.fixture(scope="session")
def corpus():
    return chunk_corpus(str(CORPUS), ChunkSettings())


@pytest.fixture(scope="session")
def parsed_by_id(corpus):
    return {p.document.doc_id: p for p in corpus.parsed}
