"""Who sent a request: whether it comes from this site's own pages (CSRF, issue 23).

`cross_site` is the guard's check for state-changing requests to the knowledge base: the
`Origin` (or, without one, the `Referer`) must name the host and port the request was sent to
(its `Host` header) or `public_url`'s, and `Sec-Fetch-Site` must not say another site sent it.
It does not depend on CORS: a browser sends these headers on every cross-origin POST, and a page
cannot forge them.
"""

from __future__ import annotations

from urllib.parse import urlsplit


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _quote(value: str, limit: int) -> str:
    text = "".join(ch for ch in value[:limit] if ch.isprintable()).replace("<", "\\x3c").replace(">", "\\x3e")
    return repr(text + ("…" if len(value) > limit else ""))


def _site(url_or_host: str) -> tuple[str, int | None] | None:
    """(host, port; None for the scheme's default) of an Origin/Referer URL or a Host header."""
    try:
        parts = urlsplit(url_or_host if "://" in url_or_host else f"//{url_or_host}")
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if not host:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host, None if port in ((default,) if default else (80, 443)) else port


def cross_site(headers: dict[str, str], public_url: str = "", bound: str = "") -> str | None:
    """Why a state-changing request does not come from this site's own pages (None: it does).
    `bound`: the address the server listens on; on a loopback address the Host must be a loopback
    name (or public_url's), so that a site whose name resolves to 127.0.0.1 (DNS rebinding) is
    not "this site"."""
    if headers.get("sec-fetch-site", "") in ("cross-site", "same-site"):
        return f"the request was sent by another site (Sec-Fetch-Site: {headers['sec-fetch-site']})"
    host, public = _site(headers.get("host", "")), _site(public_url) if public_url else None
    if bound in LOOPBACK and host is not None and host[0].strip("[]") not in LOOPBACK and host != public:
        return f"the server listens on {bound} but was asked for {_quote(headers['host'], 80)}"
    allowed = {host, public} - {None}
    for name in ("origin", "referer"):
        value = headers.get(name)
        if value is not None:
            if value == "null" or _site(value) not in allowed:
                return f"the request was sent by another site ({name.title()}: {_quote(value, 80)})"
            return None  # the Origin decides; the Referer counts only without one
    return None
