"""Tasks written as paragraphs, their units in brackets at the end ("3.认定启动3个“城中村”整体改造类
项目…。（牵头单位：区住房保障房屋管理局、相关街镇，支撑单位：区规划资源局）"): one `task` block each,
with the fields of a responsibility table's row (序号, 主要任务, 牵头单位 and the supporting units
under the name the document uses), so "谁牵头" reads them as it reads a table."""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.vocab import _load

_NUMBER = re.compile(r"^\s*[（(]?(\d{1,3})[)）.、．]\s*")


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern:
    words = _load("tables.toml")["inline_task"]
    names = "|".join(map(re.escape, sorted(words["lead"] + words["support"], key=len, reverse=True)))
    # the last bracket of the paragraph holds "name：units" parts separated by ，；
    return re.compile(r"[（(]\s*((?:" + names + r")\s*[:：][^（()）]+)[)）]\s*[。.]?\s*$")


def task_fields(text: str, category: str = "") -> tuple[tuple[str, str], ...]:
    """The fields of a paragraph that is a task with its units, else ()."""
    match = _pattern().search(text)
    if match is None:
        return ()
    words = _load("tables.toml")["inline_task"]
    units: dict[str, str] = {}
    for part in re.split(r"[，,；;]\s*(?=(?:" + "|".join(map(re.escape, words["lead"] + words["support"])) + r")\s*[:：])", match.group(1)):
        name, _, value = part.partition("：") if "：" in part else part.partition(":")
        units[name.strip()] = value.strip(" 。")
    lead = next((units[n] for n in words["lead"] if n in units), "")
    if not lead:
        return ()
    number = _NUMBER.match(text)
    task = text[number.end() if number else 0:match.start()].strip()
    fields = [("类别", category)] if category else []
    fields += [("序号", number.group(1) if number else ""), ("主要任务", task), ("牵头单位", lead)]
    fields += [(name, value) for name, value in units.items() if name in words["support"]]
    return tuple(fields)
