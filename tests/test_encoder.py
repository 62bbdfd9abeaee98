"""The serving process's query embeddings (assistant/encoder.py): a lazily loaded model, the cache,
the batching worker (fake embedder: fast, deterministic)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from assistant.indexing.embed import EmbedderError, encode_queries, load_embedder
from assistant.indexing.encoder import LazyEmbedder, QueryEncoder

OPTIONS = {"normalize_embeddings": True, "convert_to_numpy": True}


def test_cached_and_batched_vectors_equal_the_models():
    model = load_embedder("fake:32")
    encoder = QueryEncoder(model, cache_size=3)
    texts = ["闵行区社会消费品零售总额", "静安区外贸进出口", "5G基站"]
    want = model.encode_query(texts, **OPTIONS)
    assert np.allclose(encoder.encode_query(texts, **OPTIONS), want)
    assert np.allclose(encoder.encode_query(texts[::-1], **OPTIONS), want[::-1])  # all three from the cache
    assert (encoder.hits, encoder.misses) == (3, 3)
    encoder.encode_query(["另一个问题"], **OPTIONS)  # evicts the least recently used entry
    assert len(encoder._cache) == 3
    assert np.allclose(encode_queries(encoder, ["5G基站"]), encode_queries(model, ["5G基站"]))  # the retriever's path


def test_concurrent_callers_get_their_own_vectors():
    model = load_embedder("fake:32")
    encoder = QueryEncoder(model, workers=2)
    texts = [f"问题{i}：闵行区{i}年" for i in range(40)]
    got: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        got[i] = encoder.encode_query([texts[i]], **OPTIONS)[0]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    want = model.encode_query(texts, **OPTIONS)
    assert all(np.allclose(got[i], want[i]) for i in range(len(texts)))
    assert encoder.calls <= len(texts)


def test_an_engine_error_reaches_the_caller():
    class Broken:
        def __getitem__(self, index):
            raise IndexError(index)

        def __len__(self):
            return 0

        def encode_query(self, texts, **kwargs):
            raise RuntimeError("engine failed")

    with pytest.raises(RuntimeError, match="engine failed"):
        QueryEncoder(Broken(), threads=None).encode_query(["x"], **OPTIONS)


def test_lazy_embedder_loads_on_first_use_and_reports_errors():
    lazy = LazyEmbedder("fake:16")
    assert not lazy.ready and "not started" in repr(lazy)
    assert lazy.get_embedding_dimension() == 16 and lazy.ready  # any attribute waits for the model
    assert len(lazy) == 1 and lazy[0] is lazy.get()[0]
    broken = LazyEmbedder("bundled:nope").start()
    with pytest.raises(EmbedderError, match="unknown bundled model"):
        broken.get()


def test_lazy_assistant_answers_before_warm_up(fake_settings):
    from assistant.indexing.build import build_index
    from assistant.service import Assistant

    build_index(fake_settings, progress=False)
    assistant = Assistant.load(fake_settings, build_if_needed=False, lazy=True)
    assert isinstance(assistant.embedder, LazyEmbedder) and not assistant.ready
    answer = assistant.ask("闵行区2023年社会消费品零售总额是多少")  # loads the model on demand
    assert answer.text and assistant.ready
