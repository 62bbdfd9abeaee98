"""Issue 14, web: what the outside tester did to the running app, replayed against a real uvicorn
server (fake embedder). File objects in place of strings, Gradio's file and upload routes, wrong
argument types, oversized bodies, floods of questions and of wrong passwords, HEAD requests,
`/openapi.json`, and the server log of rejected questions."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from _reliability import SIMPLIFIED_RETAIL_Q, fake_settings_for, serve
from assistant.indexing.build import build_index
from assistant.service import Assistant

PASSWD = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    settings = fake_settings_for(tmp_path_factory.mktemp("guard"))
    build_index(settings, progress=False)
    return Assistant.load(settings, build_if_needed=False)


def _variant(assistant, **changes) -> Assistant:
    return Assistant(assistant.settings.replace(**changes), assistant.index, assistant.embedder)


@pytest.fixture(scope="module")
def url(assistant):
    from assistant.serve.web import create_app

    with serve(create_app(assistant)) as url:
        yield url


def _gradio_files() -> dict[str, bytes]:
    """Every file under Gradio's upload/cache folder (where a copied /etc/passwd would land)."""
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder())
    found = {}
    for path in root.rglob("*") if root.exists() else ():
        if path.is_file():
            try:
                found[str(path)] = path.read_bytes()[:64]
            except OSError:
                pass
    return found


def _call(http: httpx.Client, data: list, api: str = "ask") -> tuple[int, str]:
    """POST /gradio_api/call/<api>; when accepted, read its event stream to the end."""
    posted = http.post(f"/gradio_api/call/{api}", json={"data": data})
    if posted.status_code != 200:
        return posted.status_code, posted.text
    return 200, http.get(f"/gradio_api/call/{api}/{posted.json()['event_id']}").text


# ----------------------------------------------------------------------------- 1. files


def test_the_testers_exact_request_copies_and_serves_nothing(url):
    """`{"data":["x",{"path":"/etc/passwd","meta":{"_type":"gradio.FileData"}},"extractive"]}` made
    Gradio copy /etc/passwd into its cache, echo the cached path, and serve it from /file=."""
    before = _gradio_files()
    with httpx.Client(base_url=url, timeout=60) as http:
        status, body = _call(http, ["x", PASSWD, "extractive"])
        assert status == 400 and "file objects are not accepted" in body, body
        assert "/tmp" not in body and "passwd" not in body
        # the same object in every position, without meta, nested, and through the other API routes
        for data in (["x", {"path": "/etc/passwd"}, "extractive"], [PASSWD, "全部", "extractive"],
                     ["x", "全部", [{"a": PASSWD}]]):
            assert _call(http, data)[0] == 400
        assert http.post("/gradio_api/run/ask", json={"data": ["x", PASSWD, "extractive"]}).status_code == 400
        joined = http.post("/gradio_api/queue/join", json={"data": ["x", PASSWD, "extractive"], "fn_index": 0,
                                                           "session_hash": "abc123"})
        assert joined.status_code == 400
        # the chat's own (private) event: a chat history that carries a file message
        chat = [{"role": "user", "content": [{"type": "file", "file": {"path": "/etc/passwd"}}]}]
        joined = http.post("/gradio_api/queue/join", json={"data": ["q", chat, [], "全部", "全部", "extractive"],
                                                           "fn_index": 1, "session_hash": "abc124"})
        assert joined.status_code == 400
        copied = {p: head for p, head in _gradio_files().items() if p not in before}
        assert not any(b"root:" in head or p.endswith("passwd") for p, head in copied.items()), copied
        # whatever Gradio holds, its file routes serve nothing (no component of this app uses files)
        for path in [*(f"/gradio_api/file={p}" for p in list(_gradio_files())[:3]), "/gradio_api/file=/etc/passwd",
                     "/gradio_api/file=https://example.com/", "/gradio_api/proxy=https://example.com/",
                     "/file=/etc/passwd", "/gradio_api/file/etc/passwd"]:
            response = http.get(path)
            assert response.status_code == 404 and "root:" not in response.text, path


def test_uploads_are_refused_and_nothing_is_stored(url):
    before = _gradio_files()
    with httpx.Client(base_url=url, timeout=60) as http:
        for route in ("/gradio_api/upload", "/upload"):
            response = http.post(route, files={"files": ("notes.txt", b"upload-canary-" + os.urandom(8))})
            assert response.status_code == 404, (route, response.status_code)
    assert not any(head.startswith(b"upload-canary-") for p, head in _gradio_files().items() if p not in before)


def test_wrong_argument_types_are_refused_without_echoing_them(url):
    hostile = "<script>alert(1)</script>" + "x" * 500
    with httpx.Client(base_url=url, timeout=60) as http:
        status, body = _call(http, [12345, "全部", "extractive"])
        assert "question must be text; got a value of type int" in body
        status, body = _call(http, ["q", ["全部"], "extractive"])
        assert "district must be one of" in body and "type list" in body
        status, body = _call(http, ["q", hostile, "extractive"])
        assert "district must be one of" in body and "<script>" not in body and "x" * 60 not in body
        status, body = _call(http, ["q", "全部", {"mode": 1}])
        assert "mode must be" in body and "type dict" in body


def test_long_question_is_refused_before_any_embedding(url, assistant):
    limit = assistant.settings.max_question_chars
    assert limit <= 500  # the e5 window is 512 tokens: 500 characters fit even at one token per character
    with httpx.Client(base_url=url, timeout=60) as http:
        started = time.perf_counter()
        status, body = _call(http, ["闵行区社会消费品零售总额" * 200, "全部", "extractive"])
        assert "the limit is 500" in body and time.perf_counter() - started < 5


# ----------------------------------------------------------------------------- 4. limits


def test_request_body_limit_on_every_route(assistant):
    from assistant.serve.web import create_app

    small = _variant(assistant, max_body_bytes=10_000)
    with serve(create_app(small)) as url, httpx.Client(base_url=url, timeout=60) as http:
        big = b"x" * 20_000
        for route in ("/gradio_api/call/ask", "/gradio_api/queue/join", "/login", "/source", "/anything"):
            response = http.post(route, content=big, headers={"content-type": "application/json"})
            assert response.status_code == 413 and "10000 bytes" in response.text, route

        def chunks():  # no Content-Length: counted while read
            for _ in range(20):
                yield b"y" * 1000

        response = http.post("/gradio_api/call/ask", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413
        # a 400 MB announcement is refused before a byte of it is read
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 400000000\r\n"
                         b"Content-Type: application/octet-stream\r\n\r\n")
            assert b" 404 " in sock.recv(1000)  # the upload route is closed outright
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /gradio_api/call/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 400000000\r\n"
                         b"Content-Type: application/json\r\n\r\n")
            assert b" 413 " in sock.recv(1000)
        assert _call(http, [SIMPLIFIED_RETAIL_Q, "全部", "extractive"])[0] == 200  # normal requests still work


def test_questions_per_client_are_rate_limited(assistant):
    from assistant.serve.web import create_app

    limited = _variant(assistant, client_requests_per_minute=3)
    with serve(create_app(limited)) as url, httpx.Client(base_url=url, timeout=60) as http:
        statuses = [http.post("/gradio_api/call/ask", json={"data": [SIMPLIFIED_RETAIL_Q, "全部", "extractive"]})
                    for _ in range(5)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
        assert int(statuses[3].headers["retry-after"]) >= 1 and "3 questions a minute" in statuses[3].text
        assert http.get("/source").status_code == 200  # reading is not limited


def test_failed_logins_are_delayed_then_locked_out(assistant):
    from assistant.serve.web import create_app

    locked = _variant(assistant, auth="staff:s3cret-pass", login_max_failures=3, login_lockout_seconds=3,
                      login_delay_seconds=0.2)
    with serve(create_app(locked)) as url, httpx.Client(base_url=url, timeout=60) as http:
        took = []
        for _ in range(3):
            started = time.perf_counter()
            assert http.post("/login", data={"username": "staff", "password": "wrong"}).status_code == 400
            took.append(time.perf_counter() - started)
        assert took[0] >= 0.2 and took[2] >= 0.6  # each failure answered later than the one before
        started = time.perf_counter()
        blocked = [http.post("/login", data={"username": "staff", "password": pw}) for pw in ("wrong", "s3cret-pass")]
        assert [r.status_code for r in blocked] == [429, 429] and "too many failed logins" in blocked[1].text
        assert time.perf_counter() - started < 1  # a locked-out address gets no more guesses, not even slow ones
        time.sleep(3.2)
        assert http.post("/login", data={"username": "staff", "password": "s3cret-pass"}).status_code == 200


# ----------------------------------------------------------------------------- 6. small items


def test_head_answers_like_get(url):
    with httpx.Client(base_url=url, timeout=30) as http:
        for path in ("/source", "/source/", "/source/minhang-2023-plan-report"):
            assert http.head(path).status_code == http.get(path).status_code == 200, path
        assert http.head("/source/nope").status_code == 404


def test_openapi_is_not_public_with_auth(assistant):
    from assistant.serve.web import create_app

    locked = _variant(assistant, auth="staff:s3cret-pass")
    with serve(create_app(locked)) as url, httpx.Client(base_url=url, timeout=30) as http:
        for path in ("/openapi.json", "/docs", "/redoc", "/gradio_api/openapi.json", "/gradio_api/info"):
            response = http.get(path)
            assert response.status_code in (401, 404), (path, response.status_code)
            assert "/gradio_api/call" not in response.text and '"paths"' not in response.text


def test_a_rejected_question_is_one_log_line_without_traceback(url, assistant, caplog, capfd):
    from assistant.serve.web import _answer_events

    caplog.set_level(logging.INFO)
    capfd.readouterr()
    with httpx.Client(base_url=url, timeout=60) as http:
        for question in ("", "？？？", "x" * 600):
            _call(http, [question, "全部", "extractive"])
    list(_answer_events(assistant, "", [], "extractive", None))  # the chat path
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err and "Traceback" not in printed.out
    rejected = [r for r in caplog.records if r.getMessage().startswith(("rejected /ask", "rejected question"))]
    assert len(rejected) == 4 and not any(r.exc_info for r in caplog.records)
