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
from typing import Any, Callable, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from assistant.serve.api import add_api_routes
from assistant.serve.chat_api import api_functions
from assistant.serve.chat_catalog import ALL, catalog_of, choice, make_filters  # noqa: F401 (make_filters: used by callers)
from assistant.serve.chat_input import (DONE_JS, INPUT_CSS, INPUT_HEAD, START_EXAMPLE_JS, START_JS, catalog_mark, counter_html,
                                        is_blank, too_long)
from assistant.serve.chat_notes import failure, question_error, rebuild_notice, scope_line
from assistant.serve.clients import TrustedProxies
from assistant.serve.feedback import FeedbackStore
from assistant.serve.guard import Guard
from assistant.serve.history_ui import (HISTORY_CSS, HISTORY_HEAD, ChatHistory, add_export_routes, answer_html, base_url,
                                        session_user)
from assistant.serve.labels import kind_label
from assistant.serve.library_page import add_library_routes
from assistant.serve.login_page import HideApiInfo, login_token
from assistant.serve.viewer import (CHAT_CSS, add_banner, render_document, render_index, render_not_found, render_note,
                                    render_partial, render_question)

log = logging.getLogger(__name__)

TITLE = "规划报告问答 · Policy Q&A"  # the chat's own title names the districts the library holds (chat_catalog.py)
History = list[tuple[str, str]]
MAX_HISTORY_TURNS = 10  # a follow-up leans on the last few turns; older ones only cost parsing time
CATALOG_CHECK_SECONDS = 15  # how often an open chat checks for reports added or removed on the 资料库 page


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
    """("partial", html) while the answer grows, then ("final", Answer) or ("error", html): a message in
    the question's language (chat_notes.py), never an exception's text."""
    from assistant.service import QuestionError

    try:
        for event in assistant.stream(question, history=history, mode=mode, filters=filters):
            if isinstance(event, str):
                yield "partial", render_partial(event)
            else:
                yield "final", event
    except QuestionError as exc:  # one log line, no traceback
        log.info("rejected question: %s", exc)
        examples = catalog_of(assistant).examples
        yield "error", render_note(question_error(question, getattr(exc, "reason", ""), getattr(exc, "length", 0),
                                                  assistant.settings.max_question_chars, examples[0] if examples else ""))
    except Exception:  # keep the chat alive; the details go to the server log, not the page
        log.exception("answering %r failed", question[:200])
        yield "error", render_note(failure(question))


def _notes(assistant: Any, question: str, history: History, filters, chosen: dict[str, str], running) -> str:
    """The rebuild notice and the filters line shown above an answer."""
    from assistant.service import QuestionError

    labels = [(value, value) for value in (chosen["district"],) if value != ALL]
    labels += [(f"{chosen['year']}年", chosen["year"])] if chosen["year"] != ALL else []
    labels += [(kind_label(chosen["kind"]), chosen["kind"])] if chosen["kind"] != ALL else []
    doc = assistant.documents().get(chosen["doc_id"]) if chosen["doc_id"] != ALL else None
    labels += [(f"《{doc.document.title}》", doc.document.doc_id)] if doc is not None else []
    try:
        dropped = assistant.scope(question, history, filters).dropped if filters is not None else ()
    except QuestionError:
        dropped = ()
    line = scope_line(question, labels, dropped, chosen["year"], chosen["kind"])
    return rebuild_notice(question, running, assistant.settings) + line


def build_chat(assistant: Any, running: Callable[[], Any] | None = None):
    """The Gradio Blocks for the chat (not yet queued or mounted). `running`: the 资料库 page's running
    change (None when none), for the notice shown with answers while the index is rebuilt."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home from these machines
    import gradio as gr

    settings = assistant.settings
    has_llm = llm_available(settings)
    warnings = list(getattr(assistant, "warnings", []))
    limit = settings.max_question_chars
    catalog = catalog_of(assistant)  # title, intro, examples and filter choices from what the library holds
    store = FeedbackStore(settings.data_dir)
    chats = ChatHistory(settings, MAX_HISTORY_TURNS)  # conversations per login or browser (history_ui.py)
    private = {"api_visibility": "private"}

    def index_version() -> str:  # the build answering now (the 资料库 page switches it while the app runs)
        return Path(str(getattr(getattr(assistant, "index", None), "path", ""))).name

    def respond(message: str, chat: list, history: History, district: str, year: str, kind: str, doc_id: str,
                mode: str, records: dict, conversation: str | None, browser: str | None, request: Any):
        """Stream the answer into the chat; `records` keeps each final answer by its message index, for
        👍/👎; the final answer is stored in the owner's `conversation`. The box is not an output: the
        page's script emptied it when the question was sent, and what is typed meanwhile stays. An empty
        question does nothing, one over the limit is refused in a toast (the script stops both first)."""
        records = dict(records or {})
        browser = chats.browser_id(browser)
        shown = (gr.update(),) * len(sidebar.shown)
        if is_blank(message) or too_long(message, limit):
            if not is_blank(message):
                gr.Warning(question_error(message, "too_long", too_long(message, limit), limit))
            yield chat, history, records, conversation, browser, gr.update(), *shown
            return
        chat = list(chat or []) + [{"role": "user", "content": render_question(message)},
                                   {"role": "assistant", "content": render_partial("…")}]
        yield chat, history, records, conversation, browser, gr.update(visible=False), *shown
        filters = make_filters(district, doc_id, year, kind)
        chosen = {"district": district or ALL, "year": year or ALL, "kind": kind or ALL, "doc_id": doc_id or ALL}
        notes = _notes(assistant, message, history, filters, chosen, running)
        for event, value in _answer_events(assistant, message, history, mode, filters):
            if event == "final":
                record = value.to_dict()
                owner = chats.owner(request, browser)
                conversation, turn = chats.record(owner, conversation, message, record)
                chat[-1]["content"] = notes + answer_html(value, base_url(settings, request), conversation, turn)
                history = list(history) + [(message, value.text)]  # plain text for follow-ups
                records[len(chat) - 1] = record
                shown = chats.shown(owner, conversation)
            else:
                chat[-1]["content"] = (notes if event == "partial" else "") + value
            yield chat, history, records, conversation, browser, gr.update(), *shown

    def ask_example(sample: list, chat: list, history: History, district: str, year: str, kind: str, doc_id: str,
                    mode: str, records: dict, conversation: str | None, browser: str | None, request: Any):
        """A click on an example asks it (the box keeps whatever draft it holds)."""
        yield from respond(sample[0] if sample else "", chat, history, district, year, kind, doc_id, mode, records,
                           conversation, browser, request)

    def rate(records: dict, data: gr.LikeData):
        """👍/👎 on an answer, stored at once: one row per answer (switching 👎 to 👍 changes it, taking a
        rating back removes it); the comment box opens for an optional remark."""
        index = data.index if isinstance(data.index, int) else data.index[0]
        records = dict(records or {})
        record = records.get(index)
        rating = {True: "up", False: "down"}.get(data.liked) if isinstance(data.liked, bool) else None
        if record is None:  # a question or a note
            return gr.update(visible=False), None, records, gr.update(visible=False)
        rated = record.get("feedback_id")
        try:
            if rating is None:
                rated = None if rated is None or store.remove(rated) else None
            elif rated is None or not store.change(rated, rating):
                rated = store.add(rating, record, index_version())
        except Exception:  # noqa: BLE001 - a full disk must not break the chat
            log.exception("storing feedback failed")
            return gr.update(visible=False), None, records, gr.update(visible=False)
        records[index] = {**record, "feedback_id": rated}
        log.info("feedback %s: %s on %r", rated, rating or "taken back", record.get("question", "")[:80])
        return gr.update(visible=rated is not None), rated, records, gr.update(visible=False)

    def add_comment(text: str, feedback_id: int | None):
        if feedback_id is not None and isinstance(text, str) and text.strip() and store.comment(feedback_id, text):
            gr.Info("已保存您的补充说明，谢谢！")
            return gr.update(visible=False), "", None, gr.update(value="✓ 已保存评价和补充说明，谢谢！Comment saved.", visible=True)
        return gr.update(visible=False), "", None, gr.update(visible=False)

    def refresh(shown: str | None, district: str, year: str, kind: str, doc_id: str):
        """The title, examples and filter choices again when the index changed (a report added or removed)."""
        now = catalog_of(assistant)
        if shown == now.version:
            return (gr.skip(),) * 8
        districts, years, kinds = now.district_choices(), now.year_choices(), now.kind_choices()
        district, year, kind = choice(district, districts), choice(year, years), choice(kind, kinds)
        docs = now.doc_choices(district, kind, year)
        return (now.intro(), gr.Dataset(samples=[[q] for q in now.examples]),
                gr.Dropdown(choices=districts, value=district), gr.Dropdown(choices=years, value=year),
                gr.Dropdown(choices=kinds, value=kind), gr.Dropdown(choices=docs, value=choice(doc_id, docs)), now.version,
                catalog_mark(now, CATALOG_CHECK_SECONDS))

    def narrow(district: str, year: str, kind: str, doc_id: str):
        docs = catalog_of(assistant).doc_choices(district or ALL, kind or ALL, year or ALL)
        return gr.Dropdown(choices=docs, value=choice(doc_id, docs))

    # Gradio passes the LikeData and the Request by the parameter's type; this module's annotations
    # are strings (`from __future__ import annotations`) naming a local import, which Gradio cannot resolve
    rate.__annotations__["data"] = gr.LikeData
    respond.__annotations__["request"] = gr.Request
    ask_example.__annotations__["request"] = gr.Request
    ask, ask_with_history = api_functions(assistant, has_llm, MAX_HISTORY_TURNS, warnings)  # /ask, /ask_with_history

    # delete_cache: Gradio's own clean-up of its temporary files (the app creates none; defence in depth)
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
        if warnings:
            gr.HTML(render_note(" ".join(warnings), kind="refusal"), elem_id="index-warning")
        intro = gr.Markdown(catalog.intro(), elem_id="intro")
        sidebar = chats.sidebar()  # 历史对话: 新对话, the list, rename, delete, export
        history = gr.State([])
        records = gr.State({})  # message index -> the Answer's dict (and its feedback row's id), for 👍/👎
        feedback_id = gr.State(None)
        shown_version = gr.State(catalog.version)  # the index build the title, examples and filters describe
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
                feedback_done = gr.HTML("", visible=False, elem_id="feedback-done")
                with gr.Row(elem_id="ask-row"):
                    box = gr.Textbox(placeholder="输入问题，回车发送 · Ask a question and press Enter", show_label=False,
                                     scale=5, lines=1, max_lines=4, elem_id="question", autofocus=True)
                    send = gr.Button("发送 Ask", variant="primary", scale=1, min_width=80, elem_id="send")
                gr.HTML(counter_html(limit), elem_id="question-counter")
            with gr.Column(scale=1, min_width=240, elem_id="side"):
                examples = gr.Dataset(components=[box], samples=[[q] for q in catalog.examples], type="values",
                                      label="示例问题（点击即问） Examples", elem_id="examples")
                with gr.Row(elem_id="filters"):
                    district = gr.Dropdown(catalog.district_choices(), value=ALL, label="区 District", elem_id="district",
                                           min_width=120)
                    year = gr.Dropdown(catalog.year_choices(), value=ALL, label="年份 Year", elem_id="year", min_width=100)
                    kind = gr.Dropdown(catalog.kind_choices(), value=ALL, label="报告类型 Kind", elem_id="kind", min_width=120)
                document = gr.Dropdown(catalog.doc_choices(), value=ALL, label="报告 Document", elem_id="document")
                mode = gr.Radio([("抽取式 Extractive", "extractive"), ("大模型 LLM", "llm")],
                                value=settings.mode if has_llm else "extractive", label="回答方式 Answer mode",
                                interactive=has_llm, elem_id="mode",
                                info=None if has_llm else "未配置大模型，仅抽取式可用 · No LLM configured")
            # the page's script asks /chat/catalog every CATALOG_CHECK_SECONDS (not a Gradio event: no queue,
            # no question limit) and clicks this when the index changed (a report added or removed)
            check = gr.Button("刷新资料目录", elem_id="catalog-refresh", elem_classes=["qa-hidden"])
            build = gr.HTML(catalog_mark(catalog, CATALOG_CHECK_SECONDS), elem_id="catalog-build", elem_classes=["qa-hidden"])

        filters = [district, year, kind, document]
        inputs = [box, chatbot, history, *filters, mode, records] + sidebar.states
        outputs = [chatbot, history, records] + sidebar.states + [feedback_done] + sidebar.shown
        catalog_outputs = [intro, examples, *filters, shown_version, build]
        # no progress overlay: the answer's own "…" bubble shows it is coming, and the sidebar stays usable;
        # one request per question (the question limit counts them); then the script sends a queued one
        asking = {"show_progress": "hidden", **private}
        box.submit(respond, inputs, outputs, js=START_JS, **asking).then(None, js=DONE_JS)
        send.click(respond, inputs, outputs, js=START_JS, **asking).then(None, js=DONE_JS)
        # a click asks it; on a phone the examples sit below the chat, so bring the chat into view
        # (on a wide screen everything is in view already; on a phone: the question box at the bottom, the chat above it)
        show_chat = "if (innerWidth <= 640) document.getElementById('ask-row')?.scrollIntoView({block: 'end'});"
        examples.click(ask_example, [examples] + inputs[1:], outputs, js=START_EXAMPLE_JS.replace("/*then*/", show_chat),
                       **asking).then(None, js=DONE_JS).then(None, js=f"() => {{ {show_chat} }}")
        chatbot.like(rate, [records], [feedback_row, feedback_id, records, feedback_done], **private)
        commented = [feedback_row, comment, feedback_id, feedback_done]
        comment.submit(add_comment, [comment, feedback_id], commented, **private)
        comment_send.click(add_comment, [comment, feedback_id], commented, **private)
        chats.wire(demo, sidebar, chatbot, history, records)  # reopen, 新对话 (and the chat's trash icon), rename, delete
        for changed in (district, year, kind):
            changed.input(narrow, filters, [document], show_progress="hidden", **private)
        # reports added or removed on the 资料库 page: at the next page load, or when the script sees the change
        demo.load(refresh, [gr.State(None), *filters], catalog_outputs, **private)
        check.click(refresh, [shown_version, *filters], catalog_outputs, show_progress="hidden", **private)
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
    jobs = add_library_routes(app, assistant, logged_in, lambda request: login_token(request, mounted.get("gradio")) if auth else "")
    add_export_routes(app, settings, auth is not None, lambda request: session_user(request, mounted.get("gradio")))

    @app.get("/chat/catalog", include_in_schema=False)
    def chat_catalog(request: Request):
        """The build answering now: an open chat compares it with the one it shows (chat_input.py)."""
        if not logged_in(request):
            return JSONResponse({"error": {"message": "log in first (/)"}}, status_code=401)
        return {"build": catalog_of(assistant).build}
    if include_chat:
        import gradio as gr
        from starlette.routing import Mount

        demo = build_chat(assistant, jobs.running)  # answers say when the index is being rebuilt
        # openapi_url=None: Gradio's own FastAPI app would publish /openapi.json without the login.
        # blocked_paths "/" and max_file_size: Gradio's own file checks, as a second line behind guard.py
        # (the app serves no files; uploads are refused there before Gradio sees them).
        # HISTORY_CSS and HISTORY_HEAD: the history sidebar and the 复制 (plain-text copy) script (history_ui.py);
        # INPUT_CSS and INPUT_HEAD: the question box's counter and queue, the notices (chat_input.py)
        gr.mount_gradio_app(app, demo, path="/", auth=auth, css=CHAT_CSS + HISTORY_CSS + INPUT_CSS, head=HISTORY_HEAD + INPUT_HEAD,
                            app_kwargs={"openapi_url": None},
                            blocked_paths=[os.path.abspath(os.sep)], allowed_paths=[],
                            max_file_size=settings.max_body_bytes or None,
                            auth_message="规划报告问答 · 请登录 Please log in")
        mounted["gradio"] = next(r.app for r in app.routes if isinstance(r, Mount) and r.path in ("", "/"))
        # Gradio checks the paths of file objects against blocked_paths ("/": all) only once it has been
        # launched; mounted, it never is, and copied any file a client named (issue 14, 23). Behind guard.py.
        demo.has_launched = True
    return app
