"""Readable-answer rubric (issue 24 item 1): can a member of staff paste the answer into a document
as it is? Each check names one way an answer fails to read as written Chinese (or English) prose.
They look only at the answer text, the question and the item's kind, never at how it was made.

    problems(question, answer, kind, refused) -> ["tab", "ascii_punct", ...]   ([] = readable)

Checks
- tab: a tab character (a pasted table row).
- ascii_punct: ASCII , ; : ! ? ( ) between Chinese characters (the PDF's punctuation, not 。，；：).
- cjk_space: a space inside Chinese text or between a figure and its Chinese unit ("2023 年", "指标名称 新增…").
- glossary_number: a glossary or footnote number left on a term ("2 “揭榜挂帅”:", "③功能性…", "⁶碳普惠", "TOD 6开发").
- caption_only: a line that is only a table caption or heading ("表4三大集聚带税收完成情况[2]").
- repeats: a line that says what an earlier line already said (the same sentence from two reports).
- english_frame: an English question answered or refused without an English sentence.
- responsibility_sentence: a who-leads question answered without a sentence naming who leads.
- unfinished: a line that stops mid-sentence (no closing punctuation before its citation).
"""

from __future__ import annotations

import re

CJK = r"\u3400-\u9fff"
_CITE = re.compile(r"(\[(\d+|未核实|unverified)\])+\s*$")
_PREFIX = re.compile(rf"^[^：:]{{0,40}}[{CJK}\d”)）][：:]\s*")  # "闵行区2023年：" / "Minhang, 2023: "
_ASCII_PUNCT = re.compile(rf"[{CJK}][,;:!?]\s*[{CJK}“\"]|[{CJK}][()]|[()][{CJK}]")
_ASCII_PUNCT_EN = re.compile(rf"[{CJK}][,;:!?()][{CJK}]")
_CJK_SPACE = re.compile(rf"[{CJK}] +[{CJK}]")
_UNIT_SPACE = re.compile(r"\d +[年月日亿万元个项家%]")  # in Chinese text only
_GLOSSARY_NUMBER = re.compile(rf"^\s*(\d{{1,2}} *[“\"A-Z]|[①-⑳])|[¹²³⁴-⁹⁰]|[A-Z]{{2,}} \d{{1,2}}[{CJK}]")
_CAPTION = re.compile(r"^(表|附表)\s*[0-9一二三四五六七八九十]+\s*\S{0,30}$")
_ENDS = re.compile(r"[。！？.!?；;：:…）)”\"》]$")


def _lines(answer: str) -> list[str]:
    return [line.strip() for line in answer.split("\n") if line.strip()]


def _body(line: str) -> str:
    """The line without its citation markers."""
    return _CITE.sub("", line).strip()


def _bigrams(text: str) -> set[str]:
    chars = re.sub(rf"[^{CJK}0-9A-Za-z.]", "", text)
    return {chars[i:i + 2] for i in range(len(chars) - 1)}


def is_english(question: str) -> bool:
    letters = re.findall(r"[A-Za-z]", question)
    return len(letters) > 2 * len(re.findall(rf"[{CJK}]", question))


def problems(question: str, answer: str, kind: str = "", refused: bool = False) -> list[str]:
    found: list[str] = []
    lines = _lines(answer)
    bodies = [_body(line) for line in lines]
    if "\t" in answer:
        found.append("tab")
    english = is_english(question)
    # in English text a Chinese name or figure may sit next to English punctuation; between two
    # Chinese characters the punctuation is still the PDF's
    if any((_ASCII_PUNCT_EN if english else _ASCII_PUNCT).search(b) for b in bodies):
        found.append("ascii_punct")
    if any(_CJK_SPACE.search(b) or (not english and _UNIT_SPACE.search(b)) for b in bodies):
        found.append("cjk_space")
    if any(_GLOSSARY_NUMBER.search(_PREFIX.sub("", b)) for b in bodies):
        found.append("glossary_number")
    if any(_CAPTION.match(_PREFIX.sub("", b)) for b in bodies):
        found.append("caption_only")
    seen: list[tuple[set[str], set[str]]] = []
    for body in bodies:
        if re.match(r"\d+[.、．]", body):  # items of a list are alike by design
            continue
        grams, figures = _bigrams(_PREFIX.sub("", body)), set(re.findall(r"\d+(?:\.\d+)?", body))
        # the same sentence again (two reports say it alike); differing figures are a comparison, not a repeat
        if len(grams) >= 10 and any(len(grams & g) >= 0.7 * min(len(grams), len(g)) and (figures <= f or f <= figures)
                                    for g, f in seen):
            found.append("repeats")
            break
        seen.append((grams, figures))
    if english and not any(len(re.findall(r"\b[A-Za-z]{2,}\b", b)) >= 3 for b in bodies):
        found.append("english_frame")
    if kind == "responsibility" and not refused and not re.search(r"牵头|负责|责任单位|推进|实施单位|\blead|\bled\b|responsib|carried", answer):
        found.append("responsibility_sentence")
    for line, body in zip(lines, bodies):
        if line != body and body and not _ENDS.search(body) and not re.match(r"\d+[.、．]", body):
            found.append("unfinished")
            break
    return found
