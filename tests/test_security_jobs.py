"""Issue 23, a library job that committed reported "failed": replace (or add) then an immediate
discard of the upload token. Corpus, catalog and index held the new file, the page said nothing
changed, and the app switched only on the next listing. Now the job's state is what happened:
after the commit the change is done (the staged upload's clean-up cannot fail it), and a token
in use by the running change cannot be discarded. Fake embedder, real uvicorn."""

from __future__ import annotations

import shutil
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from _reliability import CORPUS, serve
from assistant.config import load_settings
from assistant.indexing.build import build_index
from assistant.indexing.embed import load_embedder
from assistant.indexing.load import load_index
from assistant.library.operations import Library

DOC = "minhang-2023-priorities-article"
VERSION = "# 闵行区2023年重点工作（修订）\n\n虹桥国际中央商务区新增总部企业12家。\n".encode()


class _Slow:
    """The fake model; document embedding waits, and may run a hook first (a race, made certain)."""

    def __init__(self, real, seconds: float = 0.0, hook=None) -> None:
        self.real, self.seconds, self.hook = real, seconds, hook

    def encode_document(self, texts, **kwargs):
        if self.hook:
            self.hook()
        time.sleep(self.seconds)
        return self.real.encode_document(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __getitem__(self, index):
        return self.real[index]

    def __len__(self):
        return len(self.real)


@pytest.fixture()
def settings(tmp_path_factory, tmp_path):
    shutil.copytree(CORPUS, tmp_path / "corpus")
    settings = load_settings(corpus_dir=str(tmp_path / "corpus"), index_dir=str(tmp_path / "index"),
                             data_dir=str(tmp_path / "data"), model="fake:64", client_requests_per_minute=0)
    build_index(settings, progress=False)
    return settings


def _catalog_file(settings) -> str:
    catalog = tomllib.loads((Path(settings.corpus_dir) / "catalog.toml").read_text(encoding="utf-8"))
    return next(e["file"] for e in catalog["document"] if e["doc_id"] == DOC)


def test_a_token_discarded_during_the_build_does_not_fail_a_committed_replace(settings):
    library = Library(settings)
    upload = library.stage(f"{DOC}-v2.md", iter([VERSION]))
    library.embedder = _Slow(load_embedder(settings.model), hook=lambda: library.uploads.discard(upload.token))
    change = library.replace(DOC, upload.token)  # raised "unknown or expired" after the commit
    assert change.doc_ids == [DOC]
    assert _catalog_file(settings) == f"{DOC}.md" and (Path(settings.corpus_dir) / f"{DOC}.md").read_bytes() == VERSION
    assert any("新增总部企业12家" in c.text for c in load_index(settings).chunks if c.doc_id == DOC)


def _wait(http: httpx.Client, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get("/library/job").json()["job"]
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("the change did not finish")


@pytest.mark.parametrize("action", ["replace", "add"])
def test_replace_or_add_then_an_immediate_discard_reports_the_truth(settings, action):
    from assistant.service import Assistant
    from assistant.serve.web import create_app

    assistant = Assistant(settings, load_index(settings), _Slow(load_embedder(settings.model), seconds=0.5))
    old_build = assistant.index.path
    with serve(create_app(assistant, include_chat=False)) as url, httpx.Client(base_url=url, timeout=60) as http:
        headers = {"x-library": "1", "origin": url}
        staged = http.post("/library/upload", params={"name": "v2.md"}, headers=headers, content=VERSION).json()
        if action == "replace":
            started = http.post("/library/replace", headers=headers, json={"doc_id": DOC, "token": staged["token"]})
        else:
            fields = staged["fields"] | {"doc_id": "minhang-2023-priorities-v2"}
            started = http.post("/library/add", headers=headers, json={"items": [{"token": staged["token"], "fields": fields}]})
        assert started.status_code == 200, started.text
        discarded = http.post("/library/discard", headers=headers, json={"token": staged["token"]})
        job = _wait(http)
        assert job["state"] == "done", job
        assert discarded.status_code == 409 and "running change" in discarded.text, discarded.text
        # what the job says is what happened: the app serves the new version now, not after the next listing
        assert assistant.index.path != old_build
        doc = DOC if action == "replace" else "minhang-2023-priorities-v2"
        assert any("新增总部企业12家" in b.text for b in assistant.documents()[doc].blocks)
        assert not list((Path(settings.data_dir) / "uploads").glob(f"{staged['token']}*"))  # cleaned up after the commit
