"""The same search gives the same ranking in every process (issue 22): two runs of one eval gave one
answer differently. String hashing differs per process (PYTHONHASHSEED) and reaches the index through
bm25s, whose vocabulary ids follow a set of words; equal fused scores must not be ordered by anything
but the chunks' reading order. Each subprocess builds its own index (fake embedder, the real corpus)
and searches it; the rankings and scores must be identical."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["闵行区2023年社会消费品零售总额是多少？", "静安区2024年固定资产投资目标", "人工智能产业", "责任单位 区发展改革委",
             "what is the GDP of Minhang in 2023", "十四五 规划目标 绿色低碳", "营商环境 优化", "人才 引进", "5G基站"]

SEARCH = r"""
import json, sys
from assistant.config import load_settings
from assistant.indexing.build import build_index
from assistant.indexing.embed import load_embedder
from assistant.indexing.load import load_index
from assistant.answer.retrieve import HybridRetriever
from assistant.query import QueryParser

corpus, index_dir, fusion, questions = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
settings = load_settings(corpus_dir=corpus, index_dir=index_dir, model="fake:64", fusion=fusion)
build_index(settings, progress=False)
index = load_index(settings)
retriever = HybridRetriever(index, load_embedder(settings.model), settings)
parser = QueryParser(retriever.coverage, index.words.known)
positions = index.positions
out = []
for question in questions:
    query = parser.parse(question)
    hits = retriever.search(query, k=20).hits
    out.append([[h.chunk.chunk_id, positions[h.chunk.chunk_id], repr(h.score)] for h in hits])
print(json.dumps(out, ensure_ascii=False))
"""


def _rankings(tmp_path: Path, seed: str, fusion: str) -> list:
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        shutil.copytree(ROOT / "corpus", corpus)
    env = os.environ | {"PYTHONHASHSEED": seed}
    result = subprocess.run([sys.executable, "-c", SEARCH, str(corpus), str(tmp_path / f"index-{seed}-{fusion}"), fusion,
                             json.dumps(QUESTIONS, ensure_ascii=False)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_rankings_do_not_depend_on_the_process_hash_seed(tmp_path):
    first, second = _rankings(tmp_path, "0", "rrf"), _rankings(tmp_path, "12345", "rrf")
    assert first == second
    ties = 0
    for hits in first:
        assert hits, "every question finds passages"
        for (_, position, score), (_, next_position, next_score) in zip(hits, hits[1:]):
            assert float(score) >= float(next_score)
            if score == next_score:  # equal fused scores: reading order
                ties += 1
                assert position < next_position, hits
    assert ties > 0, "the questions exercise no tie (choose others)"


def test_weighted_fusion_rankings_do_not_depend_on_the_hash_seed(tmp_path):
    assert _rankings(tmp_path, "1", "weighted") == _rankings(tmp_path, "2", "weighted")
