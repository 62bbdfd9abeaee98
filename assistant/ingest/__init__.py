"""Ingestion: a report file -> text -> structure (Document > Section > Block) -> chunks and facts.

Owns the catalog and safe loading (`corpus`), one reader per format (`readers/`), text
normalization, structure recovery (`parse`), bounded chunks with stable anchors (`chunk`),
typed facts (`facts`) and each chunk's district x period x kind (`coverage`).
May import: `assistant.models`, `assistant.config`, `assistant.vocab`. Nothing from later stages.
"""
