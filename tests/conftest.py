from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.ingest.chunk import ChunkSettings, chunk_corpus

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
CJK_SPACE = re.compile(r"[\u4e00-\u9fff][ \u3000]+[\u4e00-\u9fff]")  # tabs separate table cells


@pytest.fixture(scope="session")
def corpus():
    return chunk_corpus(str(CORPUS), ChunkSettings())


@pytest.fixture(scope="session")
def parsed_by_id(corpus):
    return {p.document.doc_id: p for p in corpus.parsed}


@pytest.fixture(scope="session")
def real_assistant():
    """The real bundled model, the real FAISS index of the real corpus (built on first use)."""
    from assistant.service import Assistant

    return Assistant.load(progress=False)


@pytest.fixture()
def fake_settings(tmp_path):
    """Settings for fast tests: a copy of the real corpus, a temporary index, the fake embedder."""
    import shutil

    from assistant.config import load_settings

    corpus_copy = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus_copy)
    return load_settings(corpus_dir=str(corpus_copy), index_dir=str(tmp_path / "index"), model="fake:64")
