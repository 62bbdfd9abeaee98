"""The hand-written eval set is well-formed and its evidence really is in the reports."""

import json
import tomllib
from collections import Counter

from assistant.ingest.normalize import squash
from tests.conftest import CORPUS, ROOT

QUESTIONS = ROOT / "eval" / "questions.jsonl"
TYPES = {"factoid_number", "factoid_text", "table_lookup", "responsibility", "list", "cross_doc", "english", "paraphrase", "unanswerable",
         "conversation", "near_miss"}
NEAR_MISS = {"other_district", "planned_year_outcome", "unstated_quantity", "false_premise", "task_not_in_table", "other_place"}
DISTRICTS = {"闵行区", "静安区"}
PERIODS = {"outcome:2023", "target:2024", "target:2023", "fyp_target:2025", "prior:2020", ""}


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
    assert 0.08 <= len(unanswerable) / len(items) <= 0.30
    for item in unanswerable:
        assert item["evidence"] == [], item["id"]
        if item.get("near_miss") == "false_premise":  # the real figures a correction cites
            assert 1 <= len(item["must_contain"]) <= 3, item["id"]
        else:
            assert item["must_contain"] == [], item["id"]
    for item in items:
        if item["answerable"]:
            # a full list names its items; a computation its inputs and its result
            most = 8 if item["type"] in ("list", "computation") else 3
            assert 1 <= len(item["must_contain"]) <= most and 1 <= len(item["evidence"]) <= 3, item["id"]
            assert set(item.get("computed", [])) <= set(item["must_contain"]), item["id"]
            assert not item.get("computed") or item["type"] == "computation", item["id"]


def test_every_evidence_quote_occurs_in_its_report():
    reports = reports_by_source()
    everything = "".join(reports.values())
    for item in load():
        docs = [reports[d] for d in item["doc"] if d in reports] or [everything]
        for quote in item["evidence"]:
            assert 10 <= len(quote.replace("\t", "")) <= 60 or len(squash(quote)) <= 60, (item["id"], quote)
            assert any(squash(quote) in text for text in docs), (item["id"], quote)
        for needle in item["must_contain"]:
            if needle in item.get("computed", []):  # a difference or a sum: the answer works it out
                assert not any(squash(needle) in text for text in docs), (item["id"], needle, "is printed: not computed")
                continue
            assert any(squash(needle) in text for text in docs), (item["id"], needle)


def test_near_miss_and_conversation_items():
    items = load()
    near_miss = [i for i in items if i["type"] == "near_miss"]
    assert len(near_miss) >= 30
    kinds = Counter(i["near_miss"] for i in near_miss)
    assert set(kinds) <= NEAR_MISS, set(kinds) - NEAR_MISS
    for kind in ("other_district", "planned_year_outcome", "unstated_quantity", "false_premise"):
        assert kinds[kind] >= 5, kind
    for item in near_miss:
        assert not item["answerable"] and item["answer"] and "scope" in item, item["id"]
    for item in items:
        if "near_miss" in item:
            assert item["near_miss"] in NEAR_MISS and not item["answerable"], item["id"]
    conversations = [i for i in items if i["type"] == "conversation"]
    for item in items:
        if item["type"] == "conversation" or "history" in item:
            history = item.get("history")
            assert isinstance(history, list) and history, item["id"]
            assert all(isinstance(q, str) and q.strip() for q in history), item["id"]
    assert sum(1 for i in conversations if i["answerable"]) >= 18
    assert sum(1 for i in conversations if not i["answerable"]) >= 3
    assert sum(1 for i in conversations if len(i["history"]) >= 2) >= 6


def test_scope_and_forbidden_fields():
    reports = reports_by_source()
    everything = "".join(reports.values())
    for item in load():
        if item["type"] in ("conversation", "near_miss"):
            assert "scope" in item, item["id"]
        if "scope" in item:
            scope = item["scope"]
            assert set(scope) == {"districts", "period"}, item["id"]
            assert isinstance(scope["districts"], list) and set(scope["districts"]) <= DISTRICTS, item["id"]
            assert scope["period"] in PERIODS, (item["id"], scope["period"])
        for figure in item.get("forbidden", []):
            assert isinstance(figure, str) and squash(figure) in everything, (item["id"], figure)
            assert not any(squash(figure) in squash(m) for m in item["must_contain"]), (item["id"], figure)
        docs = [reports[d] for d in item["doc"] if d in reports] or [everything]
        for quote in item.get("holds_instead", []):
            assert any(squash(quote) in text for text in docs), (item["id"], quote)
