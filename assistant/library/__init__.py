"""The knowledge base: adding, replacing and removing reports, with their catalog entries and status.

Owns uploads (`uploads`: streamed, checked, prefilled; `preview`: how their tables were read), catalog edits (`catalog`) and the prefill of a new report's fields (`prefill`), the
changes themselves and their rebuild (`operations`) and what each report's state is and which changes run (`status`).
May import: `assistant.indexing`, `assistant.ingest` and the shared modules. Never answer or serve.
"""
