"""The chat's login page without the API description, and the chat login's session token.

Gradio renders its login page from the template of the app itself, and fills in
`window.gradio_api_info` (every named endpoint with its parameters) for a visitor who is not logged
in, while `/gradio_api/info` answers that visitor 401 (issue 23). `HideApiInfo`, an ASGI middleware,
empties it in every HTML page Gradio serves to a visitor who is not logged in; the login form
itself needs none of it, and after the login the page is loaded again with the description.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from starlette.requests import Request

from assistant.serve.guard import OWN_ROUTES

_API_INFO = re.compile(rb"(window\.gradio_api_info\s*=\s*).*?(;\s*</script>)", re.S)  # the JSON escapes "<"


def login_token(request: Request, gradio_app: Any) -> str:
    """The chat login's token in the request's cookies ("" without one, or before Gradio is mounted)."""
    if gradio_app is None:
        return ""
    cookie_id = gradio_app.cookie_id
    return request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(f"access-token-unsecure-{cookie_id}") or ""


def hide_api_info(html: bytes) -> bytes:
    return _API_INFO.sub(rb"\1{}\2", html)


class HideApiInfo:
    def __init__(self, app: Callable, logged_in: Callable[[Request], bool]) -> None:
        self.app, self.logged_in = app, logged_in

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or OWN_ROUTES.match(scope["path"]) \
                or self.logged_in(Request(scope)):
            await self.app(scope, receive, send)
            return
        # the page is rewritten: ask for it uncompressed
        scope = dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"])
        start: dict | None = None
        html, chunks = False, []

        async def rewrite(message: dict) -> None:
            nonlocal start, html
            if message["type"] == "http.response.start":
                start = message
                kind = next((v for k, v in message.get("headers", []) if k.lower() == b"content-type"), b"")
                html = kind.startswith(b"text/html")
                if not html:
                    await send(message)
                return
            if not html or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = hide_api_info(b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            if scope["method"] != "HEAD":
                headers.append((b"content-length", str(len(body)).encode()))
            await send(dict(start, headers=headers))
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, rewrite)
