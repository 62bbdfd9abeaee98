"""The query stage: a question (+ chat history + UI/API filters) -> one typed `Query`.

Owns parsing the question (`parse`), conversation state (`conversation`) and the topic terms (`terms`);
the vocabulary itself is data in `assistant/vocab/`.
May import: `assistant.indexing` (lexical words), `assistant.ingest` (coverage) and the shared modules.
Never answer, library or serve.
"""

from assistant.models import Period, Query
from assistant.query.clean import fold_question
from assistant.query.parse import QueryParser, ScopeFilters
from assistant.vocab import Vocabulary, vocabulary

__all__ = ["Period", "Query", "QueryParser", "ScopeFilters", "Vocabulary", "fold_question", "vocabulary"]
