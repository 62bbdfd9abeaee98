"""The question box: what happens to a question between the keyboard and the answer.

- A question leaves the box when it is sent (the script empties the box as the request goes), not
  when its answer arrives: the answer's events never write the box, so what is typed meanwhile
  stays, and so do the filters (read when the question is sent). One request per question.
- Enter (or 发送, or an example) while an answer is pending is queued: the note under the box says
  so and the question is sent when the answer is done (Esc cancels). Gradio itself would drop it.
- An empty Enter does nothing; a question over `max_question_chars` stays in the box, with the
  counter ("3000 / 500") in red and a message saying to shorten it. The server checks again.
- Links to the source viewer carry the chat's theme (`__theme=dark|light`, as Gradio's own links),
  so a viewer opened from a dark chat is dark too (viewer.py also follows prefers-color-scheme).
- Every 15 s and after each answer the script asks `/chat/catalog` which index build answers (a
  plain GET: no Gradio queue, not counted as a question); when it is not the one the page shows, a
  hidden button redraws the title, examples and filters (a report added on the 资料库 page).

The script runs in the page's <head> (`INPUT_HEAD`); the events mark an answer pending with
`START_JS` (or `START_EXAMPLE_JS`, which leaves the box alone) and done with `DONE_JS` (web.py wires them).
"""

from __future__ import annotations

from html import escape
from typing import Any

# before the answer's request: mark it pending and empty the box (the question goes with the request)
START_JS = "(...inputs) => { window.policyQa && window.policyQa.start(true); return inputs; }"
START_EXAMPLE_JS = "(...inputs) => { window.policyQa && window.policyQa.start(false); /*then*/ return inputs; }"
DONE_JS = "() => { window.policyQa && window.policyQa.done(); }"

INPUT_CSS = """
/* the counter under the box takes a line: the chat gives it back; the side column (examples, filters)
   scrolls within the window instead of lengthening the page */
@media (min-width: 641px) {
  #chat { height:max(22rem, calc(100dvh - 17.4rem)) !important; }
  #side { max-height:calc(100dvh - 11rem); overflow-y:auto; flex-wrap:nowrap; }
  #side > * { flex-shrink:0; }
}
#filters { gap:.5rem; }
#question-counter { margin-top:-.7rem !important; padding:0 .3rem !important; min-height:0 !important; border:0 !important;
  background:none !important; font-size:.8em; line-height:1.3; }
#question-counter .prose, #question-counter > div { display:flex; gap:.8em; flex-wrap:wrap; min-height:0; padding:0; }
#question-counter .qa-count, #question-counter .qa-input-note { opacity:.8; }
#question-counter .qa-count.over, #question-counter .qa-input-note.error { color:#cf222e; opacity:1; font-weight:600; }
#question-counter .qa-input-note.queued { color:#0b62c4; opacity:1; }
.qa-notice { padding:.35rem .6rem; margin-bottom:.45rem; border-left:4px solid #1f6feb; background:rgba(31,111,235,.1);
  border-radius:4px; font-size:.9em; }
.qa-scope { margin-bottom:.4rem; font-size:.82em; opacity:.8; }
/* only a final answer (it has its 复制/导出 line) is rated: no 👍/👎 under an error or an answer still
   coming (the buttons follow their message's row) */
#chat .message-row.bot-row:not(:has(.qa-actions)) + .message-buttons { display:none !important; }
#feedback-done { font-size:.9em; color:#1a7f37; }
.qa-hidden { display:none !important; }
"""

INPUT_HEAD = r"""<script>
(function () {
  var state = {pending: false, queued: null};
  function box() { return document.querySelector("#question textarea"); }
  function counter() { return document.querySelector("#question-counter .qa-count"); }
  function english(text) { return /[A-Za-z]/.test(text) && !/[\u3400-\u9fff]/.test(text); }
  function note(text, kind) {
    var el = document.querySelector("#question-counter .qa-input-note");
    if (el) { el.textContent = text || ""; el.className = "qa-input-note " + (kind || ""); }
  }
  function length() { var b = box(); return b ? Array.from(b.value.trim()).length : 0; }
  function limit() { var c = counter(); return c ? parseInt(c.getAttribute("data-limit") || "0", 10) : 0; }
  function update() {
    var c = counter(), n = length(), max = limit();
    if (!c) return;
    c.textContent = n + " / " + max;
    var over = max > 0 && n > max;
    c.classList.toggle("over", over);
    if (over) {
      var text = box().value;
      note(english(text) ? "The question is " + n + " characters long; the limit is " + max + ". Please shorten it."
                         : "问题有 " + n + " 个字，超过了 " + max + " 字的上限，请删减后再发送。", "error");
    } else if (state.queued) {
      note("上一个回答完成后将自动发送 · Sent when the current answer is done (Esc 取消)", "queued");
    } else {
      note("");
    }
  }
  function refuse(event) { event.preventDefault(); event.stopImmediatePropagation(); }
  // Enter in the box, a click on 发送 or on an example: refused when empty or too long, queued while an answer is pending
  function gate(event, trigger, typed) {
    if (typed && length() === 0) { refuse(event); return; }
    if (typed && limit() > 0 && length() > limit()) { refuse(event); update(); return; }
    if (state.pending) { refuse(event); state.queued = trigger; update(); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.target !== box()) return;
    if (event.key === "Escape" && state.queued) { state.queued = null; update(); return; }
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    gate(event, document.querySelector("#send"), true);
  }, true);
  document.addEventListener("click", function (event) {
    var target = event.target && event.target.closest ? event.target : null;
    if (!target || !event.isTrusted) return;  // the queue's own click goes through
    var send = target.closest("#send"), example = target.closest("#examples button");
    if (send) gate(event, send, true);
    else if (example) gate(event, example, false);
    var link = target.closest("a[href^='/source']");
    if (link) theme(link);
  }, true);
  document.addEventListener("input", function (event) { if (event.target === box()) update(); }, true);
  // the viewer in the chat's theme: Gradio sets body.dark from ?__theme= or the system's preference
  function theme(link) {
    var dark = document.body.classList.contains("dark");
    var system = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    var url = new URL(link.getAttribute("href"), location.href);
    if (dark === system) url.searchParams.delete("__theme"); else url.searchParams.set("__theme", dark ? "dark" : "light");
    link.setAttribute("href", url.pathname + url.search + url.hash);
  }
  // empty the box the way typing does (Gradio's value follows the textarea's input events)
  function clear() {
    var b = box();
    if (!b) return;
    b.value = "";
    b.dispatchEvent(new Event("input", {bubbles: true}));
  }
  // the library's build: /chat/catalog says which one answers; when it is not the one the page shows
  // (a report added or removed on the 资料库 page), the hidden button redraws the title, examples and filters
  function check() {
    var mark = document.querySelector("#catalog-build [data-build]");
    if (!mark || state.checking) return;
    state.checking = true;
    fetch("/chat/catalog", {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        var button = document.querySelector("#catalog-refresh");
        if (data && data.build !== mark.getAttribute("data-build") && button) button.click();
      }).catch(function () {}).then(function () { state.checking = false; });
  }
  function every() {
    var mark = document.querySelector("#catalog-build [data-build]");
    var seconds = mark ? parseInt(mark.getAttribute("data-every") || "15", 10) : 15;
    setTimeout(function () { if (!document.hidden) check(); every(); }, seconds * 1000);
  }
  every();
  window.policyQa = {
    start: function (typed) { state.pending = true; if (typed) { clear(); update(); } },
    done: function () {
      state.pending = false;
      var next = state.queued;
      state.queued = null;
      update();
      check();
      if (next) setTimeout(function () { next.click(); }, 50);
    },
    state: state
  };
})();
</script>"""


def counter_html(limit: int) -> str:
    """The counter under the box (the script keeps it up to date) and the line for its notes."""
    return (f'<span class="qa-count" data-limit="{int(limit)}">0 / {int(limit)}</span>'
            '<span class="qa-input-note" aria-live="polite"></span>')


def catalog_mark(catalog: Any, every: int) -> str:
    """The build the page's title, examples and filters describe, for the script's check."""
    return f'<span data-build="{escape(catalog.build)}" data-every="{int(every)}"></span>'


def too_long(message: str, limit: int) -> int:
    """The question's length when it is over the limit (0 when it fits), counted as the server counts."""
    length = len(message.strip()) if isinstance(message, str) else 0
    return length if limit and length > limit else 0


def is_blank(message: object) -> bool:
    return not isinstance(message, str) or not message.strip()

