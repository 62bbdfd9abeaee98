"""The hand-written eval set is well-formed and its evidence really is in the reports."""

import json
import tomllib
from collections import Counter

from assistant.normalize import squash
from tests.conftest import CORPUS, ROOT

QUESTIONS = ROOT / "eval" / "questions.jsonl"
TYPES = {"factoid_number", "factoid_text", "table_lookup", "responsibility", "list", "cross_doc", "english", "paraphrase", "unanswerable"}


def load():
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def reports_by_source():
    catalog = tomllib.loads((CORPUS / "catalog.toml").read_text(encoding="utf-8"))["document"]
    return {entry["source"]: squash((CORPUS / entry["file"]).read_text(encoding="utf-8")) for entry in catalog}


def test_question_set_shape():
    items = load()
    assert len(items) >= 100
    assert len({i["id"] for i in items}) == len(items)
    types = Counter(i["type"] for i in items)
    assert TYPES <= set(types), TYPES - set(types)
    unanswerable = [i for i in items if not i["answerable"]]
    assert 0.08 <= len(unanswerable) / len(items) <= 0.15
    for item in unanswerable:
        assert item["must_contain"] == [] and item["evidence"] == []
    for item in items:
        if item["answerable"]:
            assert 1 <= len(item["must_contain"]) <= 3 and 1 <= len(item["evidence"]) <= 3, item["id"]


def test_every_evidence_quote_occurs_in_its_report():
    reports = reports_by_source()
    everything = "".join(reports.values())
    for item in load():
        docs = [reports[d] for d in item["doc"] if d in reports] or [everything]
        for quote in item["evidence"]:
            assert 10 <= len(quote.replace("\t", "")) <= 60 or len(squash(quote)) <= 60, (item["id"], quote)
            assert any(squash(quote) in text for text in docs), (item["id"], quote)
        for needle in item["must_contain"]:
            assert any(squash(needle) in text for text in docs), (item["id"], needle)
