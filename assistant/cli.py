"""`assistant` command line: a thin layer over the library (outline, chunks, facts, build, search, ask;
add, replace, remove, documents)."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click
import typer

from assistant.config import load_settings
from assistant.serve.guard import short

MAX_K = 100  # passages per search; more is never useful and 0 or less used to mean "all"

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Policy Q&A assistant over district planning reports.")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _guard(command):
    """Any unexpected failure of a command becomes an `error:` line and exit status 1, not a
    stack trace (set ASSISTANT_DEBUG=1 to see the trace)."""
    import functools
    import os

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, click.exceptions.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence of the CLI
            if os.environ.get("ASSISTANT_DEBUG"):
                raise
            _fail(_redact(f"{type(exc).__name__}: {str(exc)[:500] or 'no details'}") + " (set ASSISTANT_DEBUG=1 for the trace)", 1)

    return run


def _redact(message: str) -> str:
    """Secrets from the environment (API keys, tokens, passwords) never reach the terminal."""
    import os

    for name, value in os.environ.items():
        if len(value) >= 6 and name.upper().endswith(("API_KEY", "_KEY", "TOKEN", "SECRET", "PASSWORD", "ASSISTANT_AUTH")):
            message = message.replace(value, "***")
    return message


def _question(question: str, settings) -> str:
    """The checked question; "-" reads it from standard input (for text that cannot be an
    argument: NUL bytes, or more than the OS limit of 128 KiB per argument)."""
    from assistant.service import QuestionError, check_question

    if question == "-":
        question = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    try:
        return check_question(question, settings)
    except QuestionError as exc:
        _fail(str(exc))


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command()
@_guard
def outline(doc_id: str = typer.Argument(..., help="document id from corpus/catalog.toml")) -> None:
    """Print the recovered heading tree of one report with block counts."""
    from assistant.ingest.chunk import chunk_corpus
    from assistant.ingest.parse import heading_outline

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
@_guard
def chunks(
    doc: Optional[str] = typer.Option(None, "--doc", help="only this document"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """List the chunks the index is built from."""
    from assistant.ingest.chunk import ChunkSettings, chunk_corpus

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


@app.command()
@_guard
def facts(
    doc: Optional[str] = typer.Option(None, "--doc", help="only this document id"),
    subject: Optional[str] = typer.Option(None, "--subject", help="only facts whose subject contains this text"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """List the facts (figures of tables and text) stored with the index, with a count per report."""
    from collections import Counter

    from assistant.indexing.load import load_facts, load_index

    index = load_index(_settings(), check=False)
    book = load_facts(index)
    if doc is not None and doc not in index.manifest["documents"]:
        _fail(f"unknown document {doc!r}; known: {', '.join(index.manifest['documents'])}")
    selected = book.select(doc_id=doc or "", subject=subject or "")
    for fact in selected:
        if as_json:
            typer.echo(json.dumps(fact.to_dict(), ensure_ascii=False))
        else:
            period = f"{fact.period.year or ''}{fact.period.kind and ' ' + fact.period.kind}"
            typer.echo(f"{fact.district}  {period:<16} {fact.subject}  {fact.display()}  [{fact.relation}]  {fact.chunk_id}")
    if not as_json:
        counts = Counter(f.doc_id for f in selected)
        typer.echo(f"{len(selected)} facts: " + ", ".join(f"{d} {n}" for d, n in sorted(counts.items())), err=True)


def _settings(**overrides):
    try:
        return load_settings(**overrides)
    except ValueError as exc:
        _fail(str(exc))


@app.command()
@_guard
def build(model: Optional[str] = typer.Option(None, help="embedding model setting, e.g. bundled:use-m3")) -> None:
    """Build or update the index (re-embeds only chunks whose text changed)."""
    from assistant.indexing.manifest import IndexProblem
    from assistant.indexing.build import build_index

    settings = _settings(model=model)
    try:
        report = build_index(settings, progress=True)
    except IndexProblem as exc:
        _fail(str(exc))
    typer.echo(report.summary())
    if not report.ok:  # a report is served from an older build, or not at all: scripts must notice
        names = ", ".join([*report.kept, *report.missing])
        _fail(f"{len(report.kept) + len(report.missing)} catalogued report(s) failed to load: {names}; "
              "fix the file(s) named above and run `assistant build` again", 1)


def _load_assistant(settings):
    from assistant.indexing.manifest import IndexProblem
    from assistant.service import Assistant

    try:
        assistant = Assistant.load(settings, build_if_needed=False)
    except IndexProblem as exc:
        _fail(str(exc))
    for warning in assistant.warnings:  # a report served from an older build: say so with every answer
        typer.echo(warning, err=True)
    return assistant


def _check_scope(settings, doc: Optional[str], year: Optional[int]) -> None:
    """--doc and --year must name something the index holds; otherwise the filter matches nothing
    and the command would print nothing (or a refusal) with exit status 0."""
    if doc is None and year is None:
        return
    from assistant.indexing.manifest import IndexProblem, current_path, read_manifest
    from assistant.models import Document

    try:
        documents = read_manifest(current_path(settings).resolve(), require_checksums=False)["documents"]
    except (IndexProblem, OSError):
        return  # no usable index: loading it reports that properly
    if doc is not None and doc not in documents:
        _fail(f"unknown document {short(doc)}; known: {', '.join(sorted(documents))}")
    if year is not None:
        years = sorted({y for meta in documents.values()
                        for y in Document("", "", "", str(meta.get("year", "")), "", "", "").years()})
        if year not in years:
            covered = f"{years[0]}-{years[-1]}" if years else "none"
            _fail(f"no report covers the year {year}; the reports cover {covered}")


def _filters(district: Optional[str], doc: Optional[str], year: Optional[int]):
    from assistant.answer.retrieve import DISTRICT_ALIASES, Filters

    districts: tuple[str, ...] = ()
    if district:
        match = [name for name, aliases in DISTRICT_ALIASES.items() if district.lower() in (name.lower(),) + aliases]
        if not match:
            _fail(f"unknown district {short(district)}; known: {', '.join(DISTRICT_ALIASES)}")
        districts = tuple(match)
    if not (districts or doc or year):
        return None
    return Filters(districts=districts, doc_ids=(doc,) if doc else (), years=(year,) if year else ())


@app.command()
@_guard
def search(
    question: str = typer.Argument(..., help='the question; "-" reads it from standard input'),
    k: int = typer.Option(10, "-k", help=f"number of passages (1-{MAX_K})"),
    as_json: bool = typer.Option(False, "--json"),
    district: Optional[str] = typer.Option(None, help="闵行区 / 静安区 / Minhang / Jing'an"),
    doc: Optional[str] = typer.Option(None, help="only this document id"),
    year: Optional[int] = typer.Option(None, help="only reports covering this year"),
) -> None:
    """Print the ranked passages for a question with their per-retriever scores."""
    from assistant.service import QuestionError

    if not 1 <= k <= MAX_K:
        _fail(f"-k must be between 1 and {MAX_K}, not {k}")
    settings = _settings()
    question = _question(question, settings)  # before loading the model: bad input fails fast
    _check_scope(settings, doc, year)
    assistant = _load_assistant(settings)
    try:
        result = assistant.search(question, k=k, filters=_filters(district, doc, year))
    except QuestionError as exc:
        _fail(str(exc))
    if as_json:
        _print_json([
            {"chunk_id": h.chunk.chunk_id, "doc_id": h.chunk.doc_id, "anchor": h.chunk.anchor, "breadcrumb": list(h.chunk.breadcrumb),
             "text": h.chunk.text, "url": h.chunk.url, "score": round(h.score, 6), "scores": {k2: round(v, 6) for k2, v in h.scores_by_retriever.items()}}
            for h in result.hits
        ])
        return
    if not result.hits:
        typer.echo("(no passage matches the question within these filters)", err=True)
    for rank, hit in enumerate(result.hits, start=1):
        scores = " ".join(f"{name}={value:.3f}" for name, value in hit.scores_by_retriever.items())
        typer.echo(f"{rank:>2}. {hit.chunk.chunk_id}  score={hit.score:.4f} ({scores})\n    {' > '.join(hit.chunk.breadcrumb)}\n    {hit.chunk.text[:200]}")
    typer.echo(f"({', '.join(f'{k2} {v:.1f} ms' for k2, v in result.timings.items())})", err=True)


@app.command()
@_guard
def ask(
    question: str = typer.Argument(..., help='the question; "-" reads it from standard input'),
    mode: Optional[str] = typer.Option(None, help="extractive (default) or llm"),
    as_json: bool = typer.Option(False, "--json"),
    district: Optional[str] = typer.Option(None, help="闵行区 / 静安区 / Minhang / Jing'an"),
    doc: Optional[str] = typer.Option(None, help="only this document id"),
) -> None:
    """Answer a question with numbered citations."""
    from assistant.answer.llm import LLMConfigError
    from assistant.service import QuestionError

    if mode not in (None, "extractive", "llm"):
        _fail(f"--mode must be extractive or llm, not {short(mode)}")
    settings = _settings()
    question = _question(question, settings)  # before loading the model: bad input fails fast
    _check_scope(settings, doc, None)
    assistant = _load_assistant(settings)
    try:
        answer = assistant.ask(question, mode=mode, filters=_filters(district, doc, None))
    except (QuestionError, LLMConfigError) as exc:
        _fail(str(exc))
    if as_json:
        data = answer.to_dict()
        _print_json({k2: data[k2] for k2 in ("answer", "reading", "query", "refused", "mode", "citations", "timings_ms",
                                              "verification", "standalone_question")}
                    | {"closest": [{"chunk_id": c["chunk_id"], "url": c["url"], "text": c["text"]} for c in data["closest"]]})
        return
    typer.echo(answer.text)
    if answer.reading:
        typer.echo(answer.reading)
    for citation in answer.citations:
        typer.echo(f"[{citation.n}] {citation.title} > {' > '.join(citation.breadcrumb)}\n    {citation.quote[:160]}\n    {citation.url}")
    for hit in answer.closest:
        typer.echo(f"  - {hit.chunk.url}  {hit.chunk.text[:120]}")


@app.command()
@_guard
def feedback(as_json: bool = typer.Option(False, "--json", help="all fields, as a JSON list")) -> None:
    """Export the 👍/👎 ratings given in the chat (with question, answer, citations, index version, comment)."""
    from assistant.serve.feedback import FeedbackStore

    store = FeedbackStore(_settings().data_dir)
    rows = store.all()
    if as_json:
        _print_json([row.to_dict() for row in rows])
        return
    if not rows:
        typer.echo(f"(no feedback yet in {store.path})", err=True)
    for row in rows:
        mark = "👍" if row.rating == "up" else "👎"
        typer.echo(f"{row.id:>4} {row.created} {mark} {row.question[:60]}{'  — ' + row.comment if row.comment else ''}")


# ----------------------------------------------------------------------------- knowledge base (library.py)


def _library(settings):
    from assistant.library.operations import Library

    return Library(settings)


def _bar(label: str):
    """A progress callback for library changes: one line per stage, a tqdm bar while embedding."""
    from tqdm import tqdm

    state: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "embedding":
            bar = state.get("bar") or state.setdefault("bar", tqdm(total=total, desc=f"{label}: embedding", unit="chunk"))
            bar.update(done - bar.n)
        elif stage != state.get("stage"):
            state["stage"] = stage
            typer.echo(f"{label}: {stage}…", err=True)

    return progress


@app.command()
@_guard
def add(
    files: list[str] = typer.Argument(..., help="report files (PDF, DOCX, TXT, Markdown)"),
    district: Optional[str] = typer.Option(None, help="e.g. 静安区 (default: from the title)"),
    year: Optional[str] = typer.Option(None, help="e.g. 2023 or 2023-2024 (default: from the title)"),
    kind: Optional[str] = typer.Option(None, help="yearly_report, five_year_plan, task_table, article (default: from the title)"),
    title: Optional[str] = typer.Option(None, help="the title (one file only; default: the file name or its first lines)"),
    doc_id: Optional[str] = typer.Option(None, "--doc-id", help="the id (one file only; default: from the file name)"),
) -> None:
    """Add reports to corpus/ and the catalog (fields prefilled from the title), then rebuild the index."""
    import dataclasses
    from pathlib import Path

    from assistant.library.operations import LibraryError

    if (title or doc_id) and len(files) > 1:
        _fail("--title and --doc-id name one report: add the files one at a time")
    library = _library(_settings())
    items, staged = [], []
    try:
        for name in files:
            upload = library.stage_file(Path(name))
            staged.append(upload.token)
            given = {"district": district, "year": year, "kind": kind, "title": title, "doc_id": doc_id}
            fields = dataclasses.replace(upload.fields, **{k: v for k, v in given.items() if v is not None})
            items.append((upload.token, fields))
            typer.echo(f"{name}: {upload.format}, {upload.pages} pages, {upload.chars} characters -> "
                       f"{fields.doc_id} | {fields.title} | {fields.district} | {fields.year} | {fields.kind}", err=True)
            for warning in upload.warnings:
                typer.echo(f"warning: {name}: {warning}", err=True)
        change = library.add(items, _bar("add"))
    except LibraryError as exc:
        for token in staged:
            library.uploads.discard(token)
        _fail(str(exc))
    typer.echo(change.summary)
    typer.echo(f"added: {', '.join(change.doc_ids)}")


@app.command()
@_guard
def replace(doc_id: str = typer.Argument(..., help="the report to replace"),
            file: str = typer.Argument(..., help="its new version")) -> None:
    """Replace a report's file with a new version (same id and catalog fields), then rebuild the index."""
    from pathlib import Path

    from assistant.library.operations import LibraryError

    library = _library(_settings())
    try:
        upload = library.stage_file(Path(file))
        change = library.replace(doc_id, upload.token, _bar("replace"))
    except LibraryError as exc:
        _fail(str(exc))
    typer.echo(change.summary)


@app.command()
@_guard
def remove(doc_id: str = typer.Argument(..., help="the report to remove (see `assistant documents`)")) -> None:
    """Remove a report from corpus/ and the catalog; the rebuilt index drops everything derived from it."""
    from assistant.library.operations import LibraryError

    try:
        change = _library(_settings()).remove(doc_id, _bar("remove"))
    except LibraryError as exc:
        _fail(str(exc))
    typer.echo(change.summary)
    typer.echo(f"removed: {doc_id}")


@app.command()
@_guard
def documents(as_json: bool = typer.Option(False, "--json", help="all fields, as a JSON list")) -> None:
    """List the reports with their status: pages, blocks, chunks, state, warnings, indexed at."""
    from assistant.library.operations import LibraryError

    try:
        statuses = _library(_settings()).documents()
    except LibraryError as exc:
        _fail(str(exc))
    if as_json:
        _print_json([s.to_dict() for s in statuses])
        return
    for s in statuses:
        pages = f"{s.pages} pages, " if s.pages else ""
        typer.echo(f"{s.doc_id:<36} {s.format:<5} {pages}{s.blocks} blocks, {s.chunks} chunks  {s.state}  {s.indexed_at}  {s.title}")
        for warning in s.warnings:
            typer.echo(f"    warning: {warning}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
