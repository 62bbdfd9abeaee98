"""The default store: FAISS vectors and a bm25s index, files of the build directory, searched in process.

Both searches rank over the whole corpus and drop what the scope does not allow afterwards,
looking 4x deeper when a scope restricts (a post-filter: exact without a scope; a narrow scope
can come back with fewer than `limit` chunks). This is the retriever's behaviour since its
first version; equal scores are ranked in reading order (chunk position), so that every process
and CPU ranks alike (tests/test_ranking_determinism.py). index.py writes and checks the files.
"""

from __future__ import annotations

import numpy as np

from assistant.indexing.stores.base import Ranked, Rows, Published, Scope


class FaissSearch:
    kind = "faiss"

    def __init__(self, index) -> None:  # index.LoadedIndex (not imported: index.py imports this package)
        self.index = index
        self.size = len(index.chunks)

    def _depth(self, limit: int, allowed: np.ndarray) -> int:
        restricted = int(allowed.sum()) < self.size
        return min(self.size, limit * (4 if restricted else 1))

    def dense(self, vector: np.ndarray, limit: int, allowed: np.ndarray, scope: Scope) -> Ranked:
        scores, ids = self.index.faiss_index.search(vector[None, :].astype(np.float32), self._depth(limit, allowed))
        found = {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}
        order = [i for i in sorted(found, key=lambda i: (-found[i], i)) if allowed[i]][:limit]
        return Ranked(order, found, max(found.values(), default=0.0))

    def lexical(self, text: str, limit: int, allowed: np.ndarray, scope: Scope) -> Ranked:
        scores = self.index.lexical.scores(text)
        order = [int(i) for i in np.argsort(-scores, kind="stable")[: self._depth(limit, allowed)] if scores[i] > 0 and allowed[i]][:limit]
        return Ranked(order, {i: float(scores[i]) for i in order}, float(scores.max()) if len(scores) else 0.0,
                      lookup=lambda i: float(scores[i]))


def publish_faiss(rows: Rows, build_id: str = "") -> Published:
    """Nothing beyond the build directory's own files (written by index.py)."""
    return Published({"kind": "faiss"})
