"""The knowledge-base commands (assistant.library): add, replace, remove, restore, documents."""

from __future__ import annotations

from typing import Optional

import typer

from assistant.cli.common import app, fail, guard, print_json, settings_or_fail


def library_of(settings):
    from assistant.library.operations import Library

    return Library(settings)


def progress_bar(label: str):
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
@guard
def add(
    files: list[str] = typer.Argument(..., help="report files (PDF, DOCX, TXT, Markdown)"),
    district: Optional[str] = typer.Option(None, help="e.g. 静安区, 上海市, 广东省 (default: from the title or the first lines)"),
    year: Optional[str] = typer.Option(None, help="e.g. 2023 or 2023-2024 (default: the plan's period, a work report's year and the one before)"),
    kind: Optional[str] = typer.Option(None, help="yearly_report, five_year_plan, special_plan, action_plan, task_table, "
                                                  "work_report or article (default: from the title)"),
    title: Optional[str] = typer.Option(None, help="the title (one file only; default: the file name or its first lines)"),
    doc_id: Optional[str] = typer.Option(None, "--doc-id", help="the id (one file only; default: from the file name)"),
) -> None:
    """Add reports to corpus/ and the catalog (fields prefilled from the title), then rebuild the index."""
    import dataclasses
    from pathlib import Path

    from assistant.library.operations import LibraryError

    if (title or doc_id) and len(files) > 1:
        fail("--title and --doc-id name one report: add the files one at a time")
    library = library_of(settings_or_fail())
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
        change = library.add(items, progress_bar("add"))
    except LibraryError as exc:
        for token in staged:
            library.uploads.discard(token)
        fail(str(exc))
    typer.echo(change.summary)
    typer.echo(f"added: {', '.join(change.doc_ids)}")


@app.command()
@guard
def replace(doc_id: str = typer.Argument(..., help="the report to replace"),
            file: str = typer.Argument(..., help="its new version")) -> None:
    """Replace a report's file with a new version (same id and catalog fields), then rebuild the index."""
    from pathlib import Path

    from assistant.library.operations import LibraryError

    library = library_of(settings_or_fail())
    try:
        upload = library.stage_file(Path(file))
        change = library.replace(doc_id, upload.token, progress_bar("replace"))
    except LibraryError as exc:
        fail(str(exc))
    typer.echo(change.summary)


@app.command()
@guard
def remove(doc_id: str = typer.Argument(..., help="the report to remove (see `assistant documents`)")) -> None:
    """Remove a report from corpus/ and the catalog; the rebuilt index drops everything derived from it."""
    from assistant.library.operations import LibraryError

    try:
        change = library_of(settings_or_fail()).remove(doc_id, progress_bar("remove"))
    except LibraryError as exc:
        fail(str(exc))
    typer.echo(change.summary)
    typer.echo(f"removed: {doc_id}")


@app.command()
@guard
def documents(as_json: bool = typer.Option(False, "--json", help="all fields, as a JSON list")) -> None:
    """List the reports with their status: pages, blocks, chunks, state, warnings, indexed at."""
    from assistant.library.operations import LibraryError

    try:
        statuses = library_of(settings_or_fail()).documents()
    except LibraryError as exc:
        fail(str(exc))
    if as_json:
        print_json([s.to_dict() for s in statuses])
        return
    for s in statuses:
        pages = f"{s.pages} pages, " if s.pages else ""
        kept = f"  ({s.versions} previous version{'s' if s.versions > 1 else ''}: assistant restore)" if s.versions else ""
        typer.echo(f"{s.doc_id:<36} {s.format:<5} {pages}{s.blocks} blocks, {s.chunks} chunks  {s.state}  {s.indexed_at}  {s.title}{kept}")
        for warning in s.warnings:
            typer.echo(f"    warning: {warning}")


@app.command()
@guard
def restore(doc_id: str = typer.Argument(..., help="the report whose previous version to bring back"),
            version: str = typer.Option("", "--version", help="which kept version (see --list; default: the newest)"),
            list_only: bool = typer.Option(False, "--list", help="list the kept versions, change nothing")) -> None:
    """Bring back the previous version of a replaced (or removed) report, then rebuild the index.
    The current file is kept as a version in turn, so a restore can be undone the same way."""
    from assistant.library.operations import LibraryError

    library = library_of(settings_or_fail())
    if list_only:
        kept = library.versions(doc_id)
        if not kept:
            fail(f"{doc_id!r} has no previous version (one is kept when a report is replaced or removed)")
        for v in kept:
            typer.echo(f"{v.id}  {v.file.name:<40} replaced {v.replaced or '?'}  {v.entry.get('source', '')}")
        return
    try:
        change = library.restore(doc_id, version, progress_bar("restore"))
    except LibraryError as exc:
        fail(str(exc))
    typer.echo(change.summary)
    typer.echo(f"restored: {doc_id}")
