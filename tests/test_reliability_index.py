"""A missing, damaged, mismatched or half-built index: a clear IndexProblem naming the fix, a rebuild
path (`ensure_index` / `build_index`), a CLI `error:` line instead of a stack trace; a build killed
with SIGKILL leaves the previous index loadable and unchanged; two builds at once cannot corrupt
each other (the second gets BuildLockedError). Fake embedder, so every build takes about a second."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _reliability import PYTHON, ROOT, assert_clean_failure, fake_settings_for, run_cli, settings_env
from assistant.index import (BuildLockedError, IndexCorruptError, IndexMissingError, IndexProblem, IndexStaleError,
                             build_index, ensure_index, load_index, load_structure)
from assistant.service import Assistant


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """One real build of the real corpus; each test damages its own copy of it."""
    base = tmp_path_factory.mktemp("pristine")
    settings = fake_settings_for(base)
    build_index(settings, progress=False)
    return settings


@pytest.fixture()
def settings(pristine, tmp_path):
    shutil.copytree(pristine.index_dir, tmp_path / "index", symlinks=True)
    return pristine.replace(index_dir=str(tmp_path / "index"))


def current(settings) -> Path:
    return (Path(settings.index_dir) / "current").resolve()


def state(settings) -> dict:
    """What a loaded index answers with: its chunks, vectors and manifest."""
    index = load_index(settings, check=False)
    return {"path": index.path, "manifest": index.manifest, "chunks": [c.to_dict() for c in index.chunks],
            "embeddings": index.embeddings.tobytes(), "ntotal": index.faiss_index.ntotal}


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# name -> (how to damage the current build, the IndexProblem subclass, words of the message)
def _dim_mismatch(p: Path) -> None:
    """The right number of vectors, of the wrong length: loads, but every search would fail."""
    import faiss

    count = faiss.read_index(str(p / "vectors.faiss")).ntotal
    other = faiss.IndexFlatIP(32)
    other.add(np.random.default_rng(0).random((count, 32), dtype=np.float32))
    faiss.write_index(other, str(p / "vectors.faiss"))


DAMAGE = {
    "vectors.faiss truncated": (lambda p: truncate(p / "vectors.faiss"), IndexCorruptError, "damaged"),
    "vectors.faiss empty": (lambda p: (p / "vectors.faiss").write_bytes(b""), IndexCorruptError, "damaged"),
    "vectors.faiss of another size": (_dim_mismatch, IndexCorruptError, "inconsistent"),
    "vectors.faiss missing": (lambda p: (p / "vectors.faiss").unlink(), IndexCorruptError, "damaged"),
    "embeddings.npy truncated": (lambda p: truncate(p / "embeddings.npy", 0.9), IndexCorruptError, "damaged"),
    "lexical index removed": (lambda p: shutil.rmtree(p / "lexical"), IndexCorruptError, "damaged"),
    "manifest.json not JSON": (lambda p: (p / "manifest.json").write_text("{\"format\": 1,", encoding="utf-8"),
                               IndexCorruptError, "manifest.json is unreadable"),
    "manifest.json empty object": (lambda p: (p / "manifest.json").write_text("{}", encoding="utf-8"),
                                   IndexCorruptError, "manifest.json lacks"),
    "manifest.json missing": (lambda p: (p / "manifest.json").unlink(), IndexCorruptError, "manifest.json is missing"),
    "chunks.jsonl garbage line": (lambda p: (p / "chunks.jsonl").open("a").write("{not json\n"), IndexCorruptError,
                                  "chunks.jsonl is corrupted"),
    "chunks.jsonl truncated mid-line": (lambda p: truncate(p / "chunks.jsonl", 0.5), IndexCorruptError, "chunks.jsonl"),
    "chunks.jsonl wrong record type": (lambda p: (p / "chunks.jsonl").write_text("1\n[]\n", encoding="utf-8"),
                                       IndexCorruptError, "chunks.jsonl is corrupted"),
    "chunks.jsonl one line lost": (lambda p: (p / "chunks.jsonl").write_text(
        "".join((p / "chunks.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8"),
        IndexCorruptError, "inconsistent"),
    "chunks.jsonl not UTF-8": (lambda p: (p / "chunks.jsonl").write_bytes(b"\xff\xfe\x00bad\n"), IndexCorruptError,
                               "chunks.jsonl is corrupted"),
    "current points nowhere": (lambda p: shutil.rmtree(p), IndexMissingError, "no index"),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_damaged_index_is_reported_and_rebuilt(settings, name):
    damage, kind, words = DAMAGE[name]
    damage(current(settings))
    with pytest.raises(kind, match=words) as caught:
        load_index(settings)
    assert "assistant build" in str(caught.value)
    index, report = ensure_index(settings, progress=False)  # the app's start-up path rebuilds it
    assert report is not None and report.chunks == len(index.chunks) > 600
    assert load_index(settings).faiss_index.ntotal == len(index.chunks)
    builds = {p.name for p in (Path(settings.index_dir) / "builds").iterdir()}
    assert index.path.name in builds and len(builds) <= 2  # the new build and (until the next build) the one it replaced


def test_missing_index(pristine, tmp_path):
    settings = pristine.replace(index_dir=str(tmp_path / "none"))
    with pytest.raises(IndexMissingError, match="assistant build"):
        load_index(settings)
    with pytest.raises(IndexMissingError):
        Assistant.load(settings, build_if_needed=False)
    index, report = ensure_index(settings, progress=False)
    assert report is not None and len(index.chunks) > 600


@pytest.mark.parametrize("change", ["other model", "other chunking", "changed report", "removed report", "new report"])
def test_manifest_that_does_not_match_is_stale(settings, tmp_path, change):
    corpus = tmp_path / "corpus"
    shutil.copytree(settings.corpus_dir, corpus)
    settings = settings.replace(corpus_dir=str(corpus))
    expected = {"other model": "built with model", "other chunking": "chunking settings changed",
                "changed report": "changed reports: jingan-2023-plan-report",
                "removed report": "removed reports: minhang-2023-priorities-article",
                "new report": "new reports: zz-new"}[change]
    if change == "other model":
        settings = settings.replace(model="fake:32")
    elif change == "other chunking":
        settings = settings.replace(max_chars=200)
    elif change == "changed report":
        with open(corpus / "jingan-2023-plan-report.txt", "a", encoding="utf-8") as handle:
            handle.write("\n新增一段。\n")
    elif change == "removed report":
        (corpus / "minhang-2023-priorities-article.txt").unlink()
    else:
        (corpus / "zz-new.txt").write_text("一、新报告\n\n新报告的内容。\n", encoding="utf-8")
    with pytest.raises(IndexStaleError, match=expected) as caught:
        load_index(settings)
    assert "assistant build" in str(caught.value)
    index, report = ensure_index(settings, progress=False)
    assert report is not None
    load_index(settings)  # up to date now


def test_damaged_structure_is_reported_and_rebuilt(settings):
    path = current(settings) / "structure.jsonl"
    truncate(path, 0.3)
    assistant = Assistant.load(settings, build_if_needed=False)  # chunks and vectors are fine
    with pytest.raises(IndexCorruptError, match="structure.jsonl is missing or damaged.*assistant build"):
        assistant.documents()
    path.write_text('{"document": 1}\n', encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="structure.jsonl"):
        load_structure(load_index(settings))
    index, report = ensure_index(settings, progress=False)  # the app's start-up path checks it and rebuilds
    assert report is not None and len(load_structure(index)) == 5


def test_stray_file_where_the_link_belongs(settings):
    link = Path(settings.index_dir) / "current"
    link.unlink()
    link.write_text("not a link")
    with pytest.raises(IndexProblem, match="assistant build"):
        load_index(settings)
    index, report = ensure_index(settings, progress=False)
    assert report is not None and link.is_symlink()


# ----------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("name", ["vectors.faiss truncated", "manifest.json not JSON", "chunks.jsonl garbage line",
                                  "current points nowhere"])
def test_cli_reports_a_damaged_index_without_a_traceback(settings, name):
    from assistant.cli import app

    DAMAGE[name][0](current(settings))
    for command in (["search", "闵行区社会消费品零售总额"], ["ask", "闵行区社会消费品零售总额是多少？"]):
        result = CliRunner().invoke(app, command, env=settings_env(settings))
        assert result.exit_code == 2, result.output
        assert "error: " in result.output and "assistant build" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["build"], env=settings_env(settings))  # the fix
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(app, ["search", "闵行区社会消费品零售总额", "-k", "1"], env=settings_env(settings)).exit_code == 0


def test_cli_subprocess_on_a_truncated_index(settings):
    truncate(current(settings) / "vectors.faiss")
    result = run_cli(["search", "闵行区社会消费品零售总额"], settings_env(settings))
    assert_clean_failure(result, "damaged", "assistant build")


# ----------------------------------------------------------------------------- interrupted and concurrent builds

HELPER = """
import os, sys, time
from pathlib import Path
import assistant.embed as embed
import assistant.index as index
from assistant.config import load_settings

marker = Path(os.environ["REL_MARKER"])

def pause(real):
    def slow(*args, **kwargs):
        marker.write_text(str(os.getpid()))  # tell the test where we are, then hang until killed
        time.sleep(float(os.environ.get("REL_SLEEP", "600")))
        return real(*args, **kwargs)
    return slow

if os.environ["REL_PHASE"] == "embed":  # before anything is written
    embed.encode_documents = pause(embed.encode_documents)
else:  # "write": chunks.jsonl, structure.jsonl, embeddings.npy are already in the staging folder
    index.make_faiss_index = pause(index.make_faiss_index)
settings = load_settings(corpus_dir=os.environ["REL_CORPUS"], index_dir=os.environ["REL_INDEX"], model="fake:64")
print(index.build_index(settings, progress=False).summary(), flush=True)
"""


def _start_slow_build(settings, tmp_path: Path, phase: str) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "slow_build.py"
    script.write_text(HELPER, encoding="utf-8")
    marker = tmp_path / f"marker-{phase}"
    env = settings_env(settings, REL_MARKER=str(marker), REL_PHASE=phase, REL_CORPUS=settings.corpus_dir,
                       REL_INDEX=settings.index_dir)
    child = subprocess.Popen([PYTHON, str(script)], env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if child.poll() is not None:
            raise AssertionError(f"the build exited early: {child.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("the slow build never reached its pause")
        time.sleep(0.1)
    return child, marker


@pytest.mark.parametrize("phase", ["embed", "write"])
def test_build_killed_halfway_leaves_the_previous_index(settings, tmp_path, phase):
    corpus = tmp_path / "corpus"
    shutil.copytree(settings.corpus_dir, corpus)
    settings = settings.replace(corpus_dir=str(corpus))
    before = state(settings)
    previous = before["path"].name
    with open(corpus / "jingan-2023-plan-report.txt", "a", encoding="utf-8") as handle:  # so the new build differs
        handle.write("\n\n四、附加说明\n\n被中断的构建加入的段落。\n")

    child, _ = _start_slow_build(settings, tmp_path, phase)
    try:
        # while it runs, a second build (another process: this one) is refused, not interleaved
        with pytest.raises(BuildLockedError, match="another build is running"):
            build_index(settings, progress=False)
        if phase == "write":
            assert any(p.name.startswith(".tmp-") for p in (Path(settings.index_dir) / "builds").iterdir())
            cli = run_cli(["build"], settings_env(settings))
            assert_clean_failure(cli, "another build is running")
        # readers are not disturbed while the build runs
        assert state(settings) == before
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    assert state(settings) == before  # the previous index, byte for byte
    with pytest.raises(IndexStaleError, match="changed reports: jingan-2023-plan-report"):
        load_index(settings)  # and it correctly says that it predates the corpus change
    report = build_index(settings, progress=False)  # the lock died with the process
    assert report.reused > 600 and report.embedded <= 3
    assert any("被中断的构建" in c.text for c in load_index(settings).chunks)
    builds = {p.name for p in (Path(settings.index_dir) / "builds").iterdir()}
    assert builds == {report.path.name, previous}  # the killed build's staging folder is gone


def test_two_builds_in_threads_do_not_interleave(settings, monkeypatch):
    import assistant.index as index_module

    real = index_module.make_faiss_index
    entered, release = threading.Event(), threading.Event()

    def slow(*args, **kwargs):
        entered.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(index_module, "make_faiss_index", slow)
    outcome: dict[str, object] = {}

    def first():
        try:
            outcome["first"] = build_index(settings, progress=False)
        except Exception as exc:  # noqa: BLE001
            outcome["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(60)
    monkeypatch.setattr(index_module, "make_faiss_index", real)
    with pytest.raises(BuildLockedError, match=r"another build is running on .*\.build\.lock.*wait for it"):
        build_index(settings, progress=False)
    release.set()
    thread.join(60)
    assert not isinstance(outcome["first"], Exception), outcome["first"]
    index = load_index(settings)
    assert index.path == outcome["first"].path and len(index.chunks) == index.faiss_index.ntotal


def test_readers_see_a_complete_index_during_rebuilds(settings):
    """Load the index repeatedly while it is rebuilt three times: every load is complete and consistent."""
    stop = threading.Event()
    errors: list[BaseException] = []
    loads = 0

    def reader():
        nonlocal loads
        while not stop.is_set():
            try:
                index = load_index(settings, check=False)
                assert len(index.chunks) == index.faiss_index.ntotal == len(index.embeddings)
                loads += 1
            except FileNotFoundError as exc:  # a build removed the folder between resolve and open
                errors.append(exc)
            except IndexProblem as exc:
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(3):
            build_index(settings.replace(max_chars=settings.max_chars + 1 + _), progress=False)
    finally:
        stop.set()
        thread.join(30)
    assert loads > 0
    # The build that a reader resolved stays on disk until the next build, so no load fails
    # (before, ~10% of these loads failed because the replaced build was removed at once).
    assert not errors, errors
