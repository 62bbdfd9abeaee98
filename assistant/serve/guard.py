"""The request guard: checks every request passes before the source viewer or Gradio sees it.

An ASGI middleware (not Starlette's BaseHTTPMiddleware: it must read and limit the body before
the app does, and see the login response's status). In order:

* Gradio's file routes (`/gradio_api/file=…`, `/upload`, `/proxy=…`, `/stream/…`) are closed. No
  component of this app takes or returns a file, and when Gradio is mounted on FastAPI (not
  launched) it skips its own path check, so a file object sent as an argument was copied from
  anywhere on disk into its cache and then served (issue 14). Closing the routes also ends
  `/file=https://…`, which fetches any public URL for the caller.
* A body limit on every route: Content-Length over the limit is refused before anything is read;
  a body without one is counted while it is read. The one exception is `/library/upload` (the
  knowledge-base page's file upload): its own limit, `max_upload_bytes`, is checked here against
  Content-Length and by library_uploads.py while it streams the body to disk.
* Every body bound for Gradio (any route but this app's own) must be plain UTF-8 JSON: no
  byte-order mark, no NUL byte, an object or array after optional whitespace, no multipart form.
  It is parsed here with the parser the server uses (`json.loads` of the bytes, what Starlette's
  `Request.json` does) and refused when it holds a file object anywhere (what
  `gradio_client.utils.is_file_obj` recognizes, or anything typed `gradio.FileData`): Gradio
  copies those into its cache while preprocessing, before our function sees them. Issue 23: the
  check used to look only at bodies whose first byte was `{` or `[`, so a leading space, a BOM or
  UTF-16/32 (all of which `json.loads` reads) reached Gradio, which copied `/etc/passwd` or spun
  forever on `/dev/zero`. Nothing that is not checked passes, so no parser differential remains.
* Bodies of the app's own routes nested deeper than 64 levels are refused (400) before a route
  parses them: 1000 levels made `json.loads` raise RecursionError, a 500 (issue 23).
* Cross-site requests to the knowledge base (`/library…`, issue 23): preflights (OPTIONS) are
  answered here with 403 and no CORS headers (they used to fall through to Gradio's CORS
  middleware, which approved any localhost origin), and every other method but GET/HEAD must come
  from this site: an `Origin` (or, without one, a `Referer`) whose host and port are the request's
  `Host` or `public_url`'s, and no `Sec-Fetch-Site: cross-site/same-site` (another port of the
  same host is "same-site"). Browsers send these on every cross-origin POST and a page cannot
  forge them; clients without them (curl, the CLI's HTTP users) are not browsers and pass.
* A sliding-minute limit of questions per client address (Gradio's API and queue, `/v1/chat/completions`,
  `/api/ask`, `/api/search`).
* The address is the connection's peer, unless the peer is one of `trusted_proxies` (default
  none): then X-Forwarded-For's rightmost untrusted entry (clients.py; issue 23).
* Login throttling per address: each failure is answered later (failures x delay), and after
  `login_max_failures` failures the address is locked out for `login_lockout_seconds`.

Each refusal is one log line (method, path prefix, address, reason), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import defaultdict, deque
from typing import Any, Awaitable, Callable

from assistant.serve.clients import TrustedProxies, cross_site

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

FILE_ROUTES = re.compile(r"^/(?:gradio_api/)?(?:file=|file/|proxy=|upload(?:_progress)?/?$|process_recording|stream/)")
# requests that compute an answer or a search: Gradio's API and queue, the OpenAI-compatible and REST APIs
QUESTION_ROUTES = re.compile(r"^/gradio_api/(?:queue/join|call/|run/|api/)|^/v1/chat/completions/?$|^/api/(?:ask|search)/?$")
LOGIN_ROUTES = ("/login", "/login/", "/library/login")  # the chat's login and the knowledge base's admin password
# streamed to disk by library_page.py under its own limit (max_upload_bytes), never held here
UPLOAD_ROUTE = "/library/upload"
# this app's own routes; every other path is Gradio's (mounted at "/"), whose bodies are checked strictly
OWN_ROUTES = re.compile(r"^/(?:source|v1|api|library|docs|docs-static|openapi\.json)(?:/|$)")
GRADIO_LOGIN = ("/login", "/login/")  # Gradio's login form (username, password): no file processing
LIBRARY_ROUTES = re.compile(r"^/library(?:/|$)")
_MAX_JSON_DEPTH = 64
NOT_JSON = "Gradio's API takes UTF-8 JSON only: an object or array, without a byte-order mark"


def short(value: object, limit: int = 40) -> str:
    """What an error message may say about user input: a short, escaped prefix of a string,
    only the type of anything else."""
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    text = value[:limit].encode("unicode_escape").decode("ascii").replace("<", "\\x3c").replace(">", "\\x3e")
    return repr(text + ("…" if len(value) > limit else ""))


def contains_file_object(value: Any, depth: int = 0) -> bool:
    """True when `value` holds anything Gradio would treat as a file (or is absurdly nested)."""
    from gradio_client.utils import is_file_obj, is_file_obj_with_meta

    if depth > _MAX_JSON_DEPTH:
        return True
    if isinstance(value, dict):
        meta = value.get("meta")
        if is_file_obj(value) or is_file_obj_with_meta(value) or "path" in value or (
                isinstance(meta, dict) and str(meta.get("_type", "")).endswith("FileData")):
            return True
        return any(contains_file_object(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(contains_file_object(v, depth + 1) for v in value)
    return False


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes, stop: int = _MAX_JSON_DEPTH) -> int:
    """How deeply `body` nests JSON arrays and objects (brackets inside strings not counted), up to
    just past `stop`; iterative, so that no input can exhaust the stack."""
    depth = deepest = 0
    for bracket in _BRACKETS.finditer(_JSON_STRING.sub(b'""', body)):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop:
                break
        else:
            depth -= 1
    return deepest


def check_gradio_body(body: bytes, content_type: str) -> None:
    """Refuse (400/415) a body bound for Gradio unless it is plain UTF-8 JSON without file objects."""
    if content_type.lower().startswith("multipart/"):
        raise _Refused(415, "Gradio's API takes JSON bodies only; this app accepts no files there")
    if b"\x00" in body or body.startswith(b"\xef\xbb\xbf"):
        raise _Refused(400, NOT_JSON)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, NOT_JSON) from None
    if not text.lstrip(" \t\r\n").startswith(("{", "[")):
        raise _Refused(400, NOT_JSON)
    if json_depth(body) > _MAX_JSON_DEPTH:
        raise _Refused(400, f"the JSON body is nested deeper than {_MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(body)  # the bytes, as Starlette's Request.json() will read them
    except (ValueError, RecursionError):
        raise _Refused(400, "the body is not valid JSON") from None
    if contains_file_object(data):
        raise _Refused(400, "file objects are not accepted: every argument of this API is text")


class _Refused(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class SlidingWindow:
    """At most `limit` events per `seconds` per key (0 = unlimited)."""

    def __init__(self, limit: int, seconds: float = 60.0) -> None:
        self.limit, self.seconds = limit, seconds
        self.events: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str, now: float | None = None) -> float:
        """0 when allowed (and counted), else the seconds until the next event is allowed."""
        if self.limit <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        events = self.events[key]
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if len(events) >= self.limit:
            return events[0] + self.seconds - now
        events.append(now)
        if len(self.events) > 10_000:  # forget idle addresses so the table cannot grow without bound
            for idle in [k for k, v in self.events.items() if not v or v[-1] <= now - self.seconds]:
                del self.events[idle]
        return 0.0


class LoginThrottle:
    def __init__(self, max_failures: int, lockout_seconds: float, delay_seconds: float) -> None:
        self.max_failures, self.lockout, self.delay = max_failures, lockout_seconds, delay_seconds
        self.failures: dict[str, tuple[int, float]] = {}  # address -> (failures, time of the last one)

    def locked_for(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        count, last = self.failures.get(key, (0, 0.0))
        if count and now - last > self.lockout:  # an old streak is forgotten
            self.failures.pop(key, None)
            return 0.0
        if self.max_failures > 0 and count >= self.max_failures:
            return last + self.lockout - now
        return 0.0

    def failed(self, key: str) -> float:
        """Record a failure; the delay to apply to its response."""
        count = self.failures.get(key, (0, 0.0))[0] + 1
        self.failures[key] = (count, time.monotonic())
        return min(10.0, self.delay * count)

    def succeeded(self, key: str) -> None:
        self.failures.pop(key, None)


class Guard:
    def __init__(self, app: Callable, settings: Any) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.max_upload = getattr(settings, "max_upload_bytes", 0)
        self.public_url, self.bound = getattr(settings, "public_url", ""), getattr(settings, "host", "")
        self.proxies = TrustedProxies(getattr(settings, "trusted_proxies", ""))
        self.questions = SlidingWindow(settings.client_requests_per_minute)
        self.logins = LoginThrottle(settings.login_max_failures, settings.login_lockout_seconds, settings.login_delay_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        client = self.proxies.resolve(scope)  # the peer, unless it is a trusted proxy
        try:
            receive = await self._check(scope, receive, path, method, client)
        except _Refused as refused:
            log.warning("refused %s %s from %s: %d %s", method, short(path, 60), client, refused.status, refused.reason)
            await _respond(send, refused.status, refused.reason, refused.headers)
            return
        if method == "POST" and path in LOGIN_ROUTES:
            send = self._watch_login(send, client)
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, receive: Receive, path: str, method: str, client: str) -> Receive:
        if FILE_ROUTES.match(path):
            raise _Refused(404, "this app neither accepts nor serves files")
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            name = key.decode("latin-1").lower()
            if name in headers and name in ("content-type", "content-length", "transfer-encoding"):
                raise _Refused(400, f"the {name} header is sent twice")  # a server could read the other one
            headers[name] = value.decode("latin-1")
        if LIBRARY_ROUTES.match(path) and method not in ("GET", "HEAD"):
            if method == "OPTIONS":
                raise _Refused(403, "cross-origin requests to the knowledge base are not allowed")
            if (why := cross_site(headers, self.public_url, self.bound)) is not None:
                raise _Refused(403, f"{why}; changes to the knowledge base must come from its own /library page")
        length = headers.get("content-length")
        if path == UPLOAD_ROUTE and method == "POST":
            limit = self.max_upload
            if length is not None and (not length.strip().isdigit() or (limit and int(length) > limit)):
                from urllib.parse import parse_qs

                name = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("name", ["the file"])[0]
                name = "".join(ch for ch in name[:120] if ch.isprintable()).replace("<", "‹").replace(">", "›")
                raise _Refused(413, f"{name}: the file is larger than the upload limit of {limit / 2**20:.3g} MB "
                                    "(setting max_upload_bytes); nothing was stored")
            return receive
        if length is not None and (not length.strip().isdigit() or (self.max_body and int(length) > self.max_body)):
            raise _Refused(413, f"the request body is larger than the limit of {self.max_body} bytes")
        if method == "POST" and path in LOGIN_ROUTES:
            wait = self.logins.locked_for(client)
            if wait > 0:
                raise _Refused(429, f"too many failed logins from this address; try again in {int(wait) + 1} s",
                               {"retry-after": str(int(wait) + 1)})
        if QUESTION_ROUTES.match(path) and (method == "POST" or path.startswith("/api/search")):
            wait = self.questions.allow(client)
            if wait > 0:
                raise _Refused(429, f"more than {self.questions.limit} questions a minute from this address; "
                                    f"try again in {int(wait) + 1} s", {"retry-after": str(int(wait) + 1)})
        if length is None and "transfer-encoding" not in headers:
            return receive  # no body
        body = await self._read_body(receive)
        if body and not OWN_ROUTES.match(path) and path not in GRADIO_LOGIN:
            check_gradio_body(body, headers.get("content-type", ""))
        elif body and json_depth(body) > _MAX_JSON_DEPTH:  # the app's own routes: json.loads would recurse (a 500)
            raise _Refused(400, f"the JSON body is nested deeper than {_MAX_JSON_DEPTH} levels")
        return _replay(body, receive)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Refused(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if self.max_body and size > self.max_body:
                raise _Refused(413, f"the request body is larger than the limit of {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _watch_login(self, send: Send, client: str) -> Send:
        async def watched(message: dict) -> None:
            if message["type"] == "http.response.start":
                if message["status"] in (400, 401, 403):
                    delay = self.logins.failed(client)
                    log.warning("failed login from %s (%d in a row)", client, self.logins.failures[client][0])
                    await asyncio.sleep(delay)  # slows guessing; other requests are not blocked
                elif message["status"] < 400:
                    self.logins.succeeded(client)
            await send(message)

        return watched


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as usual

    return replay


_ERROR_TYPES = {413: "invalid_request_error", 429: "rate_limit_exceeded", 404: "not_found_error"}


async def _respond(send: Send, status: int, reason: str, headers: dict[str, str]) -> None:
    # "detail" as FastAPI writes it; "error" in OpenAI's shape, which the openai SDK and the /v1 and /api clients read
    error = {"message": reason, "type": _ERROR_TYPES.get(status, "invalid_request_error"), "param": None, "code": None}
    body = json.dumps({"detail": reason, "error": error}, ensure_ascii=False).encode("utf-8")
    raw = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close")] + [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
