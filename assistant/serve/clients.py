"""Who sent a request: its client address, and whether it comes from this site's own pages (issue 23).

`TrustedProxies` decides the address that the rate limit and the login lock-out count: the
connection's peer, unless the peer is one of the `trusted_proxies` (default none); then the
rightmost X-Forwarded-For entry that is not a trusted proxy (what the proxy itself saw; entries
to its left are whatever the client wrote). uvicorn's own rewriting is off (`SERVER_OPTIONS`):
it trusts 127.0.0.1 by default, and with FORWARDED_ALLOW_IPS="*" takes the leftmost entry, so
40 password guesses with a new X-Forwarded-For each were never locked out.

`cross_site` is the guard's check for state-changing requests to the knowledge base: the
`Origin` (or, without one, the `Referer`) must name the host and port the request was sent to
(its `Host` header) or `public_url`'s, and `Sec-Fetch-Site` must not say another site sent it.
It does not depend on CORS: a browser sends these headers on every cross-origin POST, and a page
cannot forge them.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

# how the app is served (app.py, tests): uvicorn must not rewrite the client from X-Forwarded-For
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False, "server_header": False}


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


class TrustedProxies:
    def __init__(self, spec: str) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if item == "*":
                raise ValueError("trusted_proxies = \"*\" would let any client choose its address (X-Forwarded-For); "
                                 "name the proxies' addresses or networks")
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"trusted_proxies: {item[:60]!r} is not an IP address or network") from None

    def __contains__(self, host: str) -> bool:
        if not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host.strip().strip("[]"))
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def resolve(self, scope: dict) -> str:
        """The client's address; rewrites scope["client"] (and "scheme" from X-Forwarded-Proto)
        when the peer is a trusted proxy, so that everything behind sees the user."""
        peer = (scope.get("client") or ("unknown",))[0]
        if peer not in self:
            return peer
        forwarded = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"]
        hops = [_host_of(hop) for hop in ",".join(forwarded).split(",") if hop.strip()]
        client = next((hop for hop in reversed(hops) if hop not in self), hops[0] if hops else peer)[:64]
        proto = [v.decode("latin-1").strip() for k, v in scope.get("headers", []) if k == b"x-forwarded-proto"]
        if proto and proto[-1] in ("http", "https"):
            scope["scheme"] = proto[-1]
        scope["client"] = (client, 0)
        return client


def _host_of(hop: str) -> str:
    """"1.2.3.4:5678" / "[::1]:80" / "::1" -> the address without the port."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1:hop.find("]")] if "]" in hop else hop
    return hop.rsplit(":", 1)[0] if hop.count(":") == 1 else hop
