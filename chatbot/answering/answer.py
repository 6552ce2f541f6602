"""What an answer is: the `Passage`s shown for a question, and the `Answer` that holds them.

Plain frozen data, made by the engine and read by every front end (chat, staff page, CLI, JSON
protocol, transcripts, evaluation), so none of them needs the engine itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from chatbot.question.query import SearchQuery


@dataclass(frozen=True)
class Passage:
    """A passage shown to the user: exact corpus text, where it comes from, and why it was chosen."""

    id: str
    text: str
    source: str
    section: str
    score: float
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...] = ()
    dense_score: float = 0.0
    dense_rank: int | None = None
    bm25_score: float = 0.0
    bm25_rank: int | None = None
    overlap: float = 0.0  # highest cosine with a passage shown above it (the `DIVERSITY` penalty)


@dataclass(frozen=True)
class Answer:
    """Everything shown for one question."""

    question: str
    query: str
    answered: bool
    passages: tuple[Passage, ...]
    provenance: tuple[str, ...] = ()
    alert: dict[str, str] | None = None
    advice: str | None = None
    confidence: float = 0.0  # the coverage score compared with the threshold
    tentative: bool = False  # answered, but the evidence only just clears the threshold
    reason: str = ""  # why the question was or was not taken as covered, for staff
    closest_sections: tuple[str, ...] = ()  # offered to browse when not covered
    # When not covered because the question asks for a kind of fact no passage found gives
    # (`answer_kinds`): what it asks for, "a cost or price", which the user is told.
    lacking: str = ""
    search: SearchQuery | None = field(default=None, compare=False)
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)  # what `search` embedded to

    @property
    def outcome(self) -> str:
        """ "answer" (the passages answer it), "closest" (on the subject, but the article may not
        say exactly: the best one or two passages) or "not_covered" (outside the corpus's subject,
        or an emergency, whose card is the whole answer)."""
        if not self.answered:
            return "not_covered"
        return "closest" if self.tentative else "answer"
