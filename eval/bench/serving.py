"""The serving process: warm start (imports, `Assistant.load`, first search and answer), every
stage of `Answer.timings` per question, and its memory."""

from __future__ import annotations

from bench.common import STAGES, WARMUP_QUESTIONS, log, ms, now, peak_rss_mb, rss_mb, summary


def run_serving(settings, items: list[dict]) -> tuple[object, dict]:
    started = now()
    import assistant.indexing.embed  # noqa: F401  (torch, sentence-transformers: the bulk of the imports)
    from assistant.service import Assistant
    imports = now() - started
    t0 = now()
    assistant = Assistant.load(settings, build_if_needed=False, progress=False)
    load = now() - t0
    rss_loaded = rss_mb()

    t0 = now()
    first = assistant.search(WARMUP_QUESTIONS[0], k=10)
    first_search = now() - t0
    t0 = now()
    first_answer = assistant.ask(WARMUP_QUESTIONS[2], mode="extractive")
    first_ask = now() - t0
    for question in WARMUP_QUESTIONS[1:]:
        assistant.search(question, k=10)
    startup = {
        "imports_s": round(imports, 3),
        "load_s": round(load, 3),
        "first_search_ms": ms(first_search),
        "first_search_stages_ms": {k: round(v, 3) for k, v in first.timings.items()},
        "first_ask_ms": ms(first_ask),
        "first_ask_stages_ms": {k: round(v, 3) for k, v in first_answer.timings.items()},
        "ready_s": round(imports + load + first_search, 3),
        "rss_after_load_mb": rss_loaded,
    }

    log(f"answering {len(items)} questions (extractive)")
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    e2e, refused = [], 0
    for item in items:
        t0 = now()
        answer = assistant.ask(item["question"], mode="extractive")
        e2e.append((now() - t0) * 1e3)
        refused += bool(answer.refused)
        for stage, value in answer.timings.items():
            stages.setdefault(stage, []).append(value)
    serving = {
        "questions": len(items),
        "refused": refused,
        "answer_latency_ms": summary(e2e),
        "stages_ms": {s: summary(v) for s, v in stages.items() if v},
        "rss_after_questions_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "chunks": len(assistant.index.chunks),
    }
    return assistant, {"startup": startup, "serving": serving}
