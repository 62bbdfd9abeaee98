"""Many users: eval/loadtest.py in its short form (20 concurrent Gradio clients x 1 round) against the
real app (bundled model, real index) on loopback. Every client must get the answer to its own
question, without errors, and the queue must stay within its limit. The full run is
`.venv/bin/python eval/loadtest.py --clients 20 --rounds 3` (figures in docs/reliability.md)."""

from __future__ import annotations

import pytest

from _reliability import loadtest_module


@pytest.mark.integration
def test_twenty_concurrent_clients_get_their_own_answers(real_assistant):
    loadtest = loadtest_module()
    report = loadtest.run_load_test(clients=20, rounds=1, assistant=real_assistant, timeout=120, log=lambda _: None)
    print("\n" + report.summary())
    assert report.requests == 20 and report.errors == 0, report.summary()
    assert report.mismatches == 0, report.summary()  # no cross-talk: each answer is its question's answer
    assert report.max_queue_seen <= real_assistant.settings.max_queue
    assert report.ok
    questions = [d["question"] for d in report.details]
    assert len(set(questions)) == 20  # twenty different questions


def test_load_questions_are_distinct_and_bounded():
    loadtest = loadtest_module()
    questions = loadtest.load_questions(60)
    assert len(questions) == len(set(questions)) == 60
    with pytest.raises(SystemExit, match="Lower --clients"):
        loadtest.load_questions(100_000)
