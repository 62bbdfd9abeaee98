"""The chat's two named Gradio API endpoints, `/ask` and `/ask_with_history` (gradio_client callers):
the same answers as the chat, as `Answer.to_dict()` plus the index's warnings. Bad input is refused
with a gr.Error naming what was expected (one log line, no traceback)."""

from __future__ import annotations

import logging
from typing import Any, Callable

from assistant.serve.chat_catalog import ALL, catalog_of, make_filters
from assistant.serve.guard import short

log = logging.getLogger(__name__)


def api_functions(assistant: Any, has_llm: bool, max_turns: int, warnings: list[str]) -> tuple[Callable, Callable]:
    """(ask, ask_with_history) for gr.api; their signatures and docstrings are the API's description."""
    import gradio as gr

    settings = assistant.settings

    def reject(message: str) -> gr.Error:
        """A refused /ask call: one log line, no traceback (Gradio prints one for every gr.Error by default)."""
        log.info("rejected /ask: %s", message)
        return gr.Error(message, print_exception=False)

    def ask(question: str, district: str = ALL, mode: str = "extractive") -> dict:
        """Answer one question; returns the answer text, refused flag, citations (with urls), the
        reading (how the question was understood), timings and `warnings` (non-empty when the index
        serves a report from an older build)."""
        return ask_with_history(question, "", district, mode)

    def ask_with_history(question: str, history: str = "", district: str = ALL, mode: str = "extractive") -> dict:
        """Like /ask, for a conversation: `history` holds its earlier questions, one per line, oldest
        first, so that follow-ups ("那另一个区呢？", "2024年的目标呢？") work. A separate endpoint keeps
        /ask's three arguments for raw HTTP callers (Gradio fills no defaults there)."""
        from assistant.service import QuestionError

        # Gradio does not enforce the annotations: check the types here, and never echo more of
        # the input than a short escaped prefix (file objects never get here: see guard.py).
        districts = catalog_of(assistant).district_choices()  # the districts the library holds now
        if not isinstance(question, str):
            raise reject(f"question must be text; got {short(question)}")
        if not isinstance(district, str) or district not in districts:
            raise reject(f"district must be one of {', '.join(districts)}; got {short(district)}")
        if not isinstance(mode, str) or mode not in ("extractive", "llm") or (mode == "llm" and not has_llm):
            raise reject(f"mode must be 'extractive'{' or llm' if has_llm else ' (no LLM is configured)'}; got {short(mode)}")
        if not isinstance(history, str):
            raise reject(f"history must be text (earlier questions, one per line); got {short(history)}")
        turns = [(line[:settings.max_question_chars], "") for line in history.splitlines() if line.strip()][-max_turns:]
        try:
            answer = assistant.ask(question, history=turns, mode=mode, filters=make_filters(district, None))
        except QuestionError as exc:
            raise reject(str(exc)) from None
        return answer.to_dict() | {"warnings": warnings}

    return ask, ask_with_history
