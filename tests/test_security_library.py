"""Issue 23, cross-site changes to the knowledge base: a page on another port of the same host
(or any site, without a login on a LAN name) uploaded, replaced and deleted reports in a
victim's browser. Preflights fell through to Gradio's CORS middleware, which approved `x-library`
for localhost origins; cookies (same-site) were sent along. Replayed on every /library route,
without and with the chat login and the administrator password (and on the routes added since:
restore, logout). Fake embedder, real uvicorn."""

from __future__ import annotations

import httpx
import pytest

from _reliability import fake_settings_for, serve, snapshot
from assistant.indexing.build import build_index
from assistant.service import Assistant

DOC = "minhang-2023-priorities-article"
ROUTES = [("/library/upload?name=evil.md", b"# evil\n\ntext\n"), ("/library/add", b'{"items": []}'),
          ("/library/replace", b'{"doc_id": "%s", "token": "x"}' % DOC.encode()),
          ("/library/remove", b'{"doc_id": "%s"}' % DOC.encode()), ("/library/reindex", b""),
          ("/library/discard", b'{"token": "x"}'), ("/library/login", b"password=admin-pass"),
          ("/library/restore", b'{"doc_id": "%s"}' % DOC.encode()), ("/library/logout", b"")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = fake_settings_for(tmp_path_factory.mktemp("security-library"), login_delay_seconds=0.0)
    build_index(settings, progress=False)
    return settings


def _state(settings) -> dict:
    from pathlib import Path

    return {k: v[0] for k, v in snapshot(Path(settings.corpus_dir)).items() if not k.endswith(".lock")}


def _foreign(url: str) -> dict[str, list[dict[str, str]]]:
    """Headers a page on another origin can make a browser send (the attacker picks the page)."""
    port = int(url.rsplit(":", 1)[1])
    other = f"http://127.0.0.1:{port + 1}"
    return {"another port": [{"origin": other, "referer": other + "/"}],
            "another site": [{"origin": "https://evil.example"}],
            "opaque origin": [{"origin": "null"}],
            "referer only": [{"referer": f"{other}/attack.html"}],
            "fetch metadata": [{"sec-fetch-site": "same-site", "origin": url}]}


def _attack(http: httpx.Client, url: str) -> list[str]:
    """Every route x every foreign header set; what got through (should be nothing)."""
    passed = []
    for kind, variants in _foreign(url).items():
        for extra in variants:
            for route, body in ROUTES:
                content_type = "application/x-www-form-urlencoded" if route.endswith("login") else "application/json"
                response = http.post(route, content=body, headers={"x-library": "1", "content-type": content_type, **extra})
                if response.status_code != 403 or "another site" not in response.text and "listens on" not in response.text:
                    passed.append(f"{kind} {route}: {response.status_code} {response.text[:120]}")
                preflight = http.options(route, headers={"origin": extra.get("origin", "http://127.0.0.1:1"),
                                                         "access-control-request-method": "POST",
                                                         "access-control-request-headers": "x-library,content-type"})
                if preflight.status_code < 300 or "access-control-allow-origin" in preflight.headers:
                    passed.append(f"preflight {kind} {route}: {preflight.status_code} {dict(preflight.headers)}")
    return passed


def test_cross_site_changes_are_refused_without_login(built):
    from assistant.serve.web import create_app

    assistant = Assistant.load(built, build_if_needed=False, warm=False)
    before = _state(built)
    with serve(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert _attack(http, url) == []
        # DNS rebinding: a site whose name resolves to 127.0.0.1 is not this site
        rebound = http.post("/library/remove", json={"doc_id": DOC},
                            headers={"x-library": "1", "host": "evil.example:80", "origin": "http://evil.example"})
        assert rebound.status_code == 403
        # the page's own requests still work: same origin, with or without fetch metadata
        own = {"x-library": "1", "origin": url, "referer": f"{url}/library", "sec-fetch-site": "same-origin"}
        assert http.post("/library/discard", json={"token": "x"}, headers=own).status_code == 400  # unknown token, not 403
        missing = http.post("/library/remove", json={"doc_id": "no-such"}, headers=own)
        assert missing.status_code == 400 and "no-such" in missing.text
        assert http.post("/library/remove", json={"doc_id": "no-such"}, headers={"x-library": "1"}).status_code == 400  # curl
    assert _state(built) == before


def test_cross_site_changes_are_refused_with_login_and_admin_password(built):
    from assistant.serve.web import create_app

    settings = built.replace(auth="staff:s3cret-pass", admin_password="admin-pass")
    assistant = Assistant.load(settings, build_if_needed=False, warm=False)
    before = _state(built)
    with serve(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/login", data={"username": "staff", "password": "s3cret-pass"}).status_code == 200
        assert http.post("/library/login", data={"password": "admin-pass"}, headers={"origin": url}).status_code == 303
        assert http.get("/library/documents").status_code == 200  # the victim's browser holds both cookies
        assert _attack(http, url) == []
    assert _state(built) == before
