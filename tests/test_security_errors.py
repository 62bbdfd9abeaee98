"""Issue 23, HTTP 500s with tracebacks: `/api/search` with more than 20 `doc_id`, and JSON nested
1000 levels deep on the knowledge base's routes. Every bad input is a 4xx with a clear message
and no traceback. Fake embedder, real uvicorn."""

from __future__ import annotations

import httpx
import pytest

from _reliability import fake_settings_for, serve
from assistant.indexing.build import build_index
from assistant.service import Assistant

DEEP = b'{"items": ' + b"[" * 1000 + b"]" * 1000 + b"}"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from assistant.serve.web import create_app

    settings = fake_settings_for(tmp_path_factory.mktemp("security-errors"), client_requests_per_minute=0)
    build_index(settings, progress=False)
    with serve(create_app(Assistant.load(settings, build_if_needed=False, warm=False), include_chat=False)) as url:
        yield url


def test_too_many_doc_ids_is_a_400_naming_the_limit(url, capfd):
    with httpx.Client(base_url=url, timeout=30) as http:
        for count in (21, 100):
            response = http.get("/api/search", params=[("q", "零售总额")] + [("doc_id", f"d{n}") for n in range(count)])
            assert response.status_code == 400, (count, response.status_code, response.text[:200])
            message = response.json()["error"]["message"]
            assert "doc_id" in message and "20" in message, message
        assert http.get("/api/search", params={"q": "零售总额", "doc_id": "minhang-2023-plan-report"}).status_code == 200
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("route", ["/library/add", "/library/replace", "/library/discard", "/library/remove",
                                   "/api/ask", "/v1/chat/completions"])
def test_deeply_nested_json_is_a_400(url, route, capfd):
    with httpx.Client(base_url=url, timeout=30) as http:
        for content_type in ("application/json", "text/plain", None):
            headers = {"x-library": "1", **({"content-type": content_type} if content_type else {})}
            response = http.post(route, content=DEEP, headers=headers)
            assert response.status_code == 400, (route, content_type, response.status_code, response.text[:200])
            assert "nested deeper than 64 levels" in response.text
    assert "Traceback" not in capfd.readouterr().err


def test_the_library_routes_refuse_other_malformed_bodies_with_a_400(url, capfd):
    with httpx.Client(base_url=url, timeout=30) as http:
        headers = {"x-library": "1", "content-type": "application/json"}
        for route in ("/library/add", "/library/replace", "/library/discard", "/library/remove"):
            for body in (b"[1, 2]", b'"text"', b"{not json", b"\xff\xfe", b'{"items": [{"token": 1, "fields": 5}]}',
                         b'{"items": "x"}', b'{"token": {"a": 1}}', b"null"):
                response = http.post(route, content=body, headers=headers)
                assert 400 <= response.status_code < 500, (route, body, response.status_code, response.text[:200])
    assert "Traceback" not in capfd.readouterr().err
