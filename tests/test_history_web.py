"""History and export in the served app (issue 24), without a browser: with a login the downloads
go to their owner only, read from Gradio's real login cookie; the page carries the copy script and
the history sidebar. Fake embedder, one report; a real uvicorn server."""

from __future__ import annotations

import pytest

from _reliability import one_report_assistant, serve
from assistant.serve.conversations import ConversationStore, owner_of

RECORD = {"question": "闵行区2023年社会消费品零售总额完成了多少？", "answer": "完成1983.09亿元[1]。", "refused": False,
          "reading": "理解为：闵行区", "mode": "extractive",
          "citations": [{"n": 1, "chunk_id": "minhang-2023-plan-report#s1_1-b7", "doc_id": "minhang-2023-plan-report",
                         "title": "闵行区报告", "breadcrumb": ["一"], "text": "1983.09",
                         "url": "/source/minhang-2023-plan-report#s1_1-b7", "page": 0}]}


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    return one_report_assistant(tmp_path_factory.mktemp("history-web"), "minhang-2023-plan-report",
                                "minhang-2023-plan-report", "闵行区2023年报告", "闵行区")


def test_with_a_login_the_owner_gets_the_export_and_nobody_else(assistant):
    import httpx

    from assistant.service import Assistant
    from assistant.serve.web import create_app

    locked = Assistant(assistant.settings.replace(auth="staff:s3cret-pass"), assistant.index, assistant.embedder)
    store = ConversationStore(locked.settings.data_dir)
    mine, _ = store.add_turn(None, owner_of("staff", None), RECORD["question"], RECORD)
    theirs, _ = store.add_turn(None, owner_of("someone-else", None), RECORD["question"], RECORD)
    with serve(create_app(locked)) as url, httpx.Client(base_url=url, follow_redirects=False, timeout=30) as http:
        assert http.get(f"/export/{mine}/all.docx").status_code == 303  # not logged in: to the login page
        assert http.post("/login", data={"username": "staff", "password": "s3cret-pass"}).status_code == 200
        download = http.get(f"/export/{mine}/1.md")
        assert download.status_code == 200 and "1983.09" in download.text
        assert f"({url}/source/minhang-2023-plan-report#s1_1-b7)" in download.text  # the request's own base
        assert http.get(f"/export/{theirs}/1.md").status_code == 404  # another login's conversation


def test_the_page_has_the_copy_script_and_the_history(assistant):
    import httpx

    from assistant.serve.web import create_app

    with serve(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/").text
        assert "qa-copy" in page and "execCommand" in page  # the copy listener (HISTORY_HEAD)
        assert "history-sidebar" in page and "new-chat" in page and "policy-qa-browser-id" in page
        assert "清空对话" not in page  # 新对话 replaces it
