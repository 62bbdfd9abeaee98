import pytest

from assistant.ingest.normalize import chinese_numeral, clean_line, ends_paragraph, fold, join_lines, numbers, squash


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("关于静安区 2023 年国民经济和社会发展计划 执行情况", "关于静安区2023年国民经济和社会发展计划执行情况"),
        ("PM 2.5 and PM 10", "PM 2.5 and PM 10"),  # English keeps its spaces
        ("“ 4+4 ”特色产业", "“4+4”特色产业"),
        ("大气污染物（PM _{2.5} 、PM ₁₀）", "大气污染物（PM2.5、PM ₁₀）"),
        ("  \t ", ""),
        ("", ""),
    ],
)
def test_clean_line(raw, expected):
    assert clean_line(raw) == expected


def test_join_lines_keeps_latin_spaces_only():
    assert join_lines("将环境治理责任逐级落实到街镇(居村、楼宇)、产业园区(企", "业),在能力建设") == "将环境治理责任逐级落实到街镇(居村、楼宇)、产业园区(企业),在能力建设"
    assert join_lines("Transit Oriented", "Development") == "Transit Oriented Development"
    assert join_lines("", "x") == "x"


def test_paragraph_end():
    assert ends_paragraph("全年完成产业结构调整企业15家。")
    assert ends_paragraph("各位代表：")
    assert not ends_paragraph("推进“一轴三带”建设，四大功")
    assert not ends_paragraph("")


def test_fold_unifies_widths_and_punctuation():
    assert fold("（一）实施，２０２３年") == fold("(一)实施,2023年")
    assert squash("2000 以上， 力争") == squash("2000以上,力争")
    assert fold("AEO 高级认证⁵") == fold("AEO高级认证")


def test_numbers():
    assert numbers("1,983.09亿元，增长６.３%，5-10个") == ["1983.09", "6.3", "5", "10"]
    assert numbers("无数字") == []


def test_chinese_numeral():
    assert chinese_numeral("十") == 10
    assert chinese_numeral("二十三") == 23
    assert chinese_numeral("七") == 7
    assert chinese_numeral("abc") is None
