"""A small English -> Chinese glossary of planning-report terms.

The lexical side cannot match an English question against Chinese reports; the dense
model can, but exact indicators ("total retail sales of consumer goods") are where it is
weakest. Adding the Chinese term of each English phrase found in the question gives BM25
something to match, and lets the extractive answerer label table columns in English.
"""

from __future__ import annotations

import re

EN_TO_ZH: dict[str, str] = {
    "retail sales": "社会消费品零售总额",
    "consumer goods": "社会消费品零售总额",
    "gdp": "生产总值",
    "gross domestic product": "生产总值",
    "economic output": "生产总值",
    "growth rate": "增长率",
    "budget revenue": "一般公共预算收入",
    "public budget": "一般公共预算收入",
    "fiscal revenue": "财政收入",
    "tax revenue": "税收",
    "taxes": "税收",
    "foreign trade": "外贸进出口总额",
    "imports and exports": "外贸进出口总额",
    "exports": "出口",
    "fixed asset investment": "固定资产投资",
    "fixed-asset investment": "固定资产投资",
    "industrial investment": "工业固定资产投资",
    "manufacturing": "制造业",
    "r&d": "研发",
    "research and development": "研发经费",
    "patent": "专利",
    "patents": "发明专利",
    "invention patents": "发明专利授权数",
    "high-tech enterprises": "高新技术企业",
    "high-tech": "高新技术企业",
    "unemployment": "城镇登记失业人数",
    "unemployed": "失业",
    "jobs": "就业岗位",
    "employment": "就业",
    "forest coverage": "森林覆盖率",
    "forest": "森林覆盖率",
    "green space": "绿地",
    "garbage": "生活垃圾",
    "waste": "生活垃圾",
    "recycling": "回收利用率",
    "road network density": "路网密度",
    "road network": "路网密度",
    "water quality": "水质",
    "air quality": "空气质量",
    "energy consumption": "能耗",
    "carbon": "二氧化碳排放",
    "elevators": "加装电梯",
    "elevator": "加装电梯",
    "old housing": "旧住房",
    "housing": "住房",
    "elderly care": "养老",
    "elderly": "老年",
    "nursing beds": "养老床位",
    "education": "教育",
    "schools": "学校",
    "hospital": "医院",
    "health": "卫生",
    "culture": "文化",
    "sports": "体育",
    "5g": "5G基站",
    "base stations": "基站",
    "lead unit": "牵头单位",
    "lead units": "牵头单位",
    "leads": "牵头单位",
    "responsible": "牵头单位",
    "in charge": "牵头单位",
    "task": "主要任务",
    "target": "目标",
    "targets": "目标",
    "goal": "目标",
    "result": "完成情况",
    "achieved": "完成情况",
    "actual": "完成情况",
    "headquarters": "总部",
    "multinational": "跨国公司地区总部",
    "foreign-funded": "外资",
    "foreign investment": "外资",
    "talent": "人才",
    "innovation": "创新",
    "science and technology": "科技",
    "digital transformation": "数字化转型",
    "hongqiao": "虹桥",
    "business district": "商务区",
    "zero bay": "大零号湾",
    "da ling hao wan": "大零号湾",
    "five-year plan": "十四五规划",
    "14th five-year": "十四五",
    "industrial output": "工业总产值",
    "industry": "产业",
    "enterprises": "企业",
    "companies": "企业",
    "rural revitalization": "乡村振兴",
    "transport": "交通",
    "rail transit": "轨道交通",
    "parking": "停车",
    "charging": "充电桩",
    "public culture": "公共文化设施",
    "land": "土地",
    "urban renewal": "城市更新",
    "minhang": "闵行",
    "jing'an": "静安",
    "jingan": "静安",
}

COLUMN_EN: dict[str, str] = {
    "指标名称": "indicator",
    "年度目标": "annual target",
    "全年预期目标": "annual target",
    "预期目标": "target",
    "完成情况": "result",
    "单位": "unit",
    "属性": "type",
    "牵头单位": "lead units",
    "主要任务": "task",
    "序号": "no.",
    "类别": "category",
}

_PATTERNS = sorted(EN_TO_ZH, key=len, reverse=True)
_LATIN = re.compile(r"[A-Za-z]")


def is_english(text: str) -> bool:
    """Mostly Latin letters and no more than a few Chinese characters."""
    latin = len(_LATIN.findall(text))
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    return latin > 0 and latin >= 3 * cjk


def chinese_terms(text: str) -> list[str]:
    """The Chinese terms of the English phrases found in the text, longest phrases first."""
    lowered = text.lower()
    found: list[str] = []
    for phrase in _PATTERNS:
        if re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", lowered):
            term = EN_TO_ZH[phrase]
            if term not in found:
                found.append(term)
            lowered = lowered.replace(phrase, " ")
    return found


def expand_query(question: str) -> str:
    """The question plus the Chinese terms of its English phrases (for lexical search)."""
    terms = chinese_terms(question)
    return question + (" " + " ".join(terms) if terms else "")
