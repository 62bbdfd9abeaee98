"""The chat's small things (issue 24 item 4), without a browser: filters for year and report kind
resolved to the retrieval scope (Assistant.scope), the title, intro, examples and filter choices from
what the library holds (chat_catalog), errors in the question's language, the notice while the
library is re-indexed (library_page.Jobs, or a CLI change's journal), the 资料库 page's kind names,
local times and the preview of an upload's tables. Fake embedder; the browser side is in
test_chat_browser.py."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from _reliability import CORPUS, fake_settings_for, one_report_assistant, serve
from assistant.indexing.build import build_index
from assistant.models import Filters

JINGAN = "jingan-2023-plan-report"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    from assistant.service import Assistant

    base = tmp_path_factory.mktemp("chat-ui")
    settings = fake_settings_for(base, data_dir=str(base / "data"))
    build_index(settings, progress=False)
    return Assistant.load(settings, build_if_needed=False)


@pytest.fixture(scope="module")
def changning(tmp_path_factory):
    """A library holding only a report catalogued as 长宁区 (the 静安 text under another district)."""
    return one_report_assistant(tmp_path_factory.mktemp("changning"), JINGAN, "changning-2023-plan-report",
                                "长宁区2023年计划执行情况报告", "长宁区")


# ----------------------------------------------------------------------------- filters -> scope


def test_a_kind_filter_becomes_the_documents_of_that_kind_in_the_asked_district(assistant):
    scope = assistant.scope("闵行区2023年社会消费品零售总额完成了多少？", None, Filters(kinds=("yearly_report",)))
    assert scope.filters == Filters(doc_ids=("minhang-2023-plan-report",)) and scope.dropped == ()
    both = assistant.scope("社会消费品零售总额完成了多少？", None, Filters(kinds=("yearly_report",)))
    assert set(both.filters.doc_ids) == {"minhang-2023-plan-report", JINGAN}
    chosen = assistant.scope("社会消费品零售总额完成了多少？", None, Filters(districts=("静安区",), kinds=("yearly_report",)))
    assert chosen.filters.doc_ids == (JINGAN,) and chosen.filters.districts == ("静安区",)


def test_a_filter_the_question_contradicts_is_dropped_and_said(assistant):
    no_such = assistant.scope("静安区有哪些任务由区科委牵头？", None, Filters(kinds=("task_table",)))
    assert no_such.filters is None and no_such.dropped == (("kind", "静安区"),)
    other_year = assistant.scope("闵行区2023年社会消费品零售总额完成了多少？", None, Filters(years=(2021,)))
    assert other_year.filters is None and other_year.dropped == (("year", "2023"),)
    kept = assistant.scope("闵行区2023年社会消费品零售总额完成了多少？", None, Filters(years=(2023,)))
    assert kept.filters == Filters(years=(2023,)) and not kept.dropped
    plain = Filters(districts=("闵行区",))
    assert assistant.scope("随便问问", None, plain).filters is plain  # no year or kind: nothing is parsed


def test_the_kind_filter_reaches_retrieval(assistant):
    answer = assistant.ask("促进创新创业人才集聚由哪些单位牵头？", filters=Filters(kinds=("task_table",)))
    cited = {c.doc_id for c in answer.citations} | {h.chunk.doc_id for h in answer.closest}
    assert cited == {"minhang-14th-five-year-plan-tasks"}, cited
    result = assistant.search("社会消费品零售总额", k=5, filters=Filters(kinds=("yearly_report",), districts=("静安区",)))
    assert result.hits and {h.chunk.doc_id for h in result.hits} == {JINGAN}


def test_the_chat_filters_and_their_line(assistant):
    from assistant.serve.chat_catalog import make_filters
    from assistant.serve.chat_notes import scope_line

    assert make_filters("全部", "全部", "全部", "全部") is None
    assert make_filters("静安区", "全部", "2024", "yearly_report") == Filters(districts=("静安区",), years=(2024,),
                                                                          kinds=("yearly_report",))
    line = scope_line("静安区有哪些任务由区科委牵头？", [("任务分解表", "task_table")], (("kind", "静安区"),), "全部", "task_table")
    assert "筛选：任务分解表" in line and "静安区没有“任务分解表”类报告，未按报告类型筛选" in line
    english = scope_line("What was Jing'an's retail sales in 2024?", [("2021年", "2021")], (("year", "2024"),), "2021", "全部")
    assert english.startswith('<div class="qa-scope">Filters: 2021') and "year filter 2021 was not applied" in english
    assert scope_line("问题", [], (), "全部", "全部") == ""


# ----------------------------------------------------------------------------- what the library holds


def test_title_examples_and_choices_come_from_the_library(assistant, changning):
    from assistant.serve.chat_catalog import catalog_of

    full = catalog_of(assistant)
    assert full.title.startswith("闵行区、静安区") and full.district_choices() == ["全部", "闵行区", "静安区"]
    assert ("任务分解表", "task_table") in full.kind_choices() and ("2025年", "2025") in full.year_choices()
    assert [d for _, d in full.doc_choices("全部", "task_table", "2023")] == ["全部", "minhang-14th-five-year-plan-tasks"]
    assert any("由哪些单位牵头" in q for q in full.examples) and any("是什么意思" in q for q in full.examples)
    assert any(q.startswith("What was") for q in full.examples)
    only = catalog_of(changning)
    assert only.title == "长宁区规划报告问答 · Policy Q&A" and only.district_choices() == ["全部", "长宁区"]
    text = only.intro() + " ".join(only.examples)
    assert "长宁区" in text and "闵行" not in text and "静安" not in text
    assert only.examples[0].startswith("长宁区2023年") and any("Changning" in q for q in only.examples)


def test_the_served_chat_names_no_fixed_district(changning):
    import httpx

    from assistant.service import Assistant
    from assistant.serve.web import create_app

    with serve(create_app(changning)) as url, httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/").text
        assert "长宁区规划报告问答" in page and "闵行" not in page and "静安" not in page
        assert "question-counter" in page and 'data-limit=\\"500' in page and "policyQa" in page  # (in Gradio's JSON config)
        build = http.get("/chat/catalog").json()["build"]  # what an open chat checks (a plain GET, no question)
        assert build == os.path.basename(str(changning.index.path)) and build in page
    locked = Assistant(changning.settings.replace(auth="staff:s3cret-pass"), changning.index, changning.embedder)
    with serve(create_app(locked)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/chat/catalog").status_code == 401  # behind the chat's login
        assert http.post("/login", data={"username": "staff", "password": "s3cret-pass"}).status_code == 200
        assert http.get("/chat/catalog").json()["build"] == build


# ----------------------------------------------------------------------------- errors and notices


def test_errors_are_said_in_the_question_language():
    from assistant.serve.chat_notes import failure, question_error

    assert question_error("？？？", "no_words", 3, 500).startswith("问题里没有文字或数字")
    assert question_error("闵" * 600, "too_long", 600, 500) == "问题有 600 个字，超过了 500 字的上限，请删减后再发送。"
    assert question_error("What " * 200, "too_long", 1000, 500).startswith("The question is 1000 characters long")
    assert failure("静安区外贸是多少？").startswith("出错了") and failure("What was the GDP?").startswith("Something went wrong")


def test_the_chat_path_refuses_in_chinese(assistant):
    from assistant.serve.web import _answer_events

    events = list(_answer_events(assistant, "？？？", [], "extractive", None))
    assert events == [("error", events[0][1])] and "问题里没有文字或数字" in events[0][1] and "the question" not in events[0][1]


def test_rebuild_notice_from_the_running_job_or_a_cli_journal(assistant, tmp_path):
    from assistant.serve.chat_notes import rebuild_notice
    from assistant.serve.library_page import Job

    settings = SimpleNamespace(corpus_dir=str(tmp_path))
    job = Job("j1", "add", ["changning-2024-plan-report"], stage="embedding", done=120, total=578)
    notice = rebuild_notice("长宁区2024年GDP是多少？", lambda: job, settings)
    assert "资料库正在更新索引（加入：changning-2024-plan-report · 向量化 Embedding 120/578）" in notice
    assert "本回答基于更新前的资料" in notice and "请稍后再问" in notice
    assert "being re-indexed (adding changning-2024-plan-report" in rebuild_notice("What was the GDP?", lambda: job, settings)
    assert rebuild_notice("问题", lambda: None, settings) == ""
    folder = tmp_path / ".library-trash-1234abcd"
    folder.mkdir()
    journal = {"action": "remove", "state": "pending", "pid": os.getpid(), "started": "2026-12-04T10:00:00+00:00",
               "doc_ids": ["jingan-2023-plan-report"]}
    (folder / "journal.json").write_text(json.dumps(journal), encoding="utf-8")
    assert "删除：jingan-2023-plan-report" in rebuild_notice("问题", None, settings)  # a change made with the CLI
    gone = subprocess.Popen(["true"])
    gone.wait()
    (folder / "journal.json").write_text(json.dumps(journal | {"pid": gone.pid}), encoding="utf-8")
    assert rebuild_notice("问题", None, settings) == ""  # left by a crash: not running


# ----------------------------------------------------------------------------- 资料库


def test_library_page_kinds_local_times_and_table_preview(assistant):
    import httpx

    from assistant.ingest.corpus import KINDS
    from assistant.serve.labels import kind_names
    from assistant.serve.web import create_app

    assert set(KINDS) <= set(kind_names()) and kind_names()["yearly_report"] == "年度计划执行情况报告"
    with serve(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
        page = http.get("/library").text
        assert '"yearly_report": "年度计划执行情况报告"' in page and "{{KINDS}}" not in page
        assert '<th class="district">区 District</th>' in page
        docs = http.get("/library/documents").json()["documents"]
        row = next(d for d in docs if d["doc_id"] == JINGAN)
        utc = datetime.fromisoformat(row["indexed_at"])
        assert utc.utcoffset() == timedelta(0)  # stored in UTC, shown in Asia/Shanghai (UTC+8)
        assert row["indexed_local"] == (utc + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
        staged = http.post("/library/upload", params={"name": "tasks.txt"}, headers={"X-Library": "1"},
                           content=(CORPUS / "minhang-14th-five-year-plan-tasks.txt").read_text(encoding="utf-8").replace("闵行", "长宁").encode("utf-8"))
        preview = staged.json()["preview"]
        assert preview["table_count"] == 1 and preview["row_count"] == 74
        table = preview["tables"][0]
        assert table["headers"] == ["类别", "序号", "主要任务", "牵头单位"] and table["count"] == 74
        assert table["rows"][0][1] == "1" and table["rows"][0][3] == "区科委" and len(table["rows"]) == 4
        http.post("/library/discard", headers={"X-Library": "1"}, json={"token": staged.json()["token"]})
