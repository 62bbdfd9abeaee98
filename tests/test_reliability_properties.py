"""Property-based tests (hypothesis): normalization, chunking, parsing and citation verification
never raise on arbitrary text, and the chunker keeps every character within its size bound."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.ingest.chunk import ChunkSettings, chunk_document, split_text
from assistant.models import Chunk, Document
from assistant.ingest.normalize import chinese_numeral, clean_line, ends_paragraph, fold, join_lines, numbers, squash
from assistant.ingest.parse import ParseError, parse_document
from assistant.answer.verify import Sentence, split_cited, support, verify

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like the reports: CJK, digits (ASCII and full-width), Chinese and ASCII punctuation,
# tabs/newlines/ideographic spaces, report markers (第一章, （一）, ——, ①, ¹, _{2.5}, [1]) plus any
# unicode at all (surrogates, NUL, control characters, emoji).
REPORT_PIECES = st.sampled_from([
    "第一章", "一、", "（一）", "1、", "2.", "——", "①", "¹", "²", "_{2.5}", "PM", "[1]", "[12]", "序号", "牵头单位",
    "表一", "图1 ", "附录", "名词解释", "。", "；", "，", "、", "：", "！", "？", "”", "“", "\t", "\n", "\n\n", "\r\n",
    " ", "\u3000", "\u00a0", "\ufeff", "1983.09", "4,769.5", "6.3%", "２０２３", "闵行区", "静安区", "社会消费品零售总额",
    "亿元", "增长", "[bookmark: _Toc1]", "*注：", "\x00", "😀", "閔行區",
])
REPORTISH = st.lists(st.one_of(REPORT_PIECES, st.text(max_size=8)), max_size=60).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=400), REPORTISH)


# ----------------------------------------------------------------------------- normalize


@FAST
@given(ANY_TEXT)
@example("一二十")  # was a KeyError in chinese_numeral
@example("\ud800")
def test_normalize_never_raises(text):
    assert isinstance(clean_line(text), str)
    folded = fold(text)
    assert isinstance(folded, str) and folded == folded.strip()
    assert not re.search(r"\s", squash(text))
    assert all(re.fullmatch(r"\d+(\.\d+)?", n) for n in numbers(text))
    assert isinstance(join_lines(text, text), str) and isinstance(ends_paragraph(text), bool)
    value = chinese_numeral(text)
    assert value is None or isinstance(value, int)


@FAST
@given(st.text(alphabet="〇零一二三四五六七八九十两百", max_size=6))
def test_chinese_numeral_is_total(text):
    value = chinese_numeral(text)
    assert value is None or value >= 0


def test_chinese_numeral_known_values():
    assert [chinese_numeral(t) for t in ("一", "十", "十二", "二十三", "二〇三五")] == [1, 10, 12, 23, 2035]
    assert chinese_numeral("一二十") is None and chinese_numeral("十十") is None and chinese_numeral("") is None


def test_fold_is_idempotent_on_examples():
    for text in ("ＰＭ_{2.5}　浓度", "1,983.09亿元", "“揭榜挂帅”", "闵行 区"):
        assert fold(fold(text)) == fold(text)


# ----------------------------------------------------------------------------- chunker


def _nonspace(text: str) -> str:
    return re.sub(r"\s", "", text)


@FAST
@given(ANY_TEXT, st.integers(min_value=1, max_value=400), st.integers(min_value=0, max_value=200))
@example("12345678", 1, 0)  # a number longer than the limit at max_chars=1 used to loop forever
@example("1" * 50, 2, 1)
def test_split_text_bounded_and_lossless(text, max_chars, overlap):
    pieces = split_text(text, max_chars, overlap)
    assert pieces, "at least one piece"
    assert all(len(p) <= max_chars for p in pieces) or pieces == [text]
    if len(text) > max_chars:
        assert all(len(p) <= max_chars for p in pieces)
    # every non-whitespace character survives, in order
    joined = "".join(pieces)
    remaining = iter(joined)
    assert all(ch in remaining for ch in _nonspace(text)), "a character was lost or reordered"


@FAST
@given(ANY_TEXT, st.integers(min_value=1, max_value=400))
def test_split_text_without_overlap_concatenates_back(text, max_chars):
    assert "".join(split_text(text, max_chars, 0)) == text


def test_split_text_rejects_a_nonsense_limit():
    with pytest.raises(ValueError, match="max_chars"):
        split_text("abc", 0, 0)


# ----------------------------------------------------------------------------- parser

DOC = Document("prop", "属性测试报告", "闵行区", "2023", "unknown", "prop.txt", "0" * 64)
TASK_TABLE = st.lists(
    st.one_of(st.sampled_from(["\t序号", "\t牵头单位", "\t类别", "\t主要任务", "\t1", "\t12", "\t", "\n", "\n\n",
                               "\t区发改委", "任务", "*注"]), st.text(max_size=6)),
    max_size=40,
).map(lambda parts: "\t类别\n\t序号\n\t牵头单位\n" + "".join(parts))


@FAST
@given(st.one_of(ANY_TEXT, TASK_TABLE))
@example("\t序号\n\t牵头\n\n\tx\n")  # a one-column header
@example("\t序号牵头\n\t1\n")
def test_parse_document_never_raises(text):
    try:
        parsed = parse_document(DOC, text)
    except ParseError:
        return  # the documented refusal ("task table without a header"), reported per file by chunk_corpus
    anchors = [b.anchor for b in parsed.blocks]
    assert len(anchors) == len(set(anchors))
    section_ids = {s.section_id for s in parsed.sections}
    assert all(b.section_id in section_ids for b in parsed.blocks)
    for chunk in chunk_document(parsed, ChunkSettings(120, 40)):
        assert len(chunk.text) <= 120 and chunk.chunk_id.startswith("prop#")


# ----------------------------------------------------------------------------- verifier


def _chunk(n: int, text: str, fields=()) -> Chunk:
    return Chunk(f"d#b{n}", "d", f"b{n}", "paragraph", text, text, ("一、",), "闵行区", "2023", "t", fields)


CHUNKS = st.lists(st.tuples(ANY_TEXT, st.lists(st.tuples(st.text(max_size=5), st.text(max_size=10)), max_size=3)),
                  max_size=5)


@FAST
@given(ANY_TEXT, CHUNKS, st.lists(st.integers(min_value=-2, max_value=7), max_size=4))
def test_verify_never_raises(sentence_text, chunk_specs, cited):
    chunks = {f"d#b{n}": _chunk(n, text, tuple(fields)) for n, (text, fields) in enumerate(chunk_specs)}
    sentences = [Sentence(sentence_text, [f"d#b{n}" for n in cited]), Sentence(sentence_text, [])]
    checked, stats = verify(sentences, chunks)
    assert len(checked) == 2
    for s in checked:
        assert set(s.chunk_ids) <= set(chunks) and len(s.chunk_ids) == len(set(s.chunk_ids))
        assert s.supported == bool(s.chunk_ids) or not sentences[1].chunk_ids
    assert stats.kept + stats.moved + stats.dropped == stats.checked
    for chunk in chunks.values():
        assert 0.0 <= support(sentence_text, chunk) <= 1.0


@FAST
@given(st.one_of(ANY_TEXT, st.lists(st.sampled_from(["A", "。", "[1]", "[2][3]", " ", ". ", "B", "\n", "[99999999999]"]),
                                    max_size=30).map("".join)))
def test_split_cited_never_raises(text):
    parts = split_cited(text)
    for sentence, markers in parts:
        assert sentence and sentence == sentence.strip()
        assert all(isinstance(m, int) and m >= 0 for m in markers)
