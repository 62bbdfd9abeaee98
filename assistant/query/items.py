"""The things a sum or a difference is taken over, as the question names them:
"把莘庄工业区、闵行经济技术开发区、紫竹高新技术产业开发区三个园区2023年的规上工业总产值加起来" ->
(莘庄工业区, 闵行经济技术开发区, 紫竹高新技术产业开发区); "商贸服务业税收比金融服务业多多少" -> (商贸服务业, 金融服务业).
A district or a year is a side of its own (Query.districts, Query.periods); these are the named
things inside one report whose figures the answer adds up or subtracts.
"""

from __future__ import annotations

import re

_NAME = r"[\u4e00-\u9fffA-Za-z0-9“”]{2,24}"
_RUN = re.compile(rf"{_NAME}(?:[、和与及跟]{_NAME})+")
_JOINERS = re.compile(r"[和与及跟]")
# where a named item ends and the question goes on: a count of them ("三个园区"), a year, "的", "这"
_ITEM_END = re.compile(r"(?:[两二三四五六七八九十几\d]+[个家项类大条座所])|(?:(?:19|20)\d\d年?)|的|这|那|在|今年|去年|分别|合计|加起来|一共|总共")
_LEADING = re.compile(r"^(?:请问|请把|请将|麻烦|把|将|对|那|其中|问一下)+")
_COMPARED = re.compile(r"([\u4e00-\u9fffA-Za-z0-9“”]{1,40}?)比([\u4e00-\u9fffA-Za-z0-9“”]{2,24}?)(?:多|高|少|低|快|慢|大|小)")


def _trim(item: str, first: bool) -> str:
    item = _LEADING.sub("", item) if first else item
    cut = _ITEM_END.search(item, 2)
    return (item[:cut.start()] if cut else item).strip("“”")


def _after_scope(item: str) -> str:
    """The side before 比 without the scope said before it ("静安区2023年商贸服务业税收" -> 商贸服务业税收)."""
    ends = [m.end() for m in _ITEM_END.finditer(item)]
    return _LEADING.sub("", item[ends[-1]:] if ends and ends[-1] < len(item) else item)


def group_kind(words: str) -> str:
    """What a counted group is, up to where the question goes on ("潜能产业去年税收" -> 潜能产业)."""
    cut = _ITEM_END.search(words, 2)
    return words[:cut.start()] if cut else words


def named_items(text: str, pronouns: tuple[str, ...] = (), is_place=lambda name: False) -> tuple[str, ...]:
    """The items of the longest enumeration ("A、B和C") in the question, or the two sides of
    "A比B多多少" (a pronoun side kept as said, for the conversation to fill in); () when there is none."""
    runs = sorted(_RUN.findall(text), key=len, reverse=True)
    if runs:
        parts = [p for p in re.split(r"[、]", _JOINERS.sub("、", runs[0])) if p]
        # the first item comes after the question's scope ("静安2023年商贸服务业、…" -> 商贸服务业)
        items = [_trim(_after_scope(p) if i == 0 else p, i == 0) for i, p in enumerate(parts)]
        items = [i for i in items if len(i) >= 2 and not is_place(i)]
        if len(items) >= 2 and len(set(items)) == len(items):
            return tuple(items)
    compared = _COMPARED.search(text)
    if compared:
        a, b = _after_scope(compared.group(1)), _trim(compared.group(2), False)
        a = next((p for p in pronouns if a.endswith(p)), a)
        if is_place(a) or is_place(b):
            return ()
        if a and len(b) >= 2 and a != b:
            return a, b
    return ()
