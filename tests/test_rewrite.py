"""A refusal retried on the chat model's rewording of the question (answer/rewrite.py, setting
llm_rewrite), with a fake chat model through the real pipeline: prompt, call, parse, and the checks
that keep a rewrite's answer only when it answers the question asked."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from test_llm import HITS, FakeRetriever

from assistant.answer.pipeline import AnswerPipeline
from assistant.answer.retrieve import SearchResult
from assistant.answer.rewrite import build_messages, parse_rewrite
from assistant.config import load_settings

COLLOQUIAL = "闵行区2023年老百姓买东西一共花了多少钱？"  # no word of the reports: the extractive mode refuses
GOOD = "改写：闵行区2023年社会消费品零售总额是多少？"


class ScopedRetriever(FakeRetriever):
    """The fake index, searched within the Query's districts (as the real retriever's hard filter)."""

    def search(self, query, k=8, filters=None, scoped=True):
        hits = [h for h in HITS if not query.districts or h.chunk.district in query.districts]
        return SearchResult(hits, {"embed": 1.0}, best_dense=0.9)


class CountingModel(GenericFakeChatModel):
    """The fake chat model, keeping the prompts it was given."""

    prompts: list = []

    def _generate(self, messages, *args, **kwargs):
        self.prompts.append(messages)
        return super()._generate(messages, *args, **kwargs)


def ask(question, replies, history=(), rewrite=True):
    model = CountingModel(messages=iter([AIMessage(content=r) for r in replies]))
    model.prompts = []
    pipeline = AnswerPipeline(ScopedRetriever(), load_settings(llm_rewrite=rewrite), llm=model)
    events = list(pipeline.stream(question, list(history), "extractive"))
    return events[-1], model.prompts


def test_a_refusal_is_answered_on_the_rewrite_and_says_so():
    first, _ = ask(COLLOQUIAL, [], rewrite=False)
    assert first.refused
    answer, prompts = ask(COLLOQUIAL, [GOOD])
    assert not answer.refused and "1983.09" in answer.text and [c.chunk_id for c in answer.citations] == ["d#a"]
    assert answer.text.endswith("（已按报告用语改写问题后回答）")
    assert answer.standalone_question.startswith("闵行区2023年社会消费品零售总额是多少") and "社会消费品零售总额" in answer.reading
    assert answer.question == COLLOQUIAL and answer.verification["rewritten"] == 1 and answer.timings["rewrite"] >= 0
    prompt = prompts[0][-1].content
    assert f"问题：{COLLOQUIAL}" in prompt and "社会消费品零售总额" in prompt  # the closest passages' words


def test_the_setting_off_or_an_answered_question_never_calls_the_model():
    assert ask(COLLOQUIAL, [GOOD], rewrite=False)[1] == []
    answer, prompts = ask("闵行区2023年社会消费品零售总额是多少？", [GOOD])
    assert not answer.refused and prompts == [] and "rewritten" not in answer.verification


def test_a_rewrite_about_another_scope_keeps_the_refusal():
    for reply in ("静安区2023年社会消费品零售总额是多少？",  # another district
                  "闵行区2024年社会消费品零售总额是多少？",  # another year
                  "闵行区2023年社会消费品零售总额增长了多少？"):  # another measure
        answer, prompts = ask(COLLOQUIAL, [reply])
        assert answer.refused and len(prompts) == 1, reply
        assert answer.verification["rewrite_rejected"] == 1 and "改写" not in answer.text


def test_a_follow_up_shows_the_model_the_earlier_questions():
    history = [(COLLOQUIAL, "资料中未找到答案")]
    answer, prompts = ask("那静安区呢？", ["静安区2023年社会消费品零售总额是多少？"], history)
    assert f"之前的问题：{COLLOQUIAL}" in prompts[0][-1].content and "问题：那静安区呢？" in prompts[0][-1].content
    assert not answer.refused and "1707.89" in answer.text and [c.chunk_id for c in answer.citations] == ["d#b"]


def test_a_refusal_about_what_the_corpus_covers_is_not_retried():
    answer, prompts = ask("深圳市2023年老百姓买东西一共花了多少钱？", [GOOD])
    assert answer.refused and prompts == []


def test_no_model_keeps_the_refusal(monkeypatch):
    from assistant.answer import rewrite

    def broken(pipeline):
        raise RuntimeError("no model")

    monkeypatch.setattr(rewrite, "chat_model", broken)
    answer, _ = ask(COLLOQUIAL, [])
    assert answer.refused and "rewrite" in answer.timings


def test_parse_rewrite():
    q = "闵行去年买东西花了多少？"
    assert parse_rewrite("改写：闵行区2023年社会消费品零售总额是多少", q) == "闵行区2023年社会消费品零售总额是多少？"
    assert parse_rewrite("\n“闵行区2023年社会消费品零售总额是多少？”\n解释：……", q) == "闵行区2023年社会消费品零售总额是多少？"
    assert parse_rewrite("闵行区2023年社会消费品零售总额是多少？完成1983.09亿元。", q) == "闵行区2023年社会消费品零售总额是多少？"
    assert parse_rewrite("闵行去年买东西花了多少？", q) == ""  # the same question: nothing to retry
    assert parse_rewrite("What was Minhang's retail sales?", q) == ""  # not in the reports' language
    assert parse_rewrite("NOT_FOUND", q) == "" and parse_rewrite("", q) == ""
    assert parse_rewrite("闵行" * 60 + "？", q) == ""  # an essay, not a rewording


def test_prompt_holds_the_reading_and_the_reports_words():
    system, human = build_messages(COLLOQUIAL, ["之前问过的"], HITS)
    assert "区名和年份只能来自问题" in system.content
    assert "报告中的说法：\n- 闵行区｜一、执行情况｜社会消费品零售总额实现1983.09亿元" in human.content
    assert "之前的问题：之前问过的" in human.content and f"问题：{COLLOQUIAL}" in human.content
    assert human.content.endswith("改写：")


def test_a_rewrite_that_answers_is_no_rewrite():
    q = "闵行区2023年全区税收总收入是多少？"
    assert parse_rewrite("闵行区2023年税收总收入比上年增长了15亿元？", q) == ""  # a figure of its own
    assert parse_rewrite("闵行区2024年一共定了7项主要目标。", "闵行2024年一共定了多少项主要目标？") == ""  # a statement
    # a year of the earlier turns is the conversation's, not a guess
    assert parse_rewrite("静安区2023年税收总收入是多少？", "那静安呢？", ["闵行区2023年税收总收入是多少？"])


def test_a_rewrite_that_leaves_out_a_word_of_the_reports_keeps_the_refusal():
    # "零售" is the reports' word: a rewrite that only deletes it asks something broader
    question = "闵行区2023年老百姓零售买东西花了多少？"
    assert ask(question, [], rewrite=False)[0].refused
    answer, prompts = ask(question, ["闵行区2023年买东西花了多少？"])
    assert answer.refused and len(prompts) == 1 and answer.verification["rewrite_rejected"] == 1
    answer, _ = ask(question, ["闵行区2023年社会消费品零售总额是多少？"])  # the word kept: answered
    assert not answer.refused and "1983.09" in answer.text


def test_a_rewording_brings_the_reports_words_and_keeps_the_names():
    from assistant.answer.rewrite import not_a_rewording
    from assistant.query import QueryParser

    parse = QueryParser().parse
    known = {"紫竹", "高新区", "税收", "东西", "社会", "消费品", "零售", "总额", "区长", "名字", "新增", "托育"}.__contains__
    parks = parse("闵行表三里紫竹高新区2023年的税收是多少？")
    assert "高新区" in not_a_rewording(parks, parse("闵行区2023年园区税收总额是多少？"), known)  # a name of 3+ characters
    assert not_a_rewording(parks, parse("闵行区紫竹高新区2023年税收总额是多少？"), known) == ""
    shopping = parse("闵行区2023年老百姓买东西花了多少钱？")
    assert not_a_rewording(shopping, parse("闵行区2023年社会消费品零售总额是多少？"), known) == ""
    # the same words again: the extractive mode would only get a second chance at what it passed over
    assert not_a_rewording(parse("闵行区现任区长叫什么名字？"), parse("闵行区现任区长的名字是？"), known) == "brings no word of the reports"
