"""A broken corpus, through a real index build (fake embedder): every broken file or catalog entry
is named with its problem, the good reports are indexed, and nothing in the corpus folder changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _reliability import CORPUS, settings_env, snapshot
from assistant.config import load_settings
from assistant.ingest.corpus import MAX_FILE_BYTES, load_corpus
from assistant.indexing.manifest import IndexProblem
from assistant.indexing.build import build_index
from assistant.indexing.load import load_index

GOOD = ("jingan-2023-plan-report", "minhang-2023-plan-report")
BAD_NAME = b"bad-name-\xff.txt"


def _entry(doc_id: str, file: str, **extra: str) -> str:
    lines = ["[[document]]", f'doc_id = "{doc_id}"', f'file = "{file}"']
    lines += [f'{key} = "{value}"' for key, value in extra.items()]
    return "\n".join(lines) + "\n\n"


def make_broken_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    catalog = ""
    for doc_id in GOOD:  # two real reports with their real metadata
        shutil.copy(CORPUS / f"{doc_id}.txt", corpus)
        catalog += _entry(doc_id, f"{doc_id}.txt", title=doc_id, district="静安区" if "jingan" in doc_id else "闵行区",
                          year="2023-2024", kind="yearly_report")
    (corpus / "gbk.txt").write_bytes("闵行区2023年国民经济和社会发展规划执行情况".encode("gbk"))
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "blank.txt").write_text(" \n\u3000\n\t\n", encoding="utf-8")
    (corpus / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with open(corpus / "huge.txt", "wb") as handle:  # sparse: instant, no disk used
        handle.truncate(MAX_FILE_BYTES + 1)
    (corpus / "dup.txt").write_text("重复的报告。\n", encoding="utf-8")
    (root / "outside.txt").write_text("一、外部文件\n\n不应被索引。\n", encoding="utf-8")
    catalog += _entry("gbk", "gbk.txt") + _entry("empty", "empty.txt") + _entry("blank", "blank.txt")
    catalog += _entry("binary", "binary.txt") + _entry("huge", "huge.txt")
    catalog += _entry(GOOD[0], "dup.txt")  # duplicate doc_id
    catalog += _entry("missing", "missing.txt")  # file does not exist
    catalog += _entry("escape", "../outside.txt")  # outside the corpus folder
    catalog += _entry("Bad ID!", "dup.txt")  # not a slug
    catalog += _entry("odd-kind", "odd.txt", kind="novel")  # unknown kind: loaded with a warning
    (corpus / "odd.txt").write_text("一、其他\n\n一段正常的文字。\n", encoding="utf-8")
    (corpus / "catalog.toml").write_text(catalog, encoding="utf-8")
    # not in the catalog
    (corpus / "extra.txt").write_text("一、未登记的报告\n\n未登记报告的内容照样被索引。\n", encoding="utf-8")
    (corpus / "utf16.txt").write_bytes("一、报告\n\n内容。".encode("utf-16"))
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "folder.txt").mkdir()
    with open(os.path.join(os.fsencode(corpus), BAD_NAME), "wb") as handle:
        handle.write("一、坏文件名\n\n内容。\n".encode())
    return corpus


EXPECTED_ERRORS = {  # file name -> words of the message
    "gbk.txt": "not valid UTF-8",
    "empty.txt": "is empty",
    "blank.txt": "is empty",
    "binary.txt": "binary",
    "huge.txt": "MB limit",
    "dup.txt": "duplicate doc_id",
    "missing.txt": "does not exist",
    "outside.txt": "does not exist in",
    "utf16.txt": "UTF-16",
    "passwd.txt": "outside the corpus folder",
    "folder.txt": "not a regular file",
    "bad-name-\\xff.txt": "not valid UTF-8",
}


@pytest.fixture()
def broken(tmp_path):
    corpus = make_broken_corpus(tmp_path)
    settings = load_settings(corpus_dir=str(corpus), index_dir=str(tmp_path / "index"), model="fake:64")
    return corpus, settings


def test_broken_files_are_named_and_the_good_reports_are_indexed(broken):
    corpus, settings = broken
    before = snapshot(corpus)
    report = build_index(settings, progress=False)
    after = snapshot(corpus)
    assert after == before, "the corpus folder was modified"

    index = load_index(settings)
    indexed = {c.doc_id for c in index.chunks}
    assert indexed == {*GOOD, "extra", "odd-kind"}
    assert all("外部文件" not in c.text and "root:" not in c.text for c in index.chunks)

    errors = [p for p in report.problems if p.severity == "error"]
    for name, words in EXPECTED_ERRORS.items():
        matching = [p for p in errors if Path(p.path).name == name]
        assert matching, f"no error names {name}: {[str(p) for p in errors]}"
        assert any(words in p.message for p in matching), (name, [p.message for p in matching])
    assert any("Bad ID!" in p.message and "slug" in p.message for p in errors)
    warnings = {Path(p.path).name: p.message for p in report.problems if p.severity == "warning"}
    assert "not in catalog.toml" in warnings["extra.txt"] and "unknown kind" in warnings["odd.txt"]
    # the problems travel with the index and are printable/serializable
    assert len(index.manifest["problems"]) == len(report.problems)
    report.summary().encode("utf-8")


def test_cli_build_names_the_broken_files(broken):
    from assistant.cli import app

    corpus, settings = broken
    before = snapshot(corpus)
    result = CliRunner().invoke(app, ["build"], env=settings_env(settings))
    # catalogued reports that are not indexed make the build fail (exit 1), naming each one
    assert result.exit_code == 1, result.output
    for name in ("gbk.txt", "huge.txt", "dup.txt", "missing.txt", "passwd.txt", "bad-name-\\xff.txt"):
        assert name in result.output, name
    assert "documents: 4" in result.output and "Traceback" not in result.output
    assert "error: 7 catalogued report(s) failed to load: gbk, empty, blank, binary, huge, missing, escape" in result.output
    assert snapshot(corpus) == before


@pytest.mark.parametrize("catalog", [
    b'[[document]]\ndoc_id = "x"\nfile = "unterminated.txt\n',  # not TOML
    b"[[document]\n",  # not TOML
    "[[document]]\ndoc_id = '闵行'\n".encode("gbk"),  # not UTF-8
    b"document = 5\n",  # TOML, wrong shape
    b'document = ["a", "b"]\n',  # TOML, wrong shape
])
def test_invalid_catalog_stops_the_build_and_keeps_the_previous_index(tmp_path, catalog):
    """Before: the reports were re-indexed with default metadata (no district, year or title), so
    district filters then refused questions they answered before. Now the build refuses."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = load_settings(corpus_dir=str(corpus), index_dir=str(tmp_path / "index"), model="fake:64")
    build_index(settings, progress=False)
    before_index = load_index(settings)
    (corpus / "catalog.toml").write_bytes(catalog)
    before = snapshot(corpus)
    with pytest.raises(IndexProblem, match=r"catalog\.toml (cannot be read as TOML|`document` must be)") as caught:
        build_index(settings, progress=False)
    assert "previous index (if any) is kept" in str(caught.value)
    kept = load_index(settings, check=False)
    assert kept.path == before_index.path and {c.district for c in kept.chunks} == {"闵行区", "静安区"}
    assert snapshot(corpus) == before


def test_catalog_that_is_a_folder(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / f"{GOOD[0]}.txt", corpus)
    (corpus / "catalog.toml").mkdir()
    loaded = load_corpus(corpus)
    assert [d.doc_id for d, _ in loaded.documents] == [GOOD[0]]
    assert any(p.path.endswith("catalog.toml") and p.severity == "error" for p in loaded.problems)


def test_corpus_with_only_broken_files_keeps_the_previous_index(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = load_settings(corpus_dir=str(corpus), index_dir=str(tmp_path / "index"), model="fake:64")
    build_index(settings, progress=False)
    before = load_index(settings)
    for path in corpus.glob("*.txt"):  # every report becomes unreadable
        path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(IndexProblem, match="nothing to index") as caught:
        build_index(settings, progress=False)
    assert "minhang-2023-plan-report.txt" in str(caught.value) and "previous index" in str(caught.value)
    kept = load_index(settings, check=False)
    assert kept.path == before.path and len(kept.chunks) == len(before.chunks)


# ----------------------------------------------------------------------------- issue 14: a report that fails to load

JINGAN = "jingan-2023-plan-report"
JINGAN_RETAIL_Q = "静安区2023年社会消费品零售总额是多少？"


def _break_report(corpus: Path, how: str) -> None:
    path = corpus / f"{JINGAN}.txt"
    if how == "one invalid byte":
        data = path.read_bytes()
        path.write_bytes(data[:5000] + b"\xff" + data[5001:])
    elif how == "deleted":
        path.unlink()
    elif how == "emptied":
        path.write_bytes(b"")
    else:  # "not a file" (unreadable; chmod 000 does not stop root, who runs these tests)
        path.unlink()
        path.mkdir()


@pytest.fixture()
def built(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = load_settings(corpus_dir=str(corpus), index_dir=str(tmp_path / "index"), model="fake:64")
    build_index(settings, progress=False)
    return corpus, settings


@pytest.mark.parametrize("how", ["one invalid byte", "deleted", "emptied", "not a file"])
def test_a_report_that_fails_to_load_keeps_its_previous_version(built, how):
    """Before: the build exited 0 and dropped the report, and its questions were answered from
    the other district's report. Now its previous version stays, the build says so and fails."""
    from assistant.cli import app

    corpus, settings = built
    before = {c.chunk_id: c.to_dict() for c in load_index(settings).chunks if c.doc_id == JINGAN}
    _break_report(corpus, how)
    report = build_index(settings, progress=False)
    assert not report.ok and list(report.kept) == [JINGAN] and f"{JINGAN}.txt" in report.kept[JINGAN]
    assert f"error: {JINGAN} failed to load; the index keeps its previous version" in report.summary()
    index = load_index(settings)  # not stale: a restart serves it without rebuilding
    assert {c.chunk_id: c.to_dict() for c in index.chunks if c.doc_id == JINGAN} == before
    assert index.manifest["failed"][JINGAN]["kept_previous"] is True
    result = CliRunner().invoke(app, ["build"], env=settings_env(settings))
    assert result.exit_code == 1 and f"1 catalogued report(s) failed to load: {JINGAN}" in result.output
    assert "Traceback" not in result.output


def test_the_app_keeps_the_report_and_shows_a_warning(built):
    """App start (ensure_index) on a corpus whose report broke since the last build: the previous
    version is served and the chat, the viewer, `/ask` and the CLI say so."""
    import httpx
    from fastapi.testclient import TestClient

    from _reliability import serve
    from assistant.cli import app as cli
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    corpus, settings = built
    _break_report(corpus, "one invalid byte")
    assistant = Assistant.load(settings, build_if_needed=True, progress=False)
    assert assistant.build_report is not None and JINGAN in assistant.build_report.kept
    assert any(c.doc_id == JINGAN and c.district == "静安区" for c in assistant.index.chunks)
    [warning] = assistant.warnings
    assert JINGAN in warning and "previous version" in warning and str(corpus) not in warning  # no server paths
    page = TestClient(create_app(assistant, include_chat=False)).get("/source").text
    assert 'class="banner"' in page and JINGAN in page
    with serve(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert "index-warning" in http.get("/config").text
        posted = http.post("/gradio_api/call/ask", json={"data": [JINGAN_RETAIL_Q, "静安区", "extractive"]})
        stream = http.get(f"/gradio_api/call/ask/{posted.json()['event_id']}").text
        assert '"warnings"' in stream and JINGAN in stream
    result = CliRunner().invoke(cli, ["search", JINGAN_RETAIL_Q, "-k", "1"], env=settings_env(settings))
    assert result.exit_code == 0 and "previous version" in result.output
    # the file is fixed: the next start sees that and rebuilds, and the warning is gone
    shutil.copy(CORPUS / f"{JINGAN}.txt", corpus / f"{JINGAN}.txt")
    with pytest.raises(IndexProblem, match=f"reports that load again: {JINGAN}"):
        load_index(settings)
    assert Assistant.load(settings, build_if_needed=True, progress=False).warnings == []


def test_a_missing_catalog_is_an_error_not_a_reindex_with_defaults(built):
    """Before: the build re-embedded everything with default metadata, and `--district 闵行区`
    then refused questions it answered before."""
    from assistant.cli import app

    corpus, settings = built
    before = load_index(settings)
    (corpus / "catalog.toml").unlink()
    with pytest.raises(IndexProblem, match=r"catalog\.toml is missing; restore it") as caught:
        build_index(settings, progress=False)
    assert "previous index (if any) is kept" in str(caught.value)
    result = CliRunner().invoke(app, ["build"], env=settings_env(settings))
    assert result.exit_code == 2 and "error: " in result.output and "catalog.toml is missing" in result.output
    kept = load_index(settings, check=False)
    assert kept.path == before.path
    assert {c.district for c in kept.chunks} == {"闵行区", "静安区"} and all(c.title != c.doc_id for c in kept.chunks)
