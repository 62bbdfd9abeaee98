"""Helpers shared by the tests/test_reliability_*.py files (not a test module)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
ASSISTANT_CLI = ROOT / ".venv" / "bin" / "assistant"
RETAIL_ROW = "minhang-2023-plan-report#s1_1-b7"  # 社会消费品零售总额 … 1983.09
TRADITIONAL_RETAIL_Q = "閔行區2023年社會消費品零售總額是多少"
SIMPLIFIED_RETAIL_Q = "闵行区2023年社会消费品零售总额是多少"


def fake_settings_for(base: Path, corpus: Path | None = None, **overrides):
    """Settings on a copy of the real corpus (or `corpus`), a temporary index and the fake embedder."""
    from assistant.config import load_settings

    corpus_copy = base / "corpus"
    if not corpus_copy.exists():
        shutil.copytree(corpus or CORPUS, corpus_copy)
    return load_settings(corpus_dir=str(corpus_copy), index_dir=str(base / "index"), model="fake:64", **overrides)


def one_report_assistant(base: Path, source: str, doc_id: str, title: str, district: str):
    """An Assistant (fake embedder, built index) over a library of one seed report's text, catalogued
    under `doc_id`, `title` and `district` (a yearly report of 2023-2024)."""
    from assistant.indexing.build import build_index
    from assistant.service import Assistant

    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / f"{doc_id}.txt").write_bytes((CORPUS / f"{source}.txt").read_bytes())
    (corpus / "catalog.toml").write_text(
        f'[[document]]\ndoc_id = "{doc_id}"\nfile = "{doc_id}.txt"\n'
        f'title = "{title}"\ndistrict = "{district}"\nyear = "2023-2024"\nkind = "yearly_report"\n', encoding="utf-8")
    settings = fake_settings_for(base, data_dir=str(base / "data"))
    build_index(settings, progress=False)
    return Assistant.load(settings, build_if_needed=False)


def settings_env(settings, **extra: str) -> dict[str, str]:
    """Environment that makes the CLI use `settings` (corpus, index, model) and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(ASSISTANT_CORPUS_DIR=settings.corpus_dir, ASSISTANT_INDEX_DIR=settings.index_dir,
               ASSISTANT_MODEL=settings.model, ASSISTANT_CONFIG=os.devnull, PYTHONIOENCODING="utf-8",
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(ASSISTANT_CLI), *args], input=stdin, env=env, capture_output=True, timeout=timeout,
                          cwd=str(ROOT))


def assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Non-zero exit, an `error:` line on stderr naming the problem, never a stack trace."""
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode != 0, stderr
    assert "Traceback" not in stderr and "Traceback" not in result.stdout.decode("utf-8", "replace"), stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert lines, stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)
    return stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a background thread on a free loopback port."""
    import uvicorn

    from assistant.serve.clients import SERVER_OPTIONS  # as app.py serves it

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=free_port(), log_level="warning",
                                           timeout_graceful_shutdown=1, **SERVER_OPTIONS))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start within 60 s")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{server.config.port}"
    finally:
        # Gradio clients keep a heartbeat stream open; uvicorn cancels those at shutdown and would
        # log each as "Exception in ASGI application". Nothing is wrong: keep the log quiet.
        quiet = logging.getLogger("uvicorn.error")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        server.should_exit = True
        thread.join(timeout=10)
        quiet.setLevel(level)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """path -> (content, mtime_ns, mode) for every file under `folder` (sparse files read by hash)."""
    import hashlib

    state = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            content = digest.digest()
        else:
            content = os.readlink(path).encode() if path.is_symlink() else b"<dir>"
        state[str(path.relative_to(folder))] = (content, info.st_mtime_ns, info.st_mode)
    return state


PYTHON = sys.executable


def loadtest_module():
    """eval/loadtest.py as a module (eval/ is not a package)."""
    import importlib.util

    name = "assistant_eval_loadtest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "eval" / "loadtest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before exec: dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]
