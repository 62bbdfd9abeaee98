"""The 资料库 (knowledge-base) page at `/library`: upload, list, replace and delete reports, re-index.

A plain page with its own upload route rather than a Gradio tab: Gradio's file routes stay closed
(guard.py, issue 14: mounted Gradio copies file objects named in API calls from anywhere on disk),
and `/library/upload` streams the raw body of one file straight into `library_uploads` with the
upload limit, so a 100 MB PDF is never held in memory and an interrupted upload leaves nothing.
The page shows the upload's bytes as they go (XHR progress) and the rebuild's stage and embedded
chunks (polling `/library/job`).

Access: the chat login when `auth` is set, and the `admin_password` (a form at /library, then an
HttpOnly cookie for /library) when that is set. The cookie's session expires `admin_session_hours`
after the login, ends at `POST /library/logout`, and is bound to the chat login it was made under:
logging out of the chat (Gradio's /logout drops that login) ends it too (issue 23). Every change must carry the header
`X-Library: 1`, which a cross-site form cannot send, and come from this site: guard.py answers
preflights for /library itself (no CORS approval) and refuses a foreign Origin/Referer or
Sec-Fetch-Site (issue 23: CORS alone let another port of localhost through). Changes run one at a time in a
background thread; when the build succeeds the running Assistant switches to the new index
(`Assistant.switch_index`), when it fails the previous index keeps serving and the page says why.
A replaced or removed report's previous version is kept; `POST /library/restore` brings it back
(a change like the others: a job, a rebuild, the current index serving when it fails).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from assistant.library.operations import Library, LibraryError
from assistant.library.catalog import CatalogFields
from assistant.serve.labels import kind_names, local_time, zone_of

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent / "static" / "library.html"
COOKIE = "library-admin"
STATUS = {"too_large": 413, "duplicate": 409, "busy": 409}  # LibraryError.kind -> HTTP status (else 400)
STAGES = {"queued": "排队 Queued", "saving": "保存文件 Saving files", "indexing": "解析与分块 Parsing and chunking",
          "embedding": "向量化 Embedding", "switching": "切换到新索引 Switching to the new index"}


@dataclass
class Job:
    id: str
    action: str
    doc_ids: list[str]
    state: str = "running"  # running | done | failed
    stage: str = "queued"
    done: int = 0
    total: int = 0
    message: str = ""
    started: float = field(default_factory=time.time)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"stage_label": STAGES.get(self.stage, self.stage)}


class Jobs:
    """One change at a time; the running (or last) job is what the page shows."""

    def __init__(self, assistant: Any, library: Library) -> None:
        self.assistant, self.library = assistant, library
        self.current: Job | None = None
        self._tokens: set[str] = set()  # the uploads the running change adds
        self._lock = threading.Lock()

    def start(self, action: str, doc_ids: list[str], run: Callable[[Callable], Any], tokens: tuple[str, ...] = ()) -> Job:
        with self._lock:
            if self.current is not None and self.current.state == "running":
                raise LibraryError(f"a change is running ({self.current.action} {', '.join(self.current.doc_ids)}); wait for it to finish", "busy")
            job = self.current = Job(uuid.uuid4().hex[:12], action, doc_ids)
            self._tokens = set(tokens)
        threading.Thread(target=self._run, args=(job, run), name=f"library-{action}", daemon=True).start()
        return job

    def running(self) -> Job | None:
        """The change running now (None when none): the chat says so with its answers."""
        job = self.current
        return job if job is not None and job.state == "running" else None

    def discard(self, token: str) -> None:
        """Drop a staged upload, unless the running change is adding it (issue 23: the discard made a
        committed change report "failed")."""
        with self._lock:
            if self.current is not None and self.current.state == "running" and token in self._tokens:
                raise LibraryError("this upload is being added by the running change; wait for it to finish", "busy")
            self.library.uploads.discard(token)

    def _run(self, job: Job, run: Callable[[Callable], Any]) -> None:
        """Run the change; its state says what happened. Once `run` returned, the change is
        committed (corpus, catalog, index): the job is done, whatever switching the app does after."""
        from assistant.indexing.load import load_index

        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.done, job.total = stage, done, total

        try:
            change = run(progress)
        except LibraryError as exc:
            job.message, job.state = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 - the page shows it; the previous index keeps serving
            log.exception("library %s failed", job.action)
            job.message = f"{type(exc).__name__}: {str(exc)[:300]}; the previous index keeps serving"
            job.state = "failed"
        else:
            if change is not None:
                job.doc_ids = change.doc_ids or job.doc_ids
                job.message = f"{change.embedded} chunks embedded, {change.reused} reused"
            else:
                job.message = "switched to the index built outside the app (assistant add/remove/build)"
            try:
                progress("switching", 0, 1)
                self.assistant.switch_index(load_index(self.assistant.settings, check=False))
                job.state = "done"
            except Exception as exc:  # noqa: BLE001
                log.exception("library %s: switching to the new index failed", job.action)
                if change is None:  # a reload: nothing was changed by it
                    job.message, job.state = f"{type(exc).__name__}: {str(exc)[:300]}; the previous index keeps serving", "failed"
                else:
                    job.message += (f"; the change is saved and indexed, but the app still serves the previous index "
                                    f"({type(exc).__name__}); it switches when /library is listed again")
                    job.state = "done"
        job.seconds = round(time.time() - job.started, 1)
        log.info("library job %s %s %s: %s (%.1f s)", job.action, job.doc_ids, job.state, job.message, job.seconds)

    def sync(self) -> None:
        """Serve the index `current` points at when it is another than the one served (a change made
        with the CLI while the app runs): checked when the page lists the documents."""
        from assistant.indexing.manifest import current_path

        with self._lock:
            if self.current is not None and self.current.state == "running":
                return
            try:
                if current_path(self.assistant.settings).resolve() == Path(self.assistant.index.path).resolve():
                    return
            except (OSError, AttributeError):
                return
            job = self.current = Job(uuid.uuid4().hex[:12], "reload", [])
        self._run(job, lambda progress: None)


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two strings (a cookie may hold any characters: compare_digest takes ASCII str only)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


def add_library_routes(app: FastAPI, assistant: Any, logged_in: Callable[[Request], bool],
                       chat_session: Callable[[Request], str] = lambda request: "") -> Jobs:
    """`chat_session`: the request's chat login token ("" without one); an admin session is bound to it.
    Returns the changes' runner (the chat asks it whether one is running)."""
    settings = assistant.settings
    library = Library(settings, embedder=getattr(assistant, "embedder", None))
    jobs = Jobs(assistant, library)
    admin_sessions: dict[str, tuple[float, str]] = {}  # cookie token -> (expires at, the chat login it was made under)
    lifetime = float(getattr(settings, "admin_session_hours", 12.0)) * 3600
    if not (getattr(settings, "auth", "") or getattr(settings, "admin_password", "")) and \
            getattr(settings, "host", "127.0.0.1") not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the knowledge-base page /library lets anyone who reaches %s add and delete reports: "
                    "set auth or admin_password", settings.host)

    def is_admin(request: Request) -> bool:
        if not getattr(settings, 'admin_password', ''):
            return True
        token, now = request.cookies.get(COOKIE, ""), time.time()
        for key in [k for k, (expires, _) in admin_sessions.items() if expires <= now]:
            del admin_sessions[key]  # expired: forgotten
        session = next((v for k, v in admin_sessions.items() if _same(token, k)), None)
        return session is not None and _same(session[1], chat_session(request))

    def refused(request: Request, change: bool = True) -> JSONResponse | None:
        if not logged_in(request):
            return _error(401, "log in to the chat first (/)")
        if not is_admin(request):
            return _error(403, "the knowledge base needs the administrator password: open /library and enter it")
        if change and request.headers.get("x-library") != "1":
            return _error(400, "changes must be sent by the /library page (header X-Library: 1)")
        return None

    @app.get("/library", response_class=HTMLResponse)
    @app.get("/library/", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request):
        if not logged_in(request):
            return RedirectResponse("/", status_code=303)
        html = PAGE.read_text(encoding="utf-8")
        admin = is_admin(request)
        html = html.replace("{{LOGIN_HIDDEN}}", "hidden" if admin else "").replace("{{APP_HIDDEN}}", "" if admin else "hidden")
        html = html.replace("{{LOGOUT_HIDDEN}}", "" if admin and getattr(settings, "admin_password", "") else "hidden")
        kinds = json.dumps(kind_names(), ensure_ascii=False).replace("<", "\\u003c")  # the kinds' Chinese names (labels.py)
        return HTMLResponse(html.replace("{{MAX_MB}}", f"{settings.max_upload_bytes / 2**20:.0f}").replace("{{KINDS}}", kinds))

    @app.post("/library/login")
    async def login(request: Request):
        form = await request.form()
        password = str(form.get("password", ""))
        if not getattr(settings, 'admin_password', ''):
            return RedirectResponse("/library", status_code=303)
        if not (logged_in(request) and hmac.compare_digest(password.encode(), getattr(settings, 'admin_password', '').encode())):
            return HTMLResponse("<p>密码错误 Wrong password. <a href='/library'>再试一次 Try again</a></p>", status_code=401)
        token = secrets.token_urlsafe(32)
        admin_sessions[token] = (time.time() + lifetime, chat_session(request))
        response = RedirectResponse("/library", status_code=303)
        response.set_cookie(COOKIE, token, path="/library", httponly=True, samesite="strict", max_age=max(int(lifetime), 1))
        return response

    @app.post("/library/logout")
    def logout(request: Request):
        """End the admin session: forgotten here (the cookie is worthless from now on) and deleted in the browser."""
        token = request.cookies.get(COOKIE, "")
        for key in [k for k in admin_sessions if _same(token, k)]:
            del admin_sessions[key]
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, path="/library", httponly=True, samesite="strict")
        return response

    @app.get("/library/documents")
    async def documents(request: Request):
        if (no := refused(request, change=False)) is not None:
            return no
        try:
            await anyio.to_thread.run_sync(jobs.sync)
            items = await anyio.to_thread.run_sync(lambda: [d.to_dict() for d in library.documents(assistant.index)])
            removed = await anyio.to_thread.run_sync(library.removed)
        except LibraryError as exc:
            return _error(500, str(exc))
        tz = zone_of(settings)  # times as the staff read them (setting time_zone), beside the stored UTC ones
        items = [d | {"indexed_local": local_time(d["indexed_at"], tz)} for d in items]
        removed = [v | {"replaced_local": local_time(v.get("replaced", ""), tz)} for v in removed]
        return {"documents": items, "removed": removed, "job": jobs.current.to_dict() if jobs.current else None}

    @app.get("/library/job")
    def job(request: Request):
        if (no := refused(request, change=False)) is not None:
            return no
        return {"job": jobs.current.to_dict() if jobs.current else None}

    @app.post("/library/upload")
    async def upload(request: Request, name: str = ""):
        """The raw bytes of one file as the body; `?name=` its file name."""
        if (no := refused(request)) is not None:
            return no
        stream = request.stream().__aiter__()

        def chunks():
            while True:
                try:
                    chunk = anyio.from_thread.run(stream.__anext__)
                except StopAsyncIteration:
                    return
                if chunk:
                    yield chunk

        try:
            staged = await anyio.to_thread.run_sync(library.stage, name, chunks())
        except LibraryError as exc:
            log.info("upload refused: %s", exc)
            return _error(STATUS.get(exc.kind, 400), str(exc))
        return staged.to_dict()

    @app.post("/library/discard")
    async def discard(request: Request):
        if (no := refused(request)) is not None:
            return no
        try:
            body = await request.json()
            if not isinstance(body, dict) or not isinstance(body.get("token"), str):
                raise LibraryError('the request body must be a JSON object {"token": "<upload token>"}')
            jobs.discard(body["token"])
        except LibraryError as exc:
            return _error(STATUS.get(exc.kind, 400), str(exc))
        except (ValueError, RecursionError):
            return _error(400, "the request body is not valid JSON")
        return {"ok": True}

    async def start(request: Request, action: str) -> JSONResponse | dict:
        if (no := refused(request)) is not None:
            return no
        tokens: tuple[str, ...] = ()
        try:
            body = await request.json() if action != "reindex" else {}
            if not isinstance(body, dict):
                raise LibraryError("the request body must be a JSON object")
            if action == "add":
                items = [(str(item["token"]), CatalogFields(**{k: str(item["fields"].get(k, "")) for k in CatalogFields.__dataclass_fields__}))
                         for item in body.get("items", [])]
                if not items:
                    raise LibraryError("nothing to add: upload a file first")
                run = lambda progress: library.add(items, progress)  # noqa: E731
                doc_ids, tokens = [fields.doc_id for _, fields in items], tuple(token for token, _ in items)
            elif action == "replace":
                doc_id, token = str(body.get("doc_id", "")), str(body.get("token", ""))
                library.entry(doc_id), library.uploads.get(token)  # unknown ones are refused now, not in the job
                run, doc_ids, tokens = (lambda progress: library.replace(doc_id, token, progress)), [doc_id], (token,)
            elif action == "restore":
                doc_id, version = str(body.get("doc_id", "")), str(body.get("version", "") or "")
                if not library.versions(doc_id):
                    raise LibraryError(f"{doc_id[:80]!r} has no previous version to restore")
                run, doc_ids = (lambda progress: library.restore(doc_id, version, progress)), [doc_id]
            elif action == "remove":
                doc_id = str(body.get("doc_id", ""))
                library.entry(doc_id)
                run, doc_ids = (lambda progress: library.remove(doc_id, progress)), [doc_id]
            else:
                run, doc_ids = library.reindex, []
            return {"job": jobs.start(action, doc_ids, run, tokens).to_dict()}
        except LibraryError as exc:
            return _error(STATUS.get(exc.kind, 400), str(exc))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            return _error(400, f"malformed request ({type(exc).__name__}); use the /library page")

    def route_for(action: str):
        async def route(request: Request):
            return await start(request, action)

        return route

    for action in ("add", "replace", "remove", "restore", "reindex"):
        app.add_api_route(f"/library/{action}", route_for(action), methods=["POST"], include_in_schema=False)
    return jobs
