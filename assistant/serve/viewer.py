"""The source viewer: parsed reports -> self-contained HTML pages (no Gradio; the style and the script
are read from static/ once, at import).

Citation urls are `/source/{doc_id}#{anchor}`. Every block carries its anchor as its `id`, so
the browser scrolls to it and CSS `:target` highlights it without any script. A chunk cut from
a long block has the anchor `{block}-p{k}`, which matches no element: the small inline script
strips the `-p{k}` suffix and highlights the whole block instead. `?q=` values (the cited
sentence, the chunk's quote) are searched in the block's text on the client and wrapped in
<mark>; the script only ever reads and writes `textContent`/text nodes, so nothing from the
URL becomes markup. All report text is escaped here with `html.escape`.

Pages follow the chat's theme: dark when the system prefers it, or when the link carries
`?__theme=dark` (the chat adds it when Gradio's dark theme was chosen; viewer-theme.js keeps it for
the tab). A report's page has a search box in its bar: every match marked, Enter / ↓ the next,
Shift+Enter / ↑ the previous, with "3/12" beside it (viewer.js; text nodes only, as above).
"""

from __future__ import annotations

import re
from html import escape
from itertools import groupby
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import urlencode

from assistant.library.preview import TASK_HEADERS, cells, table_key  # tables grouped as the upload preview shows them
from assistant.models import Answer, Block, ParsedDocument, Section
from assistant.serve.labels import kind_label


STATIC = Path(__file__).resolve().parent / "static"
# the page's style (light and dark: prefers-color-scheme, or ?__theme= like Gradio) and its script:
# the cited block's highlight and ?q= marks, the theme, the search box (find next/previous)
_CSS = (STATIC / "viewer.css").read_text(encoding="utf-8")
_THEME = (STATIC / "viewer-theme.js").read_text(encoding="utf-8")
_SCRIPT = (STATIC / "viewer.js").read_text(encoding="utf-8")
FIND = ('<form class="find" role="search" onsubmit="return false">'
        '<input type="search" id="find" placeholder="在本报告中查找" aria-label="在本报告中查找 Find in this report" autocomplete="off">'
        '<button type="button" id="find-prev" title="上一个 Previous (Shift+Enter)" aria-label="上一个">↑</button>'
        '<button type="button" id="find-next" title="下一个 Next (Enter)" aria-label="下一个">↓</button>'
        '<span id="find-count" aria-live="polite"></span></form>')



def _page(title: str, body: str, script: bool = False) -> str:
    """One page; `script`: a report's page (the highlight, the ?q= marks and the search box)."""
    code = _THEME + (_SCRIPT if script else "")  # one script, in <head>: the theme is set before the page is drawn
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style><script>{code}</script></head><body>"
        '<header class="bar"><a href="/">← 问答<span class="en"> Q&amp;A</span></a>'
        f'<a href="/source">全部报告<span class="en"> All reports</span></a>{FIND if script else ""}</header>'
        f"<main>{body}</main></body></html>"
    )


def _text(value: str) -> str:
    return escape(value).replace("\n", "<br>")


def _cls(block: Block, highlight_anchor: str | None, *extra: str) -> str:
    classes = ["block", *extra] + (["highlight"] if highlight_anchor == block.anchor else [])
    return " ".join(classes)


def _heading(section: Section) -> str:
    level = min(max(section.level, 1) + 1, 5)  # h1 is the report title
    return f'<h{level} id="{escape(section.section_id)}">{_text(section.heading)}</h{level}>'


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
    row_cells = cells(row)
    classes = _cls(row, highlight_anchor, *_page_class(row, pages))
    return (f'<tr id="{escape(row.anchor)}" class="{classes}">'
            + "".join(f"<td{_page_attr(row) if i == len(row_cells) - 1 else ''}>{_text(cell)}</td>" for i, cell in enumerate(row_cells)) + "</tr>")


def _table(rows: list[Block], highlight_anchor: str | None, headers: tuple[str, ...], pages: dict[str, int]) -> str:
    caption = rows[0].caption
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    body = "".join(_row(row, highlight_anchor, pages) for row in rows)
    return (
        "<table>" + (f"<caption>{_text(caption)}</caption>" if caption else "")
        + (f"<thead><tr>{head}</tr></thead>" if head else "") + f"<tbody>{body}</tbody></table>"
    )


def _blocks(blocks: list[Block], highlight_anchor: str | None, pages: dict[str, int]) -> Iterable[str]:
    for key, group in groupby(blocks, key=table_key):
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
        f'<p class="meta">{_text(doc.district)} · {_text(doc.year)} · {_text(kind_label(doc.kind))}</p>',
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
        f"<td>{_text(d.year)}</td><td>{_text(kind_label(d.kind))}</td></tr>"
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
