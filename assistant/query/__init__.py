"""The query stage: a question (+ chat history + UI/API filters) -> one typed `Query`."""

from ..models import Period, Query
from .parse import QueryParser, ScopeFilters, fold_question
from .vocab import Vocabulary, vocabulary

__all__ = ["Period", "Query", "QueryParser", "ScopeFilters", "Vocabulary", "fold_question", "vocabulary"]
