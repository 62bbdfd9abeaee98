"""Integrity of a built index: a sha256 per file recorded in the manifest, checked on load.

Damage that keeps a file's size (zeroed blocks, a bit flip, an emptied file rewritten by a tool)
loads without any error from numpy, FAISS or bm25s and silently changes answers, so the
sizes and shapes checked by `load_index` are not enough. Hashing the whole index is cheap
(a few MB: see docs/reliability.md for the measured cost), so every load verifies every file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(directory: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under `directory` except the manifest itself."""
    return {
        path.relative_to(directory).as_posix(): sha256_file(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def checksum_problems(directory: Path, expected: dict[str, str], only: tuple[str, ...] | None = None) -> list[str]:
    """What differs from the manifest's checksums (`only`: just these files or folders), e.g.
    ["vectors.faiss does not match its sha256"]; empty when everything matches."""
    problems = []
    for name, digest in sorted(expected.items()):
        if only is not None and not any(name == o or name.startswith(o.rstrip("/") + "/") for o in only):
            continue
        path = directory / name
        try:
            actual = sha256_file(path)
        except FileNotFoundError:
            problems.append(f"{name} is missing")
            continue
        except OSError as exc:
            problems.append(f"{name} cannot be read ({exc.strerror or exc})")
            continue
        if actual != digest:
            problems.append(f"{name} does not match its sha256 in {MANIFEST}")
    return problems


def usable_vectors(vectors: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
    """Rows that can be reused: finite and of unit length (every stored vector is L2-normalized,
    so a zeroed, NaN or scaled row is damage, whatever the checksums say)."""
    if vectors.ndim != 2 or not len(vectors):
        return np.zeros(len(vectors), dtype=bool)
    finite = np.isfinite(vectors).all(axis=1)
    norms = np.linalg.norm(np.where(np.isfinite(vectors), vectors, 0.0), axis=1)
    return finite & (np.abs(norms - 1.0) <= tolerance)
