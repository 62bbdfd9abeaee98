"""Appendix and glossary entries (附录, 名词解释, 术语解释): the section's text split into one entry each.

Entries are marked by ①② (an appendix of indicator notes), by numbers that run on after a full stop
("…转型。2 “揭榜挂帅”:…", the numbers in sequence), by a numbered term on a line of its own ("13.“标准海”："
and its definition on the next), or by a numbered line that starts an entry ("7.“双向揭榜挂帅”：企业找技术…",
the next number of the glossary): the lines after it, broken as they may be ("揭榜" / "挂帅”的简称…" / "。"),
belong to it up to the next entry.
"""

from __future__ import annotations

import re

CIRCLED = re.compile("[\u2460-\u2473]")
_SECTION = re.compile(r"解释|名词|术语|^注释$")
# "［15］两新：" / "[3]": a note's number in brackets, as a work report numbers its 注释; read as "15."
_BRACKETED = re.compile(r"^[［\[【](\d{1,2})[］\]】]\s*")
# A glossary term on a numbered line of its own, ending with a colon: "13.“标准海”：".
TERM_LINE = re.compile(r"^(\d{1,2})[.、．]\s*(?=\S.{0,30}[：:]\s*$)")
# A numbered line opening an entry: a term (no full stop in it) and a colon: "1.“两重”：是指…".
_ENTRY = re.compile(r"^(\d{1,2})[.、．]\s*(?=[^：:。；]{1,40}[：:])")
# A glossary entry number after a full stop: "…转型。2 “揭榜挂帅”:…" (1–2 digits, not a year or amount).
_NUMBER = re.compile(r"(?:^|(?<=。))(\d{1,2})(?![\d.%])\s*(?=\S)")


def numbered(text: str) -> str:
    """The line with a bracketed entry number written as the other glossaries write it ("［15］两新：" -> "15.两新：")."""
    return _BRACKETED.sub(r"\1.", text, count=1)


def is_glossary(path: tuple[str, ...]) -> bool:
    """A section under a heading that names a glossary."""
    return any(_SECTION.search(h) for h in path)


def entry_start(text: str, expected: int | None) -> tuple[str, int] | None:
    """("7 “双向揭榜挂帅”：…", 7) for a line opening entry `expected` (the first entry: 1 or 2), else None."""
    match = _ENTRY.match(text)
    if match is None:
        return None
    number = int(match.group(1))
    if number != expected and not (expected is None and number <= 2):
        return None
    return f"{number} {text[match.end():]}", number


def spans(buffer: str, cuts: set[int] = frozenset()) -> list[tuple[int, int]]:
    """Split appendix text into entries at ①② marks, at sequential glossary numbers and at `cuts`
    (the offsets of the lines that open an entry)."""
    found = {0} | set(cuts)
    for match in CIRCLED.finditer(buffer):
        found.add(match.start())
    expected = None
    for match in _NUMBER.finditer(buffer):
        number = int(match.group(1))
        if expected is None and number <= 2 or number == expected:
            found.add(match.start(1))
            expected = number + 1
    ordered = sorted(found) + [len(buffer)]
    return [(a, b) for a, b in zip(ordered, ordered[1:]) if buffer[a:b].strip()]
