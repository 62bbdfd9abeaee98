"""The source viewer: parsed reports -> self-contained HTML pages (no Gradio, no I/O).

Citation urls are `/source/{doc_id}#{anchor}`. Every block carries its anchor as its `id`, so
the browser scrolls to it and CSS `:target` highlights it without any script. A chunk cut from
a long block has the anchor `{block}-p{k}`, which matches no element: the small inline script
strips the `-p{k}` suffix and highlights the whole block instead. `?q=` values (the cited
sentence, the chunk's quote) are searched in the block's text on the client and wrapped in
<mark>; the script only ever reads and writes `textContent`/text nodes, so nothing from the
URL becomes markup. All report text is escaped here with `html.escape`.
"""

from __future__ import annotations

import re
from html import escape
from itertools import groupby
from typing import Iterable, Mapping
from urllib.parse import urlencode

from assistant.models import Answer, Block, ParsedDocument, Section

KIND_LABELS = {
    "yearly_report": "年度计划报告 Annual plan report",
    "five_year_plan": "五年规划 Five-year plan",
    "task_table": "任务分解表 Task table",
    "article": "文章 Article",
}
TASK_HEADERS = ("类别", "序号", "主要任务", "牵头单位")

_CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --hl:#fff1a8; --mark:#ffd54f; --link:#0b62c4; --bar:2.6rem; }
* { box-sizing: border-box; }
body { margin:0; color:var(--ink); background:#f6f8fa; line-height:1.8; font-size:17px;
  font-family: "PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC",
  "WenQuanYi Micro Hei",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
a { color:var(--link); }
header.bar { position:sticky; top:0; z-index:2; background:#fff; border-bottom:1px solid var(--line);
  height:var(--bar); display:flex; align-items:center; padding:0 1rem; font-size:.9rem; }
header.bar a { margin-right:1rem; text-decoration:none; }
main { max-width:56rem; margin:1.2rem auto 4rem; background:#fff; padding:1.5rem 2.5rem 3rem;
  border:1px solid var(--line); border-radius:8px; }
h1 { font-size:1.6rem; line-height:1.4; margin:.2rem 0 .6rem; }
h2 { font-size:1.35rem; margin-top:2.2rem; border-bottom:1px solid var(--line); padding-bottom:.2rem; }
h3 { font-size:1.18rem; margin-top:1.8rem; }
h4, h5 { font-size:1.05rem; margin-top:1.4rem; }
.meta { color:var(--muted); font-size:.95rem; }
p.block { margin:.6rem 0; text-indent:2em; }
p.bullet, p.glossary, p.footnote, p.figure { text-indent:0; }
p.glossary { padding-left:1em; border-left:3px solid var(--line); }
p.footnote { font-size:.88rem; color:var(--muted); }
p.figure { font-style:italic; color:var(--muted); text-align:center; }
table { border-collapse:collapse; width:100%; margin:1rem 0 1.4rem; font-size:.93rem; line-height:1.6; }
caption { caption-side:top; text-align:left; font-weight:600; padding:.3rem 0; }
th, td { border:1px solid var(--line); padding:.3rem .5rem; vertical-align:top; text-align:left; }
th { background:#f0f3f6; white-space:nowrap; }
/* a table's header row stays visible under the top bar while its rows scroll (a cited row is shown
   with its column names); the inset shadow replaces the border that collapsed sticky cells lose */
thead th { position:sticky; top:var(--bar); z-index:1; box-shadow:inset 0 -1px var(--line); }
.block { scroll-margin-top:4rem; border-radius:4px; transition:background-color .4s; }
tr.block { scroll-margin-top:calc(var(--bar) + 4rem); }
.block:target, .block.highlight { background:var(--hl); outline:2px solid #e0b400; outline-offset:2px; }
tr.block:target td, tr.block.highlight td { background:var(--hl); }
mark { background:var(--mark); padding:0 .1em; }
/* the source page a block starts on (PDF): shown where the page changes and on the cited block;
   drawn by ::before, so it is not part of the text the ?q= quote is searched in */
p.pagestart::before, p.block:target::before, p.block.highlight::before,
tr.pagestart td:last-child::before, tr.block:target td:last-child::before, tr.block.highlight td:last-child::before {
  content:attr(data-page); float:right; margin-left:.6em; font-size:.75rem; color:var(--muted); font-weight:normal;
  text-indent:0; border:1px solid var(--line); border-radius:3px; padding:0 .3em; line-height:1.5; background:#fff; }
details.toc { margin:1rem 0 1.5rem; font-size:.95rem; }
details.toc ul { margin:.3rem 0; padding-left:1.2rem; }
ul.catalog { padding-left:1.2rem; }
.notfound { text-align:center; padding:3rem 1rem; }
.banner { max-width:56rem; margin:1rem auto 0; padding:.5rem .8rem; border-left:4px solid #d9822b;
  background:#fff4e5; border-radius:4px; font-size:.95rem; }
@media (max-width: 640px) {
  main { margin:.5rem; padding:1rem; }
  th { white-space:normal; }
  table { font-size:.85rem; }
}
"""

# Reads the fragment and ?q= values; writes only a class, text-node splits and <mark> elements.
_SCRIPT = r"""
(function () {
  function squash(s) { return s.replace(/\s+/g, ""); }
  function markText(el, quote) {
    var wanted = squash(quote);
    if (wanted.length < 2) return false;
    var walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT), flat = "", map = [], node;
    while ((node = walker.nextNode())) {
      for (var i = 0; i < node.data.length; i++) {
        if (!/\s/.test(node.data[i])) { flat += node.data[i]; map.push([node, i]); }
      }
    }
    var at = flat.indexOf(wanted);
    if (at < 0) return false;
    var start = map[at], end = map[at + wanted.length - 1];
    var range = document.createRange();
    range.setStart(start[0], start[1]);
    range.setEnd(end[0], end[1] + 1);
    if (start[0] === end[0]) {
      var mark = document.createElement("mark");
      range.surroundContents(mark);
    } else {
      // the quote spans several cells or nodes: mark each text node's part separately
      var nodes = [], w2 = document.createTreeWalker(el, NodeFilter.SHOW_TEXT), n2;
      while ((n2 = w2.nextNode())) { if (range.intersectsNode(n2)) nodes.push(n2); }
      nodes.forEach(function (t) {
        var r = document.createRange();
        r.setStart(t, t === start[0] ? start[1] : 0);
        r.setEnd(t, t === end[0] ? end[1] + 1 : t.data.length);
        if (!r.collapsed && squash(r.toString())) r.surroundContents(document.createElement("mark"));
      });
    }
    return true;
  }
  function show() {
    var old = document.querySelectorAll(".highlight");
    for (var i = 0; i < old.length; i++) old[i].classList.remove("highlight");
    var id;
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return; }  // malformed %-escape
    if (!id) return;
    var el = document.getElementById(id) || document.getElementById(id.replace(/-p\d+$/, ""));
    if (!el) return;
    el.classList.add("highlight");
    var quotes = new URLSearchParams(location.search).getAll("q");
    for (var k = 0; k < quotes.length; k++) {
      if (el.querySelector("mark") || markText(el, quotes[k])) break;
    }
    el.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", show);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show); else show();
})();
"""


def _page(title: str, body: str, script: bool = False) -> str:
    tail = f"<script>{_SCRIPT}</script>" if script else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        '<header class="bar"><a href="/">← 问答 Q&amp;A</a><a href="/source">全部报告 All reports</a></header>'
        f"<main>{body}</main>{tail}</body></html>"
    )


def _text(value: str) -> str:
    return escape(value).replace("\n", "<br>")


def _cls(block: Block, highlight_anchor: str | None, *extra: str) -> str:
    classes = ["block", *extra] + (["highlight"] if highlight_anchor == block.anchor else [])
    return " ".join(classes)


def _heading(section: Section) -> str:
    level = min(max(section.level, 1) + 1, 5)  # h1 is the report title
    return f'<h{level} id="{escape(section.section_id)}">{_text(section.heading)}</h{level}>'


def _cells(block: Block) -> list[str]:
    return [cell for _, cell in block.fields] if block.fields else block.text.split("\t")


def page_label(page: int) -> str:
    """"第12页" for a block from page 12 of its source file; "" when the format has no pages."""
    return f"第{page}页" if page else ""


def _page_class(block: Block, pages: dict[str, int]) -> tuple[str, ...]:
    """"pagestart" on the first block of each new source page."""
    if not block.page or block.page == pages.get("last"):
        return ()
    pages["last"] = block.page
    return ("pagestart",)


def _page_attr(block: Block) -> str:
    return f' data-page="{page_label(block.page)}" title="{page_label(block.page)}"' if block.page else ""


def _row(row: Block, highlight_anchor: str | None, pages: dict[str, int]) -> str:
    cells = _cells(row)
    classes = _cls(row, highlight_anchor, *_page_class(row, pages))
    return (f'<tr id="{escape(row.anchor)}" class="{classes}">'
            + "".join(f"<td{_page_attr(row) if i == len(cells) - 1 else ''}>{_text(cell)}</td>" for i, cell in enumerate(cells)) + "</tr>")


def _table(rows: list[Block], highlight_anchor: str | None, headers: tuple[str, ...], pages: dict[str, int]) -> str:
    caption = rows[0].caption
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    body = "".join(_row(row, highlight_anchor, pages) for row in rows)
    return (
        "<table>" + (f"<caption>{_text(caption)}</caption>" if caption else "")
        + (f"<thead><tr>{head}</tr></thead>" if head else "") + f"<tbody>{body}</tbody></table>"
    )


def _group_key(block: Block) -> tuple:
    """Consecutive rows with the same kind, caption and column headers form one table."""
    if block.kind in ("table_row", "task"):
        return (block.kind, block.caption, tuple(name for name, _ in block.fields))
    return (block.anchor,)  # anything else stands alone


def _blocks(blocks: list[Block], highlight_anchor: str | None, pages: dict[str, int]) -> Iterable[str]:
    for key, group in groupby(blocks, key=_group_key):
        rows = list(group)
        first = rows[0]
        if first.kind in ("table_row", "task"):
            headers = key[2] or (TASK_HEADERS if first.kind == "task" else ())
            yield _table(rows, highlight_anchor, headers, pages)
        else:
            classes = _cls(first, highlight_anchor, first.kind, *_page_class(first, pages))
            yield f'<p id="{escape(first.anchor)}" class="{classes}"{_page_attr(first)}>{_text(first.text)}</p>'


def _toc(sections: list[Section]) -> str:
    items = "".join(
        f'<li style="margin-left:{(s.level - 1) * 1.2}em"><a href="#{escape(s.section_id)}">{_text(s.heading)}</a></li>'
        for s in sections if s.heading and s.level <= 2
    )
    return f'<details class="toc"><summary>目录 Contents</summary><ul>{items}</ul></details>' if items else ""


def render_document(parsed: ParsedDocument, highlight_anchor: str | None = None) -> str:
    """The whole report: title, headings by section level, paragraphs, tables; every block has its anchor as id."""
    doc = parsed.document
    by_section: dict[str, list[Block]] = {}
    for block in parsed.blocks:
        by_section.setdefault(block.section_id, []).append(block)
    parts = [
        f"<h1>{_text(doc.title)}</h1>",
        f'<p class="meta">{_text(doc.district)} · {_text(doc.year)} · {_text(KIND_LABELS.get(doc.kind, doc.kind))}</p>',
        _toc(parsed.sections),
    ]
    known = set()
    pages: dict[str, int] = {}  # the last source page labelled
    for section in parsed.sections:
        known.add(section.section_id)
        if section.heading and section.level > 0:
            parts.append(_heading(section))
        parts.extend(_blocks(by_section.get(section.section_id, []), highlight_anchor, pages))
    orphans = [b for b in parsed.blocks if b.section_id not in known]  # defensive: never drop text
    parts.extend(_blocks(orphans, highlight_anchor, pages))
    return _page(doc.title, "".join(parts), script=True)


def render_index(documents: Mapping[str, ParsedDocument]) -> str:
    """The catalog: one entry per report with its district, years and kind."""
    docs = sorted((p.document for p in documents.values()), key=lambda d: (d.district, d.year, d.title))
    rows = "".join(
        f'<tr><td><a href="/source/{escape(d.doc_id)}">{_text(d.title)}</a></td><td>{_text(d.district)}</td>'
        f"<td>{_text(d.year)}</td><td>{_text(KIND_LABELS.get(d.kind, d.kind))}</td></tr>"
        for d in docs
    )
    body = (
        "<h1>报告原文 Source reports</h1>"
        f'<p class="meta">{len(docs)} 份报告 · 答案中的引用 [n] 链接到这些页面中的具体段落。</p>'
        "<table><thead><tr><th>标题 Title</th><th>区 District</th><th>年份 Years</th><th>类型 Kind</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return _page("报告原文 Source reports", body)


def add_banner(page: str, warnings: list[str]) -> str:
    """`page` with a warning banner above its content (e.g. a report served from an older build)."""
    if not warnings:
        return page
    banner = '<div class="banner" role="alert">' + "<br>".join(_text(w) for w in warnings) + "</div>"
    return page.replace("<main>", banner + "<main>", 1)


def render_not_found() -> str:
    """404 page. It does not echo the requested name: nothing from the URL reaches the page."""
    body = (
        '<div class="notfound"><h1>404 · 未找到该报告</h1>'
        "<p>Report not found. 请从报告列表中选择。</p>"
        '<p><a href="/source">全部报告 All reports</a></p></div>'
    )
    return _page("404 · 未找到 Not found", body)


# ----------------------------------------------------------------------------- chat messages
# The chat shows these as raw HTML blocks (one <div>, no blank lines, so Markdown leaves them
# alone). Everything that came from the user, the reports or the pipeline is escaped first;
# only our own tags and the citation links are added afterwards.

CHAT_CSS = """
/* the chat fills the window: its height is the viewport less the title and the question box
   (the examples and filters sit beside it, or below it on a phone) */
#chat { height:max(22rem, calc(100dvh - 14.5rem)) !important; }
#intro h2 { margin-top:0; }
.qa-answer, .qa-question { line-height:1.75; overflow-wrap:anywhere; }
.qa-answer { max-width:100%; }
#feedback-row { align-items:center; }
@media (max-width: 640px) {
  #chat { height:max(20rem, calc(100dvh - 12rem)) !important; }
  #chat .message-row { margin-left:0 !important; margin-right:0 !important; max-width:100% !important; }
  #chat .message-row .message { max-width:100% !important; }
  #intro { font-size:.9em; }
  .qa-sources ol { padding-left:1.2em; }
}
.qa-answer a.cite { text-decoration:none; font-weight:600; padding:0 .1em; }
.qa-reading { margin-top:.35rem; font-size:.82em; opacity:.7; }
.qa-refusal { padding:.4rem .6rem; border-left:4px solid #d9822b; background:rgba(217,130,43,.1); border-radius:4px; }
.qa-error { padding:.4rem .6rem; border-left:4px solid #cf222e; background:rgba(207,34,46,.08); border-radius:4px; }
.qa-sources { margin-top:.6rem; font-size:.9em; border-top:1px solid rgba(128,128,128,.35); padding-top:.4rem; }
.qa-sources ol { margin:.2rem 0 0; padding-left:1.6em; }
.qa-sources li { margin:.25rem 0; }
.qa-sources .crumb { opacity:.75; }
.qa-sources .page { font-size:.85em; opacity:.75; }
.qa-sources .quote { display:block; opacity:.85; }
"""
_MAX_QUOTE = 220
_MARKER = re.compile(r"\[(\d{1,3})\]")


def _short(text: str, limit: int = _MAX_QUOTE) -> str:
    text = " ".join(text.replace("\t", " · ").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(url: str, label_html: str, *quotes: str, css: str = "") -> str:
    """`/source/doc#anchor` plus `?q=` values the viewer marks inside the cited block."""
    path, _, anchor = url.partition("#")
    query = urlencode([("q", q[:300]) for q in quotes if q.strip()])
    href = f"{path}{'?' + query if query else ''}{'#' + anchor if anchor else ''}"
    cls = f' class="{css}"' if css else ""
    return f'<a{cls} href="{escape(href)}" target="_blank" rel="noopener">{label_html}</a>'


def _sentences_citing(text: str) -> dict[int, str]:
    """n -> the first answer line that cites [n], without its markers (what the viewer marks)."""
    found: dict[int, str] = {}
    for line in text.splitlines():
        bare = _MARKER.sub("", line).strip()
        for match in _MARKER.finditer(line):
            found.setdefault(int(match.group(1)), bare)
    return found


def render_question(question: str) -> str:
    return f'<div class="qa-question">{_text(question)}</div>'


def render_partial(text: str) -> str:
    """The answer while it streams: escaped text, markers not linked yet."""
    return f'<div class="qa-answer">{_text(text)}</div>'


def render_note(message: str, kind: str = "error") -> str:
    return f'<div class="qa-{kind}">{_text(message)}</div>'


def _source_list(label: str, entries: list[tuple[str, str, str, tuple[str, ...], str, str, bool, int]]) -> str:
    """An ordered list of passages: (li attributes, url, title, breadcrumb, quote, highlight, quoted, page)."""
    items = "".join(
        f'<li{attrs}>{_link(url, _text(title), highlight, quote if quoted else "")}'
        f'{f" <span class=page>{page_label(page)}</span>" if page else ""}'
        f' <span class="crumb">{_text(" › ".join(crumb))}</span>'
        f'<span class="quote">{"“" if quoted else ""}{_text(_short(quote))}{"”" if quoted else ""}</span></li>'
        for attrs, url, title, crumb, quote, highlight, quoted, page in entries
    )
    return f'<div class="qa-sources"><b>{label}</b><ol>{items}</ol></div>' if items else ""


def render_answer(answer: Answer) -> str:
    """Final answer: [n] -> link to the cited block; a 来源 Sources list; the reading the question
    was answered in; a refusal (which may cite what the reports hold instead) shows the closest passages."""
    by_n = {c.n: c for c in answer.citations}
    cited = _sentences_citing(answer.text)

    def linked(match: re.Match[str]) -> str:
        citation = by_n.get(int(match.group(1)))
        if citation is None:
            return match.group(0)
        return _link(citation.url, f"[{citation.n}]", cited.get(citation.n, ""), citation.quote, css="cite")

    body = _MARKER.sub(linked, _text(answer.text))  # escaping leaves "[n]" intact
    sources = _source_list("来源 Sources", [(f' value="{c.n}"', c.url, c.title, c.breadcrumb, c.quote, cited.get(c.n, ""), True, c.page)
                                           for c in answer.citations])
    reading = f'<div class="qa-reading">{_text(answer.reading)}</div>' if answer.reading else ""
    if not answer.refused:
        return f'<div class="qa-answer">{body}{reading}{sources}</div>'
    closest = _source_list("最接近的段落 Closest passages", [("", h.chunk.url, h.chunk.title, h.chunk.breadcrumb, h.chunk.text,
                                                        h.chunk.text, False, h.chunk.page) for h in answer.closest])
    return f'<div class="qa-answer"><div class="qa-refusal">{body}</div>{reading}{sources}{closest}</div>'
