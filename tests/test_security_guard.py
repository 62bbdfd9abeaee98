"""Issue 23, the request guard: the outside tester's bypass of the FileData check (a body with a
leading space, a UTF-8 BOM, or in UTF-16/UTF-32 reached Gradio, which copied /etc/passwd into its
cache, or spun forever on /dev/zero). Every encoding variant against every named endpoint, the
guard's own decoding, and Gradio's own path check as a second line behind the guard."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from _reliability import SIMPLIFIED_RETAIL_Q, fake_settings_for, serve
from assistant.indexing.build import build_index
from assistant.service import Assistant


def _file(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def _chat_join(path: str) -> dict:
    """The tester's exact body: the chat's own event with a history holding a file message."""
    chat = [{"role": "user", "content": {"file": _file(path)}}]
    return {"data": [{"text": "x", "files": []}, chat, [], "全部", "全部", "extractive", {}], "fn_index": 1,
            "session_hash": "s1"}


def _requests(path: str) -> list[tuple[str, dict]]:
    """(route, body) for every named endpoint and the queue."""
    ask = {"data": ["x", _file(path), "extractive"]}
    return [("/gradio_api/queue/join", _chat_join(path)),
            ("/gradio_api/queue/join", ask | {"fn_index": 0, "session_hash": "s2"}),
            ("/gradio_api/call/ask", ask), ("/gradio_api/call/ask/", ask), ("/gradio_api/call/v2/ask", {"question": _file(path)}),
            ("/gradio_api/run/ask", ask), ("/gradio_api/api/ask", ask), ("/gradio_api/call/ask_with_history", ask)]


def _encodings(text: str) -> dict[str, bytes]:
    """Every way the server's json.loads would still read `text`."""
    utf8 = text.encode("utf-8")
    return {"space": b" " + utf8, "newline": b"\r\n\t " + utf8, "utf-8 BOM": b"\xef\xbb\xbf" + utf8,
            "BOM and space": b"\xef\xbb\xbf  " + utf8,
            "utf-16": text.encode("utf-16"), "utf-16-le": text.encode("utf-16-le"), "utf-16-be": text.encode("utf-16-be"),
            "utf-32": text.encode("utf-32"), "utf-32-le": text.encode("utf-32-le"), "utf-32-be": text.encode("utf-32-be")}


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    settings = fake_settings_for(tmp_path_factory.mktemp("security-guard"), client_requests_per_minute=0)
    build_index(settings, progress=False)
    return Assistant.load(settings, build_if_needed=False)


@pytest.fixture(scope="module")
def url(assistant):
    from assistant.serve.web import create_app

    with serve(create_app(assistant)) as url:
        yield url


def _gradio_files() -> dict[str, bytes]:
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


def _copied(before: dict[str, bytes]) -> list[str]:
    return [p for p, head in _gradio_files().items() if p not in before and (b"root:" in head or p.endswith("passwd"))]


def _post(http: httpx.Client, route: str, body: bytes, content_type: str | None = "application/json") -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    response = http.post(route, content=body, headers=headers)
    if response.status_code == 200 and "/call/" in route and "event_id" in response.text:  # let the event run
        http.get(f"{route.rstrip('/')}/{response.json()['event_id']}".replace("/call/v2/", "/call/"))
    return response


def test_every_encoding_of_a_file_object_is_refused_on_every_endpoint(url):
    """The tester's bypass: leading whitespace, a BOM, UTF-16/32 with or without a BOM."""
    before = _gradio_files()
    with httpx.Client(base_url=url, timeout=30) as http:
        for route, body in _requests("/etc/passwd"):
            for name, raw in _encodings(json.dumps(body, ensure_ascii=False)).items():
                for content_type in ("application/json", None):
                    response = _post(http, route, raw, content_type)
                    assert response.status_code == 400, (route, name, content_type, response.status_code, response.text[:300])
                    assert "/tmp" not in response.text and "passwd" not in response.text
        assert not _copied(before), _copied(before)
        # the guard's own refusals say what is accepted
        response = _post(http, "/gradio_api/call/ask", b"\xef\xbb\xbf" + json.dumps({"data": ["x"]}).encode())
        assert response.status_code == 400 and "UTF-8 JSON" in response.text
        # and ordinary requests still pass, with or without whitespace around them
        ok = _post(http, "/gradio_api/call/ask", b"  " + json.dumps({"data": [SIMPLIFIED_RETAIL_Q, "全部", "extractive"]},
                                                                ensure_ascii=False).encode() + b"\n")
        assert ok.status_code == 200, ok.text


def test_dev_zero_is_refused_and_the_server_stays_up(url):
    """`"path":"/dev/zero"`: Gradio copied it forever at 100% CPU and every route timed out."""
    with httpx.Client(base_url=url, timeout=10) as http:
        for route, body in _requests("/dev/zero"):
            for name, raw in _encodings(json.dumps(body, ensure_ascii=False)).items():
                assert _post(http, route, raw).status_code == 400, (route, name)
        started = time.perf_counter()
        assert http.get("/source").status_code == 200 and time.perf_counter() - started < 5


def test_bodies_gradio_would_read_differently_are_refused(url):
    """No parser differential: what is not plain UTF-8 JSON never reaches Gradio."""
    with httpx.Client(base_url=url, timeout=30) as http:
        for raw, content_type in ((b'{\x00"data": []}', "application/json"), (b"\xff\xfe{}", "application/json"),
                                  (b"data=x", "application/x-www-form-urlencoded"), (b'"text"', "application/json"),
                                  (b"{not json", "application/json"), (b"[" * 2000 + b"]" * 2000, "application/json")):
            response = _post(http, "/gradio_api/queue/join", raw, content_type)
            assert response.status_code in (400, 415), (raw[:20], response.status_code)
        response = http.post("/gradio_api/component_server", files={"file": ("p.txt", b"x")})
        assert response.status_code in (400, 415)


def test_gradio_refuses_client_paths_even_without_the_guard(assistant):
    """A second line: Gradio's own path check (skipped when mounted, not launched) is on."""
    from assistant.serve.guard import Guard
    from assistant.serve.web import create_app

    app = create_app(assistant)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not Guard]
    before = _gradio_files()
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        posted = http.post("/gradio_api/call/ask", json={"data": [_file("/etc/passwd"), "全部", "extractive"]})
        events = http.get(f"/gradio_api/call/ask/{posted.json()['event_id']}").text
        assert "root:" not in events and "/tmp" not in events, events[:300]
        http.post("/gradio_api/queue/join", json=_chat_join("/etc/passwd"))
        time.sleep(1)
        assert not _copied(before), _copied(before)
        joined = http.post("/gradio_api/queue/join", json=_chat_join("/dev/zero"))
        if joined.status_code == 200:
            time.sleep(1)
        started = time.perf_counter()
        assert http.get("/source", timeout=5).status_code == 200 and time.perf_counter() - started < 5
    assert not _copied(before)
