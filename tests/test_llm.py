"""The LLM path through LangChain with a fake chat model: prompt, parsing, verification."""

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from assistant.config import load_settings
from assistant.query import QueryParser
from assistant.answer.llm import LLMConfigError, build_messages, make_chat_model, parse_answer
from assistant.models import Chunk, Hit
from assistant.answer.pipeline import AnswerPipeline


def hit(cid, text, district="闵行区"):
    return Hit(Chunk(cid, "d", cid.split("#")[1], "paragraph", text, text, ("一、执行情况",), district, "2023", "报告"), 1.0)


HITS = [hit("d#a", "社会消费品零售总额实现1983.09亿元以上，同比增长7.5%。"), hit("d#b", "社会消费品零售总额1707.89亿元。", "静安区")]


def test_prompt_numbers_passages_and_asks_for_language():
    messages = build_messages(QueryParser().parse("What was Minhang's retail sales?"), HITS)
    assert "English" in messages[0].content and "NOT_FOUND" in messages[0].content
    assert "[1] 闵行区" in messages[1].content and "[2] 静安区" in messages[1].content


def test_parse_answer_maps_markers_to_chunks():
    sentences, refused = parse_answer("闵行区社会消费品零售总额为1983.09亿元[1]。静安为1707.89亿元[2]。", HITS)
    assert not refused and [s.chunk_ids for s in sentences] == [["d#a"], ["d#b"]]
    assert parse_answer("NOT_FOUND", HITS) == ([], True)


class FakeRetriever:
    def __init__(self):
        from types import SimpleNamespace

        from assistant.ingest.coverage import Coverage

        from assistant.indexing.chunk_table import ChunkColumns

        self.chunks = [h.chunk for h in HITS]
        self.columns = ChunkColumns.of(self.chunks)
        self.is_task = self.columns.kind.isin(["task"])
        self.coverage = Coverage.from_index(self.chunks, {"d": {"kind": "yearly_report", "year": "2023-2024", "title": "报告"}})
        from assistant.indexing.lexical import IndexWords, LexicalIndex

        from assistant.ingest.facts import FactBook, extract_facts

        # an index as the pipeline reads it: BM25, and the facts and structure a build stores
        self.index = SimpleNamespace(words=IndexWords.of(LexicalIndex.build([h.chunk.text for h in HITS]), [c.district for c in self.chunks]),
                                     _facts=FactBook(extract_facts(self.chunks, self.coverage.periods)), _structure={},
                                     positions={c.chunk_id: i for i, c in enumerate(self.chunks)})

    def search(self, question, k=8, filters=None, scoped=True):
        from assistant.answer.retrieve import SearchResult

        return SearchResult(HITS, {"embed": 1.0}, best_dense=0.9)

    def next_chunk(self, chunk):
        return None


def run(text):
    model = GenericFakeChatModel(messages=iter([AIMessage(content=text)]))
    pipeline = AnswerPipeline(FakeRetriever(), load_settings(), llm=model)
    events = list(pipeline.stream("闵行和静安2023年社会消费品零售总额分别是多少？", [], "llm"))
    return events[-1]


def test_llm_answer_is_verified_and_wrong_citation_moved():
    # the model attributes 静安's figure to passage [1] (闵行): verification moves it to [2]
    answer = run("闵行区为1983.09亿元[1]。静安区为1707.89亿元[1]。")
    assert not answer.refused and answer.mode == "llm"
    assert answer.verification["moved"] == 1
    assert [c.chunk_id for c in answer.citations] == ["d#a", "d#b"]


def test_llm_made_up_figure_is_marked_unsupported():
    answer = run("闵行区为2999.99亿元[1]。")
    assert "[未核实]" in answer.text and answer.verification["unsupported_sentences"] == 1


def test_llm_not_found_is_a_refusal():
    answer = run("NOT_FOUND")
    assert answer.refused and "资料中未找到" in answer.text


def test_unconfigured_llm_says_how_to_configure(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMConfigError, match="llm_base_url"):
        make_chat_model(load_settings(llm_base_url="", llm_gguf_path=""))


# the real local model: tests/test_llm_real.py (`make test-llm`)


PROMPTS: list = []  # the messages the recording fake model was given


class RecordingFakeModel(GenericFakeChatModel):
    """The fake chat model, keeping the messages it was given."""

    def _stream(self, messages, *args, **kwargs):
        PROMPTS.append(messages)
        yield from super()._stream(messages, *args, **kwargs)


def run_recorded(question, text):
    PROMPTS.clear()
    model = RecordingFakeModel(messages=iter([AIMessage(content=text)]))
    pipeline = AnswerPipeline(FakeRetriever(), load_settings(), llm=model)
    answer = list(pipeline.stream(question, [], "llm"))[-1]
    return answer, PROMPTS[-1][-1].content


def test_the_model_gets_the_facts_the_query_and_the_computed_answer():
    answer, prompt = run_recorded("2023年闵行和静安的社会消费品零售总额哪个多？多多少？",
                                  "闵行区1983.09亿元[1]，静安区1707.89亿元[2]，闵行多275.20亿元[1][2]。")
    assert "Figures stated in the passages" in prompt
    assert "[1] 闵行区 2023年 实际完成 社会消费品零售总额: 1983.09亿元" in prompt and "[2] 静安区" in prompt
    assert "intent=comparison" in prompt and "districts=闵行区、静安区" in prompt
    assert "1983.09－1707.89＝275.20亿元" in prompt  # the analyst's arithmetic, exact
    # the model may state the computed result: it is checked against its cited inputs, not marked
    assert "[未核实]" not in answer.text and "275.20" in answer.text


def test_a_result_the_model_computed_itself_is_not_trusted():
    answer, _ = run_recorded("2023年闵行和静安的社会消费品零售总额哪个多？多多少？",
                             "闵行多280.00亿元[1][2]。")
    assert "[未核实]" in answer.text


# ----------------------------------------------------------------------------- the local model's setup (issue 26)


def test_a_missing_local_model_says_how_to_set_it_up(tmp_path, monkeypatch):
    from assistant.answer import llm_model

    monkeypatch.setattr(llm_model, "MODELS_DIR", tmp_path)
    with pytest.raises(LLMConfigError, match="make llm"):
        make_chat_model(load_settings(llm_gguf_path="bundled:qwen2.5-coder-0.5b", llm_base_url=""))
    with pytest.raises(LLMConfigError, match="LLM_MODEL=qwen2.5-coder-1.5b"):
        make_chat_model(load_settings(llm_gguf_path="bundled:qwen2.5-coder-1.5b", llm_base_url=""))
    with pytest.raises(LLMConfigError, match="does not exist"):
        make_chat_model(load_settings(llm_gguf_path=str(tmp_path / "none.gguf"), llm_base_url=""))
    with pytest.raises(LLMConfigError, match="unknown bundled model"):
        make_chat_model(load_settings(llm_gguf_path="bundled:gpt-9", llm_base_url=""))


def test_parts_are_joined_once_and_checked(tmp_path, monkeypatch):
    import hashlib

    from assistant.answer import llm_model

    parts = [tmp_path / f"part{i}.bin" for i in (1, 2)]
    for i, part in enumerate(parts):
        part.write_bytes(bytes([i]) * 1000)
    whole = b"".join(p.read_bytes() for p in parts)
    model = llm_model.Bundled("tiny", "tiny.gguf", ("p1", "p2"), "1.0", len(whole), hashlib.sha256(whole).hexdigest(), "llm")
    monkeypatch.setitem(llm_model.BUNDLED, "tiny", model)
    monkeypatch.setattr(llm_model, "part_file", lambda dist, version: parts[int(dist[1]) - 1])
    target = llm_model.assemble("tiny", tmp_path / "models", log=lambda _: None)
    assert target.read_bytes() == whole and not list((tmp_path / "models").glob("*.part"))
    parts[1].write_bytes(b"x" * 1000)  # a damaged part: the joined file is refused, the good one kept
    assert llm_model.assemble("tiny", tmp_path / "models", log=lambda _: None).read_bytes() == whole
    target.unlink()
    with pytest.raises(llm_model.ModelMissing, match="sha256"):
        llm_model.assemble("tiny", tmp_path / "models", log=lambda _: None)
    assert not target.exists() and not list((tmp_path / "models").glob("*.part"))


def test_prompt_budget_keeps_the_best_passages_and_renumbers_their_facts():
    from assistant.answer.llm import Grounding, fit_passages, format_passages
    from assistant.answer.verify import Sentence

    hits = [hit(f"d#{c}", f"第{n}段：社会消费品零售总额{n}00亿元。" * 4) for n, c in enumerate("abcd", 1)]
    one = len(format_passages(hits[:1], compact=True)) + 2
    facts = [(n, f"fact{n}") for n in range(1, 5)]
    computed = [Sentence("4减1", ["d#d", "d#a"]), Sentence("2减3", ["d#b", "d#c"])]
    shown, grounding = fit_passages(hits, Grounding(facts, computed), 2 * one)
    # the computed answer's passages first (d, a), then nothing else fits; rank order kept
    assert [h.chunk.chunk_id for h in shown] == ["d#a", "d#d"]
    assert grounding.facts == [(1, "fact1"), (2, "fact4")] and [s.text for s in grounding.computed] == ["4减1"]
    assert fit_passages(hits, None, 0) == (hits, None)
    assert [h.chunk.chunk_id for h in fit_passages(hits, None, 3 * one)[0]] == ["d#a", "d#b", "d#c"]


def test_a_small_models_answer_is_labelled_cited_or_dropped():
    query = QueryParser().parse("闵行区2023年社会消费品零售总额完成了多少？")
    label = query.reading.partition("：")[2]
    # a bare figure is labelled with the reading; left uncited, it cites the passage that states it
    sentences, refused = parse_answer("1983.09亿元", HITS, query=query)
    assert not refused and sentences[0].prefix == label + "：" and sentences[0].chunk_ids == ["d#a"]
    # an uncited figure no passage states stays uncited (so it is marked [未核实])
    assert parse_answer("闵行区社会消费品零售总额为2999.99亿元。", HITS, query=query)[0][0].chunk_ids == []
    # the reading repeated back is no answer: a refusal
    assert parse_answer(label + "[1]", HITS, query=query) == ([], True)
    # without the query (an endpoint model), the text is taken as written
    assert parse_answer("1983.09亿元", HITS)[0][0].prefix == ""


def test_an_uncited_sentence_about_two_passages_is_checked_clause_by_clause():
    query = QueryParser().parse("2023年闵行和静安的社会消费品零售总额分别是多少？")
    sentences, _ = parse_answer("闵行区社会消费品零售总额实现1983.09亿元；静安区社会消费品零售总额1707.89亿元。", HITS, query=query)
    assert [s.chunk_ids for s in sentences] == [["d#a"], ["d#b"]]


def test_a_bare_figure_no_fact_of_the_asked_subject_states_is_a_refusal():
    query = QueryParser().parse("闵行区2023年城镇登记失业率是多少？")
    assert parse_answer("4.3万", HITS, query=query, asked={"1983.09"}) == ([], True)
    assert parse_answer("1983.09亿元", HITS, query=query, asked={"1983.09"})[0][0].chunk_ids == ["d#a"]


def test_a_figure_about_another_subject_is_not_an_answer():
    query = QueryParser().parse("闵行区2023年社会消费品零售总额是多少？")
    # 7.5 is in the passage, but not a figure about what was asked: uncited, and alone a refusal
    assert parse_answer("闵行区2023年社会消费品零售总额为7.5%[1]。", HITS, query=query, asked={"1983.09"}) == ([], True)
    sentences, refused = parse_answer("闵行区社会消费品零售总额为1983.09亿元[1]。闵行区社会消费品零售总额同比增长7.5%[1]。", HITS, query=query,
                                      asked={"1983.09"})
    assert not refused and [s.chunk_ids for s in sentences] == [["d#a"], []]


def test_a_year_is_not_a_figure_and_a_restated_result_cites_its_computation():
    from assistant.answer.verify import Sentence

    query = QueryParser().parse("闵行和静安2023年社会消费品零售总额哪个高？")
    sentences, refused = parse_answer("闵行区2023年社会消费品零售总额高于静安区[1]。", HITS, query=query, asked={"1983.09"})
    assert not refused and sentences[0].chunk_ids == ["d#a"]
    done = Sentence("1983.09－1707.89＝275.20亿元", ["d#a", "d#b"], derived=("275.20",))
    sentences, _ = parse_answer("闵行多275.20亿元。", HITS, ("275.20",), query, {"1983.09", "1707.89"}, [done])
    assert sentences[0].chunk_ids == ["d#a", "d#b"] and sentences[0].derived == ("275.20",)
    assert parse_answer("275.20亿元", HITS, ("275.20",), query, {"1983.09"}, [done])[0][0].prefix  # labelled too
