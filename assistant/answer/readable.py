"""The last step before an answer is shown: its sentences made ready to paste into a document.

Reports come with the marks of their making: a PDF's ASCII punctuation inside Chinese text
("增长7.05%;实现…"), spaces between characters ("2023 年"), glossary and footnote numbers left on a
term ("2 “揭榜挂帅”:", "③功能性…", "⁶碳普惠"), a table's tabs. Verification has already checked every
figure against the cited chunk, so this step only changes how the text reads, never a figure:
digits, decimal points and thousands separators between digits are left as they are. It also
drops a sentence that only repeats an earlier one (two reports saying the same; its citation joins
the first) and a line that is only a table caption.
"""

from __future__ import annotations

import re

from assistant.answer.verify import Sentence

CJK = "\u3400-\u9fff"
_TAB = re.compile(r"\s*\t+\s*")
_FOOTNOTE_MARK = re.compile(r"[¹²³⁴-⁹⁰]+\s*")
_LEADING_NUMBER = re.compile(r"^(?:\d{1,2}\s*(?=[“\"A-Za-z]|[" + CJK + r"]{2,}\s*[:：])|[①-⑳]\s*)")
_ACRONYM_NOTE = re.compile(r"(?<=[A-Z]{2}) \d{1,2}(?=[" + CJK + r"])")  # "TOD 6开发": the glossary's number
_SPACE_IN_CJK = re.compile(r"(?<=[" + CJK + r"”）])\s+(?=[" + CJK + r"“（])")
_SPACE_BEFORE_UNIT = re.compile(r"(?<=\d)\s+(?=[年月日])")
_CAPTION = re.compile(r"^(?:表|附表)\s*[0-9一二三四五六七八九十]+\s*\S{0,30}(?<![：:])$")  # a colon opens a listing
_FULL_WIDTH = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？"}
_CHINESE_SIDE = "[" + CJK + "“”‘’（）%％]"


def _is_cjk(ch: str) -> bool:
    return bool(ch) and bool(re.match(_CHINESE_SIDE, ch))


def _full_width_punctuation(text: str, english: bool) -> str:
    """ASCII , ; : ! ? next to Chinese text become ，；：！？ and a bracket pair around or beside Chinese
    text becomes （）; never between two digits (3,238.36). In an English answer only inside a
    Chinese quote (both neighbours Chinese)."""
    def paired(m: re.Match) -> str:
        before, after = text[m.start() - 1:m.start()], text[m.end():m.end() + 1]
        inner = m.group(1)
        chinese = (_is_cjk(before) and _is_cjk(after)) if english else (
            _is_cjk(before) or _is_cjk(after) or bool(re.search("[" + CJK + "]", inner)))
        return f"（{inner}）" if chinese else m.group(0)

    text = re.sub(r"\(([^()\n]{0,60})\)", paired, text)
    out = list(text)
    for i, ch in enumerate(text):
        if ch not in ",;:!?":
            continue
        before, after = text[i - 1:i], text[i + 1:i + 2]
        if before.isdigit() and after.isdigit():
            continue
        if english:
            chinese = _is_cjk(before) and _is_cjk(after)
        else:
            chinese = _is_cjk(before) and (not after or after.isspace() or _is_cjk(after) or after.isdigit() or after in "“（")
        if chinese:
            out[i] = _FULL_WIDTH[ch]
    return re.sub(r"(?<=[，；：！？])[ \t]+", "", "".join(out))


def _curly_quotes(text: str) -> str:
    """"宝宝屋" -> “宝宝屋” when the quoted words are Chinese."""
    return re.sub(r'"([^"\n]{1,40})"', lambda m: f"“{m.group(1)}”" if re.search("[" + CJK + "]", m.group(1)) else m.group(0), text)


def tidy_text(text: str, english: bool = False, glossary: bool = False) -> str:
    """One sentence's text as it should read; `glossary`: it quotes a glossary or footnote entry, whose
    leading number is the entry's, not a figure."""
    text = _TAB.sub("，", text.strip())
    text = _FOOTNOTE_MARK.sub("", text)
    if glossary:
        text = _LEADING_NUMBER.sub("", text)
    else:
        text = re.sub(r"^[①-⑳]\s*", "", text)
    text = _ACRONYM_NOTE.sub("", text)
    text = re.sub(r"\s+(?=[:：][" + CJK + "“])", "", text)  # "TOD :是" -> "TOD:是"
    text = _SPACE_IN_CJK.sub("", text)
    if not english:
        text = _SPACE_BEFORE_UNIT.sub("", text)
        text = _curly_quotes(text)
    return _full_width_punctuation(text, english)


def _bigrams(text: str) -> set[str]:
    chars = re.sub(r"[^" + CJK + r"0-9A-Za-z.]", "", text)
    return {chars[i:i + 2] for i in range(len(chars) - 1)}


def _figures(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def _list_item(text: str) -> bool:
    return bool(re.match(r"\d+[.、．]\s*", text))


def repeats(text: str, earlier: str, same_passage: bool = False) -> bool:
    """Whether a sentence says nothing new after an earlier one: mostly its words and no figure the
    earlier one lacks (what two reports both say, "完成30.12%，年度目标为34左右" after "年度目标为34左右，
    完成30.12%"). Of one passage, a sentence with words of its own is no repeat ("…的属性为预期性" after
    "…增长率目标值为5%" shares the row's long name but says another column)."""
    grams, before = _bigrams(text), _bigrams(earlier)
    if len(grams) < 10 or _list_item(earlier):
        return False
    alike = len(grams & before) >= 0.7 * min(len(grams), len(before)) and _figures(text) <= _figures(earlier)
    return alike and (not same_passage or len(grams - before) <= max(2, 0.15 * len(grams)))


def tidy(sentences: list[Sentence], english: bool) -> list[Sentence]:
    """The answer's sentences, each tidied; repeats folded into the sentence they repeat, a lone
    caption dropped when other sentences remain."""
    out: list[Sentence] = []
    for sentence in sentences:
        glossary = any(c.kind in ("glossary", "footnote") for c in sentence.chunks)
        text = tidy_text(sentence.text, english, glossary)
        if text and not re.search(r"[。！？：；…）)”》」\].!?:;]$", text) and not _list_item(text):
            text += "." if english else "。"
        # a prefix keeps the space that sets it off ("Minhang, 2023: ")
        prefix = tidy_text(sentence.prefix, english) + (" " if sentence.prefix[-1:].isspace() else "") if sentence.prefix else ""
        tidied = Sentence(text, list(sentence.chunk_ids), sentence.supported, prefix, sentence.chunks, sentence.derived)
        if _CAPTION.match(text.rstrip("。.")) and (len(sentences) > 1 or sentence.prefix):
            continue  # a table's caption says where, not what: not a sentence of the answer
        repeated = None if _list_item(text) else next(
            (s for s in out if repeats(text, s.text, same_passage=set(s.chunk_ids) == set(tidied.chunk_ids))), None)
        if repeated is not None:
            if _figures(repeated.text) <= _figures(text):  # its passage vouches for the earlier sentence too
                repeated.chunk_ids += [c for c in tidied.chunk_ids if c not in repeated.chunk_ids]
                repeated.chunks += [c for c in tidied.chunks if c not in repeated.chunks]
            continue
        out.append(tidied)
    return out
