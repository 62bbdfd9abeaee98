"""The Milvus store on Milvus Lite: filters equal to the retriever's scope, lexical scores equal to
bm25s, the same hits as the faiss store, incremental upsert/delete, and the alias switch that a
failed build does not move. Fake embedder, real corpus (a copy), a temporary Milvus Lite file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install -e '.[test]' installs it)")
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: the Milvus store tests need Milvus Lite")

from assistant.config import load_settings  # noqa: E402
from assistant.indexing.manifest import IndexStaleError
from assistant.indexing.build import build_index
from assistant.indexing.load import load_index  # noqa: E402
from assistant.models import Filters, Period, Query  # noqa: E402
from assistant.indexing.stores import Scope, open_search  # noqa: E402
from assistant.indexing.stores.milvus_store import MilvusStoreError, collection_names, connect, scope_expr  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
QUESTIONS = ["闵行区2023年社会消费品零售总额是多少？", "静安区2024年固定资产投资目标", "人工智能产业", "责任单位 区发展改革委",
             "what is the GDP of Minhang in 2023", "十四五 规划目标 绿色低碳"]


def _settings(root: Path, **changes):
    corpus = root / "corpus"
    if not corpus.exists():
        shutil.copytree(CORPUS, corpus)
    options = {"store": "milvus", "milvus_uri": str(root / "milvus.db")} | changes
    return load_settings(corpus_dir=str(corpus), index_dir=str(root / "index"), model="fake:64", **options)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = _settings(tmp_path_factory.mktemp("milvus"))
    build_index(settings, progress=False)
    return settings, load_index(settings)


def _bm25(index):
    """The build's bm25s index (a Milvus replica does not load it: Milvus ranks)."""
    from assistant.indexing.lexical import LexicalIndex

    return LexicalIndex.load(index.path / "lexical")


def _served_by_faiss(index, settings):
    """The same build as the faiss store serves it (a Milvus build writes no FAISS vectors: made here)."""
    from dataclasses import replace

    from assistant.indexing.build import make_faiss_index

    return replace(index, faiss_index=make_faiss_index(np.asarray(index.embeddings), settings), lexical=_bm25(index))


def _retriever(index, settings):
    from assistant.indexing.embed import load_embedder
    from assistant.indexing.load import load_facts
    from assistant.answer.retrieve import HybridRetriever

    retriever = HybridRetriever(index, load_embedder(settings.model), settings)
    # as the answer pipeline does: a chunk stating a figure of another period is in that period's scope
    retriever.coverage.add_fact_periods(load_facts(index).facts, index.positions)
    return retriever


def test_scope_filters_select_what_the_scope_mask_allows(built):
    settings, index = built
    retriever = _retriever(index, settings)
    client, collection = connect(settings), index.manifest["store"]["collection"]
    documents = sorted(index.manifest["documents"])
    stated = [Period(year, kind) for kind, year in retriever.coverage.fact_chunks]  # periods only facts give some chunks
    assert stated
    periods = sorted({p for p in retriever.coverage.periods}, key=str) + [Period(2023, "outcome"), Period(2024, "target"),
                                                                           Period(None, "fyp_target"), Period(None, "prior")] + stated
    cases = [(Query("q", "q", "q", districts=(d,)), None) for d in sorted({c.district for c in index.chunks})]
    cases += [(Query("q", "q", "q", doc_ids=(d,)), None) for d in documents]
    cases += [(Query("q", "q", "q", periods=(p,)), None) for p in periods]
    cases += [(Query("q", "q", "q", districts=("闵行区",), periods=(Period(2023, "outcome"), Period(None, "fyp_target"))), Filters(years=(2024,))),
              (Query("q", "q", "q"), Filters(years=(2021, 2025))), (Query("q", "q", "q", doc_ids=tuple(documents[:2])), None)]
    for query, filters in cases:
        expected = {index.chunks[i].chunk_id for i in np.flatnonzero(retriever.scope_mask(query, filters))}
        expr = scope_expr(Scope.of(query, filters, scoped=True))
        rows = client.query(collection, filter=expr or 'chunk_id != ""', output_fields=["chunk_id"], limit=16384)
        assert {r["chunk_id"] for r in rows} == expected, (query, filters, expr)
    assert len(cases) > 15


# A plan of 2026-2030 (not in the seed corpus): its targets answer a question about any year of its period,
# and its table's “十四五”完成值 column (facts of the 2025 outcome) answers about 2025
PLAN_2026_2030 = """普陀区水务“十五五”规划

一、发展现状及成效

“十四五”期间，普陀区完成河道整治12公里，建成海绵城市面积8.5平方公里。

二、发展目标

到2030年，全区雨水排水能力达到5年一遇，河湖水质优良率保持100%。到2028年，完成雨污混接改造300处，新增海绵城市面积6平方公里。

表1 普陀区水务“十五五”主要指标
指标\t单位\t“十四五”完成值\t2030年目标
雨水排水能力\t年一遇\t3\t5
海绵城市面积\t平方公里\t8.5\t14.5

三、主要任务

（一）提升防汛排涝能力。推进泵站新建和改造，到2028年完成苏州河沿线排水系统提标。
"""


def _with_plan_2026_2030(root: Path):
    settings = _settings(root)
    corpus = Path(settings.corpus_dir)
    (corpus / "putuo-water-2026-2030-plan.txt").write_text(PLAN_2026_2030, encoding="utf-8")
    with open(corpus / "catalog.toml", "a", encoding="utf-8") as catalog:
        catalog.write('\n[[document]]\ndoc_id = "putuo-water-2026-2030-plan"\nfile = "putuo-water-2026-2030-plan.txt"\n'
                      'title = "普陀区水务“十五五”规划"\ndistrict = "普陀区"\nyear = "2026-2030"\nkind = "special_plan"\n')
    return settings


def test_a_plan_period_filters_alike_in_both_stores(tmp_path):
    """A five-year target of a year inside a plan's period (2028 of a 2026-2030 plan, 2023 of the 十四五
    outline) is answered by that plan's targets: coverage.period_mask (the FAISS store's post-filter)
    reads the plan's first year, and so must the Milvus filter. Before: Milvus matched only the last year.
    A row stating the 2025 outcome beside the 2030 target is in the 2025 outcome's scope in both (stated)."""
    settings = _with_plan_2026_2030(tmp_path)
    build_index(settings, progress=False)
    index = load_index(settings)
    milvus = _retriever(index, settings)
    faiss = _retriever(_served_by_faiss(index, settings), settings.replace(store="faiss"))
    client, collection = connect(settings), index.manifest["store"]["collection"]
    plan = {c.chunk_id for c in index.chunks if c.doc_id == "putuo-water-2026-2030-plan"}
    plan_targets = {c.chunk_id for i, c in enumerate(index.chunks) if c.chunk_id in plan and milvus.coverage.periods[i].kind == "fyp_target"}
    outline = {c.chunk_id for i, c in enumerate(index.chunks)
               if c.doc_id == "minhang-14th-five-year-plan" and milvus.coverage.periods[i].kind == "fyp_target"}
    assert len(plan_targets) >= 2 and outline
    rows_2025 = {index.chunks[i].chunk_id for i in milvus.coverage.fact_chunks[("outcome", 2025)]}
    assert rows_2025 and rows_2025 <= plan_targets  # the table's rows: fyp_target chunks stating 2025 outcomes
    for year in range(2020, 2032):
        for query in (Query("q", "q", "q", periods=(Period(year, "fyp_target"),)), Query("q", "q", "q", periods=(Period(year, "outcome"),)),
                      Query("q", "q", "q", districts=("普陀区",), periods=(Period(year, "fyp_target"), Period(year, "target")))):
            expected = {index.chunks[i].chunk_id for i in np.flatnonzero(faiss.scope_mask(query))}
            expr = scope_expr(Scope.of(query, None, True))
            rows = {r["chunk_id"] for r in client.query(collection, filter=expr, output_fields=["chunk_id"], limit=16384)}
            assert rows == expected, (year, query.districts, expr)
        single = {index.chunks[i].chunk_id for i in np.flatnonzero(faiss.scope_mask(Query("q", "q", "q", periods=(Period(year, "fyp_target"),))))}
        assert (plan_targets <= single) == (2026 <= year <= 2030), year
        assert (outline <= single) == (2021 <= year <= 2025), year
        outcome = {index.chunks[i].chunk_id for i in np.flatnonzero(faiss.scope_mask(Query("q", "q", "q", periods=(Period(year, "outcome"),))))}
        assert (rows_2025 <= outcome) == (year == 2025), year
    # a question about 2028 finds the plan's targets in both stores (FAISS post-filters its top 4 x 50
    # of 632 chunks, so it may see fewer of the three in scope than Milvus, which filters first)
    query = Query("到2028年雨污混接改造", "到2028年雨污混接改造", "到2028年雨污混接改造", districts=("普陀区",),
                  periods=(Period(2028, "fyp_target"),))
    ours, theirs = milvus.search(query, k=5), faiss.search(query, k=5)
    found = [h.chunk.chunk_id for h in ours.hits]
    assert theirs.hits and {h.chunk.chunk_id for h in theirs.hits} <= set(found) <= plan_targets
    assert "雨污混接" in ours.hits[0].chunk.text and ours.hits[0].chunk.chunk_id == theirs.hits[0].chunk.chunk_id


def test_an_index_of_an_older_milvus_schema_is_stale(built):
    """A collection without plan_first cannot take the period filter: the index is rebuilt, not served."""
    from assistant.indexing.stores import store_reasons

    settings, index = built
    assert store_reasons(index.manifest, settings) == []
    older = dict(index.manifest, store={k: v for k, v in index.manifest["store"].items() if k != "schema"})
    assert any("schema 1" in reason for reason in store_reasons(older, settings))


def test_sparse_lexical_scores_are_bm25s_scores(built):
    settings, index = built
    store = open_search(index, settings)
    everything = np.ones(len(index.chunks), dtype=bool)
    bm25 = _bm25(index)
    for question in QUESTIONS:
        exact = bm25.scores(question)
        ranked = store.lexical(question, 50, everything, Scope())
        assert ranked.order, question
        for i in ranked.order:
            assert ranked.scores[i] == pytest.approx(float(exact[i]), rel=1e-4, abs=1e-4)
        cutoff = ranked.scores[ranked.order[-1]]
        assert int((exact > cutoff + 1e-3).sum()) < len(ranked.order)  # nothing better was left out


def test_milvus_and_faiss_stores_return_the_same_hits(built):
    from assistant.query import QueryParser

    settings, index = built
    milvus = _retriever(index, settings)
    faiss = _retriever(_served_by_faiss(index, settings), settings.replace(store="faiss"))
    assert milvus.store.kind == "milvus" and faiss.store.kind == "faiss"
    parser = QueryParser(faiss.coverage, index.words.known)
    unscoped = 0
    for question in QUESTIONS + ["营商环境 优化", "绿色低碳 发展", "人才 引进"]:
        query = parser.parse(question)
        ours, theirs = milvus.search(query, k=10), faiss.search(query, k=10)
        allowed = milvus.scope_mask(query)
        assert all(allowed[milvus._position[h.chunk.chunk_id]] for h in ours.hits), question
        if allowed.all():
            unscoped += 1
            assert [h.chunk.chunk_id for h in ours.hits] == [h.chunk.chunk_id for h in theirs.hits], question
            assert ours.best_dense == pytest.approx(theirs.best_dense, abs=1e-5)
            continue
        # in a scope Milvus filters before ranking (the exact in-scope top 50); FAISS filters its top 200 after
        vector = milvus.embed_query(query.search_text)
        inside = np.flatnonzero(allowed)
        exact = inside[np.argsort(-(index.embeddings[inside] @ vector), kind="stable")][:50]
        assert milvus.store.dense(vector, 50, allowed, Scope.of(query, None, True)).order == [int(i) for i in exact], question
    assert unscoped >= 2


def test_concurrent_searches_get_their_own_results(built):
    """The app searches from several threads at once (Gradio workers, the API): one client, no cross-talk."""
    from concurrent.futures import ThreadPoolExecutor

    settings, index = built
    store = open_search(index, settings)
    everything = np.ones(len(index.chunks), dtype=bool)
    expected = {q: store.lexical(q, 20, everything, Scope()).order for q in QUESTIONS}
    vectors = {i: index.embeddings[i] for i in range(0, len(index.chunks), 97)}
    nearest = {i: store.dense(v, 5, everything, Scope()).order for i, v in vectors.items()}
    with ThreadPoolExecutor(4) as pool:
        lexical = list(pool.map(lambda q: (q, store.lexical(q, 20, everything, Scope()).order), QUESTIONS * 3))
        dense = list(pool.map(lambda i: (i, store.dense(vectors[i], 5, everything, Scope()).order), list(vectors) * 3))
    assert all(order == expected[q] for q, order in lexical)
    assert all(order == nearest[i] and order[0] == i for i, order in dense)


def test_incremental_build_upserts_changed_chunks_and_switches_the_alias(tmp_path):
    settings = _settings(tmp_path, milvus_lexical="bm25")
    first = build_index(settings, progress=False)
    client = connect(settings)
    name_a, name_b = collection_names(settings)
    assert client.describe_alias(settings.milvus_collection)["collection_name"] == name_a
    assert any("628 rows written" in note or "rows written" in note for note in first.notes)
    report = Path(settings.corpus_dir) / "jingan-2023-plan-report.txt"
    report.write_text(report.read_text(encoding="utf-8") + "\n\n四、附加说明\n\n新增一段用于测试增量构建的文字。\n", encoding="utf-8")
    second = build_index(settings, progress=False)
    index = load_index(settings)
    assert index.manifest["store"]["collection"] == name_b  # a fresh standby: every row written
    assert client.describe_alias(settings.milvus_collection)["collection_name"] == name_b
    third_report = build_index(settings, progress=False)  # back to collection a: only the new paragraph's chunks
    note = next(n for n in third_report.notes if n.startswith("store milvus"))
    written = int(note.split(" rows written")[0].split()[-1])
    assert 0 < written <= 3, note
    assert client.describe_alias(settings.milvus_collection)["collection_name"] == name_a
    index = load_index(settings)
    new = next(i for i, c in enumerate(index.chunks) if "增量构建" in c.text)
    everything = np.ones(len(index.chunks), dtype=bool)
    assert open_search(index, settings).dense(index.embeddings[new], 5, everything, Scope()).order[0] == new
    # a report cut short: its vanished chunks are deleted from the standby collection
    report.write_text(report.read_text(encoding="utf-8")[:2000], encoding="utf-8")
    fourth = build_index(settings, progress=False)
    note = next(n for n in fourth.notes if n.startswith("store milvus"))
    assert int(note.split(" deleted")[0].split()[-1]) > 10, note
    index = load_index(settings)
    assert open_search(index, settings) is not None and second.chunks > fourth.chunks


def test_sparse_lexical_after_an_incremental_build_ranks_the_new_chunk_first(tmp_path):
    """Our weights carry the corpus statistics: a build rewrites the rows whose weights moved, and the
    scores stay bm25s's. (Milvus Lite's BM25 function keeps statistics per segment, so a chunk upserted
    alone scores low there until segments merge: eval/reports/milvus.md.)"""
    settings = _settings(tmp_path)
    build_index(settings, progress=False)
    report = Path(settings.corpus_dir) / "jingan-2023-plan-report.txt"
    report.write_text(report.read_text(encoding="utf-8") + "\n\n四、附加说明\n\n新增一段用于测试增量构建的文字。\n", encoding="utf-8")
    build_index(settings, progress=False)
    build_index(settings, progress=False)  # onto the first collection again: an incremental update
    index = load_index(settings)
    ranked = open_search(index, settings).lexical("增量构建", 5, np.ones(len(index.chunks), dtype=bool), Scope())
    assert "增量构建" in index.chunks[ranked.order[0]].text
    assert ranked.scores[ranked.order[0]] == pytest.approx(float(_bm25(index).scores("增量构建").max()), rel=1e-4)


def test_a_build_updates_a_released_standby_collection(tmp_path):
    """A collection made by an earlier process (or before a server restart) starts released; a new
    build process queries its rows first. Before: MilvusException "call load() before search/get/query"."""
    settings = _settings(tmp_path)
    build_index(settings, progress=False)
    build_index(settings, progress=False)  # both collections exist now
    client = connect(settings)
    for name in collection_names(settings):
        client.release_collection(name)
    report = build_index(settings, progress=False)  # onto the released standby: nothing changed, nothing written
    note = next(n for n in report.notes if n.startswith("store milvus"))
    assert " 0 rows written, 0 deleted" in note, note
    index = load_index(settings)
    assert open_search(index, settings).lexical("固定资产", 3, np.ones(len(index.chunks), dtype=bool), Scope()).order


def test_failed_build_leaves_alias_and_index_serving(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    build_index(settings, progress=False)
    before = load_index(settings)
    client = connect(settings)
    live = client.describe_alias(settings.milvus_collection)["collection_name"]

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("assistant.indexing.build._swap_current", boom)
    report = Path(settings.corpus_dir) / "jingan-2023-plan-report.txt"
    report.write_text(report.read_text(encoding="utf-8") + "\n\n新段落。\n", encoding="utf-8")
    with pytest.raises(OSError):
        build_index(settings, progress=False)
    assert client.describe_alias(settings.milvus_collection)["collection_name"] == live
    index = load_index(settings, check=False)
    assert index.path == before.path and index.manifest["store"]["collection"] == live
    hits = _retriever(index, settings).search(Query("固定资产投资", "固定资产投资", "固定资产投资"), k=3).hits
    assert hits and all(h.chunk.chunk_id in {c.chunk_id for c in before.chunks} for h in hits)


def test_a_milvus_replica_loads_neither_faiss_nor_bm25s(built):
    """N replicas share Milvus: each holds the chunk table and the words, not N copies of the search index."""
    settings, index = built
    assert not (index.path / "vectors.faiss").exists() and index.manifest["faiss"]["type"] == "none"
    assert index.faiss_index is None and index.lexical is None
    assert isinstance(index.embeddings, np.memmap)  # builds read it; a replica does not
    assert index.words.known("固定资产") and "静安区" in index.words.by_district
    with pytest.raises(IndexStaleError, match="built for the Milvus store"):
        load_index(settings.replace(store="faiss"))
    query = Query("固定资产投资", "固定资产投资", "固定资产投资")
    hits = _retriever(index, settings).search(query, k=3, filters=Filters(years=(2023,))).hits
    assert hits and all("2023" in h.chunk.year for h in hits)


@pytest.mark.integration
def test_the_app_on_the_milvus_store_answers_with_citations_the_viewer_opens(real_assistant, tmp_path):
    """The real model and corpus: the served index copied (its embeddings are reused), rebuilt for Milvus Lite."""
    from assistant.service import Assistant

    built = tmp_path / "index" / "builds" / "real"
    shutil.copytree(real_assistant.index.path, built)
    (tmp_path / "index" / "current").symlink_to(built)
    settings = real_assistant.settings.replace(index_dir=str(tmp_path / "index"), store="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    assert build_index(settings, progress=False).embedded == 0
    assistant = Assistant.load(settings, build_if_needed=False, progress=False)
    assert assistant.retriever.store.kind == "milvus"
    answer = assistant.ask("静安区2023年外贸进出口总额是多少？")
    assert not answer.refused and "561.02" in answer.text and answer.citations
    documents = assistant.documents()
    for citation in answer.citations:
        blocks = documents[citation.doc_id].blocks  # the viewer's page for the citation
        anchor = citation.url.split("#")[1].split("-p")[0]  # a long block's pieces are "-p1", "-p2"
        assert any(b.anchor == anchor for b in blocks), citation.url
        assert citation.quote and citation.quote in assistant.chunk_text(citation.chunk_id)


def test_store_mismatch_and_bad_uri_say_what_to_do(tmp_path):
    settings = _settings(tmp_path, store="faiss")
    build_index(settings, progress=False)
    with pytest.raises(IndexStaleError, match="store = milvus"):
        load_index(settings.replace(store="milvus"))
    with pytest.raises(MilvusStoreError, match="built for the faiss store"):
        open_search(load_index(settings), settings.replace(store="milvus"))
    with pytest.raises(MilvusStoreError, match="neither a Milvus Lite file"):
        connect(settings.replace(milvus_uri=str(tmp_path / "milvus")))
    with pytest.raises(ValueError, match="not one of faiss, milvus"):
        open_search(load_index(settings), settings.replace(store="elastic"))
    milvus = settings.replace(store="milvus")
    build_index(milvus, progress=False)
    connect(milvus).drop_collection(load_index(milvus).manifest["store"]["collection"])  # a Milvus that lost its data
    with pytest.raises(IndexStaleError, match="collection policy_chunks_sparse_a is missing"):
        load_index(milvus)
