"""The heading tree and the block list a parser fills: stable section ids and anchors from structure alone."""

from __future__ import annotations

from assistant.models import Block, Section


class ParseError(ValueError):
    pass


class SectionTree:
    """Keeps the heading stack and hands out stable ordinal section ids ("s2_1_3")."""

    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id
        self.front = Section("s0", doc_id, "", 0, ())
        self.sections: list[Section] = [self.front]
        self._stack: list[tuple[int, Section]] = []
        self._counters: dict[str, int] = {}

    @property
    def current(self) -> Section:
        return self._stack[-1][1] if self._stack else self.front

    def open(self, heading: str, rank: int) -> Section:
        while self._stack and self._stack[-1][0] >= rank:
            self._stack.pop()
        parent_id = self._stack[-1][1].section_id if self._stack else "s"
        self._counters[parent_id] = self._counters.get(parent_id, 0) + 1
        ordinal = self._counters[parent_id]
        section_id = f"s{ordinal}" if parent_id == "s" else f"{parent_id}_{ordinal}"
        path = tuple(s.heading for _, s in self._stack) + (heading,)
        section = Section(section_id, self.doc_id, heading, len(path), path)
        self._stack.append((rank, section))
        self.sections.append(section)
        return section


class BlockSink:
    """Collects blocks and numbers them per section, so anchors depend only on structure."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._count: dict[str, int] = {}

    def add(self, kind: str, text: str, section: Section, lines: tuple[int, int],
            caption: str = "", fields: tuple[tuple[str, str], ...] = ()) -> None:
        if not text.strip():
            return
        n = self._count.get(section.section_id, 0) + 1
        self._count[section.section_id] = n
        anchor = f"{section.section_id}-b{n}"
        self.blocks.append(Block(anchor, kind, text.strip(), section.section_id, lines, caption, fields))
