"""`assistant` command line: a thin layer over the library (outline, chunks, build, search, ask)."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from .config import load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Policy Q&A assistant over district planning reports.")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command()
def outline(doc_id: str = typer.Argument(..., help="document id from corpus/catalog.toml")) -> None:
    """Print the recovered heading tree of one report with block counts."""
    from .chunk import chunk_corpus
    from .parse import heading_outline

    settings = load_settings()
    corpus = chunk_corpus(settings.corpus_dir)
    parsed = next((p for p in corpus.parsed if p.document.doc_id == doc_id), None)
    if parsed is None:
        known = ", ".join(d.doc_id for d in corpus.documents)
        _fail(f"unknown document {doc_id!r}; known: {known}")
    typer.echo(parsed.document.title)
    for section, counts in heading_outline(parsed):
        label = section.heading or "(front matter)"
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        typer.echo(f"{'  ' * section.level}{label}  [{section.section_id}]  {summary}")


@app.command()
def chunks(
    doc: Optional[str] = typer.Option(None, "--doc", help="only this document"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """List the chunks the index is built from."""
    from .chunk import ChunkSettings, chunk_corpus

    settings = load_settings()
    corpus = chunk_corpus(settings.corpus_dir, ChunkSettings(settings.max_chars, settings.overlap_chars))
    for problem in corpus.problems:
        typer.echo(str(problem), err=True)
    selected = [c for c in corpus.chunks if doc is None or c.doc_id == doc]
    if doc is not None and not selected:
        _fail(f"no chunks for document {doc!r}; known: {', '.join(d.doc_id for d in corpus.documents)}")
    for chunk in selected:
        if as_json:
            typer.echo(json.dumps(chunk.to_dict(), ensure_ascii=False))
        else:
            typer.echo(f"{chunk.chunk_id}  [{chunk.kind}]  {' > '.join(chunk.breadcrumb)}\n    {chunk.text[:120]}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
