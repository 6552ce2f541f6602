"""Answer a question with the corpus's own words: the pipeline every front end calls.

The chat, `chatbot ask` and the evaluation scripts all go through `Engine.ask`, so what support
staff check from the command line is exactly what a patient saw. Steps: clean the input
(`question.cleaning`), check it for danger (`safety`), build the search query (follow-ups,
spelling, synonyms: `question.query`), retrieve (hybrid: `retrieval`), decide whether the corpus
covers the question at all (`coverage`), and choose the passages shown (`passages`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from chatbot.answering.answer import Answer, Passage
from chatbot.answering.answerer import DEFAULT_TOP_K, Answerer
from chatbot.answering.coverage import COVER_THRESHOLD, Found, found, judge, word_weights
from chatbot.answering.passages import DIVERSITY, choose
from chatbot.answering.retrieval import FUSION, Fusion, Retriever
from chatbot.indexing.embedding import Embedder
from chatbot.indexing.store import StoredIndex
from chatbot.language import words
from chatbot.question.cleaning import clean_question
from chatbot.question.query import SearchQuery, build_query, synonym_table
from chatbot.question.spelling import Speller
from chatbot.safety.advice import advice_framing
from chatbot.safety.match import check_message

__all__ = ["Answer", "Engine", "Passage", "open_engine"]

MAX_TOP_K = 20
ANSWER_CACHE = 512  # answers kept for repeated questions (an engine serves one index build)
# Earlier questions used for a follow-up: only the recent chain matters, and a client sending
# thousands must not slow an answer down.
MAX_HISTORY = 20
# A question with a conversation before it, whose own words match nothing this well, is searched
# again with the earlier questions: follow-ups do not always carry a pronoun ("what happens to the
# sample afterward?"). Set on the tuning sets, where self-contained questions after a change
# of topic score above it and unmarked follow-ups mostly below (any value from 0.70 to 0.95 ranks
# them alike).
CONTEXT_BELOW = 0.88


class Engine(Answerer):
    """Holds the loaded index and the model; answers questions."""

    def __init__(
        self,
        index: StoredIndex,
        embedder: Embedder,
        cover_threshold: float = COVER_THRESHOLD,
        fusion: Fusion = FUSION,
        diversity: float = DIVERSITY,
    ) -> None:
        self._index = index
        self.embedder = embedder
        self.cover_threshold = cover_threshold
        self.diversity = diversity
        self._retriever = Retriever(index, fusion)
        self.speller = Speller(
            (w for c in index.chunks for w in words(c.lexical_text)),
            protected=(w for key in index.synonyms for w in words(key)),
        )
        self.synonyms = synonym_table(index.synonyms)
        self._cached = lru_cache(maxsize=ANSWER_CACHE)(self._answer)

    def clear_cache(self) -> None:
        """Forget cached answers (benchmarks time the real work)."""
        self._cached.cache_clear()

    @property
    def build_id(self) -> str:
        return self.index.manifest.build_id

    @property
    def index(self) -> StoredIndex:
        return self._index

    @property
    def retriever(self) -> Retriever:
        return self._retriever

    def search_query(
        self, question: str, history: Sequence[str] = (), force_context: bool = False
    ) -> SearchQuery:
        return build_query(
            clean_question(question),
            [clean_question(h) for h in history],
            self.speller,
            self.synonyms,
            force_context,
        )

    def ask(
        self, question: str, history: Sequence[str] = (), top_k: int = DEFAULT_TOP_K, method: str = "hybrid"
    ) -> Answer:
        """The best passages for a question; `history` holds the earlier questions, oldest first.

        Answers are cached by (question, history, top_k, method): example questions are asked
        again and again, and an Answer is immutable, so a repeat costs nothing.
        """
        earlier = tuple(clean_question(h) for h in list(history)[-MAX_HISTORY:])
        return self._cached(clean_question(question), earlier, max(1, min(top_k, MAX_TOP_K)), method)

    def _answer(self, question: str, history: tuple[str, ...], top_k: int, method: str) -> Answer:
        if not question or not words(question):
            return Answer(question, "", False, (), reason="the question has no words to search for")
        # Danger first: the alert is decided before, and whatever, retrieval finds.
        found = check_message(question)
        alert = {"kind": found.kind, "message": found.message} if found else None
        answer = self._retrieve(question, history, top_k, method)
        return replace(answer, alert=alert, advice=advice_framing(question))

    def _search(self, search: SearchQuery, top_k: int, method: str) -> Found:
        vector = self.embedder.encode([search.text])[0]
        hits = self.retriever.find(vector, search, top_k * 4, method)
        return found(self.retriever.bm25, search, vector, hits)

    def _word_weights(self, text: str) -> dict[str, float]:
        return word_weights(self.retriever.bm25, text)

    def _in_conversation(self, question: str, history: Sequence[str], top_k: int, method: str) -> Found:
        """Search the question alone or in the light of the earlier ones, whichever reads it right.

        A follow-up marked by a pronoun ("is it risky?") is searched with the conversation's topic.
        An unmarked question that alone matches nothing well ("what happens to the sample
        afterward?") is tried in context too, and the better match is kept. (Preferring a marked
        follow-up's own reading when it matches well lost 19 of 43 follow-ups on the dev and tune sets.)
        """
        found = self._search(self.search_query(question, history), top_k, method)
        if not history or found.search.followup or found.confidence >= CONTEXT_BELOW:
            return found
        in_context = self._search(self.search_query(question, history, True), top_k, method)
        return in_context if in_context.confidence > found.confidence else found

    def _retrieve(self, question: str, history: Sequence[str], top_k: int, method: str) -> Answer:
        evidence = self._in_conversation(question, history, top_k, method)
        hits = evidence.hits
        verdict = judge(evidence, self.cover_threshold)
        passages: tuple[Passage, ...] = ()
        if verdict.covered:
            hybrid = method == "hybrid"
            passages = choose(
                self.index,
                hits,
                evidence.vector,
                top_k,
                diversity=self.diversity if hybrid else 0.0,
                scale=self.retriever.fusion.max_score if hybrid else 1.0,
            )
        # Provenance on every answer: of the passages shown, or of the sections offered instead.
        shown = [p.source for p in passages] or [h.chunk.source for h in hits[:3]]
        return Answer(
            question,
            evidence.search.text,
            bool(passages),
            passages,
            self._provenance(shown),
            confidence=evidence.confidence,
            tentative=verdict.tentative and bool(passages),
            reason=verdict.reason,
            closest_sections=tuple(dict.fromkeys(h.chunk.citation for h in hits))[:3],
            lacking=verdict.lacking,
            search=evidence.search,
            vector=evidence.vector,
        )

    def _provenance(self, sources: Iterable[str]) -> tuple[str, ...]:
        docs = self.index.documents
        return tuple(docs[s].provenance.line() for s in dict.fromkeys(sources) if s in docs)


def open_engine(
    corpus_dir: Path = Path("corpus"),
    index_dir: Path = Path("index"),
    embedder: Embedder | None = None,
    *,
    progress: bool = False,
) -> Engine:
    """The engine over an index, built first when missing or stale (the real model by default).

    What `chatbot ask` and `chatbot eval` use; a library user's one call:
    `open_engine().ask("what is refractory myeloma?")`.
    """
    from chatbot.indexing.build import open_index
    from chatbot.indexing.embedding import MiniLMEmbedder

    embedder = embedder or MiniLMEmbedder()
    return Engine(open_index(corpus_dir, index_dir, embedder, progress=progress), embedder)
