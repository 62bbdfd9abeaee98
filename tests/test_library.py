"""The knowledge base (issue 11): add, replace, remove and list reports through library.py, the CLI
and the /library routes; every kind of bad input is named and changes nothing (corpus/, catalog,
index, uploads); a failed build leaves the previous index serving; the running Assistant switches
to the new index without a restart. Fake embedder, a copy of the real corpus without the 静安 report."""

from __future__ import annotations

import io
import json
import shutil
import socket
import time
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest

from _reliability import CORPUS, assert_clean_failure, run_cli, serve, settings_env, snapshot
from assistant.config import load_settings
from assistant.indexing.build import build_index
from assistant.indexing.load import load_index, load_structure
from assistant.library.operations import Library, LibraryError
from assistant.library.catalog import CatalogFields, prefill
from assistant.ingest.readers import SUPPORTED_SUFFIXES

JINGAN = "jingan-2023-plan-report"
FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"
TRADE_Q = "静安区2023年外贸进出口总额是多少？"


def _drop_jingan(corpus: Path) -> None:
    catalog = corpus / "catalog.toml"
    text = catalog.read_text(encoding="utf-8")
    catalog.write_text(text[: text.index(f'[[document]]\ndoc_id = "{JINGAN}"')], encoding="utf-8")
    (corpus / f"{JINGAN}.txt").unlink()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """corpus/ without the 静安 report and its fake-embedder index, built once for the module."""
    base = tmp_path_factory.mktemp("library-base")
    shutil.copytree(CORPUS, base / "corpus")
    _drop_jingan(base / "corpus")
    build_index(_settings(base), progress=False)
    return base


def _settings(base: Path, **overrides):
    return load_settings(corpus_dir=str(base / "corpus"), index_dir=str(base / "index"), data_dir=str(base / "data"),
                         model="fake:64", **overrides)


@pytest.fixture()
def base(built, tmp_path) -> Path:
    shutil.copytree(built, tmp_path / "kb", symlinks=True)
    return tmp_path / "kb"


def _files(folder: Path) -> dict:
    """path -> (content, mode) of every file but the lock files (a rolled-back catalog is rewritten: its time changes)."""
    return {path: (content, mode) for path, (content, _, mode) in snapshot(folder).items() if not path.endswith(".lock")}


def _state(base: Path) -> dict:
    """Everything a refused change must leave as it was (and no upload left behind)."""
    uploads = base / "data" / "uploads"
    return {"corpus": _files(base / "corpus"), "index": _files(base / "index"),
            "uploads": sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []}


def _jingan_txt(tmp_path: Path, name: str = f"{JINGAN}.txt") -> Path:
    path = tmp_path / name
    shutil.copyfile(CORPUS / f"{JINGAN}.txt", path)
    return path


def test_prefill_gives_the_catalog_fields_from_the_titles():
    for entry in tomllib.loads((CORPUS / "catalog.toml").read_text(encoding="utf-8"))["document"]:
        fields = prefill(entry["title"] + ".pdf", "", set())
        assert (fields.district, fields.year, fields.kind) == (entry["district"], entry["year"], entry["kind"]), entry["title"]
    # an ASCII file name gives the id; a taken id gets a suffix; the title then comes from the first lines
    fields = prefill(f"{JINGAN}.txt", (CORPUS / f"{JINGAN}.txt").read_text(encoding="utf-8"), {JINGAN})
    assert fields.doc_id == f"{JINGAN}-2" and fields.district == "静安区" and fields.year == "2023-2024"
    assert fields.title.startswith("关于静安区2023年国民经济和社会发展计划执行情况") and fields.kind == "yearly_report"


def test_add_list_remove_round_trip(base, tmp_path):
    settings = _settings(base)
    library = Library(settings)
    before = load_index(settings)
    upload = library.stage_file(_jingan_txt(tmp_path))
    assert upload.fields.district == "静安区" and upload.format == "txt"
    edited = CatalogFields(JINGAN, "静安区2023年计划执行与2024年计划草案", "静安区", "2023-2024", "yearly_report")
    change = library.add([(upload.token, edited)])
    assert change.reused == len(before.chunks) and change.embedded > 100  # only the new report was embedded
    entry = next(e for e in tomllib.loads((base / "corpus" / "catalog.toml").read_text(encoding="utf-8"))["document"]
                 if e["doc_id"] == JINGAN)
    assert entry["file"] == f"{JINGAN}.txt" and entry["title"] == edited.title and entry["sha256"] == upload.sha256
    assert "# One [[document]] per report" in (base / "corpus" / "catalog.toml").read_text(encoding="utf-8")  # comments kept
    status = {s.doc_id: s for s in library.documents()}[JINGAN]
    assert status.state == "indexed" and status.chunks == change.embedded and status.blocks > 100 and status.indexed_at
    index = load_index(settings)  # the corpus and the index agree (not stale)
    assert any(c.doc_id == JINGAN for c in index.chunks)
    assert not list((base / "data" / "uploads").iterdir())  # the staged upload was consumed

    # a rebuild from scratch gives the same index: corpus/ + catalog are the source of truth
    shutil.rmtree(base / "index")
    build_index(settings, progress=False)
    rebuilt = load_index(settings)
    assert [c.chunk_id for c in rebuilt.chunks] == [c.chunk_id for c in index.chunks]

    change = library.remove(JINGAN)
    assert change.embedded == 0
    after = load_index(settings)
    assert not any(c.doc_id == JINGAN for c in after.chunks) and JINGAN not in after.manifest["documents"]
    assert JINGAN not in load_structure(after) and not (base / "corpus" / f"{JINGAN}.txt").exists()
    from assistant.ingest.facts import FACTS_FILE

    assert JINGAN in (rebuilt.path / FACTS_FILE).read_text(encoding="utf-8")  # its facts were there...
    assert JINGAN not in (after.path / FACTS_FILE).read_text(encoding="utf-8")  # ...and went with it
    assert after.lexical.bm25.scores["num_docs"] == len(after.chunks) and "静安" not in after.lexical.vocab  # and its BM25 terms
    assert [c.chunk_id for c in after.chunks] == [c.chunk_id for c in before.chunks]


def test_replace_swaps_the_file_and_keeps_the_entry(base, tmp_path):
    settings = _settings(base)
    library = Library(settings)
    doc = "minhang-2023-priorities-article"
    new = tmp_path / "article-v2.md"
    new.write_text("# 全面深化虹桥国际开放枢纽（闵行区2023年重点工作）\n\n虹桥国际中央商务区新增总部企业12家，示范性新材料产业园启动建设。\n",
                   encoding="utf-8")
    change = library.replace(doc, library.stage_file(new).token)
    assert change.doc_ids == [doc]
    entry = next(e for e in tomllib.loads((base / "corpus" / "catalog.toml").read_text(encoding="utf-8"))["document"] if e["doc_id"] == doc)
    assert entry["file"] == f"{doc}.md" and entry["kind"] == "article" and entry["source"] == "article-v2.md"
    assert not (base / "corpus" / f"{doc}.txt").exists()
    texts = [c.text for c in load_index(settings).chunks if c.doc_id == doc]
    assert any("新增总部企业12家" in t for t in texts) and len(texts) < 5


# ----------------------------------------------------------------------------- bad input changes nothing


def _refused(library: Library, base: Path, name: str, data: bytes, *needles: str) -> str:
    before = _state(base)
    with pytest.raises(LibraryError) as caught:
        library.stage(name, iter([data]))
    message = str(caught.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert _state(base) == before
    return message


@pytest.mark.parametrize("name", ["../../etc/evil.txt", "sub/dir.txt", "a\\b.txt", "..", "x..txt", "evil\x00.txt"])
def test_file_name_with_path_parts_is_refused(base, name):
    message = _refused(Library(_settings(base)), base, name, b"\xe6\x8a\xa5\xe5\x91\x8a text", "file name")
    assert repr(name[:120]) in message or "control characters" in message


def test_over_the_size_limit(base):
    library = Library(_settings(base, max_upload_bytes=1000))
    _refused(library, base, "big.txt", "报告".encode() * 400, "big.txt", "larger than the upload limit")


def test_same_content_twice(base, tmp_path):
    library = Library(_settings(base))
    existing = (CORPUS / "minhang-2023-plan-report.txt").read_bytes()
    _refused(library, base, "copy-of-a-report.txt", existing, "copy-of-a-report.txt", "minhang-2023-plan-report", "same content")
    upload = library.stage_file(_jingan_txt(tmp_path))
    library.add([(upload.token, upload.fields)])
    _refused(library, base, "again.txt", (CORPUS / f"{JINGAN}.txt").read_bytes(), "again.txt", upload.fields.doc_id)


def test_interrupted_upload_leaves_nothing(base):
    library = Library(_settings(base))
    before = _state(base)

    def cut_off():
        yield "报告".encode() * 10_000
        raise ConnectionResetError("client went away")

    with pytest.raises(LibraryError, match=r"half\.txt: the upload was interrupted after 60000 bytes"):
        library.stage("half.txt", cut_off())
    assert _state(base) == before


def _docx_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            for _ in range(40):
                member.write(b"\0" * 2**20)  # 40 MB of zeros: ~40 KB packed
    return path


@pytest.mark.skipif(".docx" not in SUPPORTED_SUFFIXES, reason="the DOCX reader is not there yet")
def test_zip_bomb_named_docx(base, tmp_path):
    data = _docx_bomb(tmp_path / "bomb.docx").read_bytes()
    _refused(Library(_settings(base)), base, "report.docx", data, "report.docx", "zip bomb")


@pytest.mark.skipif(".docx" not in SUPPORTED_SUFFIXES, reason="the DOCX reader is not there yet")
def test_corrupt_docx(base):
    good = (FORMATS / f"{JINGAN}.docx").read_bytes() if (FORMATS / f"{JINGAN}.docx").exists() else b"PK\x03\x04" + b"x" * 5000
    _refused(Library(_settings(base)), base, "broken.docx", good[: len(good) // 3], "broken.docx")


@pytest.mark.skipif(".pdf" not in SUPPORTED_SUFFIXES or not (FORMATS / "encrypted.pdf").exists(), reason="no PDF reader or fixture")
def test_encrypted_pdf(base):
    message = _refused(Library(_settings(base)), base, "secret.pdf", (FORMATS / "encrypted.pdf").read_bytes(), "secret.pdf")
    assert "password" in message.lower() or "encrypt" in message.lower() or "加密" in message


@pytest.mark.skipif(".pdf" not in SUPPORTED_SUFFIXES, reason="the PDF reader is not there yet")
def test_pdf_without_text(base, tmp_path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(595, 842)
    pdf.new_page(595, 842)
    buffer = io.BytesIO()
    pdf.save(buffer)
    message = _refused(Library(_settings(base)), base, "scan.pdf", buffer.getvalue(), "scan.pdf")
    assert "text" in message.lower() or "文字" in message


def test_unsupported_type(base):
    _refused(Library(_settings(base)), base, "photo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100, "photo.png", "not supported")


class _WrappedEmbedder:
    """A model standing for `real` in everything but document embedding (subclasses change that)."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __getitem__(self, index):
        return self.real[index]

    def __len__(self):
        return len(self.real)


class _BrokenEmbedder(_WrappedEmbedder):
    """Embeds nothing: the build fails after the report was written to corpus/ and the catalog."""

    def encode_document(self, texts, **kwargs):
        raise RuntimeError("the embedding engine crashed")


def test_failed_build_restores_corpus_and_keeps_the_index(base, tmp_path):
    from assistant.indexing.embed import load_embedder

    settings = _settings(base)
    library = Library(settings, embedder=_BrokenEmbedder(load_embedder(settings.model)))
    upload = library.stage_file(_jingan_txt(tmp_path))
    before = {"corpus": _files(base / "corpus"), "index": _files(base / "index")}
    with pytest.raises(RuntimeError, match="crashed"):
        library.add([(upload.token, upload.fields)])
    assert {"corpus": _files(base / "corpus"), "index": _files(base / "index")} == before
    load_index(settings)  # still current: corpus and index agree


def test_bad_catalog_fields_are_named(base, tmp_path):
    library = Library(_settings(base))
    upload = library.stage_file(_jingan_txt(tmp_path))
    before = {"corpus": _files(base / "corpus"), "index": _files(base / "index")}
    for fields, needle in ((CatalogFields("Bad Id", "t", "静安区", "2023", "yearly_report"), "doc_id"),
                           (CatalogFields("minhang-2023-plan-report", "t", "静安区", "2023", "yearly_report"), "already in the catalog"),
                           (CatalogFields("ok", "t", "静安区", "twenty", "yearly_report"), "year"),
                           (CatalogFields("ok", "t", "静安区", "2023", "novel"), "kind")):
        with pytest.raises(LibraryError, match=needle) as caught:
            library.add([(upload.token, fields)])
        assert f"{JINGAN}.txt" in str(caught.value)
    assert {"corpus": _files(base / "corpus"), "index": _files(base / "index")} == before


# ----------------------------------------------------------------------------- the CLI


def test_cli_add_documents_remove(base, tmp_path):
    settings = _settings(base)
    env = settings_env(settings, ASSISTANT_DATA_DIR=settings.data_dir)
    added = run_cli(["add", str(_jingan_txt(tmp_path)), "--district", "静安区", "--year", "2023-2024"], env)
    assert added.returncode == 0, added.stderr.decode()
    assert f"added: {JINGAN}" in added.stdout.decode()
    listed = json.loads(run_cli(["documents", "--json"], env).stdout)
    assert {d["doc_id"]: d["state"] for d in listed}[JINGAN] == "indexed"
    removed = run_cli(["remove", JINGAN], env)
    assert removed.returncode == 0, removed.stderr.decode()
    assert JINGAN not in {e["doc_id"] for e in tomllib.loads((base / "corpus" / "catalog.toml").read_text(encoding="utf-8"))["document"]}
    assert JINGAN not in load_index(settings).manifest["documents"]
    assert_clean_failure(run_cli(["remove", JINGAN], env), JINGAN, "in the catalog")  # the library's errors as `error:` lines


# ----------------------------------------------------------------------------- the /library routes


class _SlowDocuments(_WrappedEmbedder):
    """The fake model with slow document embedding: a rebuild takes a while (queries stay fast)."""

    def __init__(self, real, seconds: float) -> None:
        super().__init__(real)
        self.seconds = seconds

    def encode_document(self, texts, **kwargs):
        time.sleep(self.seconds)
        return self.real.encode_document(texts, **kwargs)


def _wait(http: httpx.Client, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get("/library/job").json()["job"]
        if job["state"] != "running":
            return job
        time.sleep(0.1)
    raise AssertionError("the change did not finish")


def test_web_upload_add_switches_the_running_app(base):
    from assistant.indexing.embed import load_embedder
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    settings = _settings(base)
    assistant = Assistant(settings, load_index(settings), _SlowDocuments(load_embedder(settings.model), 1.5))
    old_build = assistant.index.path
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert "资料库" in http.get("/library").text
        headers = {"X-Library": "1"}
        assert http.post("/library/upload", params={"name": "a.txt"}, content=b"x").status_code == 400  # no header: CSRF
        staged = http.post("/library/upload", params={"name": f"{JINGAN}.txt"}, headers=headers,
                           content=(CORPUS / f"{JINGAN}.txt").read_bytes())
        assert staged.status_code == 200, staged.text
        upload = staged.json()
        assert upload["fields"]["district"] == "静安区" and upload["fields"]["doc_id"] == JINGAN
        started = http.post("/library/add", headers=headers, json={"items": [{"token": upload["token"], "fields": upload["fields"]}]})
        assert started.status_code == 200, started.text
        # while the build runs, questions are answered from the previous index
        assert http.post("/library/reindex", headers=headers).status_code == 409
        hits = assistant.search(TRADE_Q, k=5).hits
        assert all(h.chunk.doc_id != JINGAN for h in hits) and assistant.index.path == old_build
        job = _wait(http)
        assert job["state"] == "done", job
        assert assistant.index.path != old_build and JINGAN in assistant.documents()
        assert any(h.chunk.doc_id == JINGAN for h in assistant.search(TRADE_Q, k=5).hits)
        assert http.get(f"/source/{JINGAN}").status_code == 200
        docs = {d["doc_id"]: d for d in http.get("/library/documents").json()["documents"]}
        assert docs[JINGAN]["state"] == "indexed" and docs[JINGAN]["chunks"] > 100

        assert http.post("/library/remove", headers=headers, json={"doc_id": JINGAN}).status_code == 200
        assert _wait(http)["state"] == "done"
        assert JINGAN not in assistant.documents() and http.get(f"/source/{JINGAN}").status_code == 404
        assert all(h.chunk.doc_id != JINGAN for h in assistant.search(TRADE_Q, k=5).hits)


def test_web_failed_build_keeps_the_previous_index_serving(base):
    from assistant.indexing.embed import load_embedder
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    settings = _settings(base)
    assistant = Assistant(settings, load_index(settings), _BrokenEmbedder(load_embedder(settings.model)))
    before = {"corpus": _files(base / "corpus"), "index": _files(base / "index")}
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        upload = http.post("/library/upload", params={"name": "jingan.txt"}, headers={"X-Library": "1"},
                           content=(CORPUS / f"{JINGAN}.txt").read_bytes()).json()
        http.post("/library/add", headers={"X-Library": "1"}, json={"items": [{"token": upload["token"], "fields": upload["fields"]}]})
        job = _wait(http)
        assert job["state"] == "failed" and "crashed" in job["message"] and "previous index keeps serving" in job["message"]
        assert JINGAN not in assistant.documents() and assistant.search("闵行区2023年社会消费品零售总额", k=1).hits
    assert {"corpus": _files(base / "corpus"), "index": _files(base / "index")} == before


def test_web_upload_limits_and_interrupted_upload(base):
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    settings = _settings(base, max_upload_bytes=200_000)
    assistant = Assistant.load(settings, build_if_needed=False, warm=False)
    before = _state(base)
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        headers = {"X-Library": "1"}
        big = http.post("/library/upload", params={"name": "大文件.txt"}, headers=headers, content=b"a" * 300_000)
        assert big.status_code == 413 and "大文件.txt" in big.text and "upload limit" in big.text
        chunked = http.post("/library/upload", params={"name": "streamed.txt"}, headers=headers,
                            content=iter([b"a" * 100_000] * 3))  # no Content-Length: counted while streamed
        assert chunked.status_code == 413 and "streamed.txt" in chunked.json()["error"]["message"]
        bad = http.post("/library/upload", params={"name": "../x.txt"}, headers=headers, content=b"text")
        assert bad.status_code == 400 and "path separator" in bad.json()["error"]["message"]
        # the client goes away after 50 KB of a 150 KB upload
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /library/upload?name=half.txt HTTP/1.1\r\nHost: x\r\nX-Library: 1\r\n"
                         b"Content-Length: 150000\r\n\r\n" + b"a" * 50_000)
            time.sleep(0.5)
        time.sleep(1.0)
        assert http.get("/library/documents").status_code == 200
    assert _state(base) == before


def test_web_admin_password(base):
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    settings = _settings(base, admin_password="s3cret-admin", login_delay_seconds=0.0)
    assistant = Assistant.load(settings, build_if_needed=False, warm=False)
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/library").text
        assert 'id="login"' in page and '<div id="app" hidden>' in page
        assert http.get("/library/documents").status_code == 403
        assert http.post("/library/upload", params={"name": "a.txt"}, headers={"X-Library": "1"}, content=b"x").status_code == 403
        assert http.post("/library/login", data={"password": "wrong"}).status_code == 401
        assert http.post("/library/login", data={"password": "s3cret-admin"}).status_code == 303
        assert http.get("/library/documents").status_code == 200
        assert '<div id="app" >' in http.get("/library").text


def test_web_picks_up_a_change_made_with_the_cli(base, tmp_path):
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    settings = _settings(base)
    assistant = Assistant.load(settings, build_if_needed=False, warm=False)
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        library = Library(settings)  # as `assistant add` does, in another process
        upload = library.stage_file(_jingan_txt(tmp_path))
        library.add([(upload.token, upload.fields)])
        assert JINGAN not in assistant.documents()
        listed = http.get("/library/documents").json()
        assert listed["job"]["action"] == "reload" and listed["job"]["state"] == "done"
        assert JINGAN in assistant.documents() and JINGAN in {d["doc_id"] for d in listed["documents"]}


def test_web_library_needs_the_chat_login_when_auth_is_set(base):
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    settings = _settings(base, auth="staff:s3cret-pass", admin_password="admin-pass", login_delay_seconds=0.0,
                         login_max_failures=3)
    assistant = Assistant.load(settings, build_if_needed=False, warm=False)
    with serve(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert http.get("/library").status_code == 303  # to the chat's login
        assert http.get("/library/documents").status_code == 401
        assert http.post("/library/upload", params={"name": "a.txt"}, headers={"X-Library": "1"}, content=b"x").status_code == 401
        assert http.post("/library/login", data={"password": "admin-pass"}).status_code == 401  # not logged in to the chat
        assert http.post("/login", data={"username": "staff", "password": "s3cret-pass"}).status_code == 200
        assert 'id="login"' in http.get("/library").text and http.get("/library/documents").status_code == 403
        for _ in range(2):
            assert http.post("/library/login", data={"password": "guess"}).status_code == 401
        assert http.post("/library/login", data={"password": "admin-pass"}).status_code == 303
        assert http.get("/library/documents").status_code == 200
        for _ in range(3):  # the admin password is throttled like the chat's login
            http.post("/library/login", data={"password": "guess"})
        assert http.post("/library/login", data={"password": "admin-pass"}).status_code == 429


def test_web_replace_and_discard(base):
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    settings = _settings(base)
    assistant = Assistant.load(settings, build_if_needed=False, warm=False)
    doc = "minhang-2023-priorities-article"
    version = "# 闵行区2023年重点工作（修订）\n\n虹桥国际中央商务区新增总部企业12家。\n".encode()
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        headers = {"X-Library": "1"}
        staged = http.post("/library/upload", params={"name": "v2.md"}, headers=headers, content=version).json()
        other = http.post("/library/upload", params={"name": "other.md"}, headers=headers, content=b"# other\n\ntext\n").json()
        assert http.post("/library/discard", headers=headers, json={"token": other["token"]}).json() == {"ok": True}
        assert sorted(p.name for p in (base / "data" / "uploads").iterdir()) == [f"{staged['token']}.json", f"{staged['token']}.md"]
        assert http.post("/library/replace", headers=headers, json={"doc_id": doc, "token": staged["token"]}).status_code == 200
        assert _wait(http)["state"] == "done"
        blocks = [b.text for b in assistant.documents()[doc].blocks]
        assert any("新增总部企业12家" in t for t in blocks) and len(blocks) < 5
        assert not list((base / "data" / "uploads").iterdir())
        missing = http.post("/library/remove", headers=headers, json={"doc_id": "no-such-report"})
        assert missing.status_code == 400 and "no-such-report" in missing.json()["error"]["message"]
        expired = http.post("/library/replace", headers=headers, json={"doc_id": doc, "token": staged["token"]})
        assert expired.status_code == 400 and "unknown or expired" in expired.json()["error"]["message"]
        assert http.post("/library/reindex", headers=headers).status_code == 200  # the 重建索引 button
        job = _wait(http)
        assert job["state"] == "done" and job["message"].startswith("0 chunks embedded"), job
