"""Start the policy Q&A web app: `python app.py [--host H] [--port P]`.

Binds the port first and answers 503 "starting" on it until the app is built (`serve/starting.py`),
settles a knowledge-base change a crash cut short (`library.journal.recover`: rolled back or
finished, without a rebuild), loads the index (building it on the first start, with a progress
bar), then serves the chat at `/`, the source viewer at `/source` and the APIs (`/v1`, `/api`,
`/docs`) with uvicorn on that socket. An up-to-date index is loaded, not rebuilt. The embedding
model (torch, sentence-transformers: ~6 s) is loaded in a background thread once the server
listens, so the first page is served within a few seconds; a question asked before that waits for the model.
"""

from __future__ import annotations

import argparse
import threading
import time

import uvicorn

from assistant.config import load_settings
from assistant.library.journal import recover
from assistant.service import Assistant
from assistant.serve.clients import SERVER_OPTIONS
from assistant.serve.starting import StartingResponder, listen
from assistant.serve.web import create_app


def _warm_up(assistant: Assistant, server: uvicorn.Server, started: float) -> None:
    while not server.started and not server.should_exit:  # the first page first: imports compete for the GIL
        time.sleep(0.05)
    try:
        assistant.warm_up()
    except Exception as exc:  # noqa: BLE001 - the first question reports it again, with its own message
        print(f"warming up failed: {type(exc).__name__}: {exc}", flush=True)
        return
    print(f"model loaded, answering at full speed ({time.perf_counter() - started:.1f} s after start)", flush=True)


def main(argv: list[str] | None = None) -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser(description="Serve the policy Q&A chat, source viewer and APIs.")
    parser.add_argument("--host", default=settings.host, help=f"interface to bind (default {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"port (default {settings.port})")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    sock = listen(args.host, args.port)  # the port answers 503 "starting" until the app is built
    starting = StartingResponder(sock) if sock is not None else None
    # a library change a crash (kill -9) cut short is rolled back or finished here, in milliseconds,
    # so that the index matches the corpus and loads without a rebuild (issue 23)
    for note in recover(settings):
        print(f"recovery: {note}", flush=True)
    assistant = Assistant.load(settings, build_if_needed=True, progress=True, lazy=True)
    built = "built and loaded" if assistant.build_report else "loaded"
    print(f"index ready ({len(assistant.index.chunks)} chunks, {built}) in {time.perf_counter() - started:.1f} s", flush=True)
    for warning in getattr(assistant, "warnings", []):  # also shown as a banner in the chat and the viewer
        print(warning, flush=True)
    app = create_app(assistant)
    # SERVER_OPTIONS: uvicorn does not rewrite the client from X-Forwarded-For (guard.py does, for trusted_proxies only)
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", **SERVER_OPTIONS))
    threading.Thread(target=_warm_up, args=(assistant, server, started), name="warm-up", daemon=True).start()
    base = f"http://{args.host}:{args.port}"
    print(f"serving on {base}/  (sources: {base}/source, API docs: {base}/docs)", flush=True)
    if starting is not None:
        starting.stop()  # connections from now on wait in the backlog for uvicorn
    server.run(sockets=[sock] if sock is not None else None)


if __name__ == "__main__":
    main()
