"""Text normalization: one set of rules for display, one fold for matching.

Display text keeps the report's own punctuation but drops PDF artifacts (spaces inside
Chinese text, `_{2.5}` sub-scripts). `fold` is for comparing and searching only: it
unifies full-width/ASCII forms, sub/superscripts and whitespace, so that a quote, a
number or a query term matches whatever form the report used.
"""

from __future__ import annotations

import re
import unicodedata

# CJK ideographs, CJK punctuation and full-width forms, plus the curly quotes Chinese text
# uses: a space next to any of these is a PDF/docx artifact, never meaningful.
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3200-\u32ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u2018\u2019\u201c\u201d\u2014\u2026"
)
_CJK_CHAR = re.compile(f"[{_CJK}]")
_SPACE_NEAR_CJK = re.compile(f"(?<=[{_CJK}])[ \t\u00a0\u3000]+|[ \t\u00a0\u3000]+(?=[{_CJK}])")
_LATEX_SUB = re.compile(r"\s*_\{([^{}]*)\}")
_MULTI_SPACE = re.compile(r"[ \t\u00a0]{2,}")
_SUPERSCRIPT_MARKERS = re.compile("[\u00b9\u00b2\u00b3\u2070\u2074-\u2079]")
_WHITESPACE = re.compile(r"\s+")

SENTENCE_END = "。！？；!?;…"
# A paragraph ending in one of these is complete; anything else may have been cut by a page break.
PARAGRAPH_END = SENTENCE_END + "：:」』）)”\"'"


def is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR.match(ch))


def clean_line(line: str) -> str:
    """Display form of one line: no spaces beside Chinese text, `PM _{2.5}` -> `PM2.5`."""
    line = line.replace("\ufeff", "").replace("\r", "")
    line = _LATEX_SUB.sub(r"\1", line)
    line = _SPACE_NEAR_CJK.sub("", line)
    line = _MULTI_SPACE.sub(" ", line)
    return line.strip()


def join_lines(left: str, right: str) -> str:
    """Join a hard-wrapped line: no space between Chinese text, one space between Latin words."""
    if not left:
        return right
    if not right:
        return left
    if is_cjk(left[-1]) or is_cjk(right[0]):
        return left + right
    return left + " " + right


def ends_paragraph(text: str) -> bool:
    text = text.rstrip()
    return bool(text) and text[-1] in PARAGRAPH_END


def fold(text: str) -> str:
    """Matching form: NFKC (full-width -> ASCII, subscripts -> digits), footnote marks dropped,
    Chinese punctuation mapped to its ASCII twin, whitespace collapsed, lower case."""
    text = _SUPERSCRIPT_MARKERS.sub("", text)
    text = _LATEX_SUB.sub(r"\1", text)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_PUNCT_FOLD)
    text = _SPACE_NEAR_CJK.sub("", text)
    return _WHITESPACE.sub(" ", text).strip().lower()


def squash(text: str) -> str:
    """`fold` without any whitespace: for "does this passage contain that quote" checks."""
    return _WHITESPACE.sub("", fold(text))


_PUNCT_FOLD = str.maketrans(
    {
        "、": ",",
        "。": ".",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "《": "<",
        "》": ">",
        "【": "[",
        "】": "]",
        "—": "-",
        "–": "-",
        "·": ".",
        "…": "...",
    }
)

# Numbers as written: 1983.09, 4,769.5, 6.3%, 5-10. Thousands separators are dropped.
_NUMBER = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.])\d+(?:\.\d+)?")


def letters(text: str) -> str:
    """Letters and digits only: "推进浦江、马桥、华漕" -> "推进浦江马桥华漕" (tokens cut across punctuation match)."""
    return re.sub(r"[^\w]|_", "", squash(text))


def abbreviates(short: str, name_text: str) -> bool:
    """"紫竹高新区" for 紫竹高新技术产业开发区: a name of four or more characters said short, its first two
    characters as written and the rest in order within a name's length after them."""
    if len(short) < 4:
        return False
    at = name_text.find(short[:2])
    while at >= 0:
        window, rest = iter(name_text[at + 2: at + 2 + 3 * len(short)]), short[2:]
        if all(ch in window for ch in rest):
            return True
        at = name_text.find(short[:2], at + 1)
    return False


def numbers(text: str) -> list[str]:
    """The numbers in a text, folded (full-width digits -> ASCII, no thousands separators)."""
    folded = unicodedata.normalize("NFKC", _SUPERSCRIPT_MARKERS.sub("", text))
    return [m.group(0).replace(",", "") for m in _NUMBER.finditer(folded)]


_CHINESE_NUMERALS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                     "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


def chinese_numeral(text: str) -> int | None:
    """一 -> 1, 十二 -> 12, 二十三 -> 23; None when the text is not a simple numeral."""
    if not text or any(ch not in _CHINESE_NUMERALS for ch in text):
        return None
    if "十" not in text:
        value = 0
        for ch in text:
            value = value * 10 + _CHINESE_NUMERALS[ch]
        return value
    tens, _, units = text.partition("十")
    if len(tens) > 1 or len(units) > 1 or "十" in units:  # 一二十, 十十: not a numeral
        return None
    return (_CHINESE_NUMERALS[tens] if tens else 1) * 10 + (_CHINESE_NUMERALS[units] if units else 0)


# A sentence runs to its end mark (with closing quotes or brackets after it) or to the text's end.
_SENTENCE = re.compile(r"[^。；！？!?]*[。；！？!?]+[”’\"」』）)]*|[^。；！？!?]+$")


def sentences(text: str) -> list[str]:
    """The sentences (and ；-separated items) of a text, exactly as written (not stripped)."""
    return [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0).strip()]
