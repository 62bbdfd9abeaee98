"""Source viewer and chat-message rendering: fast, no model, no Gradio."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from assistant.config import Settings
from assistant.models import Answer, Block, Chunk, Citation, Document, Hit, ParsedDocument, Section
from assistant.serve.viewer import render_answer, render_document, render_index, render_not_found
from assistant.serve.web import create_app

DOC = Document("demo-2023", "演示区2023年<报告>", "闵行区", "2023-2024", "yearly_report", "demo.txt", "0" * 64)
CAPTION = "表一 2023年主要目标完成情况"


def _row(n: int, name: str, target: str, done: str) -> Block:
    fields = (("序号", str(n)), ("指标名称", name), ("年度目标", target), ("完成情况", done))
    return Block(f"s1_1-b{n + 1}", "table_row", "\t".join(v for _, v in fields), "s1_1", (n, n), CAPTION, fields)


def make_parsed() -> ParsedDocument:
    sections = [
        Section("s0", DOC.doc_id, "", 0, ()),
        Section("s1", DOC.doc_id, "一、执行情况", 1, ("一、执行情况",)),
        Section("s1_1", DOC.doc_id, "（一）主要目标完成情况", 2, ("一、执行情况", "（一）主要目标完成情况")),
        Section("s2", DOC.doc_id, "附录 名词解释", 1, ("附录 名词解释",)),
    ]
    blocks = [
        Block("s0-b1", "paragraph", "各位代表：", "s0", (1, 1)),
        Block("s1-b1", "paragraph", "全年经济运行平稳。<script>alert('x')</script>", "s1", (3, 3)),
        Block("s1_1-b1", "paragraph", "主要指标如下。", "s1_1", (5, 5)),
        _row(1, "社会消费品零售总额", "1900亿元", "1983.09亿元"),
        _row(2, "外贸进出口总额", "2500亿元", "2600亿元"),
        Block("s1_1-b4", "bullet", "——坚持创新驱动。", "s1_1", (9, 9)),
        Block("s1_1-b5", "footnote", "¹ 数据为快报数。", "s1_1", (10, 10)),
        Block("s2-b1", "glossary", "1 “揭榜挂帅”：一种科研项目组织方式。", "s2", (12, 12)),
    ]
    return ParsedDocument(DOC, sections, blocks)


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.ids += [v for k, v in attrs if k == "id"]


def parse_ids(page: str) -> _Ids:
    parser = _Ids()
    parser.feed(page)
    return parser


def test_every_block_has_its_anchor_as_id():
    parsed = make_parsed()
    ids = parse_ids(render_document(parsed)).ids
    for block in parsed.blocks:
        assert ids.count(block.anchor) == 1, block.anchor
    assert len(ids) == len(set(ids))  # section ids (s1_1) and block ids (s1_1-b1) never collide


def test_headings_follow_section_levels():
    page = render_document(make_parsed())
    assert re.search(r"<h1>演示区2023年&lt;报告&gt;</h1>", page)
    assert '<h2 id="s1">一、执行情况</h2>' in page
    assert '<h3 id="s1_1">（一）主要目标完成情况</h3>' in page


def test_report_text_is_escaped():
    page = render_document(make_parsed())
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<title>演示区2023年&lt;报告&gt;</title>" in page
    # the page's own script is the only <script> element
    assert parse_ids(page).tags.count("script") == 1


def test_consecutive_rows_form_one_table_with_headers_and_caption():
    page = render_document(make_parsed())
    assert page.count("<table>") == 1
    table = page[page.index("<table>"): page.index("</table>")]
    assert f"<caption>{CAPTION}</caption>" in table
    assert [h for h in re.findall(r"<th>(.*?)</th>", table)] == ["序号", "指标名称", "年度目标", "完成情况"]
    assert '<tr id="s1_1-b2" class="block">' in table and '<tr id="s1_1-b3" class="block">' in table
    assert "<td>1983.09亿元</td>" in table


def test_tasks_render_as_a_table_with_task_headers():
    fields = (("类别", "（一）创新"), ("序号", "7"), ("主要任务", "促进创新创业人才集聚。"), ("牵头单位", "区人才局"))
    task = Block("s1-b7", "task", "7\t促进创新创业人才集聚。\t区人才局", "s1", (20, 22), "", fields)
    parsed = ParsedDocument(DOC, [Section("s0", DOC.doc_id, "", 0, ()), Section("s1", DOC.doc_id, "（一）创新", 1, ("（一）创新",))], [task])
    page = render_document(parsed)
    assert re.findall(r"<th>(.*?)</th>", page) == ["类别", "序号", "主要任务", "牵头单位"]
    assert '<tr id="s1-b7" class="block">' in page and "<td>区人才局</td>" in page


def test_highlight_anchor_marks_the_block_and_piece_anchors_are_handled_by_script():
    page = render_document(make_parsed(), highlight_anchor="s1_1-b2")
    assert '<tr id="s1_1-b2" class="block highlight">' in page
    assert ":target" in page and r"-p\d+$" in page  # CSS for block ids, script for "-pN" pieces
    assert "innerHTML" not in page  # the script never turns URL text into markup


def test_index_lists_reports_with_links():
    page = render_index({DOC.doc_id: make_parsed()})
    assert 'href="/source/demo-2023"' in page
    assert "演示区2023年&lt;报告&gt;" in page and "闵行区" in page and "2023-2024" in page


def test_answer_rendering_escapes_and_links_citations():
    chunk_url = "/source/demo-2023#s1_1-b2"
    answer = Answer(
        text="闵行区2023年社会消费品零售总额完成1983.09亿元<img src=x onerror=alert(1)>。[1]",
        citations=[Citation(1, "demo-2023#s1_1-b2", "demo-2023", "演示<i>报告", ("一", "（一）"), "1\t社会消费品零售总额<x>\t1983.09亿元", chunk_url)],
        refused=False, mode="extractive",
    )
    html = render_answer(answer)
    assert "<img" not in html and "<i>" not in html and "<x>" not in html
    link = re.search(r'<a class="cite" href="([^"]+)" target="_blank" rel="noopener">\[1\]</a>', html)
    assert link and link.group(1).startswith("/source/demo-2023?q=") and link.group(1).endswith("#s1_1-b2")
    assert "来源 Sources" in html and "1983.09亿元" in html


def test_refusal_lists_closest_passages():
    chunk = Chunk("demo-2023#s1-b1", "demo-2023", "s1-b1", "paragraph", "全年经济运行平稳。", "", ("一、执行情况",),
                  "闵行区", "2023-2024", "演示报告")
    answer = Answer(text="资料中未找到相关内容（报告只涉及闵行区和静安区）。", citations=[], refused=True,
                    mode="extractive", closest=[Hit(chunk, 0.5)])
    html = render_answer(answer)
    assert 'class="qa-refusal"' in html and "资料中未找到" in html
    assert 'href="/source/demo-2023?q=' in html and "最接近的段落" in html


# ----------------------------------------------------------------------------- routes


@pytest.fixture()
def client():
    fake = SimpleNamespace(settings=Settings(), documents=lambda: {DOC.doc_id: make_parsed()})
    return TestClient(create_app(fake, include_chat=False))


def test_routes_serve_index_and_documents(client):
    index = client.get("/source")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    page = client.get("/source/demo-2023")
    assert page.status_code == 200 and 'id="s1_1-b2"' in page.text


@pytest.mark.parametrize("path", [
    "/source/nope",
    "/source/..%2F..%2Fetc%2Fpasswd",
    "/source/..%2f..%2fetc%2fpasswd",
    "/source/%2e%2e/%2e%2e/etc/passwd",
    "/source/demo-2023%00",
    "/source/<script>alert(1)</script>",
])
def test_unknown_or_traversing_doc_ids_get_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.text == render_not_found()
    assert "passwd" not in response.text and "<script>alert" not in response.text


def test_password_protects_viewer_when_auth_is_set():
    fake = SimpleNamespace(settings=Settings(auth="staff:secret"), documents=lambda: {DOC.doc_id: make_parsed()})
    client = TestClient(create_app(fake, include_chat=False), follow_redirects=False)
    assert client.get("/source/demo-2023").status_code == 303


def test_gradio_login_also_opens_the_viewer():
    """With auth set, the viewer accepts Gradio's login cookie (this reads Gradio internals:
    `cookie_id` and `tokens`; the test catches a Gradio upgrade that changes them)."""
    fake = SimpleNamespace(settings=Settings(auth="staff:s3cret"), documents=lambda: {DOC.doc_id: make_parsed()})
    with TestClient(create_app(fake), follow_redirects=False) as client:
        assert client.get("/source/demo-2023").status_code == 303
        assert client.post("/login", data={"username": "staff", "password": "wrong"}).status_code == 400
        assert client.post("/login", data={"username": "staff", "password": "s3cret"}).status_code == 200
        assert client.get("/source/demo-2023").status_code == 200
        assert client.get("/source/..%2Fetc%2Fpasswd").status_code == 404
