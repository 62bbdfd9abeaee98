"""Start-up time of the web app: seconds from launching `python app.py` to its first HTTP 200 on `/`
(the chat page), and to its first answer (`POST /api/ask`, which waits for the embedding model).

    .venv/bin/python eval/startup.py [--runs 3] [--question Q] [--json out.json]

Needs a built index (the first start builds it: that is not start-up). Each run launches a fresh
process on a free port, polls `/` every 50 ms, then asks one question, and terminates the process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))
from loadtest import free_port, stop_process  # noqa: E402 - one way to start and stop the app for both scripts
QUESTION = "闵行区2023年社会消费品零售总额完成了多少？"


def _status(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 120) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body, {"content-type": "application/json"} if body else {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def measure(question: str = QUESTION, timeout: float = 120.0) -> dict[str, float]:
    port = free_port()
    env = dict(os.environ, ASSISTANT_PORT=str(port))
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                                   env=env, cwd=str(ROOT), stdout=output, stderr=subprocess.STDOUT)
        try:
            while True:
                if process.poll() is not None:
                    output.seek(0)
                    raise SystemExit(f"app.py exited with {process.returncode}:\n{output.read().decode()[-2000:]}")
                try:
                    if _status(port, "GET", "/", timeout=5) == 200:
                        break
                except OSError:
                    pass
                if time.perf_counter() - started > timeout:
                    raise SystemExit(f"no HTTP 200 within {timeout:.0f} s")
                time.sleep(0.05)
            first_page = time.perf_counter() - started
            body = json.dumps({"question": question}, ensure_ascii=False).encode("utf-8")
            status = _status(port, "POST", "/api/ask", body, timeout=timeout)
            first_answer = time.perf_counter() - started
        finally:
            stop_process(process)
    return {"first_page_s": round(first_page, 2), "first_answer_s": round(first_answer, 2), "answer_status": status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--json", help="write the runs to this file")
    args = parser.parse_args(argv)
    runs = []
    for n in range(args.runs):
        runs.append(measure(args.question))
        print(f"run {n + 1}: first page {runs[-1]['first_page_s']:.2f} s, first answer {runs[-1]['first_answer_s']:.2f} s "
              f"(HTTP {runs[-1]['answer_status']})", flush=True)
    pages = [r["first_page_s"] for r in runs]
    print(f"first HTTP 200 on /: median {statistics.median(pages):.2f} s, max {max(pages):.2f} s over {len(runs)} runs")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2), encoding="utf-8")
    return 0 if all(r["answer_status"] == 200 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
