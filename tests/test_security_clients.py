"""Issue 23, spoofable client addresses: X-Forwarded-For was believed from 127.0.0.1 by default
(and from anyone with the deploy file's FORWARDED_ALLOW_IPS="*", leftmost entry taken), so 40
password guesses with a new X-Forwarded-For each were never locked out, and the per-client
question limit was bypassed the same way. Served as app.py serves it (SERVER_OPTIONS)."""

from __future__ import annotations

import httpx
import pytest

from _reliability import SIMPLIFIED_RETAIL_Q, fake_settings_for, serve
from assistant.indexing.build import build_index
from assistant.service import Assistant


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    settings = fake_settings_for(tmp_path_factory.mktemp("security-clients"))
    build_index(settings, progress=False)
    return Assistant.load(settings, build_if_needed=False, warm=False)


def _variant(assistant, **changes) -> Assistant:
    return Assistant(assistant.settings.replace(**changes), assistant.index, assistant.embedder)


def _spoofed(n: int) -> dict[str, str]:
    return {"x-forwarded-for": f"10.0.{n // 250}.{n % 250 + 1}", "x-real-ip": f"10.1.0.{n % 250 + 1}",
            "forwarded": f"for=10.2.0.{n % 250 + 1}"}


def test_forty_password_guesses_with_new_forwarded_addresses_are_locked_out(assistant):
    from assistant.serve.web import create_app

    locked = _variant(assistant, auth="staff:s3cret-pass", login_max_failures=5, login_lockout_seconds=300,
                      login_delay_seconds=0.0)
    with serve(create_app(locked)) as url, httpx.Client(base_url=url, timeout=30) as http:
        statuses = [http.post("/login", data={"username": "staff", "password": f"guess-{n}"}, headers=_spoofed(n)).status_code
                    for n in range(40)]
        assert statuses[:5] == [400] * 5 and set(statuses[5:]) == {429}, statuses
        right = http.post("/login", data={"username": "staff", "password": "s3cret-pass"}, headers=_spoofed(41))
        assert right.status_code == 429  # the password is not found: the lock-out holds for every address it names
        # the admin password of the knowledge base counts on the same address
        assert http.post("/library/login", data={"password": "x"}, headers=_spoofed(42)).status_code == 429


def test_the_question_limit_counts_the_peer_not_its_forwarded_header(assistant):
    from assistant.serve.web import create_app

    limited = _variant(assistant, client_requests_per_minute=3)
    with serve(create_app(limited)) as url, httpx.Client(base_url=url, timeout=60) as http:
        statuses = [http.get("/api/search", params={"q": SIMPLIFIED_RETAIL_Q}, headers=_spoofed(n)).status_code
                    for n in range(6)]
        assert statuses == [200, 200, 200, 429, 429, 429], statuses
        ask = http.post("/gradio_api/call/ask", json={"data": [SIMPLIFIED_RETAIL_Q, "全部", "extractive"]}, headers=_spoofed(9))
        assert ask.status_code == 429


def test_a_trusted_proxy_names_the_client_by_its_rightmost_untrusted_entry(assistant):
    from assistant.serve.web import create_app

    proxied = _variant(assistant, client_requests_per_minute=2, trusted_proxies="127.0.0.1, 10.9.0.0/16")
    with serve(create_app(proxied)) as url, httpx.Client(base_url=url, timeout=60) as http:
        def search(forwarded: str) -> int:
            return http.get("/api/search", params={"q": SIMPLIFIED_RETAIL_Q}, headers={"x-forwarded-for": forwarded}).status_code

        # users behind the proxy have their own budgets
        assert [search("192.0.2.1"), search("192.0.2.1"), search("192.0.2.1")] == [200, 200, 429]
        assert search("192.0.2.2") == 200
        # what the client wrote (left of what the proxy appended) changes nothing; trusted hops are skipped
        assert [search(f"203.0.113.{n}, 192.0.2.1") for n in range(3)] == [429, 429, 429]
        assert search("192.0.2.2, 10.9.1.1") == 200 and search("192.0.2.2") == 429


def test_trusting_every_address_is_refused(assistant):
    from assistant.serve.web import create_app

    with pytest.raises(ValueError, match="any client choose its address"):
        create_app(_variant(assistant, trusted_proxies="*"), include_chat=False)
    with pytest.raises(ValueError, match="not an IP address"):
        create_app(_variant(assistant, trusted_proxies="proxy.local"), include_chat=False)
