"""A refusal retried once on the question reworded by the chat model (issue 26 item 3; setting
`llm_rewrite`, off by default).

When the extractive pipeline refuses, the model is asked to restate the question in the reports'
words: one Chinese question with the district, the year and the subject made explicit, from the
question, the earlier user turns and the closest passages' headings. The pipeline then answers the
rewrite once more, extractively. The rewritten answer is kept only when it is no refusal, every
sentence is cited and verified, and it is about the same thing as the original question: the rewrite
brings a word of the reports the question lacked and leaves out none of its names that the reports
use, its Query has the same districts, years, period kinds, measure and comparison as the original
Query, and the answer cites only the asked districts. Otherwise the original refusal stands.
Questions answered on the first pass never reach the model, so the default path's speed is
unchanged; a refusal about the corpus' map (a place or year the reports do not cover, a false
premise) is not retried.

No import of the pipeline (it imports this module): `retry_refusal` takes it as an argument.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from typing import Iterator

from langchain_core.messages import HumanMessage, SystemMessage

from assistant.ingest.normalize import letters, numbers
from assistant.models import Answer, Filters, Hit, Query

log = logging.getLogger(__name__)

DEFAULT_MODEL = "bundled:qwen2.5-coder-0.5b"  # used when the setting is on and no LLM is configured
MAX_TOKENS = 60  # a question is ~15-40 tokens; 60 at ~23 tokens/s is ~2.5 s at most
HISTORY_TURNS = 3  # earlier user questions shown to the model
CLOSEST = 3  # passages whose headings show the reports' words
HEADING_CHARS = 40  # of each passage's nearest heading
SNIPPET_CHARS = 50  # of each passage's text
STOP = ["\n"]  # one line: the model goes on to explain or answer
MAX_GROWTH = 60  # characters a rewrite may add to the question (longer: the model is answering, not rewording)

SYSTEM = (
    "你把工作人员关于上海区级规划报告的问题改写成报告的用语。只输出一句完整的中文问题，写明区名、年份和所问的指标或事项，"
    "尽量用“报告中的说法”里的词。区名和年份只能来自问题和之前的问题，不要自己添加；不要回答问题，不要写数字答案。\n"
    "例1 问题：闵行去年老百姓买东西一共花了多少钱？\n改写：闵行区2023年社会消费品零售总额是多少？\n"
    "例2 之前的问题：静安区2023年税收总收入是多少？ 问题：那增长了多少？\n改写：静安区2023年税收总收入比上年增长了多少？\n"
    "例3 问题：Which unit leads the smart education task in Minhang?\n改写：闵行区智慧教育任务由哪些单位牵头？"
)

_PREFIX = re.compile(r"^\s*(?:例\d\s*)?(?:改写后?的?问题|改写|问题|Rewrite|Question)\s*[:：]\s*", re.I)
_YEAR = re.compile(r"\d{4}(?=年)")
_QUOTES = "“”\"'‘’「」`*"


def worth_retrying(answer: Answer) -> bool:
    """A refusal the reports' words might turn into an answer; not one about what the corpus covers."""
    query = answer.query
    return answer.refused and query is not None and not (query.other_places or query.unknown_years or query.premise)


def build_messages(question: str, history: list[str], closest: list[Hit]) -> list:
    """The prompt: the question, the earlier user turns and the closest passages' headings and
    openings (the reports' own words for the subject)."""
    lines = []
    seen: set[str] = set()
    for hit in closest[:CLOSEST]:
        chunk = hit.chunk
        heading = (chunk.breadcrumb[-1] if chunk.breadcrumb else "")[:HEADING_CHARS]
        text = re.sub(r"\s+", "", chunk.text)[:SNIPPET_CHARS]
        line = f"- {chunk.district}｜{heading}｜{text}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    parts = ["报告中的说法：\n" + "\n".join(lines)] if lines else []
    turns = [t for t in history if t and t.strip()][-HISTORY_TURNS:]
    if turns:
        parts.append("之前的问题：" + " ".join(turns))
    parts.append(f"问题：{question.strip()}")  # (the parser's reading, shown too, was echoed back by the 0.5B model)
    parts.append("改写：")
    return [SystemMessage(SYSTEM), HumanMessage("\n".join(parts))]


def parse_rewrite(text: str, question: str, history: list[str] = ()) -> str:
    """The model's first line as one question; "" when it is none (empty, an answer, too long, the
    same question, a figure that neither the question nor the earlier turns have)."""
    line = next((ln for ln in (text or "").splitlines() if ln.strip()), "")
    line = _PREFIX.sub("", line).strip().strip(_QUOTES).strip()
    line = re.split(r"(?<=[？?])", line, maxsplit=1)[0].strip()  # one question
    if not line or "NOT_FOUND" in line or len(line) > len(question) + MAX_GROWTH or "。" in line:
        return ""  # nothing, an essay, or a statement (the model answering: "…定了7项主要目标。")
    # a figure the question did not have is the model's guess at the answer ("增长了15亿元"); a year made
    # explicit ("去年" -> 2023年) is not, and is checked against the question's own reading later
    if set(numbers(_YEAR.sub("", line))) - set(numbers(question + " " + " ".join(history))):
        return ""
    if not re.search(r"[\u4e00-\u9fff]", line):  # the reports are Chinese: an English rewrite does not help
        return ""
    if not line.endswith(("？", "?")):
        line += "？"
    same = re.sub(r"[\W_]", "", line) == re.sub(r"[\W_]", "", question)
    return "" if same else line


def rewrite_question(model, question: str, history: list[str], closest: list[Hit]) -> str:
    """The model's rewrite of the question ("" when it gave none)."""
    reply = model.invoke(build_messages(question, history, closest), max_tokens=MAX_TOKENS, stop=STOP)
    content = reply.content if isinstance(reply.content, str) else "".join(str(p) for p in reply.content)
    return parse_rewrite(content, question, history)


def report_words(query: Query, known_term) -> set[str]:
    """The words of the question as asked (not the parser's synonyms) that the reports use."""
    asked = letters(query.text)
    return {t for t in query.terms if len(t) > 1 and not t.isascii() and t in asked and known_term(t)}


def not_a_rewording(original: Query, rewritten: Query, known_term) -> str:
    """Why the rewritten Query does not restate the question in the reports' words ("": it does).
    It must bring a word of the reports the question lacked: the same words again ("区长叫什么名字"
    -> "区长的名字是") only give the extractive mode a second chance at a passage it rightly passed
    over. And it may not leave out a name of the question that the reports use (three or more
    characters: 紫竹高新区, 发改委): "四个园区…的税收加起来" -> "税收加起来" is a broader question."""
    asked, kept = letters(original.text), letters(rewritten.text)
    brought = {t for t in report_words(rewritten, known_term) if t not in asked}
    if not brought:
        return "brings no word of the reports"
    left_out = sorted(t for t in report_words(original, known_term) if t not in kept and len(t) >= 3)
    return "leaves out " + "、".join(left_out) if left_out else ""


def rejected(original: Query, answer: Answer, district_of=lambda chunk_id: "") -> str:
    """Why the rewritten question's answer may not stand for the original question ("": it may).
    `district_of`: chunk id -> its district."""
    new = answer.query
    if answer.refused:
        return "refused again"
    if new is None or not answer.citations:
        return "uncited"
    if answer.verification.get("unsupported_sentences", 0):
        return "a sentence not verified"
    if new.districts != original.districts:
        return f"districts {new.districts} for {original.districts}"
    if new.years != original.years:
        return f"years {new.years} for {original.years}"
    if original.period_kinds and new.period_kinds != original.period_kinds:
        return f"period kinds {new.period_kinds} for {original.period_kinds}"
    if new.measure != original.measure and not (original.measure == "amount" and not new.measure):
        return f"measure {new.measure!r} for {original.measure!r}"  # "多少钱" is read as the amount by default
    if (original.intent == "comparison" or new.intent == "comparison") and \
            (new.intent, new.operation) != (original.intent, original.operation):  # what a comparison computes
        return f"{new.intent} {new.operation!r} for {original.intent} {original.operation!r}"
    if new.intent == "overview" and original.intent != "overview":
        return "an overview for a specific question"
    if original.districts and any(district_of(c.chunk_id) not in original.districts for c in answer.citations):
        return "cites another district"
    return ""


_DEFAULT_MODELS: dict[str, object] = {}


def chat_model(pipeline):
    """The configured chat model, or the bundled local one when no LLM is configured."""
    from assistant.answer.llm import llm_available, local_chat_model

    settings = pipeline.settings
    if llm_available(settings) or getattr(pipeline, "_llm", None) is not None:
        return pipeline.llm()
    if DEFAULT_MODEL not in _DEFAULT_MODELS:
        _DEFAULT_MODELS[DEFAULT_MODEL] = local_chat_model(settings.replace(llm_gguf_path=DEFAULT_MODEL))
    return _DEFAULT_MODELS[DEFAULT_MODEL]


def retry_refusal(pipeline, question: str, history: list[tuple[str, str]], mode: str,
                  filters: Filters | None) -> Iterator[str | Answer]:
    """`pipeline.stream` without rewriting; a refusal it ends with is retried once on the model's
    rewrite of the question, and replaced by the rewrite's answer only when `rejected` finds nothing."""
    first: Answer | None = None
    for event in pipeline.stream(question, history, mode, filters, rewrite=False):
        if isinstance(event, Answer) and worth_retrying(event):
            first = event
        else:
            yield event
    if first is None:
        return
    started = time.perf_counter()
    try:
        text = rewrite_question(chat_model(pipeline), question, [user for user, _ in history], first.closest)
    except Exception as exc:  # no model, or it failed: the refusal stands (the setting is an extra, never a failure)
        log.warning("llm_rewrite: no rewrite (%s: %s)", type(exc).__name__, str(exc)[:200])
        text = ""
    if not text:
        first.timings["rewrite"] = round((time.perf_counter() - started) * 1e3, 1)
        log.info("llm_rewrite %r: no rewrite (%.0f ms)", question[:80], first.timings["rewrite"])
        yield first
        return
    why = not_a_rewording(first.query, pipeline.understand(text, [], filters), pipeline.known_term)
    events = [] if why else list(pipeline.stream(text, [], mode, filters, rewrite=False))
    if events:
        retriever = pipeline.retriever
        why = rejected(first.query, events[-1], lambda c: retriever.chunks[retriever.index.positions[c]].district
                       if c in retriever.index.positions else "")
    ms = round((time.perf_counter() - started) * 1e3, 1)
    log.info("llm_rewrite %r -> %r: %s (%.0f ms)", question[:80], text, why or "kept", ms)
    if why:
        first.timings.update(rewrite=ms)
        first.verification = {**first.verification, "rewrite_rejected": 1}
        yield first
        return
    answer, english = events[-1], first.query.english
    # the rewrite itself is the answer's standalone question and its reading ("理解为：…"), shown under it
    note = "\n(answered on the question reworded in the reports' terms)" if english else "\n（已按报告用语改写问题后回答）"
    timings = {**answer.timings, "rewrite": ms, "first_pass": first.timings.get("total", 0.0)}
    yield from (e for e in events[:-1] if isinstance(e, str))
    yield replace(answer, text=answer.text + note, question=first.question, timings=timings,
                  verification={**answer.verification, "rewritten": 1})
