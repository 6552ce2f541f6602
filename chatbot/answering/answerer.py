"""The `Answerer` seam: what every front end (chat, staff page, CLI, evaluation) asks of an engine.

`Engine` answers from one loaded build; `LiveEngine` follows new builds without a restart. Both
implement this protocol explicitly, and the front ends are typed against it, so a third (a remote
engine, a recorded one for tests) needs only these members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from chatbot.answering.answer import Answer
    from chatbot.answering.retrieval import Retriever
    from chatbot.indexing.store import StoredIndex
    from chatbot.question.query import SearchQuery

DEFAULT_TOP_K = 3


@runtime_checkable
class Answerer(Protocol):
    """Answers questions from one index build at a time."""

    @property
    def build_id(self) -> str:
        """The build the next answer comes from (stored with feedback)."""
        ...

    @property
    def index(self) -> StoredIndex:
        """The loaded build (the article page and staff read it)."""
        ...

    @property
    def retriever(self) -> Retriever:
        """The retriever over that build (the staff page lists its candidates)."""
        ...

    def ask(
        self, question: str, history: Sequence[str] = (), top_k: int = DEFAULT_TOP_K, method: str = "hybrid"
    ) -> Answer:
        """The best passages for a question; `history` holds the earlier questions, oldest first."""
        ...

    def search_query(self, question: str, history: Sequence[str] = ()) -> SearchQuery:
        """What would be searched for the question, without searching."""
        ...

    def clear_cache(self) -> None:
        """Forget cached answers (warm-up and benchmarks time the real work)."""
        ...
