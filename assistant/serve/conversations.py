"""Chat history kept on the server: one SQLite file `conversations.sqlite3` under the `data_dir`
setting (beside feedback.sqlite3), one row per conversation and one per answered question.

A conversation belongs to an owner: `user:<name>` when the chat has a login, else
`browser:<id>`, a random id the browser keeps in its localStorage (gr.BrowserState; see
`browser_secret`). Every read and change names the owner, so nobody lists, opens, renames or
deletes another's conversations; an export link may open one by its id alone (`get(id)`), the id
being 128 random bits that only its owner's page is shown. A turn stores the question and the
answer as `Answer.to_dict()` (citations, reading, closest passages), which `Turn.answer` turns
back into an `Answer`: reopened, the chat is drawn as it was and its questions are again the
context of the next (follow-ups).

A connection per call keeps it thread-safe, as in feedback.py.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.models import Answer, Chunk, Citation, Hit

FILE_NAME = "conversations.sqlite3"
SECRET_FILE = "browser-state.secret"  # encrypts the browser id in localStorage; kept so it outlives restarts
MAX_TITLE = 60  # characters: a title is a label in the history list
MAX_LISTED = 200  # the newest conversations shown in the history list
MAX_TURNS = 500  # questions kept in one conversation; the next one starts a new conversation
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")  # secrets.token_urlsafe(16): conversation and browser ids

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, updated)",
    """CREATE TABLE IF NOT EXISTS turns (
        conversation TEXT NOT NULL,
        n INTEGER NOT NULL,
        created TEXT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        PRIMARY KEY (conversation, n)
    )""",
)


def new_id() -> str:
    return secrets.token_urlsafe(16)


def valid_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.match(value) is not None


def owner_of(user: str | None, browser_id: object) -> str | None:
    """The owner key: the login's user name, else the browser's id; None when there is neither."""
    if user:
        return f"user:{user}"
    return f"browser:{browser_id}" if valid_id(browser_id) else None


def title_of(question: str) -> str:
    text = " ".join(str(question).split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


def browser_secret(data_dir: str | Path) -> str:
    """The key gr.BrowserState encrypts the browser id with, made once and kept in `data_dir`
    (a new key at every start would lose every browser's history on a restart)."""
    path = Path(data_dir) / SECRET_FILE
    try:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) >= 16:
            return secret
    except (OSError, UnicodeDecodeError):
        pass
    secret = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secret, encoding="ascii")
        path.chmod(0o600)
    except OSError:  # a read-only data folder: history lasts until the next restart
        pass
    return secret


class StoredAnswer(Answer):
    """An Answer read back from the store: its reading is the stored text (the Query is not kept)."""

    def __init__(self, *args: Any, reading: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored_reading = reading

    @property
    def reading(self) -> str:
        return self.query.reading if self.query is not None else self.stored_reading


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """`Answer.to_dict()` -> an Answer with its citations and closest passages (for drawing and export)."""
    citations = [Citation(n=int(c.get("n", 0)), chunk_id=c.get("chunk_id", ""), doc_id=c.get("doc_id", ""),
                          title=c.get("title", ""), breadcrumb=tuple(c.get("breadcrumb", ())), quote=c.get("text", ""),
                          url=c.get("url", ""), page=int(c.get("page", 0) or 0)) for c in data.get("citations", [])]
    closest = []
    for chunk in data.get("closest", []):
        try:
            closest.append(Hit(Chunk.from_dict(chunk), float(chunk.get("score", 0.0))))
        except (KeyError, TypeError, ValueError):  # a passage stored by an older version: leave it out
            continue
    return StoredAnswer(text=data.get("answer", ""), citations=citations, refused=bool(data.get("refused")),
                        mode=data.get("mode", ""), timings=dict(data.get("timings_ms", {})),
                        question=data.get("question", ""), standalone_question=data.get("standalone_question", ""),
                        closest=closest, verification=dict(data.get("verification", {})), reading=data.get("reading", ""))


@dataclass(frozen=True)
class Turn:
    n: int  # 1, 2, … within its conversation
    created: str  # ISO 8601, UTC
    question: str
    record: dict[str, Any]  # the answer, as Answer.to_dict()

    @property
    def answer(self) -> Answer:
        return answer_from_dict(self.record)


@dataclass(frozen=True)
class Summary:
    id: str
    title: str
    created: str
    updated: str
    turns: int


@dataclass(frozen=True)
class Conversation:
    id: str
    owner: str
    title: str
    created: str
    updated: str
    turns: list[Turn]

    def history(self, limit: int) -> list[tuple[str, str]]:
        """The (question, answer text) pairs a follow-up reads, the last `limit` of them."""
        pairs = [(t.question, t.record.get("answer", "")) for t in self.turns]
        return pairs[-limit:] if limit > 0 else pairs


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ConversationStore:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / FILE_NAME

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        for statement in _SCHEMA:
            connection.execute(statement)
        return connection

    def create(self, owner: str, title: str) -> str:
        conversation_id, now = new_id(), _now()
        with closing(self._connect()) as db, db:
            db.execute("INSERT INTO conversations (id, owner, title, created, updated) VALUES (?, ?, ?, ?, ?)",
                       (conversation_id, owner, title_of(title) or "新对话", now, now))
        return conversation_id

    def add_turn(self, conversation_id: str | None, owner: str, question: str, answer: dict[str, Any]) -> tuple[str, int]:
        """Append an answered question to the owner's conversation (a new one when `conversation_id`
        is None, not the owner's, or full); returns (conversation id, turn number)."""
        with closing(self._connect()) as db, db:
            db.execute("BEGIN IMMEDIATE")  # the write lock before reading the last turn: two answers never get one number
            row = db.execute("SELECT (SELECT COALESCE(MAX(n), 0) FROM turns WHERE conversation = id) FROM conversations "
                             "WHERE id = ? AND owner = ?", (conversation_id, owner)).fetchone() if conversation_id else None
            now = _now()
            if row is None or row[0] >= MAX_TURNS:
                conversation_id = new_id()
                db.execute("INSERT INTO conversations (id, owner, title, created, updated) VALUES (?, ?, ?, ?, ?)",
                           (conversation_id, owner, title_of(question) or "新对话", now, now))
                n = 1
            else:
                n = row[0] + 1
                db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
            db.execute("INSERT INTO turns (conversation, n, created, question, answer) VALUES (?, ?, ?, ?, ?)",
                       (conversation_id, n, now, question, json.dumps(answer, ensure_ascii=False)))
        return conversation_id, n

    def list(self, owner: str | None) -> list[Summary]:
        """The owner's conversations, the most recently used first."""
        if not owner or not self.path.exists():
            return []
        with closing(self._connect()) as db:
            rows = db.execute("SELECT id, title, created, updated, (SELECT COUNT(*) FROM turns WHERE conversation = id) "
                              "FROM conversations WHERE owner = ? ORDER BY updated DESC, rowid DESC LIMIT ?",
                              (owner, MAX_LISTED)).fetchall()
        return [Summary(*row) for row in rows]

    def get(self, conversation_id: str, owner: str | None = None) -> Conversation | None:
        """The conversation with its turns; None when there is none (or it is not `owner`'s, when given)."""
        if not valid_id(conversation_id) or not self.path.exists():
            return None
        with closing(self._connect()) as db:
            row = db.execute("SELECT id, owner, title, created, updated FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()
            if row is None or (owner is not None and row[1] != owner):
                return None
            turns = db.execute("SELECT n, created, question, answer FROM turns WHERE conversation = ? ORDER BY n",
                               (conversation_id,)).fetchall()
        return Conversation(*row, turns=[Turn(n, created, question, json.loads(answer)) for n, created, question, answer in turns])

    def rename(self, conversation_id: str, owner: str, title: str) -> bool:
        title = title_of(title)
        if not title or not valid_id(conversation_id):
            return False
        with closing(self._connect()) as db, db:
            cursor = db.execute("UPDATE conversations SET title = ? WHERE id = ? AND owner = ?", (title, conversation_id, owner))
            return cursor.rowcount == 1

    def delete(self, conversation_id: str, owner: str) -> bool:
        if not valid_id(conversation_id):
            return False
        with closing(self._connect()) as db, db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner))
            if cursor.rowcount != 1:
                return False
            db.execute("DELETE FROM turns WHERE conversation = ?", (conversation_id,))
            return True
