"""Load test of the web app on loopback: N concurrent clients ask different questions, through the
REST API (`POST /api/ask`, the default) or Gradio's `/ask` (`--api gradio`).

    .venv/bin/python eval/loadtest.py --clients 20 --rounds 3 [--api rest|gradio] [--spawn | --url URL] [--json out.json]

Without --url the app (`assistant.web.create_app(Assistant.load())`: default settings, the bundled
model, the real index) is served with uvicorn on a free loopback port in this process and stopped at
the end; with --spawn it runs as its own process (`python app.py`, the way it is deployed; the
clients' threads then do not share the server's GIL), with the per-address question limit off.
With --url an already running app is tested (give --max-queue if it is not the default).

Gradio: 1. baseline: every question once, one at a time, through one client; 2. load.
REST: 1. load first, so that every question is new to the server (its query-embedding cache is
cold: the figure is what new questions cost); 2. the baseline; 3. with --warm, the load again
(every question now repeated: the cache answers the embeddings).
load: `clients` threads, each with its own client (a `gradio_client.Client`, or one keep-alive HTTP
connection); in every round all of them are released together (a barrier) and each asks a
different question (no question twice in a load phase).
checks: no errors; every client got the answer to its own question (the `question` field and the
answer text and citations equal the baseline of that question: no cross-talk); the Gradio queue
never held more than max_queue jobs (sampled from the status updates each client receives).

Prints throughput and latency percentiles; exit status 0 when every check passes. Bounded: each
request has a timeout (--timeout, default 120 s) and the whole run a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import logging
import json
import subprocess
import tempfile
import os
import socket
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUESTIONS_FILE = ROOT / "eval" / "questions.jsonl"


def load_questions(count: int) -> list[str]:
    """`count` different answerable standalone questions from the eval set (in file order; follow-ups need their history)."""
    seen: dict[str, None] = {}
    with open(QUESTIONS_FILE, encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            if item.get("answerable", True) and not item.get("history") and item["question"] not in seen:
                seen[item["question"]] = None
    questions = list(seen)
    if len(questions) < count:
        raise SystemExit(f"{QUESTIONS_FILE} has {len(questions)} answerable questions; {count} are needed "
                         "(clients x rounds). Lower --clients or --rounds.")
    return questions[:count]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a spawned app.py, killing it when it does not exit within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True, name="loadtest-uvicorn")
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start within 120 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        # Gradio clients keep a heartbeat stream open; uvicorn cancels those at shutdown and would
        # log each as "Exception in ASGI application". Nothing is wrong: keep the log quiet.
        quiet = logging.getLogger("uvicorn.error")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        server.should_exit = True
        thread.join(timeout=10)
        quiet.setLevel(level)


def make_client(url: str):
    from gradio_client import Client

    return Client(url.rstrip("/") + "/", verbose=False, analytics_enabled=False, download_files=False)


def close_clients(clients: list[Any]) -> None:
    """Stop the clients' heartbeat threads (each close() waits up to 1 s: done in parallel)."""
    def close(client: Any) -> None:
        with contextlib.suppress(Exception):
            client.close()

    threads = [threading.Thread(target=close, args=(client,), daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)


def _fingerprint(result: dict) -> tuple:
    return (result.get("question"), result.get("answer"), result.get("refused"),
            tuple(c.get("chunk_id") for c in result.get("citations", [])))


@dataclass
class Request:
    client: int
    round: int
    question: str
    seconds: float = 0.0
    error: str = ""
    mismatch: str = ""
    max_queue_seen: int = 0
    fingerprint: tuple | None = None


@dataclass
class LoadReport:
    url: str
    clients: int
    rounds: int
    requests: int
    errors: int
    mismatches: int
    wall_seconds: float
    throughput: float  # answers per second during the load phase
    p50_ms: float
    p95_ms: float
    max_ms: float
    max_queue_seen: int
    max_queue: int | None
    baseline_p50_ms: float
    api: str = "gradio"
    server: str = "thread"  # thread (in this process) | process (--spawn) | url
    warm_throughput: float | None = None  # REST --warm: the same questions again (embeddings from the cache)
    warm_p50_ms: float | None = None
    warm_p95_ms: float | None = None
    details: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bounded = self.max_queue is None or self.max_queue_seen <= self.max_queue
        return self.errors == 0 and self.mismatches == 0 and bounded and self.requests == self.clients * self.rounds

    def summary(self) -> str:
        lines = [
            f"load test ({self.api} API, server in a {self.server}): {self.clients} clients x {self.rounds} rounds = "
            f"{self.requests} requests on {self.url}",
            f"errors: {self.errors}, cross-talk/mismatched answers: {self.mismatches}",
            f"throughput: {self.throughput:.2f} answers/s over {self.wall_seconds:.1f} s",
            f"latency: p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms, max {self.max_ms:.0f} ms "
            f"(one at a time: p50 {self.baseline_p50_ms:.0f} ms)",
        ]
        if self.warm_throughput is not None:
            lines.append(f"repeated questions (warm cache): {self.warm_throughput:.2f} answers/s, "
                         f"p50 {self.warm_p50_ms:.0f} ms, p95 {self.warm_p95_ms:.0f} ms")
        if self.api == "gradio":
            lines.append(f"queue: at most {self.max_queue_seen} waiting (limit {self.max_queue if self.max_queue is not None else '?'})")
        lines.append("result: " + ("PASS" if self.ok else "FAIL"))
        for detail in self.details:
            if detail["error"] or detail["mismatch"]:
                lines.append(f"  client {detail['client']} round {detail['round']}: {detail['error'] or detail['mismatch']}")
        return "\n".join(lines)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class RestClient:
    """One keep-alive HTTP connection asking `POST /api/ask` (http.client: the client's own Python work
    stays small next to the server's)."""

    def __init__(self, url: str, timeout: float) -> None:
        host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        self.connection = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)

    def ask(self, question: str) -> dict:
        body = json.dumps({"question": question}, ensure_ascii=False).encode("utf-8")
        try:
            response = self._post(body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.connection.close()  # the server closed an idle keep-alive connection (uvicorn: after 5 s)
            response = self._post(body)
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200].decode('utf-8', 'replace')}")
        return json.loads(data)

    def _post(self, body: bytes) -> http.client.HTTPResponse:
        self.connection.request("POST", "/api/ask", body, {"content-type": "application/json"})
        return self.connection.getresponse()

    def close(self) -> None:
        self.connection.close()


def _ask(client, request: Request, timeout: float, expected: dict[str, tuple] | None) -> dict | None:
    started = time.perf_counter()
    try:
        if isinstance(client, RestClient):
            result = client.ask(request.question)
        else:
            job = client.submit(request.question, api_name="/ask")
            deadline = time.monotonic() + timeout
            while not job.done():
                status = job.status()
                request.max_queue_seen = max(request.max_queue_seen, status.queue_size or 0)
                if time.monotonic() > deadline:
                    job.cancel()
                    raise TimeoutError(f"no answer within {timeout:.0f} s")
                time.sleep(0.05)
            result = job.result(timeout=5)
    except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
        request.error = f"{type(exc).__name__}: {str(exc)[:200]}"
        return None
    finally:
        request.seconds = time.perf_counter() - started
    request.fingerprint = _fingerprint(result)
    if expected is not None:
        _compare(request, expected)
    return result


def _compare(request: Request, expected: dict[str, tuple]) -> None:
    want, got = expected.get(request.question), request.fingerprint
    if got is None:
        return
    if got[0] != request.question:
        request.mismatch = f"asked {request.question!r}, the answer is for {got[0]!r}"
    elif want is not None and got != want:
        request.mismatch = f"answer for {request.question!r} differs from its one-at-a-time answer"


@contextlib.contextmanager
def spawn_server(timeout: float = 180.0, log=print) -> Iterator[str]:
    """`python app.py` on a free port (question limit per address off: every client is 127.0.0.1);
    yields its URL once it answers questions (the model loaded), terminates it at the end."""
    port = free_port()
    env = dict(os.environ, ASSISTANT_CLIENT_REQUESTS_PER_MINUTE="0", ASSISTANT_PORT=str(port))
    output = tempfile.TemporaryFile()  # not a pipe: a full pipe would block the server
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=str(ROOT), stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                output.seek(0)
                raise RuntimeError(f"app.py exited with {process.returncode}: {output.read().decode()[-2000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                connection.request("GET", "/api/search?q=warm-up&k=1")  # waits for the model
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer within {timeout:.0f} s")
            time.sleep(0.2)
        log(f"server process {process.pid} ready on {url}")
        yield url
    finally:
        stop_process(process)
        output.close()


def _phase(make: Any, url: str, questions: list[str], clients: int, rounds: int, timeout: float,
           expected: dict[str, tuple] | None, opened: list[Any]) -> tuple[list[Request], float]:
    """`clients` threads x `rounds`; each round releases all of them together. (requests, wall seconds)."""
    requests = [[Request(c, r, questions[r * clients + c]) for r in range(rounds)] for c in range(clients)]
    barrier = threading.Barrier(clients + 1)
    run_deadline = time.monotonic() + timeout * (rounds + 2) + 60

    def worker(c: int) -> None:
        try:
            client = make(url)
            opened.append(client)
        except Exception as exc:  # noqa: BLE001
            for request in requests[c]:
                request.error = f"client could not connect: {type(exc).__name__}: {exc}"
            client = None
        for request in requests[c]:
            try:
                barrier.wait(timeout=timeout + 60)
            except threading.BrokenBarrierError:
                request.error = request.error or "round start timed out"
                continue
            if client is not None:
                _ask(client, request, timeout, expected)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True, name=f"loadtest-client-{c}") for c in range(clients)]
    for thread in threads:
        thread.start()
    started = None
    for _ in range(rounds):
        try:
            barrier.wait(timeout=timeout + 60)  # all clients ready: the round starts
        except threading.BrokenBarrierError:
            break
        started = started or time.perf_counter()
        # the next barrier.wait returns once every client finished this round and is ready again
    for thread in threads:
        thread.join(timeout=max(1.0, run_deadline - time.monotonic()))
    wall = time.perf_counter() - (started or time.perf_counter())
    barrier.abort()
    return [request for per_client in requests for request in per_client], wall


def _baseline(client: Any, questions: list[str], timeout: float) -> tuple[dict[str, tuple], list[float]]:
    expected: dict[str, tuple] = {}
    baseline_ms: list[float] = []
    for question in questions:
        request = Request(-1, 0, question)
        if _ask(client, request, timeout, None) is None:
            raise SystemExit(f"baseline failed for {question!r}: {request.error}")
        expected[question] = request.fingerprint
        baseline_ms.append(request.seconds * 1e3)
    return expected, baseline_ms


def run_load_test(clients: int = 20, rounds: int = 3, url: str | None = None, assistant: Any = None,
                  timeout: float = 120.0, max_queue: int | None = None, log=print, api: str = "gradio",
                  spawn: bool = False, warm: bool = False) -> LoadReport:
    """Run the test (starting the app in-process, or as a process with `spawn`, unless `url` is
    given) and return its report. api: "gradio" (`/ask`) or "rest" (`/api/ask`)."""
    if api not in ("gradio", "rest"):
        raise ValueError(f"api must be gradio or rest, not {api!r}")
    questions = load_questions(clients * rounds)
    server = "url" if url else "process" if spawn else "thread"
    with contextlib.ExitStack() as stack:
        if url is None and spawn:
            url = stack.enter_context(spawn_server(log=log))
        elif url is None:
            from assistant.service import Assistant
            from assistant.serve.web import create_app

            if assistant is None:
                from assistant.config import load_settings

                log("loading the assistant (default settings: bundled model, real index)…")
                # one client address asks every question: the per-address limit would refuse the run
                assistant = Assistant.load(load_settings(client_requests_per_minute=0), progress=False)
            max_queue = assistant.settings.max_queue if max_queue is None else max_queue
            url = stack.enter_context(serve_in_thread(create_app(assistant)))
        if max_queue is None:
            from assistant.config import load_settings

            max_queue = load_settings().max_queue
        opened: list[Any] = []  # closed before the server stops (Gradio's heartbeat streams stay open)
        stack.callback(close_clients, opened)
        make = (lambda u: RestClient(u, timeout)) if api == "rest" else make_client
        base_client = make(url)
        opened.append(base_client)
        warm_requests: list[Request] = []
        warm_wall = 0.0
        if api == "gradio":
            log(f"baseline: {len(questions)} questions one at a time on {url}")
            expected, baseline_ms = _baseline(base_client, questions, timeout)
            log(f"load: {clients} clients x {rounds} rounds")
            flat, wall = _phase(make, url, questions, clients, rounds, timeout, expected, opened)
        else:
            base_client.ask("预热 warm-up")  # the server's one-time costs (first request, lazy imports) are not throughput
            log(f"load: {clients} clients x {rounds} rounds, every question new to the server, on {url}")
            flat, wall = _phase(make, url, questions, clients, rounds, timeout, None, opened)
            log(f"baseline: {len(questions)} questions one at a time")
            expected, baseline_ms = _baseline(base_client, questions, timeout)
            for request in flat:
                _compare(request, expected)
            if warm:
                log("load again: the same questions (query embeddings now cached)")
                warm_requests, warm_wall = _phase(make, url, questions, clients, rounds, timeout, expected, opened)

    done = [r for r in flat if not r.error]
    latencies = [r.seconds * 1e3 for r in done]
    report = LoadReport(
        url=url, clients=clients, rounds=rounds, requests=len(flat),
        errors=sum(1 for r in flat + warm_requests if r.error),
        mismatches=sum(1 for r in flat + warm_requests if r.mismatch),
        wall_seconds=wall, throughput=len(done) / wall if wall > 0 else 0.0,
        p50_ms=_percentile(latencies, 50), p95_ms=_percentile(latencies, 95), max_ms=max(latencies, default=0.0),
        max_queue_seen=max((r.max_queue_seen for r in flat), default=0), max_queue=max_queue,
        baseline_p50_ms=_percentile(baseline_ms, 50), api=api, server=server,
        details=[asdict(r) for r in flat + warm_requests],
    )
    if warm_requests:
        warm_ms = [r.seconds * 1e3 for r in warm_requests if not r.error]
        report.warm_throughput = len(warm_ms) / warm_wall if warm_wall > 0 else 0.0
        report.warm_p50_ms, report.warm_p95_ms = _percentile(warm_ms, 50), _percentile(warm_ms, 95)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="questions per client (default 3)")
    parser.add_argument("--api", choices=("rest", "gradio"), default="rest", help="POST /api/ask (default) or Gradio's /ask")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="test a running app instead of starting one in-process")
    where.add_argument("--spawn", action="store_true", help="start the app as its own process (python app.py)")
    parser.add_argument("--warm", action="store_true", help="REST: run the load again with the same questions")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument("--max-queue", type=int, default=None, help="the server's queue limit (default: settings)")
    parser.add_argument("--json", help="write the full report (every request) to this file")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.rounds < 1:
        parser.error("--clients and --rounds must be at least 1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    report = run_load_test(args.clients, args.rounds, url=args.url, timeout=args.timeout, max_queue=args.max_queue,
                           log=lambda message: print(message, file=sys.stderr, flush=True), api=args.api,
                           spawn=args.spawn, warm=args.warm)
    print(report.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
