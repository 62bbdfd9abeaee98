"""The chat's history and exports: a sidebar listing the owner's conversations (reopen, rename,
delete, 新对话), the actions under each answer (复制 plain text, Word, Markdown) and the
`/export/{conversation}/{n|all}.{docx|md|txt}` downloads.

web.py wires it: `ChatHistory.sidebar()` inside the Blocks, `ChatHistory.wire(...)` once the chat
exists, and `respond` stores each final answer with `ChatHistory.record` and draws it with
`answer_html`. The owner is the login's user (`gr.Request.username`), else the browser's random
id kept in localStorage by gr.BrowserState (encrypted with a key kept in `data_dir`). Copy writes
the answer's plain text (export.plain_text, hidden lines beside the link) with the Clipboard API,
or `execCommand("copy")` where the page is not a secure context (http on a LAN address).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from assistant.models import Answer
from assistant.serve.conversations import (Conversation, ConversationStore, browser_secret, new_id, owner_of, title_of,
                                           valid_id)
from assistant.serve.export import conversation_text, markdown, plain_text
from assistant.serve.export_docx import docx_bytes
from assistant.serve.labels import local_time, now_local, zone_of
from assistant.serve.viewer import render_answer, render_question

log = logging.getLogger(__name__)

STORAGE_KEY = "policy-qa-browser-id"  # the localStorage key of the browser's id
EXPORT_NAME = re.compile(r"^(all|\d{1,4})\.(docx|md|txt)$")
# on a phone the sidebar covers the chat: closed at the start and once a conversation is chosen
# (an event's js passes its inputs on to the Python function: it returns them unchanged)
CLOSE_ON_PHONE = ("(...inputs) => { if (window.innerWidth <= 640) "
                  "document.querySelector('#history-sidebar.open .toggle-button')?.click(); return inputs; }")
MEDIA = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "md": "text/markdown; charset=utf-8", "txt": "text/plain; charset=utf-8"}

HISTORY_CSS = """
/* the sidebar's layout adds ~1.3rem of height above and below the page: the chat gives it back
   (on a phone the sidebar overlays the page and CHAT_CSS's height stands) */
@media (min-width: 641px) { #chat { height:max(22rem, calc(100dvh - 16rem)) !important; } }
#history-list .wrap { flex-direction:column; gap:.25rem; }
#history-list label { width:100%; }
#history-list label span { overflow-wrap:anywhere; }
#conversation-export a, .qa-actions a { text-decoration:none; }
.qa-actions { margin-top:.45rem; font-size:.85em; opacity:.85; display:flex; gap:.9em; flex-wrap:wrap; }
.qa-actions a { cursor:pointer; }
.qa-plain { display:none; }
#conversation-export { font-size:.9em; }
"""

# one listener for every 复制 link in the chat (the links are drawn by the chat, after this runs)
HISTORY_HEAD = r"""<script>
(function () {
  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.left = "-9999px";
    document.body.appendChild(area); area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    area.remove();
    return done;
  }
  document.addEventListener("click", function (event) {
    var link = event.target && event.target.closest ? event.target.closest("a.qa-copy") : null;
    if (!link) return;
    event.preventDefault(); event.stopPropagation();
    var lines = link.parentElement ? link.parentElement.querySelectorAll(".qa-plain > span") : [];
    var text = Array.prototype.map.call(lines, function (line) { return line.textContent; }).join("\n");
    var label = link.getAttribute("aria-label") || link.textContent;
    link.setAttribute("aria-label", label);
    function shown(ok) {
      link.textContent = ok ? "已复制 Copied" : "复制失败 Copy failed";
      setTimeout(function () { link.textContent = label; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { shown(true); }, function () { shown(fallback(text)); });
    } else {
      shown(fallback(text));
    }
  }, true);
})();
</script>"""


def base_url(settings: Any, request: Any) -> str:
    """The base of absolute links: `public_url`, else the request's own (a gr.Request or a Starlette Request)."""
    if getattr(settings, "public_url", ""):
        return settings.public_url.rstrip("/")
    inner = getattr(request, "request", request) if request is not None else None
    try:
        return str(inner.base_url).rstrip("/")
    except Exception:  # noqa: BLE001 - no request (a direct call): relative links
        return ""


def _plain_html(text: str) -> str:
    """The plain text as hidden lines, one <span> each: the chat's sanitizer drops data- attributes,
    and a blank line would end the HTML block for Markdown."""
    return '<span class="qa-plain">' + "".join(f"<span>{escape(line)}</span>" for line in text.split("\n")) + "</span>"


def actions_html(answer: Answer, base: str, conversation_id: str | None, n: int | None) -> str:
    """复制 (the plain text) · Word · Markdown under an answer (the downloads only once it is stored)."""
    links = ['<a class="qa-copy" role="button" href="#">复制 Copy</a>']
    if conversation_id and n:
        for ext, label in (("docx", "Word"), ("md", "Markdown")):
            links.append(f'<a class="qa-export" href="/export/{escape(conversation_id)}/{n}.{ext}" download>'
                         f"导出 {label}</a>")
    return f'<div class="qa-actions">{"".join(links)}{_plain_html(plain_text(answer, base))}</div>'


def answer_html(answer: Answer, base: str, conversation_id: str | None, n: int | None) -> str:
    """The chat's answer (viewer.render_answer) with its actions inside the same block."""
    html = render_answer(answer)
    assert html.endswith("</div>")
    return html[: -len("</div>")] + actions_html(answer, base, conversation_id, n) + "</div>"


def export_links(conversation_id: str | None) -> str:
    if not conversation_id:
        return '<div class="muted">提问后可导出整段对话 · Ask to export the conversation</div>'
    base = f"/export/{escape(conversation_id)}/all"
    return (f'导出本对话 Export: <a href="{base}.docx" download>Word</a> · <a href="{base}.md" download>Markdown</a>'
            f' · <a href="{base}.txt" download>纯文本 Text</a>')


@dataclass
class Sidebar:
    """The sidebar's components and the states the chat's events read and write."""

    browser: Any  # gr.BrowserState: this browser's id
    conversation: Any  # gr.State: the open conversation's id (None: a new one)
    listing: Any  # gr.Radio of the owner's conversations
    title: Any  # gr.Textbox: the open conversation's title (rename)
    rename: Any
    delete: Any  # asks first: the confirm row holds the real delete and a cancel
    confirm_row: Any
    confirm: Any
    cancel: Any
    new_chat: Any
    links: Any  # gr.HTML: the whole conversation's downloads

    @property
    def states(self) -> list[Any]:
        """What respond() reads and writes besides the chat: the conversation and the browser id."""
        return [self.conversation, self.browser]

    @property
    def shown(self) -> list[Any]:
        """What respond() updates once an answer is stored (and every change of conversation)."""
        return [self.listing, self.title, self.links, self.confirm_row]


class ChatHistory:
    def __init__(self, settings: Any, max_history_turns: int) -> None:
        self.settings = settings
        self.store = ConversationStore(settings.data_dir)
        self.max_history_turns = max_history_turns

    # ----------------------------------------------------------------- used by respond()

    def owner(self, request: Any, browser_id: Any) -> str | None:
        return owner_of(getattr(request, "username", None) if request is not None else None, browser_id)

    @staticmethod
    def browser_id(value: Any) -> str:
        return value if valid_id(value) else new_id()

    def record(self, owner: str | None, conversation_id: str | None, question: str,
               record: dict[str, Any]) -> tuple[str | None, int | None]:
        """Store an answered question; (conversation id, turn) or (the id given, None) when it could not be stored."""
        if owner is None:
            return conversation_id, None
        try:
            return self.store.add_turn(conversation_id, owner, question, record)
        except Exception:  # noqa: BLE001 - a full disk must not break the chat
            log.exception("storing the conversation failed")
            return conversation_id, None

    def choices(self, owner: str | None) -> list[tuple[str, str]]:
        tz = zone_of(self.settings)  # the list shows local times (setting time_zone)
        return [(f"{s.title} · {local_time(s.updated, tz, '%m-%d %H:%M')}", s.id) for s in self.store.list(owner)]

    def shown(self, owner: str | None, conversation_id: str | None, title: str = "") -> tuple[Any, ...]:
        """Updates of the list (the open conversation selected), the title box and the export links; the
        delete confirmation closed."""
        import gradio as gr

        choices = self.choices(owner)
        selected = conversation_id if any(value == conversation_id for _, value in choices) else None
        if not title and selected:
            title = next(label for label, value in choices if value == selected).rsplit(" · ", 1)[0]
        return gr.Radio(choices=choices, value=selected), title, export_links(selected), gr.Row(visible=False)

    def restore(self, conversation: Conversation, base: str) -> tuple[list, list, dict]:
        """The chat's messages, the follow-up history and the 👍/👎 records of a stored conversation."""
        chat: list[dict[str, str]] = []
        records: dict[int, dict[str, Any]] = {}
        for turn in conversation.turns:
            chat.append({"role": "user", "content": render_question(turn.question)})
            chat.append({"role": "assistant", "content": answer_html(turn.answer, base, conversation.id, turn.n)})
            records[len(chat) - 1] = turn.record
        return chat, conversation.history(self.max_history_turns), records

    # ----------------------------------------------------------------- the sidebar

    def sidebar(self) -> Sidebar:
        """The components, inside a gr.Sidebar (call within the chat's Blocks)."""
        import gradio as gr

        browser = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=browser_secret(self.settings.data_dir))
        conversation = gr.State(None)
        with gr.Sidebar(label="历史对话 History", open=True, elem_id="history-sidebar", position="left"):
            new_chat = gr.Button("＋ 新对话 New chat", variant="primary", elem_id="new-chat")
            listing = gr.Radio([], value=None, label="历史对话 History", elem_id="history-list", show_label=True)
            title = gr.Textbox(label="对话标题 Title", placeholder="提问后可重命名 · Ask, then rename", max_lines=1,
                               max_length=200, elem_id="history-title")
            with gr.Row():
                rename = gr.Button("重命名 Rename", size="sm", elem_id="history-rename")
                delete = gr.Button("删除 Delete", size="sm", elem_id="history-delete")
            with gr.Row(visible=False, elem_id="history-confirm") as confirm_row:
                confirm = gr.Button("确认删除 Delete it", size="sm", variant="stop", elem_id="history-delete-confirm")
                cancel = gr.Button("取消 Keep", size="sm", elem_id="history-delete-cancel")
            links = gr.HTML(export_links(None), elem_id="conversation-export")
        return Sidebar(browser, conversation, listing, title, rename, delete, confirm_row, confirm, cancel, new_chat, links)

    def wire(self, demo: Any, ui: Sidebar, chatbot: Any, history: Any, records: Any) -> None:
        """The sidebar's events: load (the browser's id, the list), reopen, 新对话, rename, delete."""
        import gradio as gr

        def start(browser_id: Any, request: gr.Request):
            browser_id = self.browser_id(browser_id)
            return browser_id, gr.Radio(choices=self.choices(self.owner(request, browser_id)), value=None)

        def reopen(conversation_id: Any, browser_id: Any, request: gr.Request):
            owner = self.owner(request, browser_id)
            conversation = self.store.get(conversation_id, owner) if owner and valid_id(conversation_id) else None
            if conversation is None:
                gr.Warning("找不到这个对话（可能已删除）· This conversation is gone")
                return (gr.update(),) * 3 + (None,) + self.shown(owner, None)
            chat, pairs, kept = self.restore(conversation, base_url(self.settings, request))
            return (chat, pairs, kept, conversation.id) + self.shown(owner, conversation.id, conversation.title)

        def fresh(browser_id: Any, request: gr.Request):
            return ([], [], {}, None) + self.shown(self.owner(request, browser_id), None)

        def rename(title: str, conversation_id: Any, browser_id: Any, request: gr.Request):
            owner = self.owner(request, browser_id)
            if owner and valid_id(conversation_id) and isinstance(title, str) and title.strip():
                if self.store.rename(conversation_id, owner, title):
                    gr.Info("已重命名 · Renamed")
                return self.shown(owner, conversation_id, title_of(title))
            return self.shown(owner, conversation_id if valid_id(conversation_id) else None)

        def delete(conversation_id: Any, browser_id: Any, request: gr.Request):
            owner = self.owner(request, browser_id)
            if owner and valid_id(conversation_id) and self.store.delete(conversation_id, owner):
                gr.Info("已删除 · Deleted")
            return fresh(browser_id, request)

        for fn in (start, reopen, fresh, rename, delete):  # Gradio finds gr.Request by the annotation's type
            fn.__annotations__["request"] = gr.Request
        opened = [chatbot, history, records, ui.conversation] + ui.shown
        private = {"api_visibility": "private"}
        demo.load(start, [ui.browser], [ui.browser, ui.listing], js=CLOSE_ON_PHONE, **private)
        ui.listing.input(reopen, [ui.listing, ui.browser], opened, **private).then(None, js=CLOSE_ON_PHONE)
        ui.new_chat.click(fresh, [ui.browser], opened, **private).then(None, js=CLOSE_ON_PHONE)
        chatbot.clear(fresh, [ui.browser], opened, **private)  # the chat's own trash icon: a new conversation
        ui.rename.click(rename, [ui.title, ui.conversation, ui.browser], ui.shown, **private)
        ui.title.submit(rename, [ui.title, ui.conversation, ui.browser], ui.shown, **private)
        ui.delete.click(lambda conversation_id: gr.Row(visible=valid_id(conversation_id)), [ui.conversation],
                        [ui.confirm_row], **private)
        ui.cancel.click(lambda: gr.Row(visible=False), None, [ui.confirm_row], **private)
        ui.confirm.click(delete, [ui.conversation, ui.browser], opened, **private)


# ----------------------------------------------------------------------------- downloads


def session_user(request: Request, gradio_app: Any) -> str | None:
    """The user Gradio's login cookie names (None: not logged in, or no chat mounted)."""
    if gradio_app is None:
        return None
    cookie_id = gradio_app.cookie_id
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(f"access-token-unsecure-{cookie_id}")
    return gradio_app.tokens.get(token) if token else None


def _disposition(title: str, ext: str) -> str:
    name = re.sub(r'[\\/:*?"<>|\s]+', "_", title).strip("_.")[:60] or "conversation"
    return f"attachment; filename=\"conversation.{ext}\"; filename*=UTF-8''{quote(name)}.{ext}"


def add_export_routes(app: FastAPI, settings: Any, login_required: bool, user_of) -> None:
    """`/export/{id}/{n}.{docx|md|txt}` one answer, `/export/{id}/all.…` the conversation. With a
    login only its owner gets it; without, the conversation's random id is the key (only its
    browser is shown it)."""
    store = ConversationStore(settings.data_dir)

    @app.get("/export/{conversation_id}/{name}", include_in_schema=False)
    def export(conversation_id: str, name: str, request: Request) -> Response:
        owner = None
        if login_required:
            user = user_of(request)
            if user is None:
                return RedirectResponse("/", status_code=303)
            owner = owner_of(user, None)
        match = EXPORT_NAME.match(name)
        conversation = store.get(conversation_id, owner) if match else None
        turns = [] if conversation is None else (
            conversation.turns if match.group(1) == "all" else [t for t in conversation.turns if t.n == int(match.group(1))])
        if not turns:
            return HTMLResponse("<h1>404</h1><p>没有这个对话或回答 · No such conversation or answer</p>", status_code=404)
        ext, answers = match.group(2), [t.answer for t in turns]
        title = conversation.title if match.group(1) == "all" else title_of(turns[0].question)
        base = base_url(settings, request)
        exported = f"导出于 Exported {now_local(zone_of(settings))} · {len(answers)} 个问答 Q&A"
        if ext == "docx":
            body = docx_bytes(answers, title, base, exported)
        elif ext == "md":
            body = markdown(answers, title, base, exported).encode("utf-8")
        else:
            text = plain_text(answers[0], base) + "\n" if match.group(1) != "all" else conversation_text(answers, title, base)
            body = text.encode("utf-8")
        return Response(body, media_type=MEDIA[ext], headers={"Content-Disposition": _disposition(title, ext),
                                                              "Cache-Control": "no-store"})
