"""The answer stage: a typed Query + the index -> a cited Answer.

Owns retrieval (`retrieve`: hybrid, fused, scoped), the pipeline (`pipeline`), the composers per
answer shape (`extractive`, `analyst`, `compute`, `lists`, `enumerations`, `overview`, `phrasing`),
the checks (`answer_check`, `verify`), refusals (`refusal`) and the LLM mode (`llm`).
May import: `assistant.query`, `assistant.indexing`, `assistant.ingest` and the shared modules. Never library or serve.
"""
