"""Duties said in a plan's prose, and the scope a part of a follow-up keeps."""

from assistant.ingest.roles import names_unit
from assistant.models import Period, Query
from assistant.query.parse import within_scope


def test_a_sentence_naming_an_organisation_states_a_duty():
    assert names_unit("区发展改革委对规划进行统筹管理，各相关部门按照职责推进规划实施。")
    assert names_unit("区教育局：每学期在各校开展不少于1次垃圾分类相关教育活动。")
    assert names_unit("各街道办事处负责居住区湿垃圾分类。")
    assert not names_unit("推进居民家庭做好日常干、湿垃圾“两分类”工作。")


def _query(text, **fields):
    return Query(text=text, standalone=text, search_text=text, **fields)


def test_a_part_naming_no_place_keeps_the_whole_question_s_scope():
    whole = _query("约束性指标举了哪几个例子？预期性指标呢？", districts=("福建省",), periods=(Period(2030, "target"),))
    part = within_scope(_query("约束性指标举了哪几个例子？"), whole)
    assert part.districts == ("福建省",) and part.periods == (Period(2030, "target"),)
    own = within_scope(_query("闵行呢？", districts=("闵行区",)), whole)
    assert own.districts == ("闵行区",)
