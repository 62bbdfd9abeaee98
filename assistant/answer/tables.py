"""Questions about a table as a table: its rows in order, a column's value, counts and sets of rows,
its footnotes, and the tasks a unit leads in a responsibility table.

A table is the rows (table_row or task chunks) of one report under one caption, in the report's
order, with the footnotes printed after them. Which table a question means comes from retrieval: the
table of the best in-scope row among the hits (or the report the question names). What is asked
comes from the Query and the table's own columns: a value that several rows share in a column (约束性,
预期性, a 类型) filters rows; the words for "last row", "how many", "footnote mark" are data
(question.toml [table]). Every answer line cites the row it reads; a count is declared as derived.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from assistant.answer.extractive import form_word
from assistant.answer.table_diff import rows_changed
from assistant.answer.task_rows import lead_units, lead_verb, row_name, row_number, table_headers, task_sentence
from assistant.answer.verify import Sentence
from assistant.ingest import roles
from assistant.ingest.normalize import abbreviates, letters
from assistant.models import Chunk, Hit, Query
from assistant.vocab import vocabulary

ROW_KINDS = ("table_row", "task")
NAME_COLUMNS = ("指标名称", "指标", "主要任务", "任务", "项目名称", "名称")
_NUMBERED = re.compile(r"^\d+(\.\d+)?%?$")
# the numbering and row count around a group cell's name ("（六）…（9项）", "五、…")
_CATEGORY_DECOR = re.compile(r"^[（(]?[一二三四五六七八九十\d]+[）)、.．]\s*|[（(]\d+项[）)]$|\s+")
CATEGORY_CHARS = 20  # a shared cell of a column up to this long is a category its rows belong to
MAX_LISTED = 30  # rows listed one per line; more are counted, the first ones listed
LISTED_TABLE_HITS = 5  # passages searched for a table whose rows are the asked kind of item
MARKED_NAMED = 8  # rows a footnote mark is on, named in one sentence; more are only counted
# A task is named when this share of its name's characters occurs in the question in runs of 2+,
# TASK_NAME_LEAD ahead of the next best task (measured on the blind sets: eval/reports/blind.md).
TASK_NAME_MATCH = 0.6
TASK_NAME_LEAD = 0.15
# A task described by its content: among the TASK_CONTENT_HITS best passages, a task row holding this
# share of the question's subject words (by length).
TASK_CONTENT_HITS = 3
TASK_CONTENT_MATCH = 0.6
_MARKS = "¹²³⁴⁵⁶⁷⁸⁹"
_QUOTED = re.compile(r"[“\"‘「]([^”\"’」]{2,60})[”\"’」]")
_ROW_NUMBER = re.compile(r"第\s*(\d{1,3}|[一二三四五六七八九十]{1,3})\s*[项个条行]")


@dataclass
class Table:
    doc_id: str
    caption: str
    rows: list[Chunk] = field(default_factory=list)
    footnotes: list[Chunk] = field(default_factory=list)

    def columns(self) -> list[str]:
        return list(dict.fromkeys(name for row in self.rows for name, _ in row.fields))

    def categories(self) -> dict[str, str]:
        """value -> column, for the values that several rows share in a column that is not the name
        or a figure (属性: 约束性 / 预期性; 类型: 保护修缮 …)."""
        counts: dict[tuple[str, str], int] = {}
        for row in self.rows:
            for name, value in row.fields:
                if name not in NAME_COLUMNS and name != "序号" and value and len(category_name(value)) <= CATEGORY_CHARS \
                        and not _NUMBERED.match(value) and not roles.is_role(name):
                    counts[(name, value)] = counts.get((name, value), 0) + 1
        return {value: name for (name, value), n in counts.items() if n >= 2}


NAME_GAP = 1  # a character that may part an indicator's name in a sentence stating it ("按" in 生产总值按增长; "年均" is another quantity)


def _states_name(name: str, text: str) -> bool:
    """The name's characters in order in the text, with at most NAME_GAP others between them in all."""
    pattern = "".join(re.escape(ch) + (f"[^，。；]{{0,{NAME_GAP}}}?" if i < len(name) - 1 else "") for i, ch in enumerate(name))
    return any(len(m.group(0)) <= len(name) + NAME_GAP for m in re.finditer(pattern, text))


def category_name(value: str) -> str:
    """A group cell without its numbering and count: "（六）建设绿色生态的美丽城区（9项）" -> 建设绿色生态的美丽城区."""
    return _CATEGORY_DECOR.sub("", value).strip()


def _name_coverage(name: str, asked: str) -> float:
    """Share of `name` covered by runs of 2+ characters that also occur in `asked`."""
    if not name:
        return 0.0
    blocks = SequenceMatcher(None, name, asked, autojunk=False).get_matching_blocks()
    covered = sum(b.size for b in blocks if b.size >= 2)
    return covered / len(name)


def _caption(chunk: Chunk) -> str:
    """The table's caption, or for an uncaptioned table the top heading it sits under."""
    return chunk.caption or (" > ".join(chunk.breadcrumb[:1]) if chunk.kind == "table_row" else "")


class TableBook:
    """The corpus' tables, read once from the index's chunks (on the first table question)."""

    def __init__(self, chunks: Sequence[Chunk], known_term: Callable[[str], bool] = lambda term: True) -> None:
        self.known_term = known_term  # a word the reports use (a question's debris, "定中", is not a condition)
        self.tables: list[Table] = []
        self.table_of: dict[str, Table] = {}
        self.notes: dict[tuple[str, str], Chunk] = {}  # (doc_id, superscript mark) -> the footnote it points to
        current: Table | None = None
        for chunk in chunks:
            if chunk.kind in ROW_KINDS:
                key = (chunk.doc_id, _caption(chunk))
                if current is None or (current.doc_id, current.caption) != key:
                    current = next((t for t in self.tables if (t.doc_id, t.caption) == key), None)
                    if current is None:
                        current = Table(*key)
                        self.tables.append(current)
                current.rows.append(chunk)
                self.table_of[chunk.chunk_id] = current
            elif current is not None and current.doc_id == chunk.doc_id and (
                    chunk.kind == "footnote" or chunk.kind == "paragraph" and chunk.text.lstrip()[:1] in ("注", "*", "＊")):
                current.footnotes.append(chunk)  # a table's notes: footnotes, or a "注:" paragraph below it
            elif current is not None and chunk.doc_id != current.doc_id:
                current = None
            if chunk.kind == "footnote" and chunk.text[:1] in _MARKS:
                self.notes[(chunk.doc_id, chunk.text[0])] = chunk
        self._indicators: list[str] | None = None
        self.units = sorted({u for t in self.tables for r in t.rows for u in lead_units(r)}, key=len, reverse=True)

    def note_for(self, query: Query, pick_text: str, doc_id: str) -> Sentence | None:
        """The footnote a term of the question points to in the passage ("碳普惠⁶" -> "⁶ 碳普惠是指…")."""
        for term in sorted((t for t in query.terms if len(t) > 1), key=len, reverse=True):
            at = pick_text.find(term)
            mark = pick_text[at + len(term):at + len(term) + 1] if at >= 0 else ""
            note = self.notes.get((doc_id, mark)) if mark in _MARKS else None
            if note is not None:
                return Sentence(note.text.lstrip(_MARKS + " "), [note.chunk_id], chunks=[note])
        return None

    def indicator_missing(self, query: Query, evidence: str) -> str:
        """"indicator" when the question names an indicator of some table ("新增就业岗位数") that the evidence
        does not state: another quantity of the same words ("500个青年就业见习岗位") is not its answer. The
        evidence may part the name's words by NAME_GAP characters ("地区生产总值按增长5%安排" states 地区生产总值增长)."""
        if self._indicators is None:
            self._indicators = sorted({letters(row_name(r)).rstrip("数率量") for t in self.tables for r in t.rows
                                       if r.kind == "table_row" and len(letters(row_name(r))) >= 5}, key=len, reverse=True)
        asked = letters(query.text)
        named = next((n for n in self._indicators if len(n) >= 5 and n in asked), "")
        return "indicator" if named and not _states_name(named, letters(evidence)) else ""

    def table_for(self, query: Query, hits: list[Hit]) -> Table | None:
        for hit in hits:
            table = self.table_of.get(hit.chunk.chunk_id)
            if table is not None and (not query.doc_ids or table.doc_id in query.doc_ids):
                return table
        named = [t for t in self.tables if t.doc_id in query.doc_ids]
        return named[0] if len(named) == 1 else None

    def _numbered_row(self, query: Query, table: Table, number: str) -> Chunk | None:
        """Row `number` of the table the question is about: of the tables' rows of that number (in the asked
        places), the one that says most of the question's words ("分工表第6条“十四五”目标责任评价那项": the 静安 table's row 6,
        not 闵行's), the first table's on a tie."""
        tables = [table] + [t for t in self.tables if t is not table and (not query.doc_ids or t.doc_id in query.doc_ids)]
        rows = [r for t in tables for r in t.rows if row_number(r) == number and (not query.districts or r.district in query.districts)]
        said = lambda row: sum(len(t) for t in query.terms if len(t) > 1 and t in row.text)  # noqa: E731
        return max(rows, key=said, default=None)

    # ------------------------------------------------------------------ answers

    def answer(self, query: Query, hits: list[Hit]) -> list[Sentence] | None:
        """The answer from the table's structure, or None when the question is not about the table as such."""
        words = vocabulary().table_words
        text = query.text
        asks = {name: any(w in text for w in ws) for name, ws in words.items()}
        # "区司法局负责哪几项任务": a unit named with a role verb asks for its tasks, whatever the intent read
        # ("哪一条是统计局单独负责的": the same, read as a fact question)
        duty = query.intent == "responsibility" or (query.intent == "list" or asks["sole"]) and any(w in text for w in roles.lead_verbs())
        unit = next((u for u in self.units if len(u) > 2 and u in text), "") if duty else ""
        if unit and (asks["count"] or asks["which"] or asks["sole"]):
            return self._unit_tasks(query, unit, sole=asks["sole"])
        if query.intent == "responsibility" or asks["position"]:
            task = self.task_named(query) or (self.task_about(query, hits) if query.intent == "responsibility" else None)
            if task is not None:  # a question asking more ("…target, and who leads it") gets the task's text too
                said = roles.task_text(task.fields) if query.asks > 1 else ""
                lead = task_sentence(task, query.english)
                column = self.column_asked(query, task, lead.text + said)  # "…由谁负责，什么时候完成？"
                return [lead] + ([Sentence(said, [task.chunk_id], chunks=[task])] if said else []) + ([column] if column else [])
        listed = self._rows_as_items(query, hits) or rows_changed(query, self.tables)
        if listed:
            return listed
        table = self.table_for(query, hits)
        if table is None:
            return None
        if asks["footnote_mark"] and asks["meaning"]:
            return self._footnote(query, table)
        if asks["last"] or asks["first"]:
            return self._ordinal(query, table, last=asks["last"])
        numbered = _ROW_NUMBER.search(text)
        if numbered and not asks["count"]:
            row = self._numbered_row(query, table, str(vocabulary().count_of(numbered.group(1))))
            if row is not None:
                return [self._row_sentence(query, self.table_of[row.chunk_id], row, f"第{row_number(row)}项")]
        value = next((v for v in sorted(table.categories(), key=len, reverse=True)
                      if len(category_name(v)) >= 2 and category_name(v) in text), "")
        if value and (asks["count"] or asks["which"]) and not self._more_asked(query, table, value):
            return self._rows_with(query, table, value)
        if not value and query.measure == "count" and query.intent != "responsibility" and not self._more_asked(query, table, ""):
            # "2024年主要预期目标一共列了几项指标？": the question only restates the table; its rows are counted
            name = table.caption or "该表"
            head = f"{name} lists {len(table.rows)} rows:" if query.english else f"{name}共列{len(table.rows)}项："
            return self._listing(query, head, table.rows, table.rows[0])
        return None

    def _rows_as_items(self, query: Query, hits: list[Hit]) -> list[Sentence] | None:
        """"三大集聚带分别是哪三个？": the rows of a table whose caption or name column names the asked kind
        (表4三大集聚带税收完成情况, 集聚带名称), as many as asked."""
        kind = query.item_kind
        if query.intent != "list" or len(kind) < 2:
            return None
        documents = {hit.chunk.doc_id for hit in hits[:LISTED_TABLE_HITS]}
        counted = [f"{n}{c}{kind}" for n, v in vocabulary().item_numerals.items() if v == query.item_count
                   for c in vocabulary().item_counters] if query.item_count else []
        # the tables of the question's passages' reports, one that names the count and kind ("三大集聚带") first
        tables = sorted((t for t in self.tables if t.doc_id in documents and t.rows[0].kind == "table_row"),
                        key=lambda t: not any(c in t.caption for c in counted))
        totals = vocabulary().table_words["total"]
        for table in tables:
            # the caption counts them ("表4三大集聚带…") or a column names them ("集聚带名称"); a caption that only
            # mentions the kind ("…改革举措") is a table about something else
            names_kind = (any(c in table.caption for c in counted)
                          or any(c.startswith(kind) and c.endswith("名称") for c in table.columns()))
            # one row per item: a row continued on the next line repeats its name, a total row is no item
            items = list({row_name(r): r for r in reversed(table.rows) if row_name(r).lower() not in totals}.values())[::-1]
            if names_kind and items and (not query.item_count or len(items) == query.item_count):
                name = table.caption or "该表"
                head = f"{name} lists {len(items)}:" if query.english else f"{name}列出的{kind}共{len(items)}个："
                return self._listing(query, head, items, items[0])
        return None

    def _more_asked(self, query: Query, table: Table, value: str) -> bool:
        """The question sets a condition besides the column value ("哪几项预期性指标没达到年初目标"), or
        names a row: then it is not a plain count or set of rows."""
        if query.intent == "target_check" or query.premise or any(w in query.text for w in vocabulary().table_words["condition"]) or any(row_name(r) in query.text for r in table.rows if len(row_name(r)) > 2):
            return True
        known = table.caption + " ".join(table.columns()) + value
        # a structure word of the question, or a piece of one ("一大" of the 一大类 it says), is no condition
        structure = [w for w in vocabulary().table_word_set if w in query.text]
        return any(len(t) > 1 and t not in known and not form_word(t, "*") and not any(t in w for w in structure)
                   and not t[:1].isdigit() and self.known_term(t) for t in query.terms)  # "19项主要指标" restates the table

    def column_asked(self, query: Query, row: Chunk, said: str) -> Sentence | None:
        """The row's value of a column the question names (属性, 单位) or offers values of ("约束性还是预期性"),
        when the answer does not say it yet."""
        table = self.table_of.get(row.chunk_id)
        if table is None:
            return None
        categories = table.categories()
        values = dict(row.fields)
        asked = []  # every column named ("单位、属性和目标值分别是什么"), in the table's order
        for column in table.columns():
            value = values.get(column, "")
            named = len(column) > 1 and column in query.text and column not in NAME_COLUMNS or (
                any(w in query.text for w in vocabulary().table_words["when"]) and any(h in column for h in table_headers()["time_heads"]))
            offered = any(v in query.text for v, c in categories.items() if c == column)
            if value and (named or offered) and value not in said and column not in ("序号",):
                asked.append((column, value))
        if not asked:
            return None
        if query.english:
            text = "; ".join(f"its “{column}” is {value}" for column, value in asked)
            return Sentence(text[0].upper() + text[1:] + ".", [row.chunk_id], chunks=[row])
        text = "，".join(f"{column}为{value}" for column, value in asked)
        return Sentence(f"{row_name(row)}的{text}。", [row.chunk_id], chunks=[row])

    def _line(self, row: Chunk, english: bool) -> Sentence:
        number = row_number(row)
        return Sentence(f"{number}. {row_name(row)}" if number else row_name(row), [row.chunk_id], chunks=[row])

    def _listing(self, query: Query, head: str, rows: list[Chunk], cite: Chunk) -> list[Sentence]:
        count = str(len(rows))
        lines = [Sentence(head, [cite.chunk_id], chunks=[cite], derived=(count,))]
        return lines + [self._line(r, query.english) for r in rows[:MAX_LISTED]]

    def _rows_with(self, query: Query, table: Table, value: str) -> list[Sentence]:
        column = table.categories()[value]
        rows = [r for r in table.rows if dict(r.fields).get(column) == value]
        name = table.caption or "该表"
        head = (f"{name}: {len(rows)} of its {len(table.rows)} rows have {column} “{value}”:" if query.english
                else f"{name}中{column}为“{value}”的共{len(rows)}项（全表{len(table.rows)}项）：")
        listing = self._listing(query, head, rows, rows[0])
        listing[0].derived = (str(len(rows)), str(len(table.rows)))
        return listing

    def _ordinal(self, query: Query, table: Table, last: bool) -> list[Sentence]:
        row = table.rows[-1] if last else table.rows[0]
        which = f"{'最后' if last else '第'}一项（第{row_number(row) or len(table.rows)}项）"
        return [self._row_sentence(query, table, row, which)]

    def _row_sentence(self, query: Query, table: Table, row: Chunk, which: str) -> Sentence:
        name = table.caption or "该表"
        label = row_name(row)
        cells = [(k, v) for k, v in row.fields if v and k not in ("序号", "类别") and v != label]
        text = (f"Row {row_number(row)} of {name} is “{label}”: " + "; ".join(f"{k} {v}" for k, v in cells) + "." if query.english
                else f"{name}{which}是“{label}”：" + "，".join(f"{k}为{v}" for k, v in cells) + "。")
        return Sentence(text, [row.chunk_id], chunks=[row])

    def task_named(self, query: Query) -> Chunk | None:
        """The task whose name the question gives, in its own words or close to them ("垃圾分类巩固成效那条任务"
        for 巩固垃圾分类新成效): most of the name's characters in runs of two or more, clearly ahead of the next."""
        asked = letters(" ".join(_QUOTED.findall(query.text)) or query.standalone)
        scored = []
        for table in self.tables:
            if query.doc_ids and table.doc_id not in query.doc_ids:
                continue
            for row in table.rows:
                if row.kind == "task" and (not query.districts or row.district in query.districts):
                    scored.append((_name_coverage(letters(row_name(row)), asked), row))
        scored.sort(key=lambda pair: -pair[0])
        if not scored or scored[0][0] < TASK_NAME_MATCH:
            return None
        if len(scored) > 1 and scored[1][0] > scored[0][0] - TASK_NAME_LEAD:
            return None  # two tasks fit as well: the question does not name one
        return scored[0][1]

    def task_about(self, query: Query, hits: list[Hit]) -> Chunk | None:
        """The task the question describes by its content rather than its name ("要求启明星、扬帆计划人才
        不少于400人的那条任务"): the best retrieved passage, when it is a task row of the asked place whose
        text holds most of the question's subject words."""
        # every subject word counts, those the reports never use too (a task without "无废" is not the
        # 无废城市 task), weighted by how rare it is among the tasks (城市, 建设 are in many)
        terms = [t for t in query.terms if len(t) > 1 and not form_word(t, "*")]
        tasks = [r for t in self.tables for r in t.rows if r.kind == "task"]
        weight = {t: math.log((len(tasks) + 1) / (sum(t in r.text for r in tasks) + 1)) + 0.1 for t in terms}
        for hit in hits[:TASK_CONTENT_HITS]:
            row = hit.chunk
            if row.kind != "task" or (query.districts and row.district not in query.districts):
                continue
            covered = sum(weight[t] for t in terms if t in row.text)
            if terms and covered >= TASK_CONTENT_MATCH * sum(weight.values()):
                return row
        return None


    def _footnote(self, query: Query, table: Table) -> list[Sentence] | None:
        marks = vocabulary().table_words["footnote_mark"]
        notes = [n for n in table.footnotes if n.text.lstrip()[:1] in ("*", "＊", "注")] or table.footnotes
        if not notes:
            return None
        starred = [r for r in table.rows if "*" in row_name(r) + r.text[:60] or "＊" in r.text[:60]]
        out = [Sentence(notes[0].text, [notes[0].chunk_id], chunks=[notes[0]])]
        if starred and any(m in query.text for m in marks if m in ("*", "＊", "星号", "*号")):
            count = str(len(starred))
            if len(starred) <= MARKED_NAMED:  # which rows: "哪个指标打了星号" is answered by their names
                names = "、".join(f"“{row_name(r).replace('*', '').replace('＊', '').strip()}”" for r in starred)
                text = (f"The table marks {count} rows with *: {names}." if query.english
                        else f"表中带*的共{count}项：{names}。")
            else:
                text = f"The table marks {count} rows with *." if query.english else f"表中带*的共{count}项。"
            cited = starred[:MARKED_NAMED] if len(starred) <= MARKED_NAMED else starred[:1]
            out.append(Sentence(text, [r.chunk_id for r in cited], chunks=cited, derived=(count,)))
        return out

    def idle_unit(self, query: Query) -> str:
        """The organisation a question asks the tasks of ("区商务委牵头了哪几项？") when no task row names it,
        short or in full (区发改委 for 区发展改革委 is named), or ""."""
        words = vocabulary().table_words
        if query.intent not in ("responsibility", "list") or not any(w in query.text for w in words["count"] + words["which"]):
            return ""
        match = _ORGANISATION.search(query.text)
        if not match or not any(v in query.text for v in roles.lead_verbs()):
            return ""
        name = match.group(0)
        if any(name in u or u in query.text or abbreviates(name, u) for u in self.units):
            return ""
        return name

    def _unit_tasks(self, query: Query, unit: str, sole: bool) -> list[Sentence] | None:
        rows = [r for t in self.tables if not query.doc_ids or t.doc_id in query.doc_ids
                for r in t.rows if r.kind == "task" and unit in lead_units(r)
                and (not query.districts or r.district in query.districts)]
        alone = [r for r in rows if lead_units(r) == [unit]]
        chosen = alone if sole else rows
        if not chosen:
            return None
        if query.english:
            head = f"{unit} leads {len(chosen)} tasks" + (" alone" if sole else f" ({len(alone)} of them alone)") + ":"
        else:
            verb = lead_verb(chosen[0])  # the table's own word: 牵头, or 负责 under a 责任部门 column
            head = f"{unit}{'单独' if sole else ''}{verb}的任务共{len(chosen)}项" + ("" if sole else f"（其中单独{verb}{len(alone)}项）") + "："
        sentences = self._listing(query, head, chosen, chosen[0])
        if not sole and len(alone) != len(chosen):
            sentences[0].derived = (str(len(chosen)), str(len(alone)))
        return sentences


_ORGANISATION = re.compile(r"区[\u4e00-\u9fff]{1,6}?(?:委员会|委|局|办|中心)")
