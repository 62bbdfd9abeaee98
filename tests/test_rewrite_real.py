"""llm_rewrite on the real local model (`make llm`; run by `make test-llm`, deselected by `make test`):
the real Qwen2.5-Coder GGUF file rewords questions the extractive mode refuses, on the real index."""

from __future__ import annotations

import os

import pytest

from assistant.answer.llm_model import resolve
from assistant.config import load_settings

SETTING = os.environ.get("ASSISTANT_LLM_GGUF_PATH") or "bundled:qwen2.5-coder-0.5b"
MODEL_FILE = resolve(SETTING)

pytestmark = [pytest.mark.llm, pytest.mark.skipif(not MODEL_FILE.is_file(), reason=f"{MODEL_FILE} absent: run `make llm`")]

COLLOQUIAL = "闵行区2023年老百姓买东西一共花了多少钱？"  # no word of the reports: refused without the rewrite


@pytest.fixture(scope="module")
def assistants():
    from assistant.service import Assistant

    settings = load_settings(llm_gguf_path=SETTING, llm_base_url="", llm_threads=1)
    off = Assistant.load(settings, progress=False)
    on = Assistant.load(settings.replace(llm_rewrite=True), progress=False)
    return off, on


def test_the_real_model_rewords_a_refused_question_and_the_answer_is_verified(assistants):
    from assistant.answer import rewrite

    off, on = assistants
    refused = off.ask(COLLOQUIAL)
    assert refused.refused
    text = rewrite.rewrite_question(rewrite.chat_model(on.pipeline), COLLOQUIAL, [], refused.closest)
    assert "闵行" in text and "2023" in text and text.endswith("？"), text  # one question, the scope kept
    answer = on.ask(COLLOQUIAL)
    assert not answer.refused and "1983.09" in answer.text and answer.verification["rewritten"] == 1, answer.text
    assert answer.text.endswith("（已按报告用语改写问题后回答）") and answer.timings["rewrite"] > 0
    assert {on.index.chunks[on.index.positions[c.chunk_id]].district for c in answer.citations} == {"闵行区"}


def test_a_colloquial_word_reworded_into_the_reports_word(assistants):
    off, on = assistants
    question = "闵行2023年新开了多少个托儿所？"
    assert off.ask(question).refused
    answer = on.ask(question)
    assert not answer.refused and answer.verification["rewritten"] == 1 and "托育" in answer.text, answer.text


def test_a_question_the_reports_cannot_answer_stays_refused(assistants):
    _, on = assistants
    for question in ("帮我写一首关于春天的七言诗。", "闵行2023年城镇登记失业人数具体是多少人？"):
        answer = on.ask(question)
        assert answer.refused and "rewrite" in answer.timings, answer.text


def test_an_answered_question_never_reaches_the_model(assistants):
    _, on = assistants
    answer = on.ask("闵行区2023年社会消费品零售总额完成了多少？")
    assert not answer.refused and "rewrite" not in answer.timings
