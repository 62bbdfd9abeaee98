"""Serving: the Gradio chat, the source viewer, the 资料库 page and the HTTP APIs.

Owns the web app (`web`), the OpenAI-compatible and REST routes (`api`, `api_schemas`), the source
viewer (`viewer`), the library page (`library_page`), request guards (`guard`), feedback storage, the chat's
history (`conversations`, `history_ui`) and the exports of answers (`export`, `export_docx`).
May import everything below it (`assistant.service`, answer, library, indexing, ingest, query).
"""
