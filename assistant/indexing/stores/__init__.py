"""Index stores: where an index version's vectors and lexical postings are kept and searched.

`store = "faiss"` (default): FAISS + bm25s files of the build directory, searched in the app process.
`store = "milvus"`: the same build directory plus a Milvus collection (Milvus Lite file or server)
that serves the dense and the lexical search with the scope as scalar filters.
"""

from __future__ import annotations

from assistant.indexing.stores.base import Published, Ranked, Rows, Scope, SearchStore

STORES = ("faiss", "milvus")

__all__ = ["STORES", "Published", "Ranked", "Rows", "Scope", "SearchStore", "check_store", "open_search", "publish", "store_reasons"]


def check_store(settings) -> None:
    if settings.store not in STORES:
        raise ValueError(f"store {settings.store!r} is not one of {', '.join(STORES)} (ASSISTANT_STORE or store in assistant.toml)")


def publish(settings, rows: Rows, lexical):
    """Write a build's rows to the configured store. Returns (Published, activate): call activate()
    once the build directory is live (the Milvus alias follows the `current` link)."""
    check_store(settings)
    if settings.store == "milvus":
        from assistant.indexing.stores.milvus_store import publish_milvus

        published, pending = publish_milvus(settings, rows, lexical)
        return published, pending.activate
    from assistant.indexing.stores.faiss_store import publish_faiss

    return publish_faiss(rows, ""), (lambda: None)


def open_search(index, settings) -> SearchStore:
    """The search side of the loaded index for the configured store."""
    check_store(settings)
    if settings.store == "milvus":
        from assistant.indexing.stores.milvus_store import MilvusSearch

        return MilvusSearch(index, settings)
    from assistant.indexing.stores.faiss_store import FaissSearch

    return FaissSearch(index)


def store_reasons(manifest: dict, settings) -> list[str]:
    """Why an index does not fit the configured store (for index.check_manifest): a faiss-built index
    has no Milvus collection; a milvus-built one has no FAISS vectors, or names another server,
    prefix or lexical mode."""
    entry = manifest.get("store") or {}
    if settings.store != "milvus":
        # a Milvus build writes no FAISS vectors (Milvus indexes its own copy)
        return ["it was built for the Milvus store, without FAISS vectors; the settings ask for store = faiss"] \
            if entry.get("kind") == "milvus" else []
    from assistant.indexing.stores.milvus_store import milvus_uri

    if entry.get("kind") != "milvus":
        return ["it was built without a Milvus collection, the settings ask for store = milvus"]
    wanted = {"uri": milvus_uri(settings), "alias": settings.milvus_collection, "lexical": settings.milvus_lexical}
    differs = [f"{k} {entry.get(k)!r} -> {v!r}" for k, v in wanted.items() if entry.get(k) != v]
    if differs:
        return [f"Milvus settings changed ({', '.join(differs)})"]
    from assistant.indexing.stores.milvus_store import SCHEMA, connect

    if entry.get("schema", 1) != SCHEMA:  # e.g. rows without plan_first: the period filter would fail or miss
        return [f"its Milvus collection has schema {entry.get('schema', 1)}, this version reads schema {SCHEMA}"]
    if not connect(settings).has_collection(entry["collection"]):  # e.g. a new, empty Milvus server
        return [f"its Milvus collection {entry['collection']} is missing at {wanted['uri']}"]
    return []
