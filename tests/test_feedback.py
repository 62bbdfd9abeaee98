"""👍/👎 feedback: the SQLite store (thread-safe, survives reopening) and `assistant feedback [--json]`."""

from __future__ import annotations

import json
import os
import threading

import pytest

from _reliability import run_cli
from assistant.serve.feedback import MAX_COMMENT, FeedbackStore

ANSWER = {
    "question": "闵行区2023年社会消费品零售总额完成了多少？", "answer": "……完成情况 1983.09[1]", "refused": False,
    "reading": "理解为：闵行区 2023年 实际完成 · 社会消费品零售总额", "mode": "extractive",
    "citations": [{"n": 1, "chunk_id": "minhang-2023-plan-report#s1_1-b7", "doc_id": "minhang-2023-plan-report",
                   "title": "闵行区报告", "breadcrumb": ["一"], "text": "社会消费品零售总额 1983.09",
                   "url": "/source/minhang-2023-plan-report#s1_1-b7"}],
}


def test_ratings_and_comments_are_stored(tmp_path):
    store = FeedbackStore(tmp_path / "data")
    first = store.add("down", ANSWER, "20261122T042633-8356-9d0be7")
    assert store.comment(first, "  想看同比增长  ")
    second = store.add("up", ANSWER | {"refused": True}, "v2", comment="x" * (MAX_COMMENT + 50))
    assert not store.comment(999, "no such rating")
    rows = FeedbackStore(tmp_path / "data").all()  # a new store object: read back from the file
    assert [r.id for r in rows] == [first, second]
    assert rows[0].rating == "down" and rows[0].comment == "想看同比增长" and rows[0].index_version.startswith("2026")
    assert rows[0].citations[0]["chunk_id"] == "minhang-2023-plan-report#s1_1-b7" and rows[0].question == ANSWER["question"]
    assert rows[1].refused is True and len(rows[1].comment) == MAX_COMMENT
    with pytest.raises(ValueError, match="rating must be one of"):
        store.add("meh", ANSWER, "v")


def test_concurrent_ratings_are_all_kept(tmp_path):
    store = FeedbackStore(tmp_path)
    threads = [threading.Thread(target=store.add, args=("up", ANSWER, "v")) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.all()) == 20


def test_cli_exports_feedback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(ASSISTANT_DATA_DIR=str(tmp_path), ASSISTANT_CONFIG=os.devnull, PYTHONIOENCODING="utf-8")
    empty = run_cli(["feedback"], env)
    assert empty.returncode == 0 and "no feedback yet" in empty.stderr.decode()
    store = FeedbackStore(tmp_path)
    store.comment(store.add("down", ANSWER, "v1"), "单位不对")
    store.add("up", ANSWER, "v1")
    exported = json.loads(run_cli(["feedback", "--json"], env).stdout)
    assert [row["rating"] for row in exported] == ["down", "up"]
    assert exported[0]["comment"] == "单位不对" and exported[0]["citations"][0]["n"] == 1
    assert set(exported[0]) >= {"question", "answer", "citations", "index_version", "reading", "created"}
    text = run_cli(["feedback"], env).stdout.decode()
    assert "👎" in text and "单位不对" in text and "👍" in text


def test_switching_a_rating_changes_its_row_and_taking_it_back_removes_it(tmp_path):
    store = FeedbackStore(tmp_path)
    rated = store.add("down", ANSWER, "v1")
    assert store.comment(rated, "单位不对")
    assert store.change(rated, "up")  # 👎 switched to 👍: the same row
    rows = store.all()
    assert [(r.id, r.rating, r.comment) for r in rows] == [(rated, "up", "单位不对")]
    assert not store.change(999, "up")
    with pytest.raises(ValueError, match="rating must be one of"):
        store.change(rated, "meh")
    assert store.remove(rated) and store.all() == [] and not store.remove(rated)
