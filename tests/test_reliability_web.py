"""Web safety: the source viewer serves catalog documents only, user and report text is escaped,
the server binds loopback by default, the optional password locks everything, LLM API keys never
reach logs or messages, and the request queue is bounded. Fake embedder; a real uvicorn server."""

from __future__ import annotations

import http.client
import logging
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from _reliability import (CORPUS, SIMPLIFIED_RETAIL_Q, fake_settings_for, free_port, loadtest_module, run_cli, serve,
                          settings_env)
from assistant.config import Settings, load_settings
from assistant.indexing.build import build_index
from assistant.service import Assistant
from assistant.serve.viewer import render_answer, render_question

HOSTILE_REPORT = """一、<script>alert('report')</script>总体情况

全年经济运行平稳<img src=x onerror="window.__pwned=1">，社会消费品零售总额完成1983.09亿元。

二、"引号" & 'apostrophes' </p><iframe src=//evil>

<a href="javascript:alert(1)">点此</a>的内容也只是文字。
"""


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    base = tmp_path_factory.mktemp("web")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "minhang-2023-plan-report.txt").write_bytes((CORPUS / "minhang-2023-plan-report.txt").read_bytes())
    (corpus / "hostile.txt").write_text(HOSTILE_REPORT, encoding="utf-8")
    (corpus / "catalog.toml").write_text(
        '[[document]]\ndoc_id = "minhang-2023-plan-report"\nfile = "minhang-2023-plan-report.txt"\n'
        'title = "闵行区2023年报告"\ndistrict = "闵行区"\nyear = "2023-2024"\nkind = "yearly_report"\n\n'
        '[[document]]\ndoc_id = "hostile"\nfile = "hostile.txt"\ntitle = "<b>标题</b><script>alert(\'title\')</script>"\n'
        'district = "闵行区"\nyear = "2023"\nkind = "article"\n', encoding="utf-8")
    settings = fake_settings_for(base)
    build_index(settings, progress=False)
    return settings


@pytest.fixture(scope="module")
def assistant(settings):
    return Assistant.load(settings, build_if_needed=False)


@pytest.fixture(scope="module")
def url(assistant):
    from assistant.serve.web import create_app

    with serve(create_app(assistant)) as url:
        yield url


def raw_get(url: str, path: str) -> tuple[int, str]:
    """GET with the path exactly as written (no client-side normalization of ../ or %-escapes)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


# ----------------------------------------------------------------------------- source viewer

TRAVERSALS = [
    "/source/..%2F..%2Fetc%2Fpasswd",
    "/source/../../etc/passwd",
    "/source/%00",
    "/source/%2e%2e/%2e%2e/etc/passwd",
    "/source/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/source/..%5C..%5Cetc%5Cpasswd",
    "/source/....//....//etc/passwd",
    "/source//etc/passwd",
    "/source/%2Fetc%2Fpasswd",
    "/source/minhang-2023-plan-report/../../../../etc/passwd",
    "/source/minhang-2023-plan-report%00.txt",
    "/source/minhang-2023-plan-report.txt",
    "/source/catalog.toml",
    "/source/hostile.txt",
    "/source/corpus/catalog.toml",
    "/source/" + "a" * 5000,
    "/source/%ff%fe",
    "/source/%E9%97%B5%E8%A1%8C",  # 闵行
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_source_viewer_serves_only_catalog_documents(url, path):
    status, body = raw_get(url, path)
    assert status == 404, (path, status, body[:200])
    assert "root:x:0" not in body and "[[document]]" not in body and "全年经济运行平稳" not in body


@pytest.mark.parametrize("path", [
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=../../../../etc/passwd",
    "/gradio_api/file=" + str(CORPUS / "catalog.toml"),
    "/gradio_api/file=" + str(Path(__file__).resolve()),
    "/file=/etc/passwd",
    "/..%2F..%2Fetc%2Fpasswd",
    "/gradio_api/file=%2Fetc%2Fpasswd",
])
def test_gradio_file_routes_do_not_serve_local_files(url, path):
    status, body = raw_get(url, path)
    assert status in (400, 403, 404, 405), (path, status)
    assert "root:x:0" not in body and "[[document]]" not in body and "import pytest" not in body


def test_catalog_documents_are_served(url):
    status, body = raw_get(url, "/source/minhang-2023-plan-report")
    assert status == 200 and "1983.09" in body
    status, body = raw_get(url, "/source")
    assert status == 200 and "/source/hostile" in body


# ----------------------------------------------------------------------------- escaping


def _no_live_markup(page: str) -> None:
    lowered = page.lower()
    for needle in ("<script>alert", "<img src=x", "<iframe", 'href="javascript:', "<b>标题"):
        assert needle not in lowered, needle


def test_report_text_and_titles_are_escaped_in_the_viewer(url):
    status, page = raw_get(url, "/source/hostile")
    assert status == 200
    _no_live_markup(page)
    assert "&lt;script&gt;alert(&#x27;report&#x27;)&lt;/script&gt;" in page and "&lt;img src=x" in page
    status, index = raw_get(url, "/source")
    _no_live_markup(index)


def test_question_and_answer_html_are_escaped(assistant):
    question = "<script>alert(1)</script>社会消费品零售总额<img src=x onerror=alert(2)>是多少？"
    shown = render_question(question)
    assert "<script>" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<img" not in shown
    answer = assistant.ask(question)
    page = render_answer(answer)
    _no_live_markup(page)
    assert "<script>" not in page
    # an answer quoting the hostile report: quotes and titles are escaped too
    hostile = assistant.ask("全年经济运行平稳 社会消费品零售总额 1983.09", filters=None)
    _no_live_markup(render_answer(hostile))


def test_chat_events_escape_the_question_and_errors(assistant):
    from assistant.serve.web import _answer_events

    for question in ("<script>alert(1)</script>", "<script>alert(1)</script>静安区外贸进出口总额"):
        events = list(_answer_events(assistant, question, [], "extractive", None))
        for kind, value in events:
            html = render_answer(value) if kind == "final" else value
            assert "<script>" not in html


# ----------------------------------------------------------------------------- binding and login


def test_server_binds_loopback_by_default(monkeypatch):
    assert Settings().host == "127.0.0.1"
    monkeypatch.setenv("ASSISTANT_CONFIG", "/dev/null")
    monkeypatch.delenv("ASSISTANT_HOST", raising=False)
    assert load_settings().host == "127.0.0.1"

    import importlib.util

    from _reliability import ROOT

    spec = importlib.util.spec_from_file_location("reliability_app_module", ROOT / "app.py")
    app_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app_module)
    seen = {}
    monkeypatch.setattr(app_module.Assistant, "load", classmethod(lambda cls, *a, **k: type("A", (), {
        "build_report": None, "index": type("I", (), {"chunks": []})(), "settings": load_settings(),
        "warm_up": lambda self: None})()))
    monkeypatch.setattr(app_module, "create_app", lambda assistant: "app")
    class Server:  # app.py runs uvicorn.Server itself (it warms the model up once the server listens)
        started, should_exit = True, False

        def __init__(self, config):
            seen.update(host=config.host, port=config.port)

        def run(self, sockets=None):
            pass

    monkeypatch.setattr(app_module.uvicorn, "Server", Server)
    monkeypatch.setattr(app_module, "listen", lambda host, port: seen.update(bound=host))  # binds no real port
    app_module.main([])
    assert seen["host"] == "127.0.0.1" and seen["bound"] == "127.0.0.1"


def test_password_locks_the_chat_the_api_and_the_viewer(assistant):
    import httpx
    from gradio_client import Client

    from assistant.serve.web import create_app

    locked = Assistant(assistant.settings.replace(auth="staff:s3cret-pass"), assistant.index, assistant.embedder)
    with serve(create_app(locked)) as url:
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as http:
            page = http.get("/")
            assert page.status_code in (200, 302, 303, 401)
            assert "auth_required" in page.text and "社会消费品" not in page.text and "促进创新创业" not in page.text
            assert http.get("/config").status_code == 401
            assert http.get("/source").status_code in (303, 401) and "1983.09" not in http.get("/source").text
            assert http.get("/source/minhang-2023-plan-report").status_code in (303, 401)
            call = http.post("/gradio_api/call/ask", json={"data": [SIMPLIFIED_RETAIL_Q, "全部", "extractive"]})
            assert call.status_code == 401
            assert http.post("/login", data={"username": "staff", "password": "wrong"}).status_code in (400, 401)
            assert http.post("/login", data={"username": "staff", "password": "s3cret-pass"}).status_code == 200
            assert http.get("/source/minhang-2023-plan-report").status_code == 200
        with pytest.raises(Exception, match="(?i)login|credentials|auth"):
            Client(url + "/", verbose=False, analytics_enabled=False)
        client = Client(url + "/", auth=("staff", "s3cret-pass"), verbose=False, analytics_enabled=False)
        try:
            assert client.predict(SIMPLIFIED_RETAIL_Q, api_name="/ask")["question"] == SIMPLIFIED_RETAIL_Q
        finally:
            client.close()


def test_malformed_auth_setting_names_the_problem_not_the_secret():
    from assistant.serve.web import parse_auth

    with pytest.raises(ValueError, match="user:password") as caught:
        parse_auth("only-a-secret-word")
    assert "only-a-secret-word" not in str(caught.value)
    assert parse_auth("a:b:c") == ("a", "b:c") and parse_auth("") is None


# ----------------------------------------------------------------------------- API keys


@pytest.fixture()
def secret(monkeypatch):
    value = f"sk-test-SECRET-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", value)
    return value


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there


def test_api_key_never_in_errors_or_logs(assistant, secret, caplog):
    from assistant.answer.llm import make_chat_model

    settings = assistant.settings.replace(llm_base_url=_closed_port_url(), llm_model="qwen-test")
    llm_assistant = Assistant(settings, assistant.index, assistant.embedder)
    caplog.set_level(logging.DEBUG)  # everything: openai, httpx, httpcore, langchain, ours
    with pytest.raises(Exception) as caught:
        llm_assistant.ask(SIMPLIFIED_RETAIL_Q, mode="llm")
    text = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    model = make_chat_model(settings)
    text += repr(model) + str(model) + str(model.model_dump() if hasattr(model, "model_dump") else "")
    assert secret not in text and secret not in caplog.text
    assert "SECRET" not in caplog.text


def test_api_key_never_in_web_errors_or_logs(assistant, secret, caplog, capfd):
    from gradio_client import Client

    from assistant.serve.web import _answer_events, create_app

    settings = assistant.settings.replace(llm_base_url=_closed_port_url(), llm_model="qwen-test")
    llm_assistant = Assistant(settings, assistant.index, assistant.embedder)
    caplog.set_level(logging.DEBUG)
    events = list(_answer_events(llm_assistant, SIMPLIFIED_RETAIL_Q, [], "llm", None))  # the chat path
    assert events[-1][0] == "error" and secret not in events[-1][1]
    with serve(create_app(llm_assistant)) as url:
        client = Client(url + "/", verbose=False, analytics_enabled=False)
        try:
            with pytest.raises(Exception) as caught:
                client.predict(SIMPLIFIED_RETAIL_Q, "全部", "llm", api_name="/ask")
        finally:
            client.close()
    assert secret not in str(caught.value) and secret not in caplog.text
    printed = capfd.readouterr()  # gradio prints handler tracebacks to stderr itself
    assert secret not in printed.out and secret not in printed.err


def test_api_key_never_printed_by_the_cli(settings, secret):
    env = settings_env(settings, OPENAI_API_KEY=secret, ASSISTANT_LLM_BASE_URL=_closed_port_url(),
                       ASSISTANT_LLM_MODEL="qwen-test")
    result = run_cli(["ask", SIMPLIFIED_RETAIL_Q, "--mode", "llm"], env)
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode != 0 and "error: " in output and "Traceback" not in output
    assert secret not in output and "SECRET" not in output


# ----------------------------------------------------------------------------- bounded queue


def test_queue_is_bounded_and_excess_requests_fail_fast(assistant):
    """One worker, a queue of 2, answers that take 1 s, 8 clients at once: the excess requests are
    refused at once ("Queue is full"), the others get their own answers; nothing waits forever."""
    from gradio_client import Client

    from assistant.serve.web import create_app

    small = Assistant(assistant.settings.replace(max_concurrency=1, max_queue=2), assistant.index, assistant.embedder)
    real_ask = small.ask

    def slow_ask(*args, **kwargs):
        time.sleep(1.0)
        return real_ask(*args, **kwargs)

    small.ask = slow_ask
    questions = [f"闵行区{2016 + i}年社会消费品零售总额是多少" for i in range(8)]
    with serve(create_app(small)) as url:
        with ThreadPoolExecutor(4) as pool:
            clients = list(pool.map(lambda _: Client(url + "/", verbose=False, analytics_enabled=False,
                                                     download_files=False), questions))

        def ask(i: int):
            started = time.perf_counter()
            try:
                return "ok", clients[i].predict(questions[i], api_name="/ask")["question"], time.perf_counter() - started
            except Exception as exc:  # noqa: BLE001
                return "refused", str(exc), time.perf_counter() - started

        try:
            with ThreadPoolExecutor(len(questions)) as pool:
                outcomes = list(pool.map(ask, range(len(questions))))
        finally:
            loadtest_module().close_clients(clients)
    answered = [(i, o) for i, o in enumerate(outcomes) if o[0] == "ok"]
    refused = [o for o in outcomes if o[0] == "refused"]
    assert 1 <= len(answered) <= 1 + 2 + 2  # running + queued (+ slack for requests that came after a slot freed)
    assert refused and all("queue is full" in o[1].lower() for o in refused)
    assert all(o[2] < 5 for o in refused), "a refused request waited"
    assert all(o[1] == questions[i] for i, o in answered), "an answer went to the wrong client"


def test_cli_redacts_a_key_that_an_error_message_contains(settings, secret, monkeypatch):
    """Defence in depth: even an upstream error that quotes the key is printed without it."""
    from typer.testing import CliRunner

    from assistant.cli import app

    def boom(cls, *args, **kwargs):
        raise RuntimeError(f"upstream said: invalid key {secret}")

    monkeypatch.setattr(Assistant, "load", classmethod(boom))
    result = CliRunner().invoke(app, ["ask", SIMPLIFIED_RETAIL_Q], env=settings_env(settings, OPENAI_API_KEY=secret))
    assert result.exit_code == 1 and "error: RuntimeError: upstream said: invalid key ***" in result.output
    assert secret not in result.output and "Traceback" not in result.output
