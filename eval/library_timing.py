"""Time one report's way into the knowledge base with the real model: stage (read, check, prefill),
add (save, rebuild: only its chunks are embedded), remove. Works on a temporary copy of corpus/
without the report (its index seeded from the project's built index, so the other reports' vectors
are reused), never on corpus/ itself.

    flock /work/coord/heavy.lock .venv/bin/python eval/library_timing.py [--file tests/fixtures/formats/jingan-2023-plan-report.pdf]
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
from assistant.library.operations import Library

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(ROOT / "tests/fixtures/formats/jingan-2023-plan-report.pdf"))
    parser.add_argument("--drop", default="jingan-2023-plan-report", help="the catalogued report the file stands for")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="library-timing-") as tmp:
        base = Path(tmp)
        shutil.copytree(ROOT / "corpus", base / "corpus")
        catalog = base / "corpus" / "catalog.toml"
        text = catalog.read_text(encoding="utf-8")
        catalog.write_text(text[: text.index(f'[[document]]\ndoc_id = "{args.drop}"')], encoding="utf-8")
        for path in (base / "corpus").glob(f"{args.drop}.*"):
            path.unlink()
        (base / "index").mkdir()
        current = ROOT / "index" / "current"
        if current.exists():
            shutil.copytree(current.resolve(), base / "index" / "builds" / current.resolve().name)
            os.symlink(f"builds/{current.resolve().name}", base / "index" / "current")
        settings = load_settings(corpus_dir=str(base / "corpus"), index_dir=str(base / "index"), data_dir=str(base / "data"))
        started = time.perf_counter()
        report = build_index(settings, progress=False)
        print(f"seed build {time.perf_counter() - started:.1f} s: {report.summary().splitlines()[1]}")
        library = Library(settings)
        started = time.perf_counter()
        upload = library.stage_file(Path(args.file))
        staged = time.perf_counter()
        fields = upload.fields
        print(f"stage {staged - started:.1f} s: {upload.format}, {upload.pages} pages, {upload.chars} characters -> "
              f"{fields.doc_id} | {fields.title} | {fields.district} | {fields.year} | {fields.kind}")
        stages: dict[str, float] = {}
        change = library.add([(upload.token, fields)], lambda stage, done, total: stages.setdefault(stage, time.perf_counter()))
        print(f"add {time.perf_counter() - staged:.1f} s (stages start at: "
              + ", ".join(f"{k} +{v - staged:.1f} s" for k, v in stages.items()) + ")")
        print("\n".join(change.summary.splitlines()[1:3]))
        started = time.perf_counter()
        change = library.remove(fields.doc_id)
        print(f"remove {time.perf_counter() - started:.1f} s: " + change.summary.splitlines()[1])


if __name__ == "__main__":
    main()
