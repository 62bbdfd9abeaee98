"""Start the policy Q&A web app: `python app.py [--host H] [--port P]`.

Loads the index (building it on the first start, with a progress bar), then serves the chat at
`/` and the source viewer at `/source` with uvicorn. An up-to-date index is loaded, not rebuilt.
"""

from __future__ import annotations

import argparse
import time

import uvicorn

from assistant.config import load_settings
from assistant.service import Assistant
from assistant.web import create_app


def main(argv: list[str] | None = None) -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser(description="Serve the policy Q&A chat and source viewer.")
    parser.add_argument("--host", default=settings.host, help=f"interface to bind (default {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"port (default {settings.port})")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    assistant = Assistant.load(settings, build_if_needed=True, progress=True)
    built = "built and loaded" if assistant.build_report else "loaded"
    print(f"index ready ({len(assistant.index.chunks)} chunks, {built}) in {time.perf_counter() - started:.1f} s", flush=True)
    for warning in getattr(assistant, "warnings", []):  # also shown as a banner in the chat and the viewer
        print(warning, flush=True)
    app = create_app(assistant)
    print(f"serving on http://{args.host}:{args.port}/  (sources: http://{args.host}:{args.port}/source)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
