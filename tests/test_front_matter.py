"""Questions about a document itself answered from its front matter (assistant/answer/front_matter.py)."""

from assistant.answer.front_matter import FrontMatter
from assistant.models import Chunk, Query


def _doc(doc_id, lines):
    return [Chunk(f"{doc_id}#b{i}", doc_id, f"b{i}", "paragraph", text, text, (), "静安区", "2026", lines[0])
            for i, text in enumerate(lines)]


NOTICE = _doc("notice", [
    "静安区发展和改革委员会、静安区科技和经济委员会关于印发《静安区三年行动方案（2026—2028年）》的通知",
    "静发改委〔2026〕6号", "区各有关单位:", "《静安区三年行动方案（2026—2028年）》已经区政府同意。现印发给你们，请按照执行。",
    # the signature read as one block with the plan's title after it
    "上海市静安区发展和改革委员会上海市静安区科技和经济委员会2026年3月25日静安区三年行动方案（2026—2028年）",
    "为深入贯彻党中央、国务院关于加快发展人工智能的决策部署，特制定本行动方案。"])
REPORT = _doc("report", ["2026年江西省政府工作报告", "——2026年1月27日在江西省第十四届人民代表大会第四次会议上", "省长 叶建春",
                         "各位代表：", "现在，我代表江西省人民政府，向大会报告工作，请予审议。"])

OUTLINE = _doc("outline", ["虹口区国民经济和社会发展第十五个五年规划纲要",
                           "（2026年1月22日上海市虹口区第十七届人民代表大会第九次会议通过）", "第一篇 开启新征程"])
PROVINCE = _doc("province", ["2026年福建省政府工作报告", "——2026年1月27日在福建省第十四届人民代表大会第四次会议上",
                             "福建省人民政府省长 赵龙", "各位代表："])


def ask(doc_id, *fields):
    book = FrontMatter(NOTICE + REPORT + OUTLINE + PROVINCE)
    return [(s.text, s.chunk_ids) for s in book.answer(Query(text="", standalone="", search_text="", metadata=fields), doc_id)]


def test_number_issuers_and_date_of_a_notice_each_cited_to_its_line():
    assert ask("notice", "number", "issuer", "date") == [
        ("文号为静发改委〔2026〕6号。", ["notice#b1"]),
        ("印发单位为上海市静安区发展和改革委员会、上海市静安区科技和经济委员会。", ["notice#b4"]),
        ("日期为2026年3月25日。", ["notice#b4"])]


def test_who_delivered_a_work_report_when_and_where():
    assert ask("report", "speaker", "date", "meeting") == [
        ("报告人为省长叶建春。", ["report#b2"]), ("日期为2026年1月27日。", ["report#b1"]),
        ("报告于2026年1月27日在江西省第十四届人民代表大会第四次会议上作出。", ["report#b1"])]


def test_a_field_the_opening_does_not_state_is_said_missing():
    texts = [t for t, _ in ask("report", "number", "speaker")]
    assert texts == ["报告人为省长叶建春。", "文件开头和落款中没有写明文号。"]


def test_an_outline_passed_by_a_congress_gives_the_day_and_the_meeting():
    assert ask("outline", "date", "meeting") == [
        ("日期为2026年1月22日。", ["outline#b1"]),
        ("2026年1月22日经上海市虹口区第十七届人民代表大会第九次会议通过。", ["outline#b1"])]


def test_a_speaker_after_the_government_s_name():
    assert ask("province", "speaker") == [("报告人为省长赵龙。", ["province#b2"])]


# the signature's date read as one block with the plan's title and its first paragraph after it
PLAN = _doc("plan", ["关于印发《松江区综合交通发展“十五五”规划》的通知", "沪松交〔2026〕104号", "各相关部门：",
                     "经区政府第139次常务会议审议通过，现将《松江区综合交通发展“十五五”规划》印发给你们，请遵照执行。",
                     "2026年7月7日松江区综合交通发展“十五五”规划为进一步落实交通强区建设，根据《规划》编制本规划。"])


def test_a_date_run_together_with_what_follows_is_the_signature_s_date():
    book = FrontMatter(PLAN)
    answer = book.answer(Query(text="", standalone="", search_text="", metadata=("date", "meeting")), "plan")
    assert [(s.text, s.chunk_ids) for s in answer] == [
        ("日期为2026年7月7日。", ["plan#b4"]), ("经区政府第139次常务会议审议通过。", ["plan#b3"])]
