"""The Milvus store: dense and lexical search inside Milvus, filtered there by scalar fields.

`milvus_uri` is a local path ending in .db (Milvus Lite, in this process) or http(s)://host:19530
(a Milvus server every app replica shares); the same pymilvus calls serve both.

Versions: two collections per prefix, `<prefix>_<lexical>_a` and `_b`. A build brings the one the
alias `<prefix>` does not point at up to date (delete the chunk ids that are gone, upsert the
rows whose signature changed: content hash, scalars and lexical weights), checks its row count,
and only after the build directory's `current` link moved switches the alias. A failed build
leaves the alias (and the served directory) on the previous version. The serving process reads
the collection named in the manifest, not the alias, so its chunk table and its vectors always
come from the same build.

Lexical search, `milvus_lexical`:
- "sparse" (default): each chunk's BM25 weights from our own jieba BM25 (the bm25s index of the
  build) as a sparse vector, the query's tokens as a sparse vector, inner product. The scores are
  bm25s's own (parity with the faiss store), but the weights depend on corpus statistics, so a
  build rewrites every row whose weights moved (usually all of them when reports change).
- "bm25": Milvus's BM25 function over the folded context, jieba analyzer ({"tokenizer": "jieba"},
  which Milvus Lite and the server both accept) with our stop characters. Milvus keeps the
  statistics itself, so a build upserts only changed chunks; tokenization differs slightly from
  ours (measured in eval/reports/milvus.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from assistant.models import Period
from assistant.indexing.stores.base import Published, Ranked, Rows, Scope

LEXICAL_MODES = ("sparse", "bm25")
SCHEMA = 2  # the collections' fields; 2: plan_first and stated (the period filter's). Another is rebuilt
_BATCH = 500  # rows per insert call: 500 x (1.5 KB vector + text) stays far below gRPC's 64 MB limit
_clients: dict[tuple[str, str], object] = {}
_clients_lock = threading.Lock()


class MilvusStoreError(RuntimeError):
    """Milvus is unreachable or holds something else than the index expects; the message says what to do."""


def milvus_uri(settings) -> str:
    uri = settings.milvus_uri or str(Path(settings.index_dir) / "milvus.db")
    if not uri.startswith(("http://", "https://")) and not uri.endswith(".db"):
        raise MilvusStoreError(f"milvus_uri {uri!r} is neither a Milvus Lite file (a path ending in .db) nor a server "
                               "address (http://host:19530); fix ASSISTANT_MILVUS_URI or milvus_uri in assistant.toml")
    return uri


def connect(settings):
    """One MilvusClient per (uri, token) and process (Milvus Lite allows one process per .db file)."""
    from pymilvus import MilvusClient

    uri = milvus_uri(settings)
    token = os.environ.get(settings.milvus_token_env, "") if settings.milvus_token_env else ""
    with _clients_lock:
        client = _clients.get((uri, token))
        if client is None:
            if uri.endswith(".db"):
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                client = MilvusClient(uri=uri, token=token)
            except Exception as exc:  # pymilvus raises MilvusException, Lite its own errors (e.g. a locked .db)
                raise MilvusStoreError(f"cannot connect to Milvus at {uri} ({type(exc).__name__}: {str(exc)[:300]}). A server "
                                       "must be running there; a Milvus Lite .db file can be open in one process only.") from None
            _clients[(uri, token)] = client
    return client


def token_id(token: str) -> int:
    """A stable sparse dimension per word (crc32), so that weights keep their meaning across builds."""
    return zlib.crc32(token.encode("utf-8"))


def _stated_key(kind: str, year: int | None) -> str:
    return f"{kind}:{'-' if year is None else int(year)}"


def _period_expr(period: Period) -> str:
    # the same rules as coverage.Coverage.period_mask, as a Milvus boolean expression, and as there a
    # chunk that states a figure of the asked period (its `stated` field, from the facts) answers too
    rule = _period_rule(period)
    if not rule or not period.kind:  # no restriction; a fact always has a period kind
        return rule
    return f'({rule} or stated like "% {_stated_key(period.kind, period.year)} %")'


def _period_rule(period: Period) -> str:
    if period.kind == "fyp_target":
        plan = '(in_plan == true and period_kind == "fyp_target")'
        if period.year is None:
            return plan
        year = int(period.year)
        # a plan's targets are for any year of its period (a 2026-2030 plan answers about 2028), not only its last
        within = f"(plan_first >= 0 and plan_first <= {year} and period_year >= {year})"
        same_year = '(period_kind == "prior" or (period_kind == "outcome" and in_plan == false))'
        return f'(({plan} and (period_year == {year} or {within})) or ({same_year} and period_year == {year}))'
    if period.kind == "prior":
        return f'(period_kind == "prior" and period_year == {int(period.year)})' if period.year is not None else 'period_kind == "prior"'
    parts = ([f"period_year == {int(period.year)}"] if period.year is not None else []) + \
            (['period_kind == "outcome"'] if period.kind == "outcome" else [])
    return "(" + " and ".join(parts) + ")" if parts else ""


def scope_expr(scope: Scope) -> str:
    """The scope as a Milvus filter ("" = everything)."""
    parts = []
    if scope.districts:
        parts.append(f"district in {json.dumps(list(scope.districts), ensure_ascii=False)}")
    if scope.doc_ids:
        parts.append(f"doc_id in {json.dumps(list(scope.doc_ids), ensure_ascii=False)}")
    if scope.years:  # a chunk's years are one range; ranges, not an array field: Milvus Lite scans arrays row by row
        parts.append("(" + " or ".join(f"(year_from <= {int(y)} and year_to >= {int(y)})" for y in scope.years) + ")")
    periods = [_period_expr(p) for p in scope.periods]
    if periods and all(periods):  # a period without year or kind allows everything
        parts.append("(" + " or ".join(periods) + ")")
    return " and ".join(parts)


def collection_names(settings) -> tuple[str, str]:
    base = f"{settings.milvus_collection}_{settings.milvus_lexical}"
    return f"{base}_a", f"{base}_b"


def _schema(client, dim: int, mode: str):
    from pymilvus import DataType, Function, FunctionType

    from assistant.indexing.lexical import _STOP

    schema = client.create_schema(auto_id=False)
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=512)
    schema.add_field("sig", DataType.VARCHAR, max_length=64)
    text_options = {"enable_analyzer": True, "analyzer_params": {
        "tokenizer": "jieba", "filter": [{"type": "stop", "stop_words": sorted(_STOP)}]}} if mode == "bm25" else {}
    schema.add_field("text", DataType.VARCHAR, max_length=65535, **text_options)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("lex", DataType.SPARSE_FLOAT_VECTOR)
    for name in ("district", "doc_id", "period_kind"):
        schema.add_field(name, DataType.VARCHAR, max_length=512)
    schema.add_field("stated", DataType.VARCHAR, max_length=2048)  # " outcome:2025 target:2023 ": periods its figures state
    for name in ("year_from", "year_to", "period_year", "plan_first"):  # plan_first: a plan chunk's first year, -1 none
        schema.add_field(name, DataType.INT64)
    schema.add_field("in_plan", DataType.BOOL)
    if mode == "bm25":
        schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["lex"]))
    return schema


def _index_params(client, settings, count: int, mode: str):
    params = client.prepare_index_params()
    kind = settings.index_type
    if kind == "auto":
        kind = "flat" if count <= settings.flat_max_vectors else "hnsw"
    if kind == "flat":
        params.add_index("dense", index_type="FLAT", metric_type="IP")
    else:
        params.add_index("dense", index_type="HNSW", metric_type="IP", params={"M": settings.hnsw_m, "efConstruction": 80})
    # bm25s's defaults (k1 1.5, b 0.75), so that both lexical modes score alike
    params.add_index("lex", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25" if mode == "bm25" else "IP",
                     params={"bm25_k1": 1.5, "bm25_b": 0.75} if mode == "bm25" else {})
    for name in ("district", "doc_id", "period_kind", "period_year", "plan_first", "year_from", "year_to"):
        params.add_index(name, index_type="INVERTED")  # the scope filters (the one scalar index Milvus Lite implements)
    return params


def _sparse_weights(lexical) -> list[dict[int, float]]:
    """Per chunk {token_id: BM25 weight} from the bm25s index (scores are stored per word, per chunk)."""
    scores = lexical.bm25.scores
    data, docs, indptr = scores["data"], scores["indices"], scores["indptr"]
    words = {i: w for w, i in lexical.vocab.items()}
    rows: list[dict[int, float]] = [{} for _ in range(scores["num_docs"])]
    for word_index in range(len(indptr) - 1):
        dim = token_id(words[word_index])
        for k in range(indptr[word_index], indptr[word_index + 1]):
            row = rows[int(docs[k])]
            row[dim] = row.get(dim, 0.0) + float(data[k])  # a crc32 collision adds the two words' weights
    return rows


def _records(settings, rows: Rows, lexical) -> list[dict]:
    from assistant.ingest.coverage import Coverage, year_range
    from assistant.ingest.normalize import fold

    coverage = Coverage.from_index(rows.chunks, rows.documents)
    coverage.add_fact_periods(rows.facts, {c.chunk_id: i for i, c in enumerate(rows.chunks)})  # as the serving pipeline
    stated: list[list[str]] = [[] for _ in rows.chunks]
    for (kind, year), positions in sorted(getattr(coverage, "fact_chunks", {}).items(), key=str):
        for i in positions:
            stated[int(i)].append(_stated_key(kind, year))
    weights = _sparse_weights(lexical) if settings.milvus_lexical == "sparse" else None
    plan = coverage.in_plan_document
    records = []
    for i, (chunk, content_hash) in enumerate(zip(rows.chunks, rows.hashes)):
        period = coverage.periods[i]
        year_from, year_to = year_range(chunk.year)
        record = {"chunk_id": chunk.chunk_id, "text": fold(chunk.context), "district": chunk.district, "doc_id": chunk.doc_id,
                  "year_from": year_from, "year_to": year_to, "period_year": int(period.year or -1), "period_kind": period.kind,
                  "plan_first": int(coverage.plan_first[i]), "in_plan": bool(plan[i]), "stated": " " + " ".join(stated[i]) + " "}
        if weights is not None:
            record["lex"] = {k: round(v, 6) for k, v in sorted(weights[i].items())} or {0: 0.0}
        signature = json.dumps([content_hash, record], ensure_ascii=False, sort_keys=True)
        record["sig"] = hashlib.sha256(signature.encode("utf-8")).hexdigest()[:32]
        record["dense"] = rows.vectors[i].astype(np.float32).tolist()
        records.append(record)
    return records


def _live(client, alias: str) -> str | None:
    """The collection the alias points at (listed first: describe_alias logs an error when it is missing)."""
    if alias not in client.list_aliases().get("aliases", []):
        return None
    return client.describe_alias(alias)["collection_name"]


def _existing(client, name: str) -> dict[str, str]:
    """chunk_id -> sig of every row of a collection."""
    fields = ["chunk_id", "sig"]
    if _count(client, name) <= 16384:  # a server answers at most 16384 rows per query; an iterator beyond
        return {row["chunk_id"]: row["sig"] for row in client.query(name, filter='chunk_id != ""', output_fields=fields, limit=16384)}
    found = {}
    iterator = client.query_iterator(name, batch_size=2000, filter='chunk_id != ""', output_fields=fields)
    while True:
        batch = iterator.next()
        if not batch:
            iterator.close()
            return found
        found.update((row["chunk_id"], row["sig"]) for row in batch)


def _matches(client, name: str, dim: int) -> bool:
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    dense = fields.get("dense", {})
    # an older schema (no year ranges, no plan_first) is rebuilt: its rows cannot take the scope filters
    return {"year_from", "plan_first", "stated"} <= set(fields) and int(dense.get("params", {}).get("dim", -1)) == dim


class PendingSwitch:
    """A synced collection waiting for its alias: `activate()` once the build directory is live."""

    def __init__(self, client, alias: str, name: str, had_alias: bool) -> None:
        self.client, self.alias, self.name, self.had_alias = client, alias, name, had_alias

    def activate(self) -> None:
        if self.had_alias:
            self.client.alter_alias(collection_name=self.name, alias=self.alias)
        else:
            self.client.create_alias(collection_name=self.name, alias=self.alias)


def publish_milvus(settings, rows: Rows, lexical) -> tuple[Published, PendingSwitch]:
    """Bring the standby collection to this build's rows; the alias moves with `PendingSwitch.activate()`."""
    if settings.milvus_lexical not in LEXICAL_MODES:
        raise MilvusStoreError(f"milvus_lexical {settings.milvus_lexical!r} is not one of {', '.join(LEXICAL_MODES)}")
    started = time.perf_counter()
    client = connect(settings)
    alias = settings.milvus_collection
    first, second = collection_names(settings)
    live = _live(client, alias)  # may be another lexical mode's collection: then both of ours are standby
    target = second if live == first else first
    dim = int(rows.vectors.shape[1])
    if client.has_collection(target) and not _matches(client, target, dim):
        client.drop_collection(target)  # another model's dimension or an older schema: rebuilt from scratch
    if not client.has_collection(target):
        client.create_collection(target, schema=_schema(client, dim, settings.milvus_lexical),
                                 index_params=_index_params(client, settings, len(rows.chunks), settings.milvus_lexical),
                                 consistency_level="Strong")
    records = _records(settings, rows, lexical)
    # a collection is queryable only when loaded: one made by an earlier process (or before a server
    # restart) starts released
    client.load_collection(target)
    existing = _existing(client, target)
    wanted = {r["chunk_id"] for r in records}
    gone = [chunk_id for chunk_id in existing if chunk_id not in wanted]
    changed = [r for r in records if existing.get(r["chunk_id"]) != r["sig"]]
    for start in range(0, len(gone), _BATCH):
        client.delete(target, ids=gone[start:start + _BATCH])
    for start in range(0, len(changed), _BATCH):
        client.upsert(target, changed[start:start + _BATCH])
    client.flush(target)
    client.load_collection(target)
    count = _count(client, target)
    if count != len(records):
        raise MilvusStoreError(f"Milvus collection {target} holds {count} rows after the update, the build has {len(records)}; "
                               "the previous version keeps serving. Run `assistant build` again.")
    entry = {"kind": "milvus", "uri": milvus_uri(settings), "collection": target, "alias": alias,
             "lexical": settings.milvus_lexical, "rows": count, "schema": SCHEMA}
    published = Published(entry, upserted=len(changed), deleted=len(gone), seconds=time.perf_counter() - started)
    return published, PendingSwitch(client, alias, target, live is not None)


def _count(client, name: str) -> int:
    return int(client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"])


class MilvusSearch:
    kind = "milvus"

    def __init__(self, index, settings) -> None:  # index.LoadedIndex
        entry = index.manifest.get("store") or {}
        if entry.get("kind") != "milvus":
            raise MilvusStoreError(f"the index in {index.path} was built for the {entry.get('kind', 'faiss')} store, the settings "
                                   "ask for milvus; run `assistant build` with ASSISTANT_STORE=milvus")
        self.client = connect(settings)
        self.collection = entry["collection"]
        self.mode = entry.get("lexical", "sparse")
        self.ef = settings.hnsw_ef_search
        self.position = index.positions
        try:
            self.client.load_collection(self.collection)
            count = _count(self.client, self.collection)
        except Exception as exc:
            raise MilvusStoreError(f"Milvus collection {self.collection} at {milvus_uri(settings)} cannot be read ({str(exc)[:200]}); "
                                   "run `assistant build` with ASSISTANT_STORE=milvus") from None
        if count != len(index.chunks):
            raise MilvusStoreError(f"Milvus collection {self.collection} holds {count} rows, the index {len(index.chunks)} chunks "
                                   "(another build changed it); run `assistant build` with ASSISTANT_STORE=milvus")

    def _ranked(self, hits, allowed: np.ndarray, limit: int, absolute: bool = False) -> Ranked:
        scores: dict[int, float] = {}
        for hit in hits:
            i = self.position.get(hit["entity"]["chunk_id"])
            if i is not None and allowed[i]:  # the filter already did this; a scope rule it lacks would show here
                distance = float(hit["distance"])
                scores.setdefault(i, abs(distance) if absolute else distance)
        order = sorted(scores, key=lambda i: (-scores[i], i))[:limit]  # ties in reading order, as the faiss store
        return Ranked(order, scores, max(scores.values(), default=0.0))

    def dense(self, vector: np.ndarray, limit: int, allowed: np.ndarray, scope: Scope) -> Ranked:
        hits = self.client.search(self.collection, data=[vector.astype(np.float32).tolist()], anns_field="dense", limit=limit,
                                  filter=scope_expr(scope), output_fields=["chunk_id"],
                                  search_params={"metric_type": "IP", "params": {"ef": max(self.ef, limit)}})[0]
        return self._ranked(hits, allowed, limit)

    def lexical(self, text: str, limit: int, allowed: np.ndarray, scope: Scope) -> Ranked:
        from assistant.indexing.lexical import tokenize
        from assistant.ingest.normalize import fold

        if self.mode == "bm25":
            data, metric = [fold(text)], "BM25"
        else:
            counts: dict[int, float] = {}
            for token in tokenize(text):
                counts[token_id(token)] = counts.get(token_id(token), 0.0) + 1.0  # bm25s counts a repeated word again
            if not counts:
                return Ranked([])
            data, metric = [counts], "IP"
        hits = self.client.search(self.collection, data=data, anns_field="lex", limit=limit, filter=scope_expr(scope),
                                  output_fields=["chunk_id"], search_params={"metric_type": metric})[0]
        # BM25 scores are positive; Milvus Lite reports them negated (its distances sort ascending)
        ranked = self._ranked(hits, allowed, limit, absolute=True)
        ranked.order = [i for i in ranked.order if ranked.scores[i] > 0]
        return ranked
