"""Tasks written as paragraphs, their units in brackets at the end ("3.认定启动3个“城中村”整体改造类
项目…。（牵头单位：区住房保障房屋管理局、相关街镇，支撑单位：区规划资源局）"): one `task` block each,
with the fields of a responsibility table's row (序号, 主要任务, and the units under the names the
document uses: 牵头单位, 责任单位, 支撑单位 …), so "谁牵头" reads them as it reads a table.

A bracket standing alone at the end of a section ("（一）全面实施“光伏+”专项工程" … "（责任单位：区发展改革委、
区建管委）") gives the units of the section's task: its name is the heading, its number the heading's.
"""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.ingest.roles import lead_roles, lists_units, support_roles

_NUMBER = re.compile(r"^\s*[（(]?(\d{1,3})[)）.、．]\s*")
_NUMERALS = "一二三四五六七八九十"
# the number of a heading: "（一）", "一、", "1.", "第一章"
_HEADING_NUMBER = re.compile(rf"^\s*(?:[（(]([{_NUMERALS}]+|\d{{1,2}})[）)]|([{_NUMERALS}]+)、|(\d{{1,2}})[、.．](?!\d)|第([{_NUMERALS}]+)[章篇])\s*")


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern:
    names = "|".join(map(re.escape, sorted(lead_roles() + support_roles(), key=len, reverse=True)))
    # the last bracket of the paragraph holds "name：units" parts separated by ，；
    return re.compile(r"[（(]\s*((?:" + names + r")\s*[:：][^（()）]+)[)）]\s*[。.]?\s*$")


# units in a bracket without a label ("8.鼓励转型升级。…等成效。（区经委）") are the task's 责任单位
UNLABELLED_ROLE = "责任单位"
_BARE = re.compile(r"[（(]([^（()）:：]{2,120})[)）]\s*[。.]?\s*$")


def _bare_units(text: str, alone_ok: bool) -> re.Match | None:
    """The unlabelled bracket of units ending a numbered task paragraph (or standing alone under a task's
    heading), when every part of it names an organisation."""
    match = _BARE.search(text)
    if match is None or not lists_units(match.group(1)):
        return None
    alone = not text[:match.start()].strip()
    return match if (alone and alone_ok) or (not alone and _NUMBER.match(text)) else None


def task_fields(text: str, category: str = "", parent: str = "") -> tuple[tuple[str, str], ...]:
    """The fields of a paragraph that is a task with its units, else (). `category`: the heading of its
    section; `parent`: the heading above that (the category of a task named by its section's heading)."""
    match = _pattern().search(text) or _bare_units(text, bool(category))
    if match is None:
        return ()
    roles = lead_roles() + support_roles()
    units: dict[str, str] = {}
    labelled = match.group(1) if match.re is _pattern() else f"{UNLABELLED_ROLE}：{match.group(1)}"
    for part in re.split(r"[，,；;]\s*(?=(?:" + "|".join(map(re.escape, roles)) + r")\s*[:：])", labelled):
        name, _, value = part.partition("：") if "：" in part else part.partition(":")
        units[name.strip()] = value.strip(" 。")
    if not any(name in lead_roles() and value for name, value in units.items()):
        return ()
    number = _NUMBER.match(text)
    task = text[number.end() if number else 0:match.start()].strip()
    row = [("序号", number.group(1) if number else ""), ("主要任务", task)]
    if not task and category:  # "（责任单位：…）" alone: the section's task
        heading = _HEADING_NUMBER.match(category)
        numeral = next((g for g in heading.groups() if g), "") if heading else ""
        row = [("序号", numeral), ("主要任务", category[heading.end():].strip() if heading else category)]
        category = parent
    fields = [("类别", category)] if category else []
    return tuple(fields + row + [(name, value) for name, value in units.items() if name in roles])
