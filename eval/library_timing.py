"""Time one report's way into the knowledge base with the real model, as the 资料库 page runs it in
the app: stage (read, check, prefill), add (save, rebuild: only its chunks are embedded), switch the
running Assistant to the new index, first answer from the report; then remove. Works on a temporary
copy of corpus/ (its index seeded from the project's built index, so the other reports' vectors are
reused), never on corpus/ itself.

    .venv/bin/python eval/library_timing.py [--file tests/fixtures/formats/jingan-2023-plan-report.pdf]
    .venv/bin/python eval/library_timing.py --pages 100     # a 100-page PDF (see long_pdf)
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from assistant.config import load_settings
from assistant.indexing.build import build_index
from assistant.indexing.load import load_index
from assistant.library.operations import Library
from assistant.models import Filters
from assistant.service import Assistant

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "formats"
QUESTION = "2023年静安区外贸进出口总额是多少？"


def long_pdf(pages: int, target: Path) -> Path:
    """A `pages`-page PDF with a real text layer: the pages of the two fixture PDFs (LibreOffice
    exports of the 静安 report, 23 pages, and the 闵行 task table, 15 pages), in turn, until
    `pages`. Its text repeats (a bound volume of the same reports), so it is a cost measurement,
    not a document to ask about; ~890 characters and ~6 chunks per page, like the fixtures."""
    import pypdfium2

    sources = [pypdfium2.PdfDocument(str(FIXTURES / name)) for name in ("jingan-2023-plan-report.pdf", "minhang-14th-five-year-plan-tasks.pdf")]
    out = pypdfium2.PdfDocument.new()
    turn = 0
    while len(out) < pages:
        source = sources[turn % len(sources)]
        out.import_pages(source, list(range(min(len(source), pages - len(out)))))
        turn += 1
    out.save(str(target))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(FIXTURES / "jingan-2023-plan-report.pdf"))
    parser.add_argument("--drop", default="jingan-2023-plan-report", help="the catalogued report the file stands for ('' = none)")
    parser.add_argument("--pages", type=int, help="instead of --file: a PDF of this many pages (long_pdf), nothing dropped")
    parser.add_argument("--question", default=QUESTION, help="the first question, asked within the new report")
    args = parser.parse_args()
    drop = "" if args.pages else args.drop
    with tempfile.TemporaryDirectory(prefix="library-timing-") as tmp:
        base = Path(tmp)
        shutil.copytree(ROOT / "corpus", base / "corpus")
        if drop:
            catalog = base / "corpus" / "catalog.toml"
            text = catalog.read_text(encoding="utf-8")
            catalog.write_text(text[: text.index(f'[[document]]\ndoc_id = "{drop}"')], encoding="utf-8")
            for path in (base / "corpus").glob(f"{drop}.*"):
                path.unlink()
        (base / "index").mkdir()
        current = ROOT / "index" / "current"
        if current.exists():
            shutil.copytree(current.resolve(), base / "index" / "builds" / current.resolve().name)
            os.symlink(f"builds/{current.resolve().name}", base / "index" / "current")
        upload_path = long_pdf(args.pages, base / f"report-{args.pages}-pages.pdf") if args.pages else Path(args.file)
        settings = load_settings(corpus_dir=str(base / "corpus"), index_dir=str(base / "index"), data_dir=str(base / "data"))
        started = time.perf_counter()
        report = build_index(settings, progress=False)
        print(f"seed build {time.perf_counter() - started:.1f} s: {report.summary().splitlines()[1]}")
        started = time.perf_counter()
        assistant = Assistant.load(settings, build_if_needed=False, progress=False)  # the running app, warm
        print(f"app loaded {time.perf_counter() - started:.1f} s (model {settings.model}, documents by {settings.document_engine})")
        library = Library(settings, embedder=assistant.embedder)

        started = time.perf_counter()
        upload = library.stage_file(upload_path)
        staged = time.perf_counter()
        fields = upload.fields
        print(f"stage {staged - started:.1f} s: {upload.format}, {upload.pages} pages, {upload.chars} characters -> "
              f"{fields.doc_id} | {fields.title} | {fields.district} | {fields.year} | {fields.kind}")
        stages: dict[str, float] = {}
        change = library.add([(upload.token, fields)], lambda stage, done, total: stages.setdefault(stage, time.perf_counter()))
        added = time.perf_counter()
        print(f"add {added - staged:.1f} s (stages start at: " + ", ".join(f"{k} +{v - staged:.1f} s" for k, v in stages.items()) + ")")
        print("\n".join(change.summary.splitlines()[1:3]))
        assistant.switch_index(load_index(settings, check=False))
        switched = time.perf_counter()
        answer = assistant.ask(args.question, mode="extractive", filters=Filters(doc_ids=(fields.doc_id,)))
        answered = time.perf_counter()
        print(f"switch {switched - added:.1f} s, first answer {answered - switched:.1f} s "
              f"({'refused' if answer.refused else f'{len(answer.citations)} citations'}): {answer.text[:80]!r}")
        print(f"upload -> first answer: {answered - started:.1f} s")
        started = time.perf_counter()
        change = library.remove(fields.doc_id)
        print(f"remove {time.perf_counter() - started:.1f} s: " + change.summary.splitlines()[1])


if __name__ == "__main__":
    main()
