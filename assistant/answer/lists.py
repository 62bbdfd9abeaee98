"""Whole lists from the report's structure: a "哪些/有什么举措" question is answered with the items
under the heading that matches it — its sub-headings, else the lead sentence of each of its
paragraphs and bullets — one short line each, cited, "等N项" when shortened.

The heading must come from a retrieved passage (so the question's scope holds) and name most of
what the question is about; otherwise the answerer falls back to the list in one paragraph
(extractive._list_items).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from assistant.indexing.lexical import tokenize
from assistant.models import Chunk, Hit, ParsedDocument, Query, Section
from assistant.ingest.facts import row_label
from assistant.ingest.normalize import sentences

MAX_ITEMS = 8  # more make the answer a wall; the rest is named as "等N项" and is one click away
COUNTED_HEADINGS = 12  # matching headings tried for one whose item count is the asked count
MIN_HEADING_MATCH = 0.6  # share of the question's topic words the heading must contain: measured on the eval set
ITEM_CHARS = 60  # an item is one short line: its lead clause(s), never cut inside a clause
ANNOUNCE_HITS = 3  # passages searched for a sentence that announces the list below it
# "…如下：", "从三个方面：", "开展六大“卓越行动”：": a count of things, then a colon that ends the sentence
_ANNOUNCES = re.compile(r"(以下|如下|下列|[一二三四五六七八九十两\d]+(?:个|大|项|类|条)?方面|[一二三四五六七八九十两\d]+(?:项|大|类|条))[^。；;]{0,24}[：:]$")


@dataclass(frozen=True)
class ListItem:
    text: str
    chunk: Chunk


@dataclass(frozen=True)
class HeadingList:
    section: Section
    items: list[ListItem]
    total: int  # items under the heading, before shortening
    first: Chunk  # the heading's first passage (cited by the lead line)


def _weight(terms: list[str]) -> float:
    return float(sum(min(len(t), 4) for t in terms))


def term_share(terms: list[str], text: str) -> float:
    """The share of the question's terms (by length, capped at 4) that a heading or sentence names."""
    words = set(tokenize(text))
    matched = [t for t in terms if t in words or t in text]
    return _weight(matched) / _weight(terms) if terms else 0.0


def _short(text: str) -> str:
    """The first sentence, cut back to whole clauses within ITEM_CHARS."""
    first = (sentences(text) or [text])[0].strip().rstrip("。；;")
    if len(first) <= ITEM_CHARS:
        return first
    clauses = re.findall(r"[^，,、：:]+[，,、：:]?", first)
    kept = ""
    for clause in clauses:
        if len(kept) + len(clause) > ITEM_CHARS and kept:
            break
        kept += clause
    return kept.rstrip("，,、：:")


class ListFinder:
    def __init__(self, structure: Mapping[str, ParsedDocument], chunks: Sequence[Chunk], positions: dict[str, int]) -> None:
        self.structure = structure
        self.chunks, self.positions = chunks, positions

    def _chunk_of_block(self, doc_id: str, anchor: str) -> Chunk | None:
        """The block's chunk; a long block is split into "-p1", "-p2" pieces (chunk.py): its first piece stands for it."""
        i = self.positions.get(f"{doc_id}#{anchor}", self.positions.get(f"{doc_id}#{anchor}-p1"))
        return None if i is None else self.chunks[i]

    def find(self, query: Query, hits: list[Hit]) -> HeadingList | None:
        terms = [t for t in dict.fromkeys(query.terms) if len(t) > 1]
        if not terms:
            return None
        candidates: list[tuple[float, int, Section]] = []
        for rank, hit in enumerate(hits):
            parsed = self.structure.get(hit.chunk.doc_id)
            if parsed is None:
                continue
            for section in self._sections_above(parsed, hit.chunk):
                score = term_share(terms, section.heading)
                if score >= MIN_HEADING_MATCH:
                    candidates.append((score, -rank, section))
        if not candidates:
            return self._announced(hits)
        candidates.sort(key=lambda c: c[:2], reverse=True)
        best = self._items(self.structure[candidates[0][2].doc_id], candidates[0][2])
        if query.item_count and not _holds_count(best, query):
            # "锚定哪四个方面": of the matching headings, one with as many items as asked
            for _, _, section in candidates[1:COUNTED_HEADINGS]:
                found = self._items(self.structure[section.doc_id], section)
                if found is not None and found.total == query.item_count:
                    return found
        return best

    def _announced(self, hits: list[Hit]) -> HeadingList | None:
        """The sections a retrieved sentence announces ("建议做好以下七方面27项重点工作："): the headings
        that follow it under its own heading, when the sentence ends the passage with a colon."""
        for hit in hits[:ANNOUNCE_HITS]:
            if not _ANNOUNCES.search(hit.chunk.text.strip()):
                continue
            parsed = self.structure.get(hit.chunk.doc_id)
            section = next((s for s in parsed.sections if s.path == tuple(hit.chunk.breadcrumb)), None) if parsed else None
            found = self._items(parsed, section) if section is not None else None
            if found is not None and found.items and found.items[0].chunk.chunk_id != hit.chunk.chunk_id:
                return HeadingList(section, found.items, found.total, hit.chunk)
        return None

    def _sections_above(self, parsed: ParsedDocument, chunk: Chunk) -> list[Section]:
        headings = set(chunk.breadcrumb)
        return [s for s in parsed.sections if s.heading and s.heading in headings and s.level > 1]

    def _items(self, parsed: ParsedDocument, section: Section) -> HeadingList | None:
        children = [s for s in parsed.sections if len(s.path) == len(section.path) + 1 and s.path[:len(section.path)] == section.path]
        items: list[ListItem] = []
        if children:
            for child in children:
                chunk = self._first_chunk(parsed, child.section_id)
                if chunk is not None:
                    items.append(ListItem(re.sub(r"^\s*[（(]?[一二三四五六七八九十\d]+[)）、.．]\s*", "", child.heading), chunk))
        else:
            blocks = [b for b in parsed.blocks if b.section_id == section.section_id]
            # paragraphs and bullets are the section's items; its table rows only when it has nothing else
            kinds = ("paragraph", "bullet") if sum(b.kind in ("paragraph", "bullet") for b in blocks) >= 2 else ("table_row",)
            for block in blocks:
                if block.kind not in kinds:
                    continue
                chunk = self._chunk_of_block(parsed.document.doc_id, block.anchor)
                if chunk is None or block.text.startswith("表"):
                    continue
                label = row_label(block.fields) if block.fields else ""
                items.append(ListItem(label or _short(block.text), chunk))
        first = items[0].chunk if items else None
        if len(items) < 2 or first is None:
            return None
        return HeadingList(section, items[:MAX_ITEMS], len(items), first)

    def _first_chunk(self, parsed: ParsedDocument, section_id: str) -> Chunk | None:
        prefix = section_id + "_"
        for block in parsed.blocks:
            if block.section_id == section_id or block.section_id.startswith(prefix):
                chunk = self._chunk_of_block(parsed.document.doc_id, block.anchor)
                if chunk is not None:
                    return chunk
        return None


def _holds_count(found: HeadingList | None, query: Query) -> bool:
    """The heading's items are the asked number, or that many of them name the asked kind."""
    if found is None:
        return False
    of_kind = [item for item in found.items if query.item_kind and query.item_kind in item.text]
    return query.item_count in (found.total, len(of_kind))
