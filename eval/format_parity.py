"""Format parity (issue 11): is a report read from PDF or DOCX retrieved as well as its .txt?

    flock /work/coord/heavy.lock .venv/bin/python eval/format_parity.py [--report eval/reports/formats.md]
    .venv/bin/python eval/format_parity.py --libraries      # only the PDF library comparison (fast)

1. PDF libraries: pypdfium2 and pdfplumber on the LibreOffice PDFs of tests/fixtures/formats/
   (made by eval/make_format_fixtures.py) and on a Chromium-printed PDF of the 静安 report (when
   chromium is installed), scored against the DOCX (the document's true text): CJK radical code
   points in place of ideographs, paragraphs found verbatim (CJK characters, reading order, line
   joins; whitespace ignored), table rows whose cells come out on one line, pages/s.
2. Ingestion speed: read_document (and read + parse + chunk) pages/s for the PDF and DOCX of the
   静安 report and the task table (a DOCX's pages: as LibreOffice lays it out, its PDF's pages).
3. Parity: an index of the real corpus with the real bundled model, where the 静安 report is the
   .txt, then the PDF, then the DOCX; the eval questions about that report (eval/questions.jsonl
   items whose `doc` is its source) are retrieved with evaluate.py's own functions and hit@5 is
   compared question by question. Builds go into one temporary index folder in turn, so the
   other reports' vectors are reused and only the changed report is embedded.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from assistant.ingest.normalize import squash  # noqa: E402
from assistant.ingest.readers import read_document  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "formats"
DOC_ID = "jingan-2023-plan-report"
REPORTS = (DOC_ID, "minhang-14th-five-year-plan-tasks")


def _best(fn, runs: int = 3) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def _pdf_pages(name: str) -> int:
    import pypdfium2

    return len(pypdfium2.PdfDocument(FIXTURES / f"{name}.pdf"))


# --------------------------------------------------------------------------- 1. PDF libraries


def _plain_pypdfium2(path: Path) -> list[str]:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(path)
    return [page.get_textpage().get_text_range() for page in pdf]


def _plain_pdfplumber(path: Path) -> list[str]:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


def _chrome_pdf(workdir: Path) -> Path | None:
    """The 静安 report as Chromium prints it (its source-viewer page): a second PDF producer, whose
    fonts map some glyphs to CJK radical code points. None without chromium."""
    import subprocess

    from assistant.ingest.corpus import load_corpus
    from assistant.ingest.parse import parse_document
    from assistant.serve.viewer import render_document

    if not shutil.which("chromium"):
        return None
    document, text = next((d, t) for d, t in load_corpus(ROOT / "corpus").documents if d.doc_id == DOC_ID)
    html = render_document(parse_document(document, text)).replace("position:sticky", "position:static")
    page, pdf = workdir / f"{DOC_ID}.html", workdir / f"{DOC_ID}.chrome.pdf"
    page.write_text(html, encoding="utf-8")
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", page.as_uri()], capture_output=True, timeout=300, check=True)
    return pdf


def _radicals(text: str) -> int:
    return sum(1 for c in text if 0x2E80 <= ord(c) <= 0x2FDF)


def compare_libraries() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        chrome = _chrome_pdf(Path(tmp))
        if chrome is not None:
            truth = read_document(FIXTURES / f"{DOC_ID}.docx").text
            paragraphs = [squash(p) for p in re.split(r"\n\s*\n", truth) if p.strip() and "\t" not in p]
            pages = len(__import__("pypdfium2").PdfDocument(chrome))
            for library, extract in (("pypdfium2", _plain_pypdfium2), ("pdfplumber", _plain_pdfplumber)):
                seconds, texts = _best(lambda: extract(chrome))
                flat = squash("".join(texts))
                rows.append({"pdf": f"{DOC_ID} (Chromium)", "library": library, "pages": pages,
                             "pages_per_s": round(pages / seconds, 1), "radicals": _radicals("".join(texts)),
                             "paragraphs": f"{sum(p in flat for p in paragraphs)}/{len(paragraphs)}",
                             "table_rows_on_one_line": "-", "missing": []})
            ours = read_document(chrome).text
            rows.append({"pdf": f"{DOC_ID} (Chromium)", "library": "pdfplumber + our reader", "pages": pages,
                         "pages_per_s": "-", "radicals": _radicals(ours),
                         "paragraphs": f"{sum(p in squash(ours) for p in paragraphs)}/{len(paragraphs)}",
                         "table_rows_on_one_line": "-", "missing": []})
    for name in REPORTS:
        truth = read_document(FIXTURES / f"{name}.docx").text
        if "\t类别" in truth:  # the task table: its cells, not its lines, are the units
            paragraphs = [squash(c) for c in re.findall(r"^\t(.+)$", truth, re.M) if len(c) > 8]
            table_rows = []
        else:
            paragraphs = [squash(p) for p in re.split(r"\n\s*\n", truth) if p.strip() and "\t" not in p]
            table_rows = [[squash(c) for c in line.split("\t") if c] for line in truth.splitlines() if "\t" in line]
        pages = _pdf_pages(name)
        for library, extract in (("pypdfium2", _plain_pypdfium2), ("pdfplumber", _plain_pdfplumber)):
            seconds, texts = _best(lambda: extract(FIXTURES / f"{name}.pdf"))
            flat = squash("".join(texts))
            lines = [squash(line) for text in texts for line in text.splitlines()]
            found = sum(p in flat for p in paragraphs)
            on_one_line = sum(any(squash("".join(cells)) in line for line in lines) for cells in table_rows)
            rows.append({"pdf": name, "library": library, "pages": pages, "pages_per_s": round(pages / seconds, 1),
                         "radicals": _radicals("".join(texts)), "paragraphs": f"{found}/{len(paragraphs)}",
                         "table_rows_on_one_line": f"{on_one_line}/{len(table_rows)}" if table_rows else "-",
                         "missing": [p[:40] for p in paragraphs if p not in flat][:3]})
    return rows


# --------------------------------------------------------------------------- 2. ingestion speed


def ingestion_speed() -> list[dict]:
    from assistant.ingest.chunk import chunk_document
    from assistant.ingest.corpus import load_corpus
    from assistant.ingest.parse import parse_document

    documents = {d.doc_id: d for d, _ in load_corpus(ROOT / "corpus").documents}
    rows = []
    for name in REPORTS:
        pages = _pdf_pages(name)
        for suffix in (".pdf", ".docx"):
            path = FIXTURES / f"{name}{suffix}"
            read_s, extracted = _best(lambda: read_document(path))

            def ingest():
                e = read_document(path)
                return chunk_document(parse_document(documents[name], e.text, e.line_pages()))

            ingest_s, chunks = _best(ingest)
            rows.append({"file": path.name, "pages": pages, "read_s": round(read_s, 3), "read_pages_per_s": round(pages / read_s, 1),
                         "read_parse_chunk_pages_per_s": round(pages / ingest_s, 1), "chunks": len(chunks)})
    return rows


# --------------------------------------------------------------------------- 3. parity


def _items_about(source: str) -> list[dict]:
    from evaluate import DEFAULT_SET, load_items

    return [it for it in load_items(DEFAULT_SET) if source in it.get("doc", []) and it.get("answerable", True) and it.get("evidence")]


def _retrieve(settings, items: list[dict], label: str) -> dict:
    from evaluate import ask_item, run_retrieval

    from assistant.service import Assistant

    assistant = Assistant.load(settings)

    def search(question: str) -> tuple[list[str], float]:
        started = time.perf_counter()
        result = assistant.search(question, k=10)
        return [h.chunk.text for h in result.hits], (time.perf_counter() - started) * 1e3

    assistant.search("预热", k=1)
    queries = {it["id"]: ask_item(assistant, it, settings.mode)[0].standalone_question for it in items if it.get("history")}
    return run_retrieval(items, search, 10, label, queries)


def parity(seed_index: Path | None) -> dict:
    from assistant.config import load_settings
    from assistant.indexing.build import build_index

    catalog_text = (ROOT / "corpus" / "catalog.toml").read_text(encoding="utf-8")
    source = next(e["source"] for e in tomllib.loads(catalog_text)["document"] if e["doc_id"] == DOC_ID)
    items = _items_about(source)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="format-parity-") as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        shutil.copytree(ROOT / "corpus", corpus)
        if seed_index is not None and seed_index.exists():  # the current build: its vectors are reused where chunks match
            build = seed_index.resolve()
            (index / "builds").mkdir(parents=True)
            shutil.copytree(build, index / "builds" / build.name)
            (index / "current").symlink_to(Path("builds") / build.name)
        settings = load_settings(corpus_dir=str(corpus), index_dir=str(index))
        for suffix in (".txt", ".pdf", ".docx"):
            for old in corpus.glob(f"{DOC_ID}.*"):
                old.unlink()
            shutil.copy((ROOT / "corpus" if suffix == ".txt" else FIXTURES) / f"{DOC_ID}{suffix}", corpus)
            (corpus / "catalog.toml").write_text(catalog_text.replace(f'file = "{DOC_ID}.txt"', f'file = "{DOC_ID}{suffix}"'),
                                                 encoding="utf-8")
            report = build_index(settings, progress=False)
            if not report.ok or report.problems:
                raise SystemExit(f"build with the {suffix} failed:\n{report.summary()}")
            retrieval = _retrieve(settings, items, suffix)
            results[suffix] = {"build_s": round(report.seconds, 1), "embedded": report.embedded,
                               "embed_s": round(report.embed_seconds, 1), "chunks": report.chunks,
                               "retrieval": retrieval["retrieval"],
                               "hit5": {row["id"]: row["hit@5"] for row in retrieval["items"]}}
            print(f"{suffix}: built in {report.seconds:.1f} s ({report.embedded} chunks embedded in {report.embed_seconds:.1f} s); "
                  f"hit@5 {retrieval['retrieval']['hit@5']:.3f} over {retrieval['n']} questions", file=sys.stderr)
    base = results[".txt"]["hit5"]
    for suffix in (".pdf", ".docx"):
        other = results[suffix]["hit5"]
        same = sum(base[i] == other[i] for i in base)
        results[suffix]["identical_hit5"] = round(same / len(base), 4)
        results[suffix]["differs"] = sorted(i for i in base if base[i] != other[i])
    return {"questions": len(items), "source": source, "by_format": results}


# --------------------------------------------------------------------------- report


def markdown(libraries: list[dict], speed: list[dict], result: dict | None) -> str:
    out = ["## PDF libraries (plain text per page, best of 3)", "",
           "| PDF | library | pages | pages/s | radical code points | paragraphs found verbatim | table rows on one line |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| {r['pdf']} | {r['library']} | {r['pages']} | {r['pages_per_s']} | {r['radicals']} | {r['paragraphs']} | "
            f"{r['table_rows_on_one_line']} |" for r in libraries]
    out += ["", "## Ingestion speed (our readers, best of 3)", "",
            "| file | pages | read s | read pages/s | read+parse+chunk pages/s | chunks |", "|---|---|---|---|---|---|"]
    out += [f"| {r['file']} | {r['pages']} | {r['read_s']} | {r['read_pages_per_s']} | {r['read_parse_chunk_pages_per_s']} | {r['chunks']} |"
            for r in speed]
    if result:
        out += ["", f"## Parity: hit@5 on the {result['questions']} eval questions about the 静安 report ({result['source']})", "",
                "| format | hit@1 | hit@5 | mrr@10 | identical hit@5 vs .txt | chunks (all reports) | build s | embedded chunks |",
                "|---|---|---|---|---|---|---|---|"]
        for suffix, r in result["by_format"].items():
            same = f"{r['identical_hit5']:.1%}" if "identical_hit5" in r else "-"
            out.append(f"| {suffix} | {r['retrieval']['hit@1']:.3f} | {r['retrieval']['hit@5']:.3f} | {r['retrieval']['mrr@10']:.3f} | "
                       f"{same} | {r['chunks']} | {r['build_s']} | {r['embedded']} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--libraries", action="store_true", help="only the PDF library comparison and ingestion speed")
    parser.add_argument("--seed-index", type=Path, default=ROOT / "index" / "current",
                        help="an index whose vectors the first build may reuse (default: index/current)")
    parser.add_argument("--json", type=Path, help="write all figures as JSON")
    parser.add_argument("--report", type=Path, help="write the tables as markdown")
    args = parser.parse_args(argv)
    libraries, speed = compare_libraries(), ingestion_speed()
    result = None if args.libraries else parity(args.seed_index)
    text = markdown(libraries, speed, result)
    print(text)
    if result:
        for suffix in (".pdf", ".docx"):
            r = result["by_format"][suffix]
            print(f"{suffix}: identical hit@5 {r['identical_hit5']:.1%}; differing: {', '.join(r['differs']) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({"libraries": libraries, "speed": speed, "parity": result}, ensure_ascii=False, indent=1))
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
