"""Answer a question with the corpus's own words: the pipeline every front end calls.

The chat, `chatbot ask` and the evaluation scripts all go through `Engine.ask`, so what support
staff check from the command line is exactly what a patient saw.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chatbot.embedding import Embedder
from chatbot.retrieval import Hit, dense_search
from chatbot.store import StoredIndex

DEFAULT_TOP_K = 3
MAX_TOP_K = 20
# Questions are short; a pasted page is cut here, at a word boundary, so that a huge input costs
# no more than a long question (the model itself reads only the first 256 tokens).
MAX_QUESTION_CHARS = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Passage:
    """A passage shown to the user: exact corpus text and where it comes from."""

    id: str
    text: str
    source: str
    section: str
    score: float
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "section": self.section,
            "score": round(self.score, 6),
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Answer:
    """Everything shown for one question."""

    question: str
    query: str
    answered: bool
    passages: tuple[Passage, ...]
    provenance: tuple[str, ...] = ()
    alert: dict[str, str] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "answered": self.answered,
            "alert": self.alert,
            "passages": [p.to_json() for p in self.passages],
        }


def clean_question(text: str) -> str:
    """Normalise what a person typed: unicode form, no control characters, bounded length."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > MAX_QUESTION_CHARS:
        cut = text.rfind(" ", 0, MAX_QUESTION_CHARS)
        text = text[: cut if cut > MAX_QUESTION_CHARS // 2 else MAX_QUESTION_CHARS]
    return text


def _passage(hit: Hit) -> Passage:
    c = hit.chunk
    return Passage(c.id, c.text, c.source, c.citation, hit.score, c.start, c.end)


class Engine:
    """Holds the loaded index and the model; answers questions."""

    def __init__(self, index: StoredIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder

    @property
    def build_id(self) -> str:
        return self.index.manifest.build_id

    def ask(self, question: str, history: Sequence[str] = (), top_k: int = DEFAULT_TOP_K) -> Answer:
        """The best passages for a question; `history` holds the earlier questions, oldest first."""
        question = clean_question(question)
        top_k = max(1, min(top_k, MAX_TOP_K))
        if not question:
            return Answer(question, "", False, ())
        query = question
        vector = self.embedder.encode([query])[0]
        hits = dense_search(self.index, vector, top_k)
        passages = tuple(_passage(h) for h in hits)
        sources = dict.fromkeys(p.source for p in passages)
        provenance = tuple(self.index.provenance[s].line() for s in sources if s in self.index.provenance)
        return Answer(question, query, bool(passages), passages, provenance)
