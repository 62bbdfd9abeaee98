"""Chat history (issue 24, item 2): the SQLite store per owner (a login's user or a browser's id),
reopening (the chat drawn again, the follow-up context back), rename, delete, and the /export
downloads with their owner check. No model; the routes on a bare FastAPI app."""

from __future__ import annotations

import io
import re
import threading
from types import SimpleNamespace

import docx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.models import Answer, Chunk, Citation, Hit, Query
from assistant.serve.conversations import (MAX_TITLE, ConversationStore, answer_from_dict, browser_secret, new_id, owner_of,
                                           valid_id)
from assistant.serve.export import plain_text
from assistant.serve.history_ui import ChatHistory, add_export_routes, answer_html, base_url, session_user
from test_export import BASE, retail_answer

ALICE, BOB = owner_of("alice", None), owner_of(None, new_id())
CITATION = Citation(n=1, chunk_id="minhang-2023-plan-report#s1_1-b7", doc_id="minhang-2023-plan-report", title="闵行区报告",
                    breadcrumb=("一", "（一）"), quote="社会消费品零售总额 1983.09", url="/source/minhang-2023-plan-report#s1_1-b7",
                    page=3)


def answer(question: str = "闵行区2023年社会消费品零售总额完成了多少？", text: str = "完成1983.09亿元[1]。") -> Answer:
    query = Query(text=question, standalone=question, search_text=question, districts=("闵行区",), topic="社会消费品零售总额")
    chunk = Chunk(chunk_id="c#a", doc_id="c", anchor="a", kind="paragraph", text="最接近", context="", breadcrumb=("二",),
                  district="闵行区", year="2023", title="报告", page=5)
    return Answer(text=text, citations=[CITATION], refused=False, mode="extractive", question=question, query=query,
                  closest=[Hit(chunk, 0.5)])


def test_owners_and_ids():
    assert owner_of("alice", "ignored") == "user:alice"
    browser = new_id()
    assert valid_id(browser) and owner_of(None, browser) == f"browser:{browser}"
    assert owner_of(None, None) is None and owner_of(None, "x' OR 1=1 --") is None and owner_of("", 42) is None


def test_browser_secret_outlives_a_restart(tmp_path):
    first = browser_secret(tmp_path / "data")
    assert len(first) >= 16 and browser_secret(tmp_path / "data") == first
    assert oct((tmp_path / "data" / "browser-state.secret").stat().st_mode & 0o777) == "0o600"


def test_turns_are_kept_per_owner_and_read_back_as_answers(tmp_path):
    store = ConversationStore(tmp_path)
    first = answer()
    conversation_id, n = store.add_turn(None, ALICE, first.question, first.to_dict())
    assert valid_id(conversation_id) and n == 1
    assert store.add_turn(conversation_id, ALICE, "那静安区呢？", answer("那静安区呢？", "静安区1707.89亿元[1]。").to_dict()) \
        == (conversation_id, 2)
    other, _ = store.add_turn(None, ALICE, "x" * 200, answer().to_dict())

    reopened = ConversationStore(tmp_path).get(conversation_id, ALICE)  # a new store: read from the file
    assert reopened.title == first.question and [t.n for t in reopened.turns] == [1, 2]
    back = reopened.turns[0].answer
    assert back.text == first.text and back.citations == first.citations and back.reading == first.reading != ""
    assert back.closest[0].chunk == first.closest[0].chunk and back.to_dict()["reading"] == first.to_dict()["reading"]
    assert reopened.history(10) == [(first.question, "完成1983.09亿元[1]。"), ("那静安区呢？", "静安区1707.89亿元[1]。")]
    assert reopened.history(1) == [("那静安区呢？", "静安区1707.89亿元[1]。")]

    listed = store.list(ALICE)
    assert [s.id for s in listed] == [other, conversation_id] and listed[0].title == "x" * (MAX_TITLE - 1) + "…"
    assert listed[1].turns == 2
    # another owner sees nothing of it, cannot add to it, rename or delete it
    assert store.list(BOB) == [] and store.get(conversation_id, BOB) is None
    bobs, n = store.add_turn(conversation_id, BOB, "q", answer().to_dict())
    assert bobs != conversation_id and n == 1 and len(store.get(conversation_id, ALICE).turns) == 2
    assert not store.rename(conversation_id, BOB, "mine") and not store.delete(conversation_id, BOB)
    assert store.get(conversation_id) is not None  # by its id alone (an export link without a login)


def test_rename_and_delete(tmp_path):
    store = ConversationStore(tmp_path)
    conversation_id, _ = store.add_turn(None, ALICE, "q1", answer().to_dict())
    assert store.rename(conversation_id, ALICE, "  零售   总额  ") and store.get(conversation_id).title == "零售 总额"
    assert not store.rename(conversation_id, ALICE, "   ") and not store.rename("bad id", ALICE, "x")
    assert store.delete(conversation_id, ALICE) and store.get(conversation_id) is None and store.list(ALICE) == []
    assert not store.delete(conversation_id, ALICE)
    again, n = store.add_turn(conversation_id, ALICE, "q2", answer().to_dict())  # a deleted one is not revived
    assert again != conversation_id and n == 1


def test_concurrent_turns_are_all_kept(tmp_path):
    store = ConversationStore(tmp_path)
    conversation_id, _ = store.add_turn(None, ALICE, "q", answer().to_dict())
    errors = []

    def add():
        try:
            store.add_turn(conversation_id, ALICE, "q", answer().to_dict())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and [t.n for t in store.get(conversation_id).turns] == list(range(1, 14))


def test_an_older_record_still_reads():
    back = answer_from_dict({"answer": "x[1]", "citations": [{"n": 1, "title": "t", "url": "/source/d#a"}],
                             "closest": [{"broken": True}], "reading": "理解为：闵行区"})
    assert back.citations[0].page == 0 and back.closest == [] and back.reading == "理解为：闵行区"


def test_reopening_draws_the_chat_and_restores_the_follow_up_context(tmp_path):
    history = ChatHistory(SimpleNamespace(data_dir=str(tmp_path), public_url=""), max_history_turns=1)
    conversation_id, _ = history.record(BOB, None, "闵行区2023年社会消费品零售总额完成了多少？", answer().to_dict())
    history.record(BOB, conversation_id, "那静安区呢？", answer("那静安区呢？").to_dict())
    chat, pairs, records = history.restore(history.store.get(conversation_id, BOB), "http://h")
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant"]
    assert chat[2]["content"] == '<div class="qa-question">那静安区呢？</div>'
    assert 'class="cite"' in chat[1]["content"] and f"/export/{conversation_id}/1.docx" in chat[1]["content"]
    assert "http://h/source/minhang-2023-plan-report#s1_1-b7" in chat[3]["content"]  # the copy text's link
    assert pairs == [("那静安区呢？", "完成1983.09亿元[1]。")]  # the last max_history_turns
    assert sorted(records) == [1, 3] and records[3]["question"] == "那静安区呢？"  # for 👍/👎
    assert history.record(None, None, "q", {}) == (None, None)  # no owner (no id yet): not stored
    assert history.choices(BOB)[0][1] == conversation_id


def test_copy_text_rides_in_the_answer_html_without_blank_lines():
    html = answer_html(retail_answer(), BASE, "A" * 22, 1)
    assert "\n\n" not in html  # Markdown would end the HTML block there
    spans = re.search(r'<span class="qa-plain">(.*?)</span></div></div>$', html).group(1)
    lines = [re.sub(r"<[^>]+>", "", s) for s in spans.split("</span><span>")]
    assert "\n".join(lines).replace("&gt;", ">").replace("&amp;", "&") == plain_text(retail_answer(), BASE)
    assert f'href="/export/{"A" * 22}/1.docx"' in html and f'href="/export/{"A" * 22}/1.md"' in html
    assert 'class="qa-export"' not in answer_html(retail_answer(), BASE, None, None)  # not stored: copy only


# ----------------------------------------------------------------------------- downloads


@pytest.fixture()
def stored(tmp_path):
    store = ConversationStore(tmp_path)
    conversation_id, _ = store.add_turn(None, ALICE, "闵行区2023年社会消费品零售总额完成了多少？", answer().to_dict())
    store.add_turn(conversation_id, ALICE, "那静安区呢？", answer("那静安区呢？", "静安区1707.89亿元[1]。").to_dict())
    return tmp_path, conversation_id


def _client(data_dir, login_required: bool, user: str | None, public_url: str = "") -> TestClient:
    app = FastAPI()
    add_export_routes(app, SimpleNamespace(data_dir=str(data_dir), public_url=public_url), login_required, lambda request: user)
    return TestClient(app, follow_redirects=False)


def test_export_one_answer_and_the_conversation(stored):
    data_dir, conversation_id = stored
    client = _client(data_dir, login_required=False, user=None)
    one = client.get(f"/export/{conversation_id}/2.docx")
    assert one.status_code == 200 and one.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment;" in one.headers["content-disposition"] and "filename*=UTF-8''" in one.headers["content-disposition"]
    document = docx.Document(io.BytesIO(one.content))
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == "那静安区呢？" and "静安区1707.89亿元。" in texts and not any("1983.09" in t for t in texts)

    whole = client.get(f"/export/{conversation_id}/all.md")
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/markdown")
    assert whole.text.startswith("# 闵行区2023年社会消费品零售总额完成了多少？") and whole.text.count("## 问 Q：") == 2
    assert "(http://testserver/source/minhang-2023-plan-report#s1_1-b7)" in whole.text  # the request's own base
    text = client.get(f"/export/{conversation_id}/1.txt").text
    assert text.startswith("完成1983.09亿元[1]。\n\n来源 Sources:\n[1] 闵行区报告 · 一 › （一） · 第3页")
    public = _client(data_dir, False, None, public_url="https://qa.example.gov.cn/").get(f"/export/{conversation_id}/all.txt")
    assert "https://qa.example.gov.cn/source/minhang-2023-plan-report#s1_1-b7" in public.text


@pytest.mark.parametrize("path", ["/export/{id}/3.docx", "/export/{id}/1.pdf", "/export/{id}/../x", "/export/{id}/1.docx.md",
                                  "/export/AAAAAAAAAAAAAAAAAAAAAA/all.docx", "/export/not-an-id/all.md"])
def test_export_refuses_what_is_not_there(stored, path):
    data_dir, conversation_id = stored
    response = _client(data_dir, False, None).get(path.replace("{id}", conversation_id))
    assert response.status_code == 404 and "1983.09" not in response.text


def test_export_with_a_login_is_for_its_owner_only(stored):
    data_dir, conversation_id = stored
    assert _client(data_dir, True, "alice").get(f"/export/{conversation_id}/all.docx").status_code == 200
    assert _client(data_dir, True, "mallory").get(f"/export/{conversation_id}/all.docx").status_code == 404
    anonymous = _client(data_dir, True, None).get(f"/export/{conversation_id}/all.docx")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/"


def test_session_user_reads_gradios_login_cookie():
    gradio_app = SimpleNamespace(cookie_id="abc", tokens={"t1": "alice"})
    request = SimpleNamespace(cookies={"access-token-abc": "t1"})
    assert session_user(request, gradio_app) == "alice"
    assert session_user(SimpleNamespace(cookies={"access-token-unsecure-abc": "t1"}), gradio_app) == "alice"
    assert session_user(SimpleNamespace(cookies={"access-token-abc": "forged"}), gradio_app) is None
    assert session_user(request, None) is None


def test_base_url_prefers_public_url():
    request = SimpleNamespace(request=SimpleNamespace(base_url="http://10.0.0.5:7860/"))
    assert base_url(SimpleNamespace(public_url="https://qa.example/"), request) == "https://qa.example"
    assert base_url(SimpleNamespace(public_url=""), request) == "http://10.0.0.5:7860"
    assert base_url(SimpleNamespace(public_url=""), None) == ""
