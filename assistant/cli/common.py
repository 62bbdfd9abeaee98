"""What every command shares: the Typer app, failing with a clear `error:` line, settings, the loaded assistant, filters."""

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


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guard(command):
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
            fail(redact(f"{type(exc).__name__}: {str(exc)[:500] or 'no details'}") + " (set ASSISTANT_DEBUG=1 for the trace)", 1)

    return run


def redact(message: str) -> str:
    """Secrets from the environment (API keys, tokens, passwords) never reach the terminal."""
    import os

    for name, value in os.environ.items():
        if len(value) >= 6 and name.upper().endswith(("API_KEY", "_KEY", "TOKEN", "SECRET", "PASSWORD", "ASSISTANT_AUTH")):
            message = message.replace(value, "***")
    return message


def read_question(question: str, settings) -> str:
    """The checked question; "-" reads it from standard input (for text that cannot be an
    argument: NUL bytes, or more than the OS limit of 128 KiB per argument)."""
    from assistant.service import QuestionError, check_question

    if question == "-":
        question = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    try:
        return check_question(question, settings)
    except QuestionError as exc:
        fail(str(exc))


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def settings_or_fail(**overrides):
    try:
        return load_settings(**overrides)
    except ValueError as exc:
        fail(str(exc))


def load_assistant(settings):
    from assistant.indexing.manifest import IndexProblem
    from assistant.service import Assistant

    try:
        assistant = Assistant.load(settings, build_if_needed=False)
    except IndexProblem as exc:
        fail(str(exc))
    for warning in assistant.warnings:  # a report served from an older build: say so with every answer
        typer.echo(warning, err=True)
    return assistant


def check_scope(settings, doc: Optional[str], year: Optional[int]) -> None:
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
        fail(f"unknown document {short(doc)}; known: {', '.join(sorted(documents))}")
    if year is not None:
        years = sorted({y for meta in documents.values()
                        for y in Document("", "", "", str(meta.get("year", "")), "", "", "").years()})
        if year not in years:
            covered = f"{years[0]}-{years[-1]}" if years else "none"
            fail(f"no report covers the year {year}; the reports cover {covered}")


def filters_or_fail(district: Optional[str], doc: Optional[str], year: Optional[int]):
    from assistant.answer.retrieve import DISTRICT_ALIASES, Filters

    districts: tuple[str, ...] = ()
    if district:
        match = [name for name, aliases in DISTRICT_ALIASES.items() if district.lower() in (name.lower(),) + aliases]
        if not match:
            fail(f"unknown district {short(district)}; known: {', '.join(DISTRICT_ALIASES)}")
        districts = tuple(match)
    if not (districts or doc or year):
        return None
    return Filters(districts=districts, doc_ids=(doc,) if doc else (), years=(year,) if year else ())
