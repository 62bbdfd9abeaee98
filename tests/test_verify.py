"""Citation verification on crafted right and wrong citations."""

from assistant.models import Chunk
from assistant.answer.verify import Sentence, split_cited, support, verify


def chunk(cid: str, text: str, fields=()) -> Chunk:
    return Chunk(cid, "d", cid.split("#")[1], "table_row" if fields else "paragraph", text, text, (), "闵行区", "2023", "t", fields)


MINHANG = chunk("d#a", "5\t社会消费品零售总额\t预期性\t亿元\t2000以上\t1983.09",
                (("序号", "5"), ("指标名称", "社会消费品零售总额"), ("单位", "亿元"), ("年度目标", "2000以上"), ("完成情况", "1983.09")))
JINGAN = chunk("d#b", "社会消费品零售总额\t1600亿元\t1707.89亿元")
FOREST = chunk("d#c", "森林覆盖率达到19.23%，新增绿地面积100公顷。")


def test_supported_citation_is_kept():
    sentences, stats = verify([Sentence("社会消费品零售总额：年度目标 2000以上，完成情况 1983.09", ["d#a"])], {"d#a": MINHANG, "d#b": JINGAN})
    assert sentences[0].chunk_ids == ["d#a"] and stats.kept == 1 and stats.moved == 0


def test_wrong_citation_moves_to_the_supporting_chunk():
    # the 静安 figure cited to the 闵行 row: the number is not in the cited chunk
    sentences, stats = verify([Sentence("静安区社会消费品零售总额完成1707.89亿元", ["d#a"])], {"d#a": MINHANG, "d#b": JINGAN, "d#c": FOREST})
    assert sentences[0].chunk_ids == ["d#b"] and stats.moved == 1


def test_unsupported_sentence_is_marked():
    sentences, stats = verify([Sentence("闵行区2023年GDP为9999.99亿元", ["d#a"])], {"d#a": MINHANG, "d#c": FOREST})
    assert sentences[0].chunk_ids == [] and not sentences[0].supported
    assert stats.dropped == 1 and stats.unsupported_sentences == 1


def test_full_width_digits_and_separators_count_as_the_same_number():
    assert support("完成１，９８３.０９亿元的社会消费品零售总额", MINHANG) > 0.35


def test_unrelated_text_with_matching_number_is_not_support():
    assert support("新增就业岗位1983.09个，高校毕业生就业帮扶", MINHANG) < 0.35


def test_split_cited():
    assert split_cited("甲完成1983.09亿元[1]。乙为1707.89亿元[2][3]。") == [("甲完成1983.09亿元。", [1]), ("乙为1707.89亿元。", [2, 3])]
    assert split_cited("") == []
