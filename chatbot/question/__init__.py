"""The question: what a patient typed, turned into what is searched.

Stage 3. In: the message and the earlier questions of the conversation. Out: a `SearchQuery`
(spelling mended, synonyms added, a follow-up resolved) and the kind of answer it asks for.

- `cleaning`: what was typed, normalised and bounded before anything reads it.
- `query`: the `SearchQuery` and everything that builds it.
- `spelling`: everyday English, how specific a word is, and the `Speller` that mends slips.
- `answer_kinds`: what kind of answer a question asks for, and whether a passage gives one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.question.answer_kinds import BY_NAME, KINDS, expected_kind, gives
    from chatbot.question.cleaning import MAX_QUESTION_CHARS, clean_question
    from chatbot.question.query import SearchQuery, build_query, synonym_table
    from chatbot.question.spelling import Speller, specificity

_EXPORTS = {
    "MAX_QUESTION_CHARS": ".cleaning",
    "clean_question": ".cleaning",
    "SearchQuery": ".query",
    "build_query": ".query",
    "synonym_table": ".query",
    "Speller": ".spelling",
    "specificity": ".spelling",
    "BY_NAME": ".answer_kinds",
    "KINDS": ".answer_kinds",
    "expected_kind": ".answer_kinds",
    "gives": ".answer_kinds",
}
__all__ = [
    "BY_NAME",
    "KINDS",
    "MAX_QUESTION_CHARS",
    "SearchQuery",
    "Speller",
    "build_query",
    "clean_question",
    "expected_kind",
    "gives",
    "specificity",
    "synonym_table",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
