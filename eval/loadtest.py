"""Load test of the web app on loopback: N concurrent Gradio clients ask different questions via `/ask`.

    .venv/bin/python eval/loadtest.py --clients 20 --rounds 3 [--url http://127.0.0.1:7860] [--json out.json]

Without --url the app (`assistant.web.create_app(Assistant.load())`: default settings, the bundled
model, the real index) is served with uvicorn on a free loopback port in this process and stopped at
the end. With --url an already running app is tested (give --max-queue if it is not the default).

1. baseline: every question once, one at a time, through one client;
2. load: `clients` threads, each with its own `gradio_client.Client`; in every round all of them are
   released together (a barrier) and each asks a different question (no question twice in the run);
3. checks: no errors; every client got the answer to its own question (the `question` field and the
   answer text and citations equal the baseline of that question: no cross-talk); the server queue
   never held more than max_queue jobs (sampled from the status updates each client receives).

Prints throughput and latency percentiles; exit status 0 when every check passes. Bounded: each
request has a timeout (--timeout, default 120 s) and the whole run a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import json
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning",
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
    details: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bounded = self.max_queue is None or self.max_queue_seen <= self.max_queue
        return self.errors == 0 and self.mismatches == 0 and bounded and self.requests == self.clients * self.rounds

    def summary(self) -> str:
        lines = [
            f"load test: {self.clients} clients x {self.rounds} rounds = {self.requests} requests on {self.url}",
            f"errors: {self.errors}, cross-talk/mismatched answers: {self.mismatches}",
            f"throughput: {self.throughput:.2f} answers/s over {self.wall_seconds:.1f} s",
            f"latency: p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms, max {self.max_ms:.0f} ms "
            f"(one at a time: p50 {self.baseline_p50_ms:.0f} ms)",
            f"queue: at most {self.max_queue_seen} waiting (limit {self.max_queue if self.max_queue is not None else '?'})",
            "result: " + ("PASS" if self.ok else "FAIL"),
        ]
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


def _ask(client, request: Request, timeout: float, expected: dict[str, tuple] | None) -> dict | None:
    started = time.perf_counter()
    try:
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
    if expected is not None:
        want = expected.get(request.question)
        got = _fingerprint(result)
        if got[0] != request.question:
            request.mismatch = f"asked {request.question!r}, the answer is for {got[0]!r}"
        elif want is not None and got != want:
            request.mismatch = f"answer for {request.question!r} differs from its one-at-a-time answer"
    return result


def run_load_test(clients: int = 20, rounds: int = 3, url: str | None = None, assistant: Any = None,
                  timeout: float = 120.0, max_queue: int | None = None, log=print) -> LoadReport:
    """Run the test (starting the app in-process unless `url` is given) and return its report."""
    questions = load_questions(clients * rounds)
    with contextlib.ExitStack() as stack:
        if url is None:
            from assistant.service import Assistant
            from assistant.web import create_app

            if assistant is None:
                log("loading the assistant (default settings: bundled model, real index)…")
                assistant = Assistant.load(progress=False)
            max_queue = assistant.settings.max_queue if max_queue is None else max_queue
            url = stack.enter_context(serve_in_thread(create_app(assistant)))
        elif max_queue is None:
            from assistant.config import load_settings

            max_queue = load_settings().max_queue

        # 1. one at a time: what each question's answer is
        log(f"baseline: {len(questions)} questions one at a time on {url}")
        opened: list[Any] = []  # closed before the server stops (their heartbeat streams stay open)
        stack.callback(close_clients, opened)
        base_client = make_client(url)
        opened.append(base_client)
        expected: dict[str, tuple] = {}
        baseline_ms: list[float] = []
        for question in questions:
            request = Request(-1, 0, question)
            result = _ask(base_client, request, timeout, None)
            if result is None:
                raise SystemExit(f"baseline failed for {question!r}: {request.error}")
            expected[question] = _fingerprint(result)
            baseline_ms.append(request.seconds * 1e3)

        # 2. the load: every client asks a different question in each round, all released together
        log(f"load: {clients} clients x {rounds} rounds")
        requests = [[Request(c, r, questions[r * clients + c]) for r in range(rounds)] for c in range(clients)]
        barrier = threading.Barrier(clients + 1)
        run_deadline = time.monotonic() + timeout * (rounds + 2) + 60

        def worker(c: int) -> None:
            try:
                client = make_client(url)
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

    flat = [request for per_client in requests for request in per_client]
    done = [r for r in flat if not r.error]
    latencies = [r.seconds * 1e3 for r in done]
    report = LoadReport(
        url=url, clients=clients, rounds=rounds, requests=len(flat),
        errors=sum(1 for r in flat if r.error), mismatches=sum(1 for r in flat if r.mismatch),
        wall_seconds=wall, throughput=len(done) / wall if wall > 0 else 0.0,
        p50_ms=_percentile(latencies, 50), p95_ms=_percentile(latencies, 95), max_ms=max(latencies, default=0.0),
        max_queue_seen=max((r.max_queue_seen for r in flat), default=0), max_queue=max_queue,
        baseline_p50_ms=_percentile(baseline_ms, 50),
        details=[asdict(r) for r in flat],
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="questions per client (default 3)")
    parser.add_argument("--url", help="test a running app instead of starting one in-process")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument("--max-queue", type=int, default=None, help="the server's queue limit (default: settings)")
    parser.add_argument("--json", help="write the full report (every request) to this file")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.rounds < 1:
        parser.error("--clients and --rounds must be at least 1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    report = run_load_test(args.clients, args.rounds, url=args.url, timeout=args.timeout, max_queue=args.max_queue,
                           log=lambda message: print(message, file=sys.stderr, flush=True))
    print(report.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
