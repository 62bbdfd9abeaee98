"""Query embeddings in a serving process: a model that loads in the background, and a query
encoder with a cache and one engine worker per core.

Measured on these 2-core machines (eval/reports/bench.md, "Serving: start-up and throughput"):
* Importing torch + sentence-transformers and building the bundled e5 takes ~6 s; the first page
  does not need it, so `LazyEmbedder` loads it in a thread and any use waits for it.
* One e5 query costs ~47 ms of CPU whatever the batching (the engine's work is per token; batches
  of 20 on one thread: 45.5 ms each). Alone, two OpenMP threads answer it in ~27 ms instead of
  ~47 ms; but beside the request threads (which need a core for the pipeline's Python) the engine's
  parallel regions wait at barriers for a descheduled thread (our reading of the numbers): 20
  concurrent REST clients with new questions got 20.5 answers/s with each request calling the
  engine itself (two threads, one call at a time), 5.6 with one two-thread worker batching, 19 with
  one one-thread worker and 25 with two one-thread workers (eval/reports/bench.md). So
  `QueryEncoder` runs one worker per core, each calling the engine on one OpenMP thread (the thread count is per calling thread; set with
  torch.set_num_threads in the worker, as the engine uses torch's libgomp: see embed.py), each
  taking the next waiting question (max_batch=1: batching saves no CPU on one thread and would
  leave the other worker idle).
* Since then the default query engine is ONNX Runtime (setting `query_engine`, e5_onnx.py): ~15 ms
  of CPU per question instead of ~45 on one thread, the same layout (one single-thread session
  call per worker; calls from the two workers run at once, each on its caller's thread).
* A repeated question (the examples, a client retrying, the eval) is answered from an LRU cache.
Batched and single embeddings are identical (both engines compute each text on its own).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)


class LazyEmbedder:
    """Stands for the SentenceTransformer of `setting`: `start()` loads it in a thread; any attribute,
    item or len() waits until it is loaded (loading it in the caller's thread if nobody started it).
    `query_engine`, `document_engine`: as load_embedder's (None = the configured one)."""

    def __init__(self, setting: str, query_engine: str | None = None, document_engine: str | None = None) -> None:
        self.setting, self.query_engine, self.document_engine = setting, query_engine, document_engine
        self._model: Any = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()
        self.seconds = 0.0

    def start(self) -> "LazyEmbedder":
        with self._start_lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._load, name="embedder-load", daemon=True).start()
        return self

    def _load(self) -> None:
        from assistant.indexing.embed import load_embedder

        started = time.perf_counter()
        try:
            self._model = load_embedder(self.setting, self.query_engine, self.document_engine)
        except BaseException as exc:  # noqa: BLE001 - re-raised in every thread that uses the model
            self._error = exc
        self.seconds = time.perf_counter() - started
        self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self._error is None

    def get(self) -> Any:
        self.start()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._model

    def __getattr__(self, name: str) -> Any:  # only for names not set in __init__
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.get(), name)

    def __getitem__(self, index: int) -> Any:
        return self.get()[index]

    def __len__(self) -> int:
        return len(self.get())

    def __repr__(self) -> str:
        return f"LazyEmbedder({self.setting!r}, {'loaded' if self.ready else 'loading' if self._started else 'not started'})"


class QueryEncoder:
    """The retriever's model for queries: `encode_query` as sentence-transformers has it, through
    an LRU cache and worker threads (one per core) that run the engine. Indexing and
    `fit_query` (model[0], len(model)) reach the wrapped model."""

    def __init__(self, model: Any, cache_size: int = 4096, max_batch: int = 1, threads: int | None = 1,
                 workers: int | None = None) -> None:
        from assistant.indexing.engine_options import cpu_threads

        self.model, self.cache_size, self.max_batch, self.threads = model, cache_size, max_batch, threads
        self.workers = max(1, workers or cpu_threads())
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[list[str], dict, Future]] = queue.SimpleQueue()
        self._started = False
        self.hits = self.misses = self.calls = 0

    def __getitem__(self, index: int) -> Any:
        return self.model[index]

    def __len__(self) -> int:
        return len(self.model)

    def encode_query(self, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
        texts = list(texts)
        options = tuple(sorted((k, v) for k, v in kwargs.items() if k not in ("batch_size", "show_progress_bar")))
        found: dict[int, np.ndarray] = {}
        with self._cache_lock:
            for i, text in enumerate(texts):
                vector = self._cache.get((text, options))
                if vector is not None:
                    self._cache.move_to_end((text, options))
                    found[i] = vector
            self.hits += len(found)
            self.misses += len(texts) - len(found)
        missing = [i for i in range(len(texts)) if i not in found]
        if missing:
            future: Future = Future()
            self._ensure_worker()
            self._queue.put(([texts[i] for i in missing], kwargs, future))
            vectors = future.result()
            with self._cache_lock:
                for i, vector in zip(missing, vectors):
                    vector = np.array(vector, dtype=np.float32)
                    vector.setflags(write=False)  # shared by every later caller
                    found[i] = self._cache[(texts[i], options)] = vector
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[i] for i in range(len(texts))]) if texts else np.zeros((0, 0), dtype=np.float32)

    def _ensure_worker(self) -> None:
        if self._started:
            return
        with self._cache_lock:
            if self._started:
                return
            self._started = True
            module = self.model[0] if len(self.model) else None
            if self.workers > 1 and self.threads == 1 and hasattr(module, "allow_parallel_calls"):
                module.allow_parallel_calls(self.workers)  # one-thread calls may share the cores
            for n in range(self.workers):
                threading.Thread(target=self._run, name=f"query-encoder-{n}", daemon=True).start()

    def _run(self) -> None:
        if self.threads:
            import torch  # already imported with the model; its OpenMP runtime is the engine's

            torch.set_num_threads(self.threads)  # this thread's OpenMP team only (see the module docstring)
        while True:
            batch = [self._queue.get()]
            size = len(batch[0][0])
            while size < self.max_batch:  # everything already waiting, with the same options
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item[1] != batch[0][1]:
                    self._queue.put(item)
                    break
                batch.append(item)
                size += len(item[0])
            texts = [text for item in batch for text in item[0]]
            self.calls += 1
            try:
                vectors = np.asarray(self.model.encode_query(texts, **batch[0][1]))
            except BaseException as exc:  # noqa: BLE001 - each waiting caller gets the error
                for _, _, future in batch:
                    future.set_exception(exc)
                continue
            start = 0
            for item_texts, _, future in batch:
                future.set_result(vectors[start:start + len(item_texts)])
                start += len(item_texts)
