"""A task row read out: its name, number, the units it names under the document's own header
(牵头单位, 责任单位, 推进单位…) and the supporting units, and the sentence that says who does it:
"“X”（第N项）由A、B牵头，C配合。" / "“X”的责任单位为A、B。" / "“X” is led by A, B."
"""

from __future__ import annotations

from functools import lru_cache

from assistant.answer.verify import Sentence
from assistant.ingest import roles
from assistant.ingest.facts import row_label
from assistant.models import Chunk
from assistant.vocab import _load

@lru_cache(maxsize=1)
def _columns() -> dict:
    return _load("tables.toml")["inline_task"]


def row_name(row: Chunk) -> str:
    name = roles.task_text(row.fields) or row_label(row.fields) or row.text.split("\t")[0]
    return name.split("。")[0].rstrip("*＊ ")


def row_number(row: Chunk) -> str:
    return next((v for k, v in row.fields if k in table_headers()["numbers"]), "")


@lru_cache(maxsize=1)
def table_headers() -> dict:
    """vocab tables.toml [headers]: the column names tables are read with (numbers, time_heads …)."""
    return _load("tables.toml")["headers"]


def lead_column(row: Chunk) -> tuple[str, str]:
    """(header, cell) of the row's lead units: the first column the document names as leading."""
    return roles.lead_units(row.fields)


def lead_units(row: Chunk) -> list[str]:
    return roles.units(lead_column(row)[1])


def lead_verb(row: Chunk) -> str:
    """What the task's lead column says its units do: 牵头单位 -> 牵头; a column without a verb (责任部门) -> 负责."""
    return _columns()["verbs"].get(lead_column(row)[0], "负责")


def support_units(row: Chunk) -> tuple[str, list[str]]:
    """("支撑", [units]) of a task's supporting column (配合单位, 支撑单位…), named as the document names it."""
    for name, value in row.fields:
        if name in roles.support_roles():
            return name.removesuffix("单位").removesuffix("部门"), roles.units(value)
    return "", []


def task_sentence(row: Chunk, english: bool) -> Sentence:
    """Who does the task, in the words of the document's header: 牵头 -> 由A牵头, 推进 -> 由A推进,
    责任单位 -> 的责任单位为A."""
    units = lead_units(row)
    header = lead_column(row)[0]
    number = row_number(row)
    role, helpers = support_units(row)
    name = row_name(row).rstrip("。")
    verb = _columns()["verbs"].get(header, "")
    if english:
        text = f"“{name}”" + (f" (task {number})" if number else "") + f" is {_columns()['verbs_en'].get(header, 'led by')} {', '.join(units)}" + (
            f", supported by {', '.join(helpers)}." if helpers else ".")
    else:
        which = f"“{name}”" + (f"（第{number}项）" if number else "")
        said = f"{which}由{'、'.join(units)}{verb}" if verb else f"{which}的{header}为{'、'.join(units)}"
        text = said + (f"，{'、'.join(helpers)}{role}。" if helpers else "。")
    return Sentence(text, [row.chunk_id], chunks=[row])
