"""Splitting a several-part question into the parts answered on their own (assistant/query/parts.py)."""

from assistant.query.parts import question_parts
from assistant.vocab import vocabulary


def parts(text):
    return question_parts(text, vocabulary())


def test_chinese_parts_split_at_question_marks():
    assert parts("静安2023年加装电梯开工目标完成了吗？完工了多少台？") == ["静安2023年加装电梯开工目标完成了吗？", "完工了多少台？"]


def test_a_clause_that_asks_nothing_stays_with_its_neighbour():
    # "占全区比重？" asks no question word of its own: one question about one sentence
    assert parts("静安金融服务业2023年税收多少？占全区比重？") == ["静安金融服务业2023年税收多少？占全区比重？"]
    assert parts("闵行表三里，四个园区2023年的税收加起来是多少？") == ["闵行表三里，四个园区2023年的税收加起来是多少？"]


def test_english_parts_split_at_and_plus_a_question_word():
    assert parts("How many piles did Minhang add in 2023, and how many does it plan for 2024?") == [
        "How many piles did Minhang add in 2023", "how many does it plan for 2024?"]
    assert parts("What does TOD stand for?") == ["What does TOD stand for?"]


def test_too_many_parts_is_one_question():
    text = "A多少？B多少？C多少？D多少？"
    assert parts(text) == [text]
