"""End to end on the real corpus with the real bundled model and the real FAISS index."""

import pytest

from assistant.ingest.normalize import squash

pytestmark = pytest.mark.integration


def first_text(assistant, question):
    return squash(assistant.search(question, k=5).hits[0].chunk.text)


def test_table_figure_comes_first(real_assistant):
    assert "1983.09" in first_text(real_assistant, "闵行区2023年社会消费品零售总额完成了多少？")


def test_task_owner_comes_first(real_assistant):
    hit = real_assistant.search("促进创新创业人才集聚由哪些单位牵头？", k=5).hits[0]
    assert hit.chunk.kind == "task" and "区委组织部" in hit.chunk.text


def test_english_question_finds_the_chinese_row(real_assistant):
    hits = real_assistant.search("What was Jing'an's total retail sales of consumer goods in 2023?", k=5).hits
    assert "1707.89" in squash(hits[0].chunk.text)


def test_jingan_figure_comes_first(real_assistant):
    assert "561.02" in first_text(real_assistant, "静安区2023年外贸进出口总额是多少？")


def test_answer_table_figure_with_citation(real_assistant):
    answer = real_assistant.ask("闵行区2023年社会消费品零售总额完成了多少？")
    assert not answer.refused and "1983.09" in answer.text and "[1]" in answer.text
    first = answer.citations[0]
    assert first.url == f"/source/{first.doc_id}#{first.chunk_id.split('#')[1]}" and "1983.09" in first.quote


def test_answer_task_owner(real_assistant):
    answer = real_assistant.ask("促进创新创业人才集聚由哪些单位牵头？")
    assert "区委组织部、团区委、区科委、区人社局" in answer.text and answer.citations


def test_answer_compares_two_districts(real_assistant):
    answer = real_assistant.ask("2023年闵行和静安的社会消费品零售总额分别是多少？")
    assert "1983.09" in answer.text and "1707.89" in answer.text
    assert {c.doc_id for c in answer.citations} >= {"minhang-2023-plan-report", "jingan-2023-plan-report"}


def test_english_question_is_answered_in_english(real_assistant):
    answer = real_assistant.ask("What was Jing'an's GDP growth rate in 2023?")
    assert not answer.refused and "Jing'an" in answer.text and "7%" in answer.text and "[1]" in answer.text


def test_follow_up_question_uses_history(real_assistant):
    history = [("闵行区2023年社会消费品零售总额是多少？", "社会消费品零售总额…1983.09[1]")]
    answer = real_assistant.ask("那静安呢？", history=history)
    assert "静安" in answer.standalone_question and "1707.89" in answer.text


def test_unanswerable_questions_are_refused(real_assistant):
    for question in ("浦东新区2023年地区生产总值是多少？", "闵行区2019年社会消费品零售总额是多少？"):
        answer = real_assistant.ask(question)
        assert answer.refused and "资料中未找到" in answer.text and not answer.citations and answer.closest


def test_every_citation_supports_its_sentence(real_assistant):
    from assistant.answer.verify import split_cited, support

    for question in ("静安区2023年新增发明专利授权数是多少？", "“揭榜挂帅”是什么意思？", "闵行2023年新增就业岗位多少？"):
        answer = real_assistant.ask(question)
        by_n = {c.n: c for c in answer.citations}
        chunks = {c.chunk_id: c for c in real_assistant.index.chunks}
        for sentence, markers in split_cited(answer.text):
            for n in markers:
                assert support(sentence, chunks[by_n[n].chunk_id]) > 0, (question, sentence)


def test_streaming_yields_growing_text_then_answer(real_assistant):
    events = list(real_assistant.stream("静安区2023年外贸进出口总额是多少？"))
    texts = [e for e in events if isinstance(e, str)]
    assert texts and events[-1].text.startswith(texts[0]) and "561.02" in events[-1].text


def test_langchain_runnable(real_assistant):
    runnable = real_assistant.pipeline.as_runnable()
    chunks = list(runnable.stream({"question": "静安区2023年外贸进出口总额是多少？"}))
    assert chunks[-1].citations and "561.02" in chunks[-1].text


def test_sum_over_named_items_of_one_report(real_assistant):
    # three parks of one report: each park's own figure (its row's label names it), then the sum
    answer = real_assistant.ask("把莘庄工业区、闵行经济技术开发区、紫竹高新技术产业开发区三个园区2023年的规上工业总产值加起来是多少？")
    text = squash(answer.text)
    assert not answer.refused and "1742.90" in text and all(v in text for v in ("1019.40", "551.75", "171.75"))
    assert len(answer.citations) == 3


def test_follow_up_difference_with_a_pronoun(real_assistant):
    history = [("静安商贸服务业2023年税收是多少？", "静安区商贸服务业2023年税收总收入271.18亿元")]
    answer = real_assistant.ask("它比金融服务业多多少？", history=history)
    assert not answer.refused and "136.22" in squash(answer.text)


def test_a_code_names_its_own_quantity(real_assistant):
    # PM2.5 is reported, PM10 is not: the PM2.5 sentence does not answer a PM10 question
    assert real_assistant.ask("静安区2023年PM10的平均浓度是多少？").refused
    assert not real_assistant.ask("静安区2023年PM2.5的平均浓度是多少？").refused
