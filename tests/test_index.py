"""Index build, incremental rebuild, staleness and the hybrid retriever, with the fake embedder."""

import json

import numpy as np
import pytest

from assistant.indexing.manifest import IndexMissingError, IndexStaleError
from assistant.indexing.build import build_index, ensure_index
from assistant.indexing.load import load_index
from assistant.query import QueryParser
from assistant.answer.retrieve import Filters, PolicyRetriever
from assistant.service import Assistant, QuestionError


def test_build_writes_a_complete_index(fake_settings):
    report = build_index(fake_settings, progress=False)
    assert report.chunks > 600 and report.embedded == report.chunks and report.reused == 0
    index = load_index(fake_settings)
    manifest = index.manifest
    assert manifest["model"]["id"].startswith("fake:64") and manifest["model"]["dim"] == 64
    assert manifest["counts"]["chunks"] == len(index.chunks) == index.faiss_index.ntotal
    assert set(manifest["documents"]) == {c.doc_id for c in index.chunks}
    assert manifest["chunking"] == {"max_chars": fake_settings.max_chars, "overlap_chars": fake_settings.overlap_chars}
    for name in ("manifest.json", "chunks.jsonl", "embeddings.npy", "vectors.faiss", "structure.jsonl", "lexical"):
        assert (index.path / name).exists()


def test_rebuild_reembeds_only_changed_chunks(fake_settings):
    first = build_index(fake_settings, progress=False)
    report_path = f"{fake_settings.corpus_dir}/jingan-2023-plan-report.txt"
    with open(report_path, "a", encoding="utf-8") as handle:
        handle.write("\n\n四、附加说明\n\n新增一段用于测试增量构建的文字。\n")
    with pytest.raises(IndexStaleError, match="changed reports: jingan-2023-plan-report"):
        load_index(fake_settings)
    second = build_index(fake_settings, progress=False)
    assert 0 < second.embedded <= 3 and second.reused == first.chunks - (first.chunks + second.embedded - second.chunks)
    assert any("增量构建" in c.text for c in load_index(fake_settings).chunks)


def test_missing_and_other_model(fake_settings):
    with pytest.raises(IndexMissingError, match="assistant build"):
        load_index(fake_settings)
    build_index(fake_settings, progress=False)
    with pytest.raises(IndexStaleError, match="built with model"):
        load_index(fake_settings.replace(model="fake:32"))
    index, report = ensure_index(fake_settings.replace(model="fake:32"), progress=False)
    assert report is not None and index.manifest["model"]["dim"] == 32


def test_failed_build_keeps_previous_index(fake_settings, monkeypatch):
    build_index(fake_settings, progress=False)
    before = load_index(fake_settings).path

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("assistant.indexing.build.make_faiss_index", boom)
    with open(f"{fake_settings.corpus_dir}/jingan-2023-plan-report.txt", "a", encoding="utf-8") as handle:
        handle.write("\n\n新段落。\n")
    with pytest.raises(RuntimeError):
        build_index(fake_settings, progress=False)
    index = load_index(fake_settings, check=False)
    assert index.path == before and len(index.chunks) > 600


def test_hybrid_search_filters_and_langchain_retriever(fake_settings):
    build_index(fake_settings, progress=False)
    assistant = Assistant.load(fake_settings, build_if_needed=False)
    result = assistant.search("促进创新创业人才集聚 牵头单位", k=5)
    assert any(h.chunk.kind == "task" and "促进创新创业人才集聚" in h.chunk.text for h in result.hits[:3])
    assert set(result.hits[0].scores_by_retriever) == {"lexical", "dense"}
    assert {"embed", "lexical", "dense", "fusion"} <= set(result.timings)
    jingan = assistant.search("社会消费品零售总额", k=5, filters=Filters(districts=("静安区",)))
    assert jingan.hits and all(h.chunk.district == "静安区" for h in jingan.hits)
    docs = PolicyRetriever(hybrid=assistant.retriever, k=3).invoke("社会消费品零售总额 1983.09")
    assert len(docs) == 3 and docs[0].metadata["url"].startswith("/source/") and "chunk_id" in docs[0].metadata
    with pytest.raises(QuestionError):
        assistant.search("   ")


def test_query_scope_from_question():
    parse = QueryParser().parse
    assert parse("静安区2023年外贸进出口总额").districts == ("静安区",)
    assert parse("What was Minhang's GDP in 2023?").districts == ("闵行区",)
    assert parse("What was Minhang's GDP in 2023?").years == (2023,)
    assert parse("十四五规划目标").period_kinds == ("fyp_target",)


def test_chunk_store_is_json_lines(fake_settings):
    build_index(fake_settings, progress=False)
    path = load_index(fake_settings).path / "chunks.jsonl"
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert {"chunk_id", "doc_id", "anchor", "text", "context", "hash"} <= set(first)


def test_words_by_group_reads_the_postings():
    from assistant.indexing.lexical import LexicalIndex, tokenize

    texts = ["闵行区社会消费品零售总额", "静安区外贸进出口总额", "闵行区研发经费支出"]
    groups = ["闵行区", "静安区", "闵行区"]
    expected: dict[str, set[str]] = {}
    for text, group in zip(texts, groups):
        expected.setdefault(group, set()).update(tokenize(text))
    assert LexicalIndex.build(texts).words_by_group(groups) == expected


def test_words_file_holds_what_the_parser_and_the_refusals_read(tmp_path):
    """words.json replaces the bm25s index for the query parser when Milvus serves the searches."""
    from assistant.indexing.lexical import IndexWords, LexicalIndex

    texts = ["闵行区社会消费品零售总额", "静安区外贸进出口总额", "闵行区研发经费支出"]
    lexical = LexicalIndex.build(texts)
    words = IndexWords.of(lexical, ["闵行区", "静安区", "闵行区"])
    words.save(tmp_path)
    loaded = IndexWords.load(tmp_path)
    assert loaded == words and loaded.vocabulary == set(lexical.vocab)
    assert loaded.known("研发") and not loaded.known("海绵城市")
    assert "研发" in loaded.by_district["闵行区"] and "研发" not in loaded.by_district["静安区"]


def test_faiss_served_index_loads_words_and_mapped_embeddings(fake_settings):
    build_index(fake_settings, progress=False)
    index = load_index(fake_settings)
    assert isinstance(index.embeddings, np.memmap) and not index.embeddings.flags.writeable
    assert index.faiss_index.ntotal == len(index.chunks) and index.lexical is not None
    assert index.words.vocabulary == set(index.lexical.vocab)


def test_served_chunks_are_the_built_chunks_read_when_used(fake_settings, tmp_path):
    from assistant.indexing.chunk_table import ChunkColumns, ChunkTable, ChunkTableError
    from assistant.indexing.build import load_chunks

    build_index(fake_settings, progress=False)
    index = load_index(fake_settings)
    built, _ = load_chunks(index.path)
    table = index.chunks
    assert isinstance(table, ChunkTable) and len(table) == len(built)
    assert list(table) == built and table[-1] == built[-1] and table[3:6] == built[3:6]
    assert all(index.positions[c.chunk_id] == i for i, c in enumerate(built))
    columns, expected = ChunkColumns.of(table), ChunkColumns.of(list(built))  # the scan's columns = the decoded chunks'
    for name in ("district", "doc_id", "kind"):
        ours, theirs = getattr(columns, name), getattr(expected, name)
        assert list(ours.names[ours.codes]) == list(theirs.names[theirs.codes])
    assert (columns.year_from == expected.year_from).all() and (columns.year_to == expected.year_to).all()
    (tmp_path / "chunks.jsonl").write_text('{"text": "not a chunk"}\n', encoding="utf-8")
    with pytest.raises(ChunkTableError, match="line 1 is not a chunk record"):
        ChunkTable(tmp_path)


def test_a_replica_keeps_reading_its_build_after_the_directory_is_removed(fake_settings):
    """A builder sharing the index volume removes builds older than the previous one: a replica
    still serving one reads its chunks and report structure from the mapped files."""
    import shutil

    from assistant.indexing.load import load_structure

    build_index(fake_settings, progress=False)
    index = load_index(fake_settings)
    structure = load_structure(index)
    doc_id = sorted(structure)[0]
    shutil.rmtree(index.path)
    assert structure[doc_id].document.doc_id == doc_id and structure[doc_id].blocks
    assert index.chunks[len(index.chunks) // 2].text
