"""Issue 23, the sessions: the admin cookie of /library never expired and survived the logout, and the
chat's login page embedded the full API description while `/gradio_api/info` answered 401. Now the
admin session expires (`admin_session_hours`, 12 h by default), `POST /library/logout` ends it, it is
bound to the chat login it was made under (Gradio's /logout ends it too), and a visitor who is not
logged in gets the login page without `gradio_api_info`. Fake embedder, real uvicorn."""

from __future__ import annotations

import time

import httpx
import pytest

from _reliability import serve
from assistant.indexing.build import build_index
from assistant.service import Assistant

ADMIN = {"password": "admin-pass"}
CHAT = {"username": "staff", "password": "s3cret-pass"}


@pytest.fixture()
def built(fake_settings, tmp_path):
    settings = fake_settings.replace(data_dir=str(tmp_path / "data"), admin_password=ADMIN["password"], login_delay_seconds=0.0)
    build_index(settings, progress=False)
    return settings


def _app(settings, include_chat: bool = False):
    from assistant.serve.web import create_app

    return create_app(Assistant.load(settings, build_if_needed=False, warm=False), include_chat=include_chat)


def _login(http: httpx.Client, url: str) -> str:
    response = http.post("/library/login", data=ADMIN, headers={"origin": url})
    assert response.status_code == 303, response.text
    return response.cookies["library-admin"]


def _as(url: str, token: str, **cookies: str) -> int:
    """/library/documents with this admin cookie (a copy of it: a stolen or kept one)."""
    return httpx.get(f"{url}/library/documents", cookies={"library-admin": token, **cookies}).status_code


def test_the_admin_cookie_has_an_expiry(built):
    with serve(_app(built)) as url, httpx.Client(base_url=url, timeout=30) as http:
        response = http.post("/library/login", data=ADMIN, headers={"origin": url})
        cookie = response.headers["set-cookie"].lower()
        assert "max-age=43200" in cookie and "httponly" in cookie and "path=/library" in cookie  # 12 h by default


def test_the_admin_session_ends_when_it_expires(built):
    settings = built.replace(admin_session_hours=1.5 / 3600)
    with serve(_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        token = _login(http, url)
        assert _as(url, token) == 200
        time.sleep(2.0)
        assert _as(url, token) == 403  # before: valid for as long as the process ran


def test_logout_ends_the_admin_session_on_the_server(built):
    with serve(_app(built)) as url, httpx.Client(base_url=url, timeout=30) as http:
        token = _login(http, url)
        assert _as(url, token) == 200
        out = http.post("/library/logout", headers={"origin": url, "x-library": "1"})
        assert out.status_code == 200 and 'library-admin=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
        assert _as(url, token) == 403  # the old cookie is worthless, not only deleted in the browser
        page = httpx.get(f"{url}/library", cookies={"library-admin": token}).text
        assert 'id="login" method="post" action="/library/login" >' in page  # the password form again
        foreign = http.post("/library/logout", headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403


def test_the_chat_logout_ends_the_admin_session_and_the_login_page_has_no_api_description(built):
    settings = built.replace(auth=f"{CHAT['username']}:{CHAT['password']}")
    with serve(_app(settings, include_chat=True)) as url, httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 200 and "auth_required" in page.text
        assert "ask_with_history" not in page.text and "named_endpoints" not in page.text  # before: all of it
        assert "window.gradio_api_info = {};" in page.text
        assert http.get("/gradio_api/info").status_code == 401
        assert http.head("/").status_code == 200

        assert http.post("/login", data=CHAT).status_code == 200
        assert "ask_with_history" in http.get("/").text  # logged in: the page is Gradio's own
        token = _login(http, url)
        assert http.get("/library/documents").status_code == 200
        assert http.get("/logout", follow_redirects=False).status_code == 302  # Gradio's logout
        assert http.post("/login", data=CHAT).status_code == 200  # logged in again: a new chat session
        http.cookies.delete("library-admin")
        http.cookies.set("library-admin", token, path="/library")  # the admin cookie of the ended session
        assert http.get("/library/documents").status_code == 403  # before: 200, it survived the logout
        http.cookies.delete("library-admin")
        _login(http, url)  # the password again: a new admin session, bound to the new chat login
        assert http.get("/library/documents").status_code == 200
