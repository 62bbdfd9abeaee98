"""HTTP APIs over `Assistant`: an OpenAI-compatible chat endpoint and a small REST API.

    POST /v1/chat/completions   OpenAI wire format: JSON, or an SSE stream ending with `data: [DONE]`
    GET  /v1/models             one model per answer mode: policy-qa, policy-qa-llm (when an LLM is configured)
    POST /api/ask               question, history, filters, mode -> the answer (AskResponse)
    GET  /api/search            q, k, district, doc_id -> ranked passages (SearchResponse)
    GET  /docs, /openapi.json   Swagger UI (bundled by fastapi-offline: no CDN) for these routes only

Every citation URL is absolute: the `public_url` setting, else the request's own base URL, so a
desktop client can open it. Access: with `api_key` set, a valid `Authorization: Bearer <key>`;
with `auth` (the chat login) set, also the chat's login cookie; neither set, open (loopback by default).
Bad input gets a 4xx in OpenAI's error shape `{"error": {"message", "type", "param", "code"}}`
(the openai SDK turns it into an exception with that message) and one log line, never a traceback.
At most `max_concurrency` answers are computed at once (more threads would only contend for the
GIL); beyond `max_queue` waiting requests a 503 asks the client to retry.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from assistant.serve.api_schemas import (AskRequest, AskResponse, ChatCompletion, ChatRequest, ErrorResponse, FiltersIn, ModelCard,
                          ModelList, SearchResponse)
from assistant.serve.api_docs import add_docs
from assistant.serve.api_errors import ApiError, add_error_handlers
from assistant.serve.guard import short

log = logging.getLogger(__name__)

MODEL = "policy-qa"
LLM_MODEL = "policy-qa-llm"
MAX_HISTORY_TURNS = 10  # a follow-up leans on the last few turns; older ones only cost parsing time
MAX_K = 50
MAX_DOC_IDS = 20  # as FiltersIn.doc_ids
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (400, 401, 404, 503)}


class Gate:
    """At most `limit` answers at once; more than `queue` waiting -> 503 (0 = no queue limit)."""

    def __init__(self, limit: int, queue: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, limit))
        self._lock = threading.Lock()
        self.limit, self.queue, self.inside = max(1, limit), queue, 0

    def check(self) -> None:
        if self.queue and self.inside >= self.limit + self.queue:
            raise ApiError(503, f"the server is busy ({self.inside} questions in progress or waiting); retry in a few seconds",
                           type="server_busy", code="queue_full", headers={"retry-after": "2"})

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            self.check()
            self.inside += 1
        try:
            with self._slots:
                yield
        finally:
            with self._lock:
                self.inside -= 1


# ----------------------------------------------------------------------------- helpers


def base_url(request: Request, settings: Any) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _absolute(base: str, url: str) -> str:
    return base + url if url.startswith("/") else url


def _passage(chunk: dict, base: str, score: float, scores: dict | None = None) -> dict:
    keys = ("chunk_id", "doc_id", "title", "breadcrumb", "text", "district", "year")
    return {k: chunk[k] for k in keys} | {"url": _absolute(base, chunk["url"]), "score": round(score, 6),
                                         "scores": {k: round(v, 6) for k, v in (scores or {}).items()}}


def answer_body(answer: Any, base: str, warnings: list[str]) -> dict:
    """Answer.to_dict() with absolute URLs and the index warnings (the AskResponse shape)."""
    data = answer.to_dict()
    return {
        "answer": data["answer"], "refused": data["refused"], "reading": data["reading"], "mode": data["mode"],
        "question": data["question"], "standalone_question": data["standalone_question"], "query": data["query"],
        "citations": [c | {"url": _absolute(base, c["url"])} for c in data["citations"]],
        "closest": [_passage(c, base, c["score"]) for c in data["closest"]],
        "timings_ms": data["timings_ms"], "warnings": warnings,
    }


def _md(text: str) -> str:
    """Text safe inside a markdown link label or list item (no accidental links or emphasis)."""
    text = " ".join(text.replace("\t", " · ").split())
    return _md_escape(text)


def _md_escape(text: str) -> str:
    text = "".join("\\" + ch if ch in "\\[]()*_`<>#|!" else ch for ch in text)
    return _SCHEME.sub(r"\1\2\\:", text)  # "javascript:" is never a link, not even for a renderer that links bare URLs


_CITE = re.compile(r"\[\d{1,3}\](?![ \t]*:)")  # a citation marker, not a link reference definition "[1]: url"
_SCHEME = re.compile(r"(?i)(javascript|vbscript|data)(\s*):")


def _md_answer(text: str) -> str:
    """The answer (or refusal) text, which quotes the reports, as markdown that shows it as text: every
    character that could start HTML, a link, an image or emphasis escaped (issue 23: a report's
    `<script>`, `<img onerror>` and `javascript:` links reached message.content raw), the [n]
    citation markers and the line breaks kept."""
    parts, start = [], 0
    for marker in _CITE.finditer(text):
        parts += [_md_escape(text[start:marker.start()]), marker.group(0)]
        start = marker.end()
    return "".join(parts + [_md_escape(text[start:])])


def _md_url(url: str) -> str:
    """A link destination that cannot end the link early (the base comes from the Host header)."""
    from urllib.parse import quote

    return quote(url, safe=":/?#@!$&'*+,;=%-._~[]")


def reply_markdown(body: dict) -> str:
    """The chat reply: the answer with its [n] markers, then the sources as a markdown list; report
    text anywhere in it is escaped (`_md_answer`, `_md`), like the chat's HTML."""
    parts = [_md_answer(body["answer"])]
    if body["reading"]:
        parts.append(f"*{_md(body['reading'])}*")
    if body["citations"]:
        items = [f"{c['n']}. [{_md(c['title'])}]({_md_url(c['url'])}) {'第%d页 ' % c['page'] if c.get('page') else ''}"
                 f"{_md(' › '.join(c['breadcrumb']))}：“{_md(c['text'][:160])}”" for c in body["citations"]]
        parts.append("**来源 Sources**\n\n" + "\n".join(items))
    if body["refused"] and body["closest"]:
        items = [f"- [{_md(p['title'])}]({_md_url(p['url'])}) {_md(p['text'][:120])}" for p in body["closest"]]
        parts.append("**最接近的段落 Closest passages**\n\n" + "\n".join(items))
    return "\n\n".join(parts)


def _message_text(message: Any, index: int) -> str:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.type != "text":
            raise ApiError(400, f"messages[{index}]: only text content is supported, not {short(part.type)}",
                           param=f"messages[{index}].content")
        texts.append(part.text or "")
    return "\n".join(texts)


def conversation(messages: list[Any]) -> tuple[str, list[tuple[str, str]]]:
    """(question, [(earlier question, its reply), ...]): the last user message is the question;
    system prompts are ignored (the answer comes from the reports, not from instructions)."""
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for i, message in enumerate(messages):
        text = _message_text(message, i)
        if message.role == "user":
            if pending is not None:
                turns.append((pending, ""))
            pending = text
        elif message.role == "assistant" and pending is not None:
            turns.append((pending, text))
            pending = None
    if pending is None:
        if not turns:
            raise ApiError(400, "messages has no user message: the last user message is the question", param="messages")
        pending = turns.pop()[0]  # a trailing assistant message: answer the last question again
    return pending, turns


# ----------------------------------------------------------------------------- routes


def add_api_routes(app: FastAPI, assistant: Any, logged_in: Callable[[Request], bool]) -> None:
    """Register /v1, /api, /docs and /openapi.json on `app` (before Gradio is mounted at /)."""
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    settings = assistant.settings
    has_llm = bool(settings.llm_base_url or settings.llm_gguf_path)
    login_required = bool(settings.auth)
    gate = Gate(settings.max_concurrency, settings.max_queue)
    bearer = HTTPBearer(auto_error=False, description="the server's api_key setting")
    started = int(time.time())

    def allowed(request: Request, credentials: HTTPAuthorizationCredentials | None) -> bool:
        if settings.api_key and credentials is not None and hmac.compare_digest(
                credentials.credentials.encode(), settings.api_key.encode()):
            return True
        if login_required and logged_in(request):
            return True
        return not (settings.api_key or login_required)

    def access(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if not allowed(request, credentials):
            how = "send the header `Authorization: Bearer <key>` with the server's api_key" if settings.api_key else \
                "log in to the chat in a browser first, or ask the administrator to set api_key for API clients"
            raise ApiError(401, f"missing or wrong API key: {how}", code="invalid_api_key",
                           headers={"www-authenticate": "Bearer"})

    def resolve_filters(filters: FiltersIn | None):
        from assistant.models import Filters
        from assistant.answer.retrieve import DISTRICT_ALIASES

        if filters is None:
            return None
        districts: tuple[str, ...] = ()
        name = (filters.district or "").strip()
        if name and name.lower() not in ("全部", "all"):
            districts = tuple(d for d, aliases in DISTRICT_ALIASES.items()
                              if name.lower() in (d.lower(), *(a.lower() for a in aliases)))
            if not districts:
                raise ApiError(400, f"unknown district {short(name)}; known: {', '.join(DISTRICT_ALIASES)}",
                               param="filters.district")
        known = assistant.documents()
        for doc_id in filters.doc_ids:
            if doc_id not in known:
                raise ApiError(400, f"unknown report {short(doc_id)}; known: {', '.join(sorted(known))}",
                               param="filters.doc_ids")
        result = Filters(districts=districts, doc_ids=tuple(dict.fromkeys(filters.doc_ids)))
        return None if result.is_empty() else result

    def checked(question: str, param: str) -> str:
        from assistant.service import QuestionError, check_question

        try:
            return check_question(question, settings)
        except QuestionError as exc:
            raise ApiError(400, str(exc), param=param) from None

    def history_turns(turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Earlier questions cut to the question limit; empty or unaskable ones are skipped (a chat
        client resends whatever the conversation held)."""
        from assistant.service import QuestionError, check_question

        kept = []
        for question, reply in turns[-MAX_HISTORY_TURNS:]:
            try:
                kept.append((check_question(question[: settings.max_question_chars], settings), reply))
            except QuestionError:
                continue
        return kept

    def answer(question: str, history: list[tuple[str, str]], mode: str, filters) -> Any:
        from assistant.answer.llm import LLMConfigError

        with gate.slot():
            try:
                return assistant.ask(question, history=history, mode=mode, filters=filters)
            except LLMConfigError as exc:
                raise ApiError(400, str(exc), param="mode") from None

    def mode_of(model: str) -> str:
        names = {MODEL: "extractive"} | ({LLM_MODEL: "llm"} if has_llm else {})
        if model not in names:
            raise ApiError(404, f"the model {short(model)} does not exist; use {' or '.join(names)} (GET /v1/models)",
                           param="model", code="model_not_found")
        return names[model]

    router = APIRouter(dependencies=[Depends(access)], responses=ERRORS)

    @router.get("/v1/models", response_model=ModelList, tags=["OpenAI-compatible"])
    def list_models() -> ModelList:
        """The answer modes as models: `policy-qa` (extractive), `policy-qa-llm` (when an LLM is configured)."""
        ids = [MODEL] + ([LLM_MODEL] if has_llm else [])
        return ModelList(data=[ModelCard(id=name, created=started) for name in ids])

    @router.post("/v1/chat/completions", response_model=ChatCompletion, tags=["OpenAI-compatible"],
                 responses={200: {"content": {"text/event-stream": {}}}})
    def chat_completions(body: ChatRequest, request: Request):
        """Answer the last user message; earlier user messages are the conversation (follow-ups such
        as “那静安区呢？” work). The reply is the cited answer plus a markdown list of sources with
        absolute links; `policy_qa` carries the structured citations, the refusal flag and the
        reading. `stream: true` sends the same reply as server-sent events ending with `data: [DONE]`."""
        mode = mode_of(body.model)
        question, turns = conversation(body.messages)
        question, history = checked(question, "messages"), history_turns(turns)
        filters, base = resolve_filters(body.filters), base_url(request, settings)
        warnings, created, cid = list(assistant.warnings), int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
        prompt_chars = len(question) + sum(len(q) for q, _ in history)

        def completion_parts() -> tuple[str, dict]:
            data = answer_body(answer(question, history, mode, filters), base, warnings)
            extra = {k: data[k] for k in ("refused", "reading", "citations", "closest", "query", "warnings", "mode")}
            return reply_markdown(data), extra

        if not body.stream:
            content, extra = completion_parts()
            return {"id": cid, "object": "chat.completion", "created": created, "model": body.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop", "logprobs": None}],
                    "usage": _usage(prompt_chars, content), "policy_qa": extra}
        gate.check()  # a full queue is a 503 status, not an error inside a started stream
        usage_wanted = bool(body.stream_options and body.stream_options.include_usage)

        def events() -> Iterator[str]:
            head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model}

            def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                return _sse(head | {"choices": [choice]} | ({"usage": None} if usage_wanted else {}) | extra)

            yield chunk({"role": "assistant", "content": ""})  # the client sees the stream start at once
            try:
                content, extra = completion_parts()
            except ApiError as exc:
                yield _sse(exc.body())
                yield "data: [DONE]\n\n"
                return
            except Exception:  # noqa: BLE001 - the status is already sent: report inside the stream
                log.exception("streaming an answer failed")
                yield _sse({"error": {"message": "something went wrong while answering; please try again",
                                      "type": "server_error", "param": None, "code": None}})
                yield "data: [DONE]\n\n"
                return
            # the answer is verified before it is sent (the verifier may renumber or drop sentences):
            # streamed by line, never retracted
            for piece in content.splitlines(keepends=True):
                yield chunk({"content": piece})
            yield chunk({}, "stop", policy_qa=extra)
            if usage_wanted:
                yield _sse(head | {"choices": [], "usage": _usage(prompt_chars, content)})
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    @router.post("/api/ask", response_model=AskResponse, tags=["REST"])
    def ask(body: AskRequest, request: Request) -> dict:
        """Answer a question, optionally in a conversation (`history`) and within filters."""
        mode = body.mode or "extractive"
        if mode == "llm" and not has_llm:
            raise ApiError(400, "mode 'llm' needs llm_base_url or llm_gguf_path to be configured; use 'extractive'", param="mode")
        question = checked(body.question, "question")
        turns = [(t, "") if isinstance(t, str) else (t.question, t.answer) for t in body.history]
        result = answer(question, history_turns(turns), mode, resolve_filters(body.filters))
        return answer_body(result, base_url(request, settings), list(assistant.warnings))

    @router.get("/api/search", response_model=SearchResponse, tags=["REST"])
    def search(request: Request, q: str = Query(..., description="the question or keywords"),
               k: int = Query(10, ge=1, le=MAX_K, description="number of passages"),
               district: str | None = Query(None, description="闵行区 / 静安区"),
               doc_id: list[str] = Query(default_factory=list, max_length=MAX_DOC_IDS,
                                         description=f"only these reports (repeatable, at most {MAX_DOC_IDS})")) -> dict:
        """The ranked passages for a question (hybrid lexical + dense retrieval, within the question's scope)."""
        question = checked(q, "q")
        try:
            filters = resolve_filters(FiltersIn(district=district, doc_ids=doc_id))
        except ValidationError as exc:  # FiltersIn's own limits (a 500 before: issue 23)
            raise ApiError(400, f"invalid filters: {exc.errors()[0].get('msg', 'invalid')}", param="doc_id") from None
        with gate.slot():
            result = assistant.search(question, k=k, filters=filters)
        base = base_url(request, settings)
        return {"q": question, "reading": result.query.reading if result.query else "",
                "hits": [_passage(h.chunk.to_dict(), base, h.score, h.scores_by_retriever) for h in result.hits],
                "timings_ms": {name: round(v, 2) for name, v in result.timings.items()}}

    app.include_router(router)
    add_docs(app, router, allowed, bearer, login_required, (__doc__ or "").split("\n\n")[1])
    add_error_handlers(app)


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _usage(prompt_chars: int, content: str) -> dict[str, int]:
    return {"prompt_tokens": prompt_chars, "completion_tokens": len(content), "total_tokens": prompt_chars + len(content)}


