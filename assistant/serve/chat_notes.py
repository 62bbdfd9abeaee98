"""The lines the chat shows around an answer, in the question's language (Chinese unless the question
is English): why a question was not asked (empty, too long, no words, a failure), the filters the
answer was given within (and one the question overrode), and that the library is being re-indexed.

The rebuild notice comes from the 资料库 page's running change (`library_page.Jobs`: its stage and
embedded chunks) or, for a change made with the CLI, from its journal (`library.status.changes_under_way`):
while one runs, answers come from the previous index, so a question about the report being added
is told so instead of reading as if the report did not exist.
"""

from __future__ import annotations

from html import escape
from typing import Any, Callable

from assistant.query.terms import is_english
from assistant.serve.labels import kind_label

ACTIONS = {"add": ("加入", "adding"), "replace": ("替换", "replacing"), "remove": ("删除", "removing"),
           "restore": ("恢复", "restoring"), "reindex": ("重建索引", "re-indexing"), "reload": ("载入新索引", "loading")}


def _say(question: str, chinese: str, english: str) -> str:
    return english if is_english(question or "") else chinese


def question_error(question: str, reason: str, length: int, limit: int, example: str = "") -> str:
    """A refused question's message (service.QuestionError.reason), in the question's language."""
    example = example or "闵行区2023年社会消费品零售总额是多少？"
    messages = {
        "not_text": ("问题必须是文字。", "The question must be text."),
        "empty": (f"问题是空的：请输入关于报告的问题，例如“{example}”", "The question is empty: ask about the reports."),
        "too_long": (f"问题有 {length} 个字，超过了 {limit} 字的上限，请删减后再发送。",
                     f"The question is {length} characters long; the limit is {limit}. Please shorten it and send it again."),
        "no_words": (f"问题里没有文字或数字（只有标点、符号或标记），请用文字提问，例如“{example}”",
                     "The question has no words or numbers (only punctuation, symbols or markup); ask it in words."),
    }
    chinese, english = messages.get(reason, ("这个问题无法提问，请换一种问法。", "This question cannot be asked; please rephrase it."))
    return _say(question, chinese, english)


def failure(question: str) -> str:
    return _say(question, "出错了，这个问题没有回答成功，请稍后再试。", "Something went wrong while answering; please try again.")


def scope_line(question: str, chosen: list[tuple[str, str]], dropped: tuple[tuple[str, str], ...],
               years: str, kind: str) -> str:
    """The filters chosen for an answer ("筛选：静安区 · 2024年"), and those the question
    overrode (service.Scope.dropped); "" when no filter was chosen. `chosen`: (Chinese, English) labels."""
    english = is_english(question or "")
    parts = []
    if chosen:
        labels = " · ".join(en if english else zh for zh, en in chosen)
        parts.append(f"Filters: {labels}" if english else f"筛选：{labels}")
    for what, asked in dropped:
        if what == "year":
            parts.append(f"the question asks about {asked}, so the year filter {years} was not applied" if english
                         else f"问题问的是{asked}年，未按年份“{years}年”筛选")
        elif what == "kind":
            place = asked or ("the reports" if english else "资料库")
            parts.append(f"{place} has no report of the kind {kind_label(kind)}: the kind filter was not applied" if english
                         else f"{place}没有“{kind_label(kind)}”类报告，未按报告类型筛选")
    if not parts:
        return ""
    return f'<div class="qa-scope">{escape("; ".join(parts) if english else "；".join(parts))}</div>'


def rebuild_notice(question: str, running: Callable[[], Any] | None, settings: Any) -> str:
    """A notice while the knowledge base changes (this app's running job, else a CLI change); "" otherwise."""
    from assistant.library.status import changes_under_way

    job = running() if running is not None else None
    if job is not None:
        info = job.to_dict()
        action, doc_ids = info["action"], list(info["doc_ids"])
        progress = f" · {info['stage_label']}" + (f" {info['done']}/{info['total']}" if info["total"] > 1 else "")
    else:
        changes = changes_under_way(getattr(settings, "corpus_dir", ""))
        if not changes:
            return ""
        action, doc_ids, progress = changes[0].action, list(changes[0].doc_ids), ""
    zh, en = ACTIONS.get(action, (action, action))
    what = "、".join(doc_ids[:3]) + ("…" if len(doc_ids) > 3 else "")
    zh_then, en_then = {
        "remove": ("正在删除的报告在索引完成前仍会被引用。", "the report being removed is still cited until indexing is done."),
        "reindex": ("索引完成后将使用重建后的资料。", "answers use the rebuilt index once it is done."),
        "reload": ("新索引载入后即可查到新资料。", "new reports can be searched once it is loaded."),
    }.get(action, ("正在加入或更新的报告要等索引完成后才能查到，请稍后再问。",
                   "a report being added or updated can be searched once indexing is done; ask again then."))
    text = _say(question, f"资料库正在更新索引（{zh}{'：' + what if what else ''}{progress}）。本回答基于更新前的资料：{zh_then}",
                f"The library is being re-indexed ({en}{' ' + what if what else ''}{progress}). This answer comes from the "
                f"reports indexed before: {en_then}")
    return f'<div class="qa-notice" role="status">{escape(text)}</div>'
