"""👍/👎 on answers, stored for evaluators: one SQLite file `feedback.sqlite3` under the `data_dir`
setting, one row per rating with the question, the answer, its citations, the reading, the index
version it was answered from and an optional comment. `assistant feedback [--json]` exports it.

SQLite because ratings arrive from several server threads and must survive restarts without a
service to run; a connection per call keeps it thread-safe (a rating is a rare event).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FILE_NAME = "feedback.sqlite3"
MAX_COMMENT = 2000  # characters; a comment is a remark, not a document
RATINGS = ("up", "down")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    reading TEXT NOT NULL,
    citations TEXT NOT NULL,
    mode TEXT NOT NULL,
    index_version TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Feedback:
    id: int
    created: str  # ISO 8601, UTC
    rating: str  # up | down
    comment: str
    question: str
    answer: str
    refused: bool
    reading: str
    citations: list[dict[str, Any]]  # n, chunk_id, title, url, text
    mode: str
    index_version: str  # the index build the answer came from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FeedbackStore:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / FILE_NAME

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute(_SCHEMA)
        return connection

    def add(self, rating: str, answer: dict[str, Any], index_version: str, comment: str = "") -> int:
        """Store a rating of `answer` (Answer.to_dict() form); returns its id."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}")
        citations = [{k: c.get(k) for k in ("n", "chunk_id", "title", "url", "text")} for c in answer.get("citations", [])]
        row = (datetime.now(timezone.utc).isoformat(timespec="seconds"), rating, comment[:MAX_COMMENT],
               answer.get("question", ""), answer.get("answer", ""), int(bool(answer.get("refused"))),
               answer.get("reading", ""), json.dumps(citations, ensure_ascii=False), answer.get("mode", ""), index_version)
        with closing(self._connect()) as db, db:
            cursor = db.execute("INSERT INTO feedback (created, rating, comment, question, answer, refused, reading, "
                                "citations, mode, index_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            return int(cursor.lastrowid)

    def change(self, feedback_id: int, rating: str) -> bool:
        """Change a stored rating (👎 switched to 👍 is one row, not two); False when there is no such rating."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}")
        with closing(self._connect()) as db, db:
            cursor = db.execute("UPDATE feedback SET rating = ?, created = ? WHERE id = ?",
                                (rating, datetime.now(timezone.utc).isoformat(timespec="seconds"), feedback_id))
            return cursor.rowcount == 1

    def remove(self, feedback_id: int) -> bool:
        """Drop a rating its author took back (clicked the same thumb again)."""
        with closing(self._connect()) as db, db:
            return db.execute("DELETE FROM feedback WHERE id = ?", (feedback_id,)).rowcount == 1

    def comment(self, feedback_id: int, text: str) -> bool:
        """Attach (replace) the comment of a stored rating; False when there is no such rating."""
        with closing(self._connect()) as db, db:
            cursor = db.execute("UPDATE feedback SET comment = ? WHERE id = ?", (text.strip()[:MAX_COMMENT], feedback_id))
            return cursor.rowcount == 1

    def all(self) -> list[Feedback]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as db:
            rows = db.execute("SELECT id, created, rating, comment, question, answer, refused, reading, citations, mode, "
                              "index_version FROM feedback ORDER BY id").fetchall()
        return [Feedback(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], json.loads(r[8]), r[9], r[10]) for r in rows]
