"""Issue 23, /v1 passed report markup through raw: `<script>`, `<img onerror>` and `javascript:`
links in the answer text and in refusals reached `message.content`, which chat apps render as
markdown (titles and quotes were escaped). Now the whole reply is markdown-safe, like the chat's
HTML; the [n] citation markers stay. Fake embedder, real uvicorn, a report full of markup."""

from __future__ import annotations

import re

import httpx
import markdown_it
import pytest

from _reliability import fake_settings_for, serve
from assistant.indexing.build import build_index
from assistant.service import Assistant

HOSTILE = """一、总体情况

全年社会消费品零售总额完成1983.09亿元<script>alert(1)</script>，<img src=x onerror=alert(2)>比上年增长8.1%。

二、对外贸易

外贸进出口总额完成500亿元[点此](javascript:alert(3))，<a href="javascript:alert(4)">详见</a>附表<javascript:alert(5)>。
"""
CATALOG = """[[document]]
doc_id = "hostile-report"
file = "hostile-report.txt"
title = "闵行区2023年<b>报告</b>"
district = "闵行区"
year = "2023-2024"
kind = "yearly_report"
"""
LIVE = re.compile(r"<script|<img|<a\s+href=\"(?!https?://)|href=\"javascript:", re.I)  # not our own source links


def _rendered(content: str) -> str:
    """What a permissive markdown client shows: raw HTML allowed, links parsed."""
    return markdown_it.MarkdownIt("commonmark", {"html": True}).render(content)


def _unsafe(content: str) -> list[str]:
    problems = [m.group(0) for m in LIVE.finditer(_rendered(content))]
    problems += re.findall(r"(?<!\\)<[a-zA-Z/!]", content)  # raw tags or autolinks
    problems += re.findall(r"(?<!\\)\]\((?:javascript|data|vbscript):", content, re.I)
    return problems


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from assistant.serve.web import create_app

    base = tmp_path_factory.mktemp("security-v1")
    corpus = base / "hostile"
    corpus.mkdir()
    (corpus / "hostile-report.txt").write_text(HOSTILE, encoding="utf-8")
    (corpus / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    settings = fake_settings_for(base, corpus=corpus, client_requests_per_minute=0, refusal_threshold=-1.0)  # fake vectors
    build_index(settings, progress=False)
    with serve(create_app(Assistant.load(settings, build_if_needed=False, warm=False), include_chat=False)) as url:
        yield url


def _ask(http: httpx.Client, question: str, stream: bool = False) -> str:
    body = {"model": "policy-qa", "messages": [{"role": "user", "content": question}], "stream": stream}
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    if not stream:
        return response.json()["choices"][0]["message"]["content"]
    import json

    pieces = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    return "".join(p["choices"][0]["delta"].get("content", "") for p in pieces if p.get("choices"))


@pytest.mark.parametrize("stream", [False, True])
def test_answer_and_refusal_markup_is_not_live_in_v1_content(url, stream):
    with httpx.Client(base_url=url, timeout=60) as http:
        for question in ("闵行区2023年社会消费品零售总额完成了多少？", "闵行区2023年外贸进出口总额完成了多少？",
                         "闵行区2023年新能源汽车产量是多少？"):
            content = _ask(http, question, stream)
            assert "1983.09" in content or "500" in content or "没有" in content or "未" in content, content
            assert _unsafe(content) == [], (question, content)
        answered = _ask(http, "闵行区2023年社会消费品零售总额完成了多少？", stream)
        assert re.search(r"(?<!\\)\[1\]", answered), answered  # the citation marker survives


def test_reply_markdown_escapes_the_answer_and_refusal_text():
    from assistant.serve.api import reply_markdown

    text = ('完成1983.09亿元<script>alert(1)</script>[1]，<img src=x onerror=alert(2)>，'
            '[点此](javascript:alert(3)) ![x](javascript:alert(6)) <javascript:alert(5)> <a href="javascript:x">a</a>[2]')
    citation = {"n": 1, "title": "<b>t</b>", "url": "http://h/source/d#b1", "page": None, "breadcrumb": ["一"], "text": "q"}
    for refused in (False, True):
        body = {"answer": text, "reading": "<i>r</i>", "refused": refused, "citations": [citation],
                "closest": [{"title": "t", "url": "http://h/source/d#b2", "text": "<script>x</script>"}]}
        content = reply_markdown(body)
        assert _unsafe(content) == [], content
        assert "[1]，" in content and "[2]" in content and "1983.09" in content
