"""Who does a task: the unit-role columns of task rows (牵头单位, 责任单位, 推进单位, 配合单位 …) and the
column holding the task itself, as the document names them (`vocab/tables.toml` [inline_task]).

A task row keeps the document's own header words as field names ("推进单位", not a renamed "牵头单位"),
so the readers of task rows (facts, answers) find its parts through these functions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from assistant.vocab import _load

_PARTS = re.compile(r"[、，,；;\s]+")


@lru_cache(maxsize=1)
def _words() -> dict:
    data = _load("tables.toml")
    return {"lead": tuple(data["inline_task"]["lead"]), "support": tuple(data["inline_task"]["support"]),
            "task": tuple(data["inline_task"]["task"]), "suffixes": tuple(data["organisations"]["suffixes"])}


def lead_roles() -> tuple[str, ...]:
    return _words()["lead"]


@lru_cache(maxsize=1)
def lead_verbs() -> tuple[str, ...]:
    """What a lead column's units do to a task (牵头, 负责, 推进, 实施): vocab tables.toml [inline_task] verbs."""
    return tuple(dict.fromkeys(_load("tables.toml")["inline_task"]["verbs"].values()))


def support_roles() -> tuple[str, ...]:
    return _words()["support"]


def is_role(header: str) -> bool:
    """A column (or bracket label) naming the units that do a task: 牵头单位, 推进单位, 配合单位 …"""
    return header in _words()["lead"] or header in _words()["support"]


def units(cell: str) -> list[str]:
    """"区规划资源局、区建设管理委" -> the units a role cell names."""
    return [u for u in _PARTS.split(cell) if u]


def lists_units(text: str) -> bool:
    """"区规划资源局、区建设管理委、各相关街镇": every part an organisation's name (no figure, no full stop)."""
    parts = [p for p in _PARTS.split(text.strip(" 。")) if p]
    if not parts or "。" in text.strip(" 。"):
        return False
    parts[-1] = parts[-1].removesuffix("等")  # "…、各街镇等": the list is open, its parts are still units
    return all(len(p) <= 24 and not re.search(r"\d", p) and p.endswith(_words()["suffixes"]) for p in parts)


def names_unit(text: str) -> bool:
    """The sentence names an organisation of a place ("由区发改委负责制定…", "各街道办事处"): a duty said in prose."""
    suffixes = "|".join(map(re.escape, _words()["suffixes"]))
    return bool(re.search(rf"(?:区|市|县|镇|各)[\u4e00-\u9fff]{{0,10}}?(?:{suffixes})", text))


def task_text(fields: Sequence[tuple[str, str]]) -> str:
    """The task of a task row: the column the document names for it (主要任务, 工作任务 …)."""
    values = dict(fields)
    named = next((values[name] for name in _words()["task"] if values.get(name)), "")
    # a column of the table's own wording for its tasks ("改革任务", "攻坚任务"), not a kind of task (任务类型)
    return named or next((v for k, v in fields if v and k.endswith("任务")), "")


def lead_units(fields: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """(header, cell) of the first lead column of a task row ("推进单位", "区规划资源局、…"), or ("", "")."""
    return next(((name, value) for name, value in fields if name in _words()["lead"]), ("", ""))
