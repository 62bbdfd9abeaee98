from pathlib import Path

from assistant.ingest.chunk import chunk_corpus
from assistant.ingest.corpus import load_corpus
from assistant.ingest.parse import parse_document
from assistant.models import Document

CATALOG = """
[[document]]
doc_id = "good"
file = "good.txt"
title = "好报告"
district = "闵行区"
year = "2023"
kind = "yearly_report"

[[document]]
doc_id = "missing"
file = "missing.txt"

[[document]]
doc_id = "latin1"
file = "latin1.txt"

[[document]]
doc_id = "empty"
file = "empty.txt"

[[document]]
doc_id = "good"
file = "dup.txt"
"""


def make_corpus(tmp_path: Path) -> Path:
    (tmp_path / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    (tmp_path / "good.txt").write_text("一、总体情况\n\n全年完成目标。\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("闵行".encode("gbk"))
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "dup.txt").write_text("重复。", encoding="utf-8")
    (tmp_path / "extra.txt").write_text("二、未登记报告\n\n内容。", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02abc")
    return tmp_path


def test_broken_files_are_named_and_the_rest_load(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    before = {p.name: p.read_bytes() for p in corpus_dir.iterdir()}
    loaded = load_corpus(corpus_dir)
    ids = sorted(d.doc_id for d, _ in loaded.documents)
    assert ids == ["extra", "good"]
    messages = {Path(p.path).name: p.message for p in loaded.problems}
    assert "does not exist" in messages["missing.txt"]
    assert "UTF-8" in messages["latin1.txt"]
    assert "empty" in messages["empty.txt"]
    assert "duplicate doc_id" in messages["dup.txt"]
    assert "binary" in messages["binary.txt"]
    assert any(p.severity == "warning" and "extra.txt" in p.path and "not in catalog.toml" in p.message for p in loaded.problems)
    # nothing in the corpus is modified
    assert {p.name: p.read_bytes() for p in corpus_dir.iterdir()} == before


def test_uncatalogued_file_gets_defaults(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    corpus = chunk_corpus(str(corpus_dir))
    extra = [c for c in corpus.chunks if c.doc_id == "extra"]
    assert extra and extra[0].district == "" and "内容。" in extra[-1].text


def test_file_with_only_headings_parses_to_sections_without_blocks():
    document = Document("h", "h", "", "", "unknown", "h.txt", "")
    parsed = parse_document(document, "一、总体要求\n（一）主要目标\n1、经济发展\n")
    assert [s.heading for s in parsed.sections[1:]] == ["一、总体要求", "（一）主要目标", "1、经济发展"]
    assert parsed.blocks == []


def test_missing_corpus_dir(tmp_path):
    loaded = load_corpus(tmp_path / "nope")
    assert loaded.documents == [] and "does not exist" in loaded.problems[0].message
