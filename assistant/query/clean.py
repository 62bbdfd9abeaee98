"""The question's text before it is parsed: one spelling for the same question (NFKC, 繁->简, no
spaces between CJK characters), no polite opening or closing, and the titles of the reports it names
taken out as scope (they say where to look, not what for)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from assistant.query.terms import is_english
from assistant.vocab import Vocabulary

# Spaces between CJK characters or digits ("闵 行 区 2 0 2 3 年"): typing or pasting artefacts, never meaning.
_SPACED = re.compile(r"(?<=[\u3400-\u9fff\d])[ \t\u3000]+(?=[\u3400-\u9fff\d])")
# "23年", "24年的目标": a two-digit year as staff type it is that year of this century ("第23年",
# "23.5年" and "123年" are not years; a count of years is said with 个/多/近: "近23年" stays).
_SHORT_YEAR = re.compile(r"(?<![\d.第近约多])([1-4]\d)(?=年(?!代|以上|以来|左右))")
TITLE_MATCH = 0.75  # 《…》 in a question names a report when this similar to its title (difflib ratio)
_BOOK_TITLE = re.compile(r"《([^《》]{2,80})》")
QUOTED_NAME = re.compile(r"[“\"「『]([^”\"」』]{2,60})[”\"」』]")  # a name the asker quotes: a name, not words to read
_CLAUSE_END = re.compile(r"[，,。！!；;：:…~～]+|\s+")
_CLAUSE_END_EN = re.compile(r"[,.!;:]+\s*")


@lru_cache(maxsize=1)
def _to_simplified():
    import opencc  # a maintained 繁->简 table (opencc-python-reimplemented), loaded once

    return opencc.OpenCC("t2s")


def fold_question(text: str) -> str:
    """One spelling for the same question: NFKC (ＧＤＰ　２０２３ -> GDP 2023), "23年" -> 2023年, 繁体 -> 简体 (閔行區 -> 闵行区),
    no spaces between CJK characters or digits. English text keeps its spaces between words and numbers."""
    text = unicodedata.normalize("NFKC", text).strip()
    if re.search(r"[\u3400-\u9fff]", text):
        text = _to_simplified().convert(text)
        text = re.sub(r"(?<=[\u3400-\u9fff])[ \t\u3000]+(?=[\u3400-\u9fff])", "", text)
        if not is_english(text):
            text = _SPACED.sub("", text)
    return _SHORT_YEAR.sub(r"20\1", text)  # after the spaces go: "2 3 年" is 23年 too


def _title_names(title: str) -> list[str]:
    """A report's title and the document named inside it ("关于印发《普陀区水务“十五五”规划》的通知")."""
    return [title] + _BOOK_TITLE.findall(title)


def _drop_courtesy(text: str, vocab: Vocabulary) -> str:
    """The question without a leading polite clause or filler ("您好，想请教一下，…", "那个…就是…")."""
    ends = _CLAUSE_END_EN if is_english(text) else _CLAUSE_END
    scope = re.match(r"^\s*(?:在|根据|按照)?《[^》]{2,80}》[中里内]?\s*[，,：:]\s*", text)
    if scope:  # "在《…报告》中，您好，…": the report named first is scope; the courtesy after it still goes
        rest = _drop_courtesy(text[scope.end():], vocab)
        return scope.group(0) + rest if rest else text
    text = _after_story(text, vocab)
    while True:
        parts = ends.split(text, maxsplit=1)
        if len(parts) < 2 or not parts[1].strip():
            return _drop_closing(text, vocab)
        head = parts[0].lower()
        about_asker = any(w in head for w in vocab.self_reference) and not re.search(r"\d", head) and not vocab.find_places(head, vocab.districts)
        for word in vocab.courtesy:
            head = head.replace(word, "")
        if head.strip() and not about_asker:
            return _drop_closing(text, vocab)
        text = parts[1].lstrip()


def _after_story(text: str, vocab: Vocabulary) -> str:
    """The question after the asker's story ("我是街道刚来的，领导让我整理材料，想麻烦您帮我查一下：静安区…"): cut at
    the last place where the asking starts, if what comes before names no place and no figure (then it may be scope)."""
    lowered = text.lower()
    starts = [(lowered.rfind(w), w) for w in vocab.ask_starts if w in lowered]
    if not starts:
        return text
    at, word = max(starts, key=lambda s: (s[0], len(s[1])))
    story, rest = text[:at], text[at + len(word):].lstrip(" ：:，,、")
    if not story.strip() or not rest.strip() or re.search(r"\d", story) or vocab.find_places(story, vocab.districts):
        return text
    return rest


def _drop_closing(text: str, vocab: Vocabulary) -> str:
    """Without a closing "谢谢谢谢！" after the question."""
    parts = re.split(r"(?<=[？?！!。])", text)
    while len(parts) > 1 and not parts[-1].strip(" ！!。～~") or len(parts) > 1 and _courtesy_only(parts[-1], vocab):
        parts = parts[:-1]
    return "".join(parts)


def _courtesy_only(clause: str, vocab: Vocabulary) -> bool:
    rest = clause.lower()
    for word in vocab.courtesy:
        rest = rest.replace(word, "")
    return not rest.strip(" ！!。，,～~？?")
