"""The web app: the source viewer (`/source`, `/source/{doc_id}`) and the Gradio chat at `/`.

`create_app(assistant)` returns one FastAPI app; `app.py` serves it with uvicorn. The viewer
routes are plain FastAPI and are registered before Gradio is mounted at `/`, so they win.
Every request first passes `guard.Guard` (body limit, no file objects or file routes, rate and
login limits). When the index serves a report from an older build (it failed to load), the
chat, the viewer and the `/ask` result carry a warning.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from assistant.serve.api import add_api_routes
from assistant.serve.clients import TrustedProxies
from assistant.serve.feedback import FeedbackStore
from assistant.serve.guard import Guard, short
from assistant.serve.history_ui import (HISTORY_CSS, HISTORY_HEAD, ChatHistory, add_export_routes, answer_html, base_url,
                                        session_user)
from assistant.serve.library_page import add_library_routes
from assistant.serve.login_page import HideApiInfo, login_token
from assistant.serve.viewer import (CHAT_CSS, add_banner, render_document, render_index, render_not_found, render_note,
                     render_partial, render_question)

log = logging.getLogger(__name__)

ALL = "全部"
KNOWN_DISTRICTS = ("闵行区", "静安区")  # offered even before their reports are indexed
TITLE = "闵行/静安规划报告问答 · Policy Q&A"
EXAMPLES = (
    "闵行区2023年社会消费品零售总额完成了多少？",
    "促进创新创业人才集聚由哪些单位牵头？",
    "静安区2023年外贸进出口总额是多少？",
    "What was Jing'an's retail sales target for 2024?",
    "“揭榜挂帅”是什么意思？",
)
History = list[tuple[str, str]]
MAX_HISTORY_TURNS = 10  # a follow-up leans on the last few turns; older ones only cost parsing time


def llm_available(settings: Any) -> bool:
    return bool(getattr(settings, "llm_base_url", "") or getattr(settings, "llm_gguf_path", ""))


def parse_auth(auth: str) -> tuple[str, str] | None:
    """"user:password" -> (user, password); "" -> None (no login)."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"auth must look like 'user:password', got {len(auth)} characters without both parts")
    return user, password


def make_filters(district: str | None, doc_id: str | None):
    from assistant.models import Filters

    filters = Filters(
        districts=(district,) if district and district != ALL else (),
        doc_ids=(doc_id,) if doc_id and doc_id != ALL else (),
    )
    return None if filters.is_empty() else filters


# ----------------------------------------------------------------------------- viewer routes


def _add_viewer_routes(app: FastAPI, assistant: Any, logged_in) -> None:
    def warnings() -> list[str]:  # per request: the knowledge-base page switches the index while the app runs
        return list(getattr(assistant, "warnings", []))

    pages = ["GET", "HEAD"]  # FastAPI routes answer only the methods listed; HEAD must match GET

    @app.api_route("/source", methods=pages, response_class=HTMLResponse)
    @app.api_route("/source/", methods=pages, response_class=HTMLResponse, include_in_schema=False)
    def source_index(request: Request) -> HTMLResponse:
        if not logged_in(request):
            return RedirectResponse("/", status_code=303)
        return HTMLResponse(add_banner(render_index(assistant.documents()), warnings()))

    # `:path` so that "/source/../x" or encoded slashes still land here (and get a 404) instead
    # of falling through to Gradio; the name is only ever a key into documents(), never a path.
    @app.api_route("/source/{doc_id:path}", methods=pages, response_class=HTMLResponse)
    def source_document(doc_id: str, request: Request) -> HTMLResponse:
        if not logged_in(request):
            return RedirectResponse("/", status_code=303)
        parsed = assistant.documents().get(doc_id)
        if parsed is None:
            return HTMLResponse(render_not_found(), status_code=404)
        return HTMLResponse(add_banner(render_document(parsed), warnings()))


# ----------------------------------------------------------------------------- chat


def _answer_events(assistant: Any, question: str, history: History, mode: str, filters) -> Iterator[tuple[str, Any]]:
    """("partial", html) while the answer grows, then ("final", Answer) or ("error", html)."""
    from assistant.service import QuestionError

    try:
        for event in assistant.stream(question, history=history, mode=mode, filters=filters):
            if isinstance(event, str):
                yield "partial", render_partial(event)
            else:
                yield "final", event
    except QuestionError as exc:  # the message is written for the user; one log line, no traceback
        log.info("rejected question: %s", exc)
        yield "error", render_note(str(exc))
    except Exception:  # keep the chat alive; the details go to the server log, not the page
        log.exception("answering %r failed", question[:200])
        yield "error", render_note("出错了，请稍后再试。Something went wrong while answering; please try again.")


def build_chat(assistant: Any):
    """The Gradio Blocks for the chat (not yet queued or mounted)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home from these machines
    import gradio as gr

    settings = assistant.settings
    has_llm = llm_available(settings)
    warnings = list(getattr(assistant, "warnings", []))

    def district_choices() -> list[str]:
        # the districts of the current index's reports: an uploaded 浦东新区 report adds 浦东新区
        indexed = {p.document.district for p in assistant.documents().values() if p.document.district}
        return [ALL] + sorted(indexed | set(KNOWN_DISTRICTS))

    def doc_choices(district: str) -> list[tuple[str, str]]:
        # the current index's reports: the knowledge-base page adds and removes them while the app runs
        docs = sorted((p.document for p in assistant.documents().values()), key=lambda d: (d.district, d.year, d.title))
        return [("全部 All", ALL)] + [(d.title, d.doc_id) for d in docs if district in (ALL, d.district)]

    store = FeedbackStore(settings.data_dir)
    chats = ChatHistory(settings, MAX_HISTORY_TURNS)  # conversations per login or browser (history_ui.py)
    index_version = Path(str(getattr(getattr(assistant, "index", None), "path", ""))).name  # the build answering

    def respond(message: str, chat: list, history: History, district: str, doc_id: str, mode: str, records: dict,
                conversation: str | None, browser: str | None, request: Any):
        """Stream the answer into the chat; `records` keeps each final answer by its message index,
        for the 👍/👎 buttons; the final answer is stored in the owner's `conversation` (history_ui.py)."""
        chat = list(chat or []) + [
            {"role": "user", "content": render_question(message)},
            {"role": "assistant", "content": render_partial("…")},
        ]
        records = dict(records or {})
        browser = chats.browser_id(browser)
        shown = (gr.update(),) * len(sidebar.shown)
        yield chat, history, "", records, conversation, browser, *shown
        for kind, value in _answer_events(assistant, message, history, mode, make_filters(district, doc_id)):
            if kind == "final":
                record = value.to_dict()
                owner = chats.owner(request, browser)
                conversation, turn = chats.record(owner, conversation, message, record)
                chat[-1]["content"] = answer_html(value, base_url(settings, request), conversation, turn)
                history = list(history) + [(message, value.text)]  # plain text for follow-ups
                records[len(chat) - 1] = record
                shown = chats.shown(owner, conversation)
            else:
                chat[-1]["content"] = value
            yield chat, history, "", records, conversation, browser, *shown

    def rate(records: dict, data: gr.LikeData):
        """👍/👎 on an answer: stored at once; the comment box opens for an optional remark."""
        record = (records or {}).get(data.index if isinstance(data.index, int) else data.index[0])
        rating = {True: "up", False: "down"}.get(data.liked) if isinstance(data.liked, bool) else None
        if record is None or rating is None:  # a question, a note, or a rating taken back
            return gr.update(visible=False), None
        try:
            feedback_id = store.add(rating, record, index_version)
        except Exception:  # noqa: BLE001 - a full disk must not break the chat
            log.exception("storing feedback failed")
            return gr.update(visible=False), None
        log.info("feedback %d: %s on %r", feedback_id, rating, record.get("question", "")[:80])
        return gr.update(visible=True), feedback_id

    # Gradio passes the LikeData by the parameter's type; this module's annotations are strings
    # (`from __future__ import annotations`) naming a local import, which Gradio cannot resolve
    rate.__annotations__["data"] = gr.LikeData
    respond.__annotations__["request"] = gr.Request

    def add_comment(text: str, feedback_id: int | None):
        if feedback_id is not None and isinstance(text, str) and text.strip():
            store.comment(feedback_id, text)
        return gr.update(visible=False), "", None

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
        first, so that follow-ups ("那静安区呢？", "2024年的目标呢？") work. A separate endpoint keeps
        /ask's three arguments for raw HTTP callers (Gradio fills no defaults there)."""
        from assistant.service import QuestionError

        # Gradio does not enforce the annotations: check the types here, and never echo more of
        # the input than a short escaped prefix (file objects never get here: see guard.py).
        if not isinstance(question, str):
            raise reject(f"question must be text; got {short(question)}")
        if not isinstance(district, str) or district not in district_choices():
            raise reject(f"district must be one of {', '.join(district_choices())}; got {short(district)}")
        if not isinstance(mode, str) or mode not in ("extractive", "llm") or (mode == "llm" and not has_llm):
            raise reject(f"mode must be 'extractive'{' or llm' if has_llm else ' (no LLM is configured)'}; got {short(mode)}")
        if not isinstance(history, str):
            raise reject(f"history must be text (earlier questions, one per line); got {short(history)}")
        turns = [(line[:settings.max_question_chars], "") for line in history.splitlines() if line.strip()][-MAX_HISTORY_TURNS:]
        try:
            answer = assistant.ask(question, history=turns, mode=mode, filters=make_filters(district, None))
        except QuestionError as exc:
            raise reject(str(exc)) from None
        return answer.to_dict() | {"warnings": warnings}

    # delete_cache: Gradio's own clean-up of its temporary files (the app creates none; defence in depth)
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        if warnings:
            gr.HTML(render_note(" ".join(warnings), kind="refusal"), elem_id="index-warning")
        gr.Markdown(f"## {TITLE}\n闵行区、静安区规划与计划报告的问答助手：每句回答都带引用 [n]，点击可查看原文段落。"
                    " Answers cite the reports; click [n] to open the passage. [报告原文 Sources](/source)"
                    " · [资料库 Library](/library)",
                    elem_id="intro")
        sidebar = chats.sidebar()  # 历史对话: 新对话, the list, rename, delete, export
        history = gr.State([])
        records = gr.State({})  # message index -> the Answer's dict, for 👍/👎
        feedback_id = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                # the height comes from CHAT_CSS: the chat fills the window below the title and above the input
                chatbot = gr.Chatbot(label="对话 Chat", latex_delimiters=[], feedback_options=("Like", "Dislike"),
                                     elem_id="chat", buttons=[], height="auto",  # 复制 is under each answer (plain text)
                                     placeholder="在下方输入问题，或点击示例问题。<br>Ask below, or click an example.")
                with gr.Row(visible=False, elem_id="feedback-row") as feedback_row:
                    comment = gr.Textbox(placeholder="已记录评价。补充说明（可选），回车提交 · Rated — add a comment (optional), Enter to send",
                                         show_label=False, scale=5, lines=1, max_lines=4, elem_id="feedback-comment")
                    comment_send = gr.Button("提交 Send", scale=1, min_width=80, elem_id="feedback-send")
                with gr.Row(elem_id="ask-row"):
                    box = gr.Textbox(placeholder="输入问题，回车发送 · Ask a question and press Enter", show_label=False,
                                     scale=5, lines=1, max_lines=4, elem_id="question", autofocus=True)
                    send = gr.Button("发送 Ask", variant="primary", scale=1, min_width=80, elem_id="send")
            with gr.Column(scale=1, min_width=240, elem_id="side"):
                examples = gr.Examples(examples=[[q] for q in EXAMPLES], inputs=[box], label="示例问题（点击即问） Examples",
                                       api_visibility="private", elem_id="examples")
                district = gr.Dropdown(district_choices(), value=ALL, label="区 District", elem_id="district")
                document = gr.Dropdown(doc_choices(ALL), value=ALL, label="报告 Document", elem_id="document")
                mode = gr.Radio([("抽取式 Extractive", "extractive"), ("大模型 LLM", "llm")],
                                value=settings.mode if has_llm else "extractive", label="回答方式 Answer mode",
                                interactive=has_llm, elem_id="mode",
                                info=None if has_llm else "未配置大模型，仅抽取式可用 · No LLM configured")

        inputs = [box, chatbot, history, district, document, mode, records] + sidebar.states
        outputs = [chatbot, history, box, records] + sidebar.states + sidebar.shown
        box.submit(respond, inputs, outputs, api_visibility="private")
        send.click(respond, inputs, outputs, api_visibility="private")
        # a click asks it; on a phone the examples sit below the chat, so bring the chat into view
        # (on a wide screen everything is in view already; on a phone: the question box at the bottom, the chat above it)
        show_chat = "() => { if (innerWidth <= 640) document.getElementById('ask-row')?.scrollIntoView({block: 'end'}); }"
        examples.load_input_event.then(None, js=show_chat).then(respond, inputs, outputs, api_visibility="private") \
            .then(None, js=show_chat)
        chatbot.like(rate, [records], [feedback_row, feedback_id], api_visibility="private")
        comment.submit(add_comment, [comment, feedback_id], [feedback_row, comment, feedback_id], api_visibility="private")
        comment_send.click(add_comment, [comment, feedback_id], [feedback_row, comment, feedback_id], api_visibility="private")
        chats.wire(demo, sidebar, chatbot, history, records)  # reopen, 新对话 (and the chat's trash icon), rename, delete
        district.change(lambda d: gr.Dropdown(choices=doc_choices(d), value=ALL), district, document,
                        api_visibility="private")
        # reports added or removed on the 资料库 page since the app started show up on the next page load
        demo.load(lambda: (gr.Dropdown(choices=district_choices()), gr.Dropdown(choices=doc_choices(ALL))), None,
                  [district, document], api_visibility="private")
        gr.api(ask, api_name="ask")
        gr.api(ask_with_history, api_name="ask_with_history")

    demo.queue(default_concurrency_limit=settings.max_concurrency, max_size=settings.max_queue)
    return demo


# ----------------------------------------------------------------------------- app


def create_app(assistant: Any, include_chat: bool = True) -> FastAPI:
    """Viewer routes plus (unless include_chat=False, for tests without a model) the chat at `/`."""
    app = FastAPI(title=TITLE, docs_url=None, redoc_url=None, openapi_url=None)
    settings = assistant.settings
    TrustedProxies(getattr(settings, "trusted_proxies", ""))  # a bad value stops the start, not the first request
    app.add_middleware(Guard, settings=settings)
    auth = parse_auth(getattr(settings, "auth", ""))
    mounted: dict[str, Any] = {}

    def logged_in(request: Request) -> bool:
        """With a password set, the viewer accepts Gradio's own login cookie (path "/")."""
        gradio_app = mounted.get("gradio")
        if auth is None or gradio_app is None:
            return auth is None
        cookie_id = gradio_app.cookie_id
        token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(f"access-token-unsecure-{cookie_id}")
        return token is not None and token in gradio_app.tokens

    app.add_middleware(HideApiInfo, logged_in=logged_in)  # the login page shows no API description (issue 23)
    _add_viewer_routes(app, assistant, logged_in)
    add_api_routes(app, assistant, logged_in)  # /v1 (OpenAI-compatible), /api (REST), /docs
    # /library: upload, replace, delete, restore reports; re-index. The admin session is bound to the chat login
    add_library_routes(app, assistant, logged_in, lambda request: login_token(request, mounted.get("gradio")) if auth else "")
    add_export_routes(app, settings, auth is not None, lambda request: session_user(request, mounted.get("gradio")))
    if include_chat:
        import gradio as gr
        from starlette.routing import Mount

        demo = build_chat(assistant)
        # openapi_url=None: Gradio's own FastAPI app would publish /openapi.json without the login.
        # blocked_paths "/" and max_file_size: Gradio's own file checks, as a second line behind guard.py
        # (the app serves no files; uploads are refused there before Gradio sees them).
        # HISTORY_CSS and HISTORY_HEAD: the history sidebar and the 复制 (plain-text copy) script (history_ui.py)
        gr.mount_gradio_app(app, demo, path="/", auth=auth, css=CHAT_CSS + HISTORY_CSS, head=HISTORY_HEAD,
                            app_kwargs={"openapi_url": None},
                            blocked_paths=[os.path.abspath(os.sep)], allowed_paths=[],
                            max_file_size=settings.max_body_bytes or None,
                            auth_message="闵行/静安规划报告问答 · 请登录 Please log in")
        mounted["gradio"] = next(r.app for r in app.routes if isinstance(r, Mount) and r.path in ("", "/"))
        # Gradio checks the paths of file objects against blocked_paths ("/": all) only once it has been
        # launched; mounted, it never is, and copied any file a client named (issue 14, 23). Behind guard.py.
        demo.has_launched = True
    return app
