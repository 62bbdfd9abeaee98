"""Blocks -> chunks of bounded size, each with a stable anchor, its breadcrumb and a search context."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.ingest.corpus import CorpusProblem, load_corpus
from assistant.models import Block, Chunk, Document, ParsedDocument
from assistant.ingest.parse import ParseError, parse_document

_SENTENCE = re.compile(r"[^。；！？!?;]*[。；！？!?;]+[”’\"」』）)]*|[^。；！？!?;]+$")
_CLAUSE = re.compile(r"[^，,、：:]*[，,、：:]+|[^，,、：:]+$")
_SHORT_FIELD = 60  # fields this short are repeated in every piece's context (a row's name, a task's leads)


@dataclass(frozen=True)
class ChunkSettings:
    max_chars: int = 360
    overlap_chars: int = 80


def _units(text: str, max_chars: int) -> list[str]:
    """Sentences; a sentence longer than the limit is cut at commas, then at the limit
    but never inside a number."""
    units: list[str] = []
    for sentence in _SENTENCE.findall(text):
        if len(sentence) <= max_chars:
            units.append(sentence)
            continue
        for clause in _CLAUSE.findall(sentence):
            while len(clause) > max_chars:
                cut = max_chars
                while cut > max(1, max_chars // 2) and (clause[cut - 1].isdigit() or clause[cut - 1] == ".") and (clause[cut].isdigit() or clause[cut] == "."):
                    cut -= 1
                units.append(clause[:cut])
                clause = clause[cut:]
            if clause:
                units.append(clause)
    return [u for u in units if u]


def split_text(text: str, max_chars: int, overlap_chars: int) -> list[str]:
    """Pack sentences into pieces of at most `max_chars`; a piece repeats the previous
    piece's last sentence when it is short enough (the overlap), so a fact that spans two
    sentences is still found in one piece."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    for unit in _units(text, max_chars):
        if current and sum(map(len, current)) + len(unit) > max_chars:
            pieces.append("".join(current))
            tail = current[-1]
            current = [tail] if len(tail) <= overlap_chars and len(tail) + len(unit) <= max_chars else []
        current.append(unit)
    if current:
        pieces.append("".join(current))
    return pieces


def _context(document: Document, breadcrumb: tuple[str, ...], block: Block, piece: str, whole: bool) -> str:
    lines = [f"{document.district} {document.title}".strip()]
    if breadcrumb:
        lines.append(" > ".join(breadcrumb))
    if block.caption:
        lines.append(block.caption)
    if block.fields:
        if whole:
            lines.append(block.readable())
        else:
            short = "; ".join(f"{k}: {v}" for k, v in block.fields if v and len(v) <= _SHORT_FIELD)
            lines.extend([short, piece] if short else [piece])
    else:
        lines.append(piece)
    return "\n".join(line for line in lines if line)


def chunk_document(parsed: ParsedDocument, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    document = parsed.document
    chunks: list[Chunk] = []
    for block in parsed.blocks:
        breadcrumb = parsed.section(block.section_id).path
        pieces = split_text(block.text, settings.max_chars, settings.overlap_chars)
        for number, piece in enumerate(pieces, start=1):
            anchor = block.anchor if len(pieces) == 1 else f"{block.anchor}-p{number}"
            chunks.append(
                Chunk(
                    chunk_id=f"{document.doc_id}#{anchor}",
                    doc_id=document.doc_id,
                    anchor=anchor,
                    kind=block.kind,
                    text=piece,
                    context=_context(document, breadcrumb, block, piece, len(pieces) == 1),
                    breadcrumb=breadcrumb,
                    district=document.district,
                    year=document.year,
                    title=document.title,
                    fields=block.fields,
                    page=block.page,
                )
            )
    return chunks


@dataclass
class ChunkedCorpus:
    documents: list[Document] = field(default_factory=list)
    parsed: list[ParsedDocument] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    problems: list[CorpusProblem] = field(default_factory=list)


def chunk_corpus(corpus_dir: str, settings: ChunkSettings = ChunkSettings()) -> ChunkedCorpus:
    """Load, parse and chunk every report; a report that fails is named in `problems`."""
    loaded = load_corpus(corpus_dir)
    result = ChunkedCorpus(problems=list(loaded.problems))
    for document, text in loaded.documents:
        try:
            parsed = parse_document(document, text, loaded.pages.get(document.doc_id, ()))
        except (ParseError, ValueError) as exc:
            result.problems.append(CorpusProblem(document.path, f"could not be parsed: {exc}", doc_id=document.doc_id))
            continue
        result.documents.append(document)
        result.parsed.append(parsed)
        result.chunks.extend(chunk_document(parsed, settings))
    return result
