"""A missing, damaged, mismatched or half-built index: a clear IndexProblem naming the fix, a rebuild
path (`ensure_index` / `build_index`), a CLI `error:` line instead of a stack trace; a build killed
with SIGKILL leaves the previous index loadable and unchanged; two builds at once cannot corrupt
each other (the second gets BuildLockedError). Fake embedder, so every build takes about a second."""

from __future__ import annotations

import json
import os
import re
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
from assistant.indexing.manifest import BuildLockedError, IndexCorruptError, IndexMissingError, IndexProblem, IndexStaleError
from assistant.indexing.build import build_index, ensure_index
from assistant.indexing.load import load_index, load_structure
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
    "vectors.faiss of another size": (_dim_mismatch, IndexCorruptError, "vectors.faiss does not match its sha256"),
    "vectors.faiss missing": (lambda p: (p / "vectors.faiss").unlink(), IndexCorruptError, "damaged"),
    "embeddings.npy truncated": (lambda p: truncate(p / "embeddings.npy", 0.9), IndexCorruptError, "damaged"),
    "lexical index removed": (lambda p: shutil.rmtree(p / "lexical"), IndexCorruptError, "damaged"),
    "manifest.json not JSON": (lambda p: (p / "manifest.json").write_text("{\"format\": 1,", encoding="utf-8"),
                               IndexCorruptError, "manifest.json is unreadable"),
    "manifest.json empty object": (lambda p: (p / "manifest.json").write_text("{}", encoding="utf-8"),
                                   IndexCorruptError, "manifest.json lacks"),
    "manifest.json missing": (lambda p: (p / "manifest.json").unlink(), IndexCorruptError, "manifest.json is missing"),
    "chunks.jsonl garbage line": (lambda p: (p / "chunks.jsonl").open("a").write("{not json\n"), IndexCorruptError,
                                  "chunks.jsonl does not match its sha256"),
    "chunks.jsonl truncated mid-line": (lambda p: truncate(p / "chunks.jsonl", 0.5), IndexCorruptError, "chunks.jsonl"),
    "chunks.jsonl wrong record type": (lambda p: (p / "chunks.jsonl").write_text("1\n[]\n", encoding="utf-8"),
                                       IndexCorruptError, "chunks.jsonl does not match its sha256"),
    "chunks.jsonl one line lost": (lambda p: (p / "chunks.jsonl").write_text(
        "".join((p / "chunks.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8"),
        IndexCorruptError, "chunks.jsonl does not match its sha256"),
    "chunks.jsonl not UTF-8": (lambda p: (p / "chunks.jsonl").write_bytes(b"\xff\xfe\x00bad\n"), IndexCorruptError,
                               "chunks.jsonl does not match its sha256"),
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
    with pytest.raises(IndexCorruptError, match="structure.jsonl does not match its sha256.*assistant build"):
        Assistant.load(settings, build_if_needed=False)  # chunks and vectors are fine, the viewer's pages are not
    path.write_text('{"document": 1}\n', encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="structure.jsonl"):
        load_index(settings)
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
import assistant.indexing.embed as embed
import assistant.indexing.build as index
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
    import assistant.indexing.build as index_module

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


# ----------------------------------------------------------------------------- issue 14: damage that keeps sizes


def zero_tail(path: Path, fraction: float = 0.25) -> None:
    """Zero the last `fraction` of a file in place: same size, loads without any error of its own."""
    data = path.read_bytes()
    cut = int(len(data) * (1 - fraction))
    path.write_bytes(data[:cut] + bytes(len(data) - cut))


def _edit_number(path: Path) -> None:
    """One digit of one chunk changed (1983.09 -> 1983.08): same size, valid JSON."""
    text = path.read_text(encoding="utf-8")
    assert "1983.09" in text
    path.write_text(text.replace("1983.09", "1983.08", 1), encoding="utf-8")


SAME_SIZE = {  # name -> (damage, the file the error must name)
    "vectors.faiss last quarter zeroed": (lambda p: zero_tail(p / "vectors.faiss"), "vectors.faiss"),
    "BM25 arrays last quarter zeroed": (lambda p: [zero_tail(f) for f in sorted((p / "lexical").glob("*.npy"))],
                                        "lexical/data.csc.index.npy"),
    "embeddings.npy last quarter zeroed": (lambda p: zero_tail(p / "embeddings.npy"), "embeddings.npy"),
    "chunks.jsonl one digit changed": (lambda p: _edit_number(p / "chunks.jsonl"), "chunks.jsonl"),
    "structure.jsonl emptied": (lambda p: (p / "structure.jsonl").write_bytes(b""), "structure.jsonl"),
    "structure.jsonl one report left out": (lambda p: (p / "structure.jsonl").write_text(
        "".join((p / "structure.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8"),
        "structure.jsonl"),
}


@pytest.mark.parametrize("name", list(SAME_SIZE))
def test_damage_that_keeps_sizes_is_detected_and_rebuilt(pristine, settings, name):
    """Before: each of these loaded fine (and changed 14-25 of 140 eval answers, or made every
    citation link a 404). Now: the checksum in the manifest names the file, and the rebuild
    reuses nothing from a damaged store."""
    damage, file_name = SAME_SIZE[name]
    damage(current(settings))
    with pytest.raises(IndexCorruptError, match=rf"damaged: .*{re.escape(file_name)} does not match its sha256.*assistant build"):
        load_index(settings)
    with pytest.raises(IndexCorruptError):
        Assistant.load(settings, build_if_needed=False)
    index, report = ensure_index(settings, progress=False)  # the app's start-up path
    assert report is not None
    good = load_index(pristine)
    assert np.array_equal(index.embeddings, good.embeddings)  # fake embedder: exactly the undamaged vectors
    assert [c.to_dict() for c in index.chunks] == [c.to_dict() for c in good.chunks]
    assert len(load_structure(index)) == 5


def test_build_after_damaged_embeddings_reuses_nothing(pristine, settings):
    """Before: `assistant build` (the documented fix) said "0 embedded, 628 reused" and kept the
    157 zero vectors for good."""
    zero_tail(current(settings) / "embeddings.npy")
    report = build_index(settings, progress=False)
    assert report.reused == 0 and report.embedded == report.chunks
    assert any("nothing reused from the previous index" in n and "embeddings.npy" in n for n in report.notes)
    assert "note: nothing reused" in report.summary()
    index = load_index(settings)
    assert np.allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, atol=1e-3)
    assert np.array_equal(index.embeddings, load_index(pristine).embeddings)


def test_reuse_checks_every_vector_even_without_checksums(settings):
    """An index from before the checksums (or a store damaged in a way the checksums cannot see):
    rows that are not finite or not unit length are embedded again, the others reused."""
    path = current(settings)
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    vectors = np.load(path / "embeddings.npy")
    vectors[:7] = 0.0
    vectors[7] = np.nan
    vectors[8] *= 2.0
    np.save(path / "embeddings.npy", vectors)
    report = build_index(settings, progress=False)
    assert report.embedded == 9 and report.reused == report.chunks - 9
    assert any("9 vectors of the previous index were not finite or not unit length" in n for n in report.notes)
    assert np.allclose(np.linalg.norm(load_index(settings).embeddings, axis=1), 1.0, atol=1e-3)


def test_checksum_verification_cost(settings):
    """Every load hashes every index file; measured here (fake 64-d index) and in docs/reliability.md."""
    from assistant.indexing.manifest import verify_files

    index = load_index(settings)
    size = sum(p.stat().st_size for p in index.path.rglob("*") if p.is_file())
    started = time.perf_counter()
    for _ in range(5):
        verify_files(index.path, index.manifest)
    per_load = (time.perf_counter() - started) / 5
    print(f"\nverifying {len(index.manifest['files'])} files, {size / 1e6:.1f} MB: {per_load * 1000:.1f} ms")
    assert set(index.manifest["files"]) >= {"chunks.jsonl", "structure.jsonl", "embeddings.npy", "vectors.faiss",
                                            "lexical/data.csc.index.npy"}
    assert per_load < 1.0
