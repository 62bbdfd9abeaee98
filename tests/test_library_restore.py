"""Issue 23, item 9: a kill -9 during a library change, previous versions and restoring them.

Before: a kill -9 during a /library build left the half-applied change (new file and catalog entry
in corpus/, the replaced original in `corpus/.library-trash-*`, the index not rebuilt), and the next
start rebuilt the index before the server listened (31-35 s offline); the original stayed in the
trash folder, unreported; a replace deleted the previous file for good. Now each change keeps a
journal that the start settles in milliseconds (rolled back, or finished when its build had
completed), and a replaced or removed report is kept as a version that the library, the CLI and the
资料库 page restore. The kills are real (SIGKILL of a child process in the middle of the change).
Fake embedder."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from _reliability import ROOT, run_cli, serve, settings_env, snapshot
from assistant.indexing.build import build_index, ensure_index
from assistant.indexing.embed import load_embedder
from assistant.indexing.load import load_index
from assistant.library.journal import PREFIX, recover
from assistant.library.operations import Library, LibraryError

DOC = "minhang-2023-priorities-article"
VERSION = "# 闵行区2023年重点工作（修订）\n\n虹桥国际中央商务区新增总部企业12家。\n".encode()
NEW_TEXT, OLD_TEXT = "新增总部企业12家", "虹桥国际开放枢纽"

# the change, in a child process that SIGKILLs itself at `where`: in the build (embedding), as it starts, or just before the commit
_CHILD = """
import os, signal, sys
from assistant.config import load_settings
from assistant.indexing.embed import load_embedder
from assistant.library import journal
from assistant.library.operations import Library

where, doc, token = sys.argv[1:4]
real = load_embedder("fake:64")

class Killed:
    def encode_document(self, texts, **kwargs):
        if where == "build":
            os.kill(os.getpid(), signal.SIGKILL)
        return real.encode_document(texts, **kwargs)
    def __getattr__(self, name):
        return getattr(real, name)
    def __getitem__(self, index):
        return real[index]
    def __len__(self):
        return len(real)

if where == "commit":
    journal.Transaction.commit = lambda self: os.kill(os.getpid(), signal.SIGKILL)
if where == "index":  # as the build starts (a remove embeds nothing)
    import assistant.indexing.build
    assistant.indexing.build.build_index = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
library = Library(load_settings(), embedder=Killed())
library.replace(doc, token) if token else library.remove(doc)
"""


@pytest.fixture()
def built(fake_settings, tmp_path):
    settings = fake_settings.replace(data_dir=str(tmp_path / "data"))
    build_index(settings, progress=False)
    return settings


def _corpus(settings) -> dict:
    """Every file of corpus/ with its content (times change when a rollback rewrites the catalog)."""
    return {k: v[0] for k, v in snapshot(Path(settings.corpus_dir)).items()}


def _entry(settings, doc_id: str = DOC) -> dict | None:
    catalog = tomllib.loads((Path(settings.corpus_dir) / "catalog.toml").read_text(encoding="utf-8"))
    return next((e for e in catalog["document"] if e["doc_id"] == doc_id), None)


def _killed(settings, where: str, token: str = "") -> None:
    env = settings_env(settings, ASSISTANT_DATA_DIR=settings.data_dir)
    child = subprocess.run([sys.executable, "-c", _CHILD, where, DOC, token], env=env, cwd=str(ROOT), capture_output=True, timeout=120)
    assert child.returncode == -9, child.stderr.decode()


def _restart(settings) -> tuple[list[str], object, float]:
    """What the app does at start before it listens: recover, then load the index (building it only when needed)."""
    started = time.perf_counter()
    notes = recover(settings)
    index, report = ensure_index(settings, embedder=load_embedder(settings.model), progress=False)
    return notes, report, time.perf_counter() - started


def _text(index, doc_id: str = DOC) -> str:
    return "".join(c.text for c in index.chunks if c.doc_id == doc_id)


def test_kill_9_during_the_build_of_a_replace_is_rolled_back_at_start_without_a_rebuild(built):
    before, served = _corpus(built), load_index(built).path
    token = Library(built).stage(f"{DOC}-v2.md", iter([VERSION])).token
    _killed(built, "build", token)
    corpus = Path(built.corpus_dir)
    assert (corpus / f"{DOC}.md").exists() and list(corpus.glob(f"{PREFIX}*"))  # the half-applied change
    notes, report, seconds = _restart(built)
    assert report is None, report.summary()  # before: the index was rebuilt here, before the server listened
    assert seconds < 5 and any("rolled back" in n for n in notes), notes
    assert _corpus(built) == before and not list(corpus.glob(f"{PREFIX}*"))
    index = load_index(built)  # the previous index, current for the restored corpus
    assert index.path == served and OLD_TEXT in _text(index) and NEW_TEXT not in _text(index)
    Library(built).replace(DOC, token)  # the upload is still staged: the change can be made again
    assert NEW_TEXT in _text(load_index(built))


def test_the_app_answers_within_5_s_of_a_restart_after_a_kill_9(built):
    """The real thing: `python app.py` after a kill -9 in the middle of a replace. The port answers at
    once (503 "starting" until the chat is built), the change is rolled back, the index loads unbuilt."""
    import tempfile

    from _reliability import free_port

    token = Library(built).stage(f"{DOC}-v2.md", iter([VERSION])).token
    _killed(built, "build", token)
    url = f"http://127.0.0.1:{free_port()}"
    env = settings_env(built, ASSISTANT_DATA_DIR=built.data_dir)
    with tempfile.TemporaryFile() as output:
        started = time.monotonic()
        app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", url.rsplit(":", 1)[1]], env=env, cwd=str(ROOT),
                               stdout=output, stderr=subprocess.STDOUT)
        try:
            first = ready = None
            while ready is None and time.monotonic() - started < 120 and app.poll() is None:
                try:
                    status = httpx.get(url + "/", timeout=2).status_code
                except httpx.HTTPError:
                    status = None
                if status is not None and first is None:
                    first = (time.monotonic() - started, status)
                if status == 200:
                    ready = time.monotonic() - started
                time.sleep(0.05)
            assert httpx.get(url + "/library/documents", timeout=10).status_code == 200
        finally:
            app.terminate()
            app.wait(timeout=20)
        output.seek(0)
        log = output.read().decode("utf-8", "replace")
    assert ready is not None, log
    assert first[0] < 5 and first[1] in (200, 503), (first, log)  # before: nothing for 30 s (the rebuild, then the chat)
    assert "recovery: rolled back an interrupted replace" in log and "chunks, loaded)" in log, log


def test_kill_9_after_the_build_finishes_the_change_at_start(built):
    token = Library(built).stage(f"{DOC}-v2.md", iter([VERSION])).token
    old = (Path(built.corpus_dir) / f"{DOC}.txt").read_bytes()
    _killed(built, "commit", token)  # killed after the new index was swapped in
    notes, report, seconds = _restart(built)
    assert report is None and seconds < 5 and any("finished" in n for n in notes), notes
    assert NEW_TEXT in _text(load_index(built)) and _entry(built)["file"] == f"{DOC}.md"
    kept = Library(built).versions(DOC)  # the replaced original is a version, not lost in a trash folder
    assert len(kept) == 1 and kept[0].file.read_bytes() == old and kept[0].entry["file"] == f"{DOC}.txt"
    assert not list(Path(built.corpus_dir).glob(f"{PREFIX}*"))


def test_kill_9_during_a_remove_is_rolled_back(built):
    before = _corpus(built)
    _killed(built, "index")
    notes, report, _ = _restart(built)
    assert report is None and _corpus(built) == before and DOC in load_index(built).manifest["documents"], notes


def test_a_trash_folder_left_by_an_older_version_is_kept_and_reported(built):
    corpus = Path(built.corpus_dir)
    orphan = corpus / f"{PREFIX}0badc0de"
    orphan.mkdir()
    (orphan / f"{DOC}.txt").write_bytes(b"# the original\n\nthe replaced text\n")
    (orphan / "notes.bin").write_bytes(b"\x00")
    notes = recover(built)
    assert any(orphan.name in n and DOC in n for n in notes), notes
    assert not orphan.exists()
    kept = Library(built).versions(DOC)
    assert kept and kept[0].file.read_bytes() == b"# the original\n\nthe replaced text\n"
    assert list((corpus / ".versions" / "_orphaned" / orphan.name).glob("notes.bin"))
    load_index(built)  # nothing of it is a report: the index is still current


def test_interrupted_uploads_are_removed_at_start(built):
    uploads = Path(built.data_dir) / "uploads"
    uploads.mkdir(parents=True)
    dead, live = uploads / f"{'a' * 32}.part", uploads / f"{'b' * 32}.part"
    for path in (dead, live):
        path.write_bytes(b"half an upload")
        os.utime(path, (time.time() - 60, time.time() - 60))  # before: removed only after 24 h
    with live.open("rb") as writing:
        fcntl.flock(writing, fcntl.LOCK_EX)  # as Uploads.stage holds it while the body streams in
        notes = recover(built)
        assert not dead.exists() and live.exists(), notes
        assert any("interrupted upload" in n for n in notes)


def test_replace_keeps_the_previous_version_and_restore_brings_it_back(built):
    library = Library(built)
    old_entry, old = _entry(built), (Path(built.corpus_dir) / f"{DOC}.txt").read_bytes()
    library.replace(DOC, library.stage(f"{DOC}-v2.md", iter([VERSION])).token)
    assert not (Path(built.corpus_dir) / f"{DOC}.txt").exists()  # out of corpus/, but kept
    assert {s.doc_id: s.versions for s in library.documents()}[DOC] == 1
    change = library.restore(DOC)
    assert change.action == "restore" and change.doc_ids == [DOC]
    restored = _entry(built)
    assert (Path(built.corpus_dir) / f"{DOC}.txt").read_bytes() == old and not (Path(built.corpus_dir) / f"{DOC}.md").exists()
    assert {k: v for k, v in restored.items() if k != "restored"} == old_entry  # the entry as it was
    assert OLD_TEXT in _text(load_index(built)) and NEW_TEXT not in _text(load_index(built))
    undo = library.versions(DOC)  # the version replaced by the restore is kept in turn
    assert len(undo) == 1 and undo[0].file.read_bytes() == VERSION
    with pytest.raises(LibraryError, match="no previous version"):
        library.restore("minhang-2023-plan-report")


def test_a_removed_report_is_restorable_and_old_versions_are_pruned(built):
    settings = built.replace(keep_versions=2)
    library = Library(settings)
    for n in range(3):
        library.replace(DOC, library.stage(f"v{n}.md", iter([VERSION + f"第{n}版。\n".encode()])).token)
    assert len(library.versions(DOC)) == 2  # keep_versions
    library.remove(DOC)
    assert _entry(settings) is None and [r["doc_id"] for r in library.removed()] == [DOC]
    library.restore(DOC)
    assert _entry(settings)["file"] == f"{DOC}.md" and "第2版" in _text(load_index(settings))


def test_restore_from_the_cli(built):
    library = Library(built)
    library.replace(DOC, library.stage(f"{DOC}-v2.md", iter([VERSION])).token)
    env = settings_env(built, ASSISTANT_DATA_DIR=built.data_dir)
    listed = run_cli(["restore", DOC, "--list"], env)
    assert listed.returncode == 0 and f"{DOC}.txt" in listed.stdout.decode(), listed.stderr.decode()
    done = run_cli(["restore", DOC], env)
    assert done.returncode == 0 and f"restored: {DOC}" in done.stdout.decode(), done.stderr.decode()
    assert OLD_TEXT in _text(load_index(built))
    assert "1 previous version" in run_cli(["documents"], env).stdout.decode()
    missing = run_cli(["restore", "minhang-2023-plan-report"], env)
    assert missing.returncode == 2 and "no previous version" in missing.stderr.decode()


class _Broken:
    def __init__(self, real) -> None:
        self.real = real

    def encode_document(self, texts, **kwargs):
        raise RuntimeError("the embedding engine crashed")

    def __getattr__(self, name):
        return getattr(self.real, name)


def _wait(http: httpx.Client) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = http.get("/library/job").json()["job"]
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("the change did not finish")


def test_restore_from_the_library_page(built):
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    library = Library(built)
    library.replace(DOC, library.stage(f"{DOC}-v2.md", iter([VERSION])).token)
    assistant = Assistant.load(built, build_if_needed=False, warm=False)
    page = (ROOT / "assistant" / "serve" / "static" / "library.html").read_text(encoding="utf-8")
    assert "/library/restore" in page and "恢复上一版本" in page
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        own = {"x-library": "1", "origin": url}
        docs = {d["doc_id"]: d for d in http.get("/library/documents").json()["documents"]}
        assert docs[DOC]["versions"] == 1
        assert http.post("/library/restore", json={"doc_id": DOC}).status_code == 400  # no X-Library: not the page
        other = f"http://127.0.0.1:{int(url.rsplit(':', 1)[1]) + 1}"
        assert http.post("/library/restore", json={"doc_id": DOC}, headers={"x-library": "1", "origin": other}).status_code == 403
        nothing = http.post("/library/restore", json={"doc_id": "minhang-2023-plan-report"}, headers=own)
        assert nothing.status_code == 400 and "no previous version" in nothing.text
        assert http.post("/library/restore", json={"doc_id": DOC}, headers=own).status_code == 200
        job = _wait(http)
        assert job["state"] == "done" and job["action"] == "restore", job
        assert any(OLD_TEXT in b.text for b in assistant.documents()[DOC].blocks)  # the app serves it at once
        # a removed report is listed as restorable, and restored from there
        assert http.post("/library/remove", json={"doc_id": DOC}, headers=own).status_code == 200 and _wait(http)["state"] == "done"
        listed = http.get("/library/documents").json()
        assert [r["doc_id"] for r in listed["removed"]] == [DOC] and DOC not in {d["doc_id"] for d in listed["documents"]}
        assert http.post("/library/restore", json={"doc_id": DOC}, headers=own).status_code == 200 and _wait(http)["state"] == "done"
        assert DOC in assistant.documents()


def test_a_failed_restore_keeps_the_current_index_serving(built):
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    library = Library(built)
    library.replace(DOC, library.stage(f"{DOC}-v2.md", iter([VERSION])).token)
    assistant = Assistant.load(built, build_if_needed=False, warm=False)
    assistant.embedder = _Broken(load_embedder(built.model))
    before, served = _corpus(built), assistant.index.path
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("/library/restore", json={"doc_id": DOC}, headers={"x-library": "1"}).status_code == 200
        job = _wait(http)
        assert job["state"] == "failed" and "previous index keeps serving" in job["message"], job
        assert assistant.index.path == served and any(NEW_TEXT in b.text for b in assistant.documents()[DOC].blocks)
    assert _corpus(built) == before and len(Library(built).versions(DOC)) == 1  # still restorable
    assert load_index(built).path == served


def test_the_journal_names_every_step_before_it_is_taken(built):
    """What recovery relies on: a change's folder holds the journal and the catalog as it was."""
    from assistant.library.journal import Transaction

    tx = Transaction(Path(built.corpus_dir), Path(built.index_dir), "replace")
    journal = json.loads((tx.folder / "journal.json").read_text(encoding="utf-8"))
    assert journal["state"] == "pending" and journal["build"] == load_index(built).path.name
    assert (tx.folder / "catalog.toml").read_bytes() == (Path(built.corpus_dir) / "catalog.toml").read_bytes()
    tx.rollback()
    assert not tx.folder.exists()
