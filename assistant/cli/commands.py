"""The commands over the index: outline, chunks, facts, build, search, ask, feedback."""

from __future__ import annotations

import json
from typing import Optional

import typer

from assistant.cli.common import (MAX_K, app, check_scope, fail, filters_or_fail, guard, load_assistant, print_json,
                                 read_question, settings_or_fail)
from assistant.config import load_settings
from assistant.serve.guard import short


@app.command()
@guard
def outline(doc_id: str = typer.Argument(..., help="document id from corpus/catalog.toml")) -> None:
    """Print the recovered heading tree of one report with block counts."""
    from assistant.ingest.chunk import chunk_corpus
    from assistant.ingest.parse import heading_outline

    settings = load_settings()
    corpus = chunk_corpus(settings.corpus_dir)
    parsed = next((p for p in corpus.parsed if p.document.doc_id == doc_id), None)
    if parsed is None:
        known = ", ".join(d.doc_id for d in corpus.documents)
        fail(f"unknown document {doc_id!r}; known: {known}")
    typer.echo(parsed.document.title)
    for section, counts in heading_outline(parsed):
        label = section.heading or "(front matter)"
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        typer.echo(f"{'  ' * section.level}{label}  [{section.section_id}]  {summary}")


@app.command()
@guard
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
        fail(f"no chunks for document {doc!r}; known: {', '.join(d.doc_id for d in corpus.documents)}")
    for chunk in selected:
        if as_json:
            typer.echo(json.dumps(chunk.to_dict(), ensure_ascii=False))
        else:
            typer.echo(f"{chunk.chunk_id}  [{chunk.kind}]  {' > '.join(chunk.breadcrumb)}\n    {chunk.text[:120]}")


@app.command()
@guard
def facts(
    doc: Optional[str] = typer.Option(None, "--doc", help="only this document id"),
    subject: Optional[str] = typer.Option(None, "--subject", help="only facts whose subject contains this text"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """List the facts (figures of tables and text) stored with the index, with a count per report."""
    from collections import Counter

    from assistant.indexing.load import load_facts, load_index

    index = load_index(settings_or_fail(), check=False)
    book = load_facts(index)
    if doc is not None and doc not in index.manifest["documents"]:
        fail(f"unknown document {doc!r}; known: {', '.join(index.manifest['documents'])}")
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


@app.command()
@guard
def build(model: Optional[str] = typer.Option(None, help="embedding model setting, e.g. bundled:use-m3")) -> None:
    """Build or update the index (re-embeds only chunks whose text changed)."""
    from assistant.indexing.manifest import IndexProblem
    from assistant.indexing.build import build_index
    from assistant.library.journal import recover

    settings = settings_or_fail(model=model)
    for note in recover(settings):  # a library change a crash cut short: settled, not indexed half-done
        typer.echo(f"recovery: {note}", err=True)
    try:
        report = build_index(settings, progress=True)
    except IndexProblem as exc:
        fail(str(exc))
    typer.echo(report.summary())
    if not report.ok:  # a report is served from an older build, or not at all: scripts must notice
        names = ", ".join([*report.kept, *report.missing])
        fail(f"{len(report.kept) + len(report.missing)} catalogued report(s) failed to load: {names}; "
              "fix the file(s) named above and run `assistant build` again", 1)


@app.command()
@guard
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
        fail(f"-k must be between 1 and {MAX_K}, not {k}")
    settings = settings_or_fail()
    question = read_question(question, settings)  # before loading the model: bad input fails fast
    check_scope(settings, doc, year)
    assistant = load_assistant(settings)
    try:
        result = assistant.search(question, k=k, filters=filters_or_fail(district, doc, year))
    except QuestionError as exc:
        fail(str(exc))
    if as_json:
        print_json([
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
@guard
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
        fail(f"--mode must be extractive or llm, not {short(mode)}")
    settings = settings_or_fail()
    question = read_question(question, settings)  # before loading the model: bad input fails fast
    check_scope(settings, doc, None)
    assistant = load_assistant(settings)
    try:
        answer = assistant.ask(question, mode=mode, filters=filters_or_fail(district, doc, None))
    except (QuestionError, LLMConfigError) as exc:
        fail(str(exc))
    if as_json:
        data = answer.to_dict()
        print_json({k2: data[k2] for k2 in ("answer", "reading", "query", "refused", "mode", "citations", "timings_ms",
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
@guard
def feedback(as_json: bool = typer.Option(False, "--json", help="all fields, as a JSON list")) -> None:
    """Export the 👍/👎 ratings given in the chat (with question, answer, citations, index version, comment)."""
    from assistant.serve.feedback import FeedbackStore

    store = FeedbackStore(settings_or_fail().data_dir)
    rows = store.all()
    if as_json:
        print_json([row.to_dict() for row in rows])
        return
    if not rows:
        typer.echo(f"(no feedback yet in {store.path})", err=True)
    for row in rows:
        mark = "👍" if row.rating == "up" else "👎"
        typer.echo(f"{row.id:>4} {row.created} {mark} {row.question[:60]}{'  — ' + row.comment if row.comment else ''}")
